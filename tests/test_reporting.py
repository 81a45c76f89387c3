"""hlmteach.reporting against R: lmerTest's Satterthwaite table and lme4's profile intervals.

The reference is tests/fixtures/variance_explained_lme4.json ("us_report"), written by
tests/reference/variance_explained.R for the course's US model (math ~ college + boy,
random college slope, uncorrelated random effects, REML).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import hlmteach as hlm
from hlmteach.reporting import (
    fixed_effects_table,
    methods_facts,
    sample_description,
    variance_components_table,
)

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "variance_explained_lme4.json"
REPORT = json.loads(FIXTURE.read_text(encoding="utf-8"))["us_report"]
TERMS = {"(Intercept)": "Intercept", "college": "college", "boy": "boy"}


@cache
def _us_fit(method: str = "REML"):
    return hlm.fit_hlm(
        hlm.load_timss("USA"),
        "math ~ college + boy",
        group="school",
        random=["college"],
        covariance="vc",
        method=method,
    )


def test_sample_description_matches_r():
    sample = sample_description(_us_fit())
    sizes = REPORT["cluster_sizes"]
    assert sample["students"] == REPORT["n_obs"] and sample["schools"] == REPORT["n_groups"]
    assert sample["rows_not_used"] == REPORT["rows_dropped_for_missing"]
    assert (sample["size_min"], sample["size_median"], sample["size_max"]) == (
        sizes["Min."],
        sizes["Median"],
        sizes["Max."],
    )
    assert sample["size_mean"] == pytest.approx(sizes["Mean"], rel=1e-12)


def test_fixed_effects_table_matches_lmertest():
    """Estimates and SEs at 2e-6 (lme4's optimum is ~4e-7 off ours, see
    test_variance_explained); Satterthwaite df at 1e-5 (a derivative of the criterion,
    computed by finite differences in lmerTest)."""
    table = fixed_effects_table(_us_fit())
    sat = REPORT["satterthwaite"]
    for r_name, name in TERMS.items():
        row = table.loc[name]
        assert row["estimate"] == pytest.approx(sat["estimate"][r_name], rel=2e-6)
        assert row["se"] == pytest.approx(sat["se"][r_name], rel=2e-6)
        assert row["df"] == pytest.approx(sat["df"][r_name], rel=1e-5)
        assert row["p"] == pytest.approx(sat["p"][r_name], rel=1e-3)
        half = stats.t.ppf(0.975, row["df"]) * row["se"]
        assert (row["lower"], row["upper"]) == pytest.approx(
            (row["estimate"] - half, row["estimate"] + half), rel=1e-12
        )


def test_confidence_level_and_ddf_are_honoured():
    fit = _us_fit()
    wide = fixed_effects_table(fit, level=0.99).loc["college"]
    narrow = fixed_effects_table(fit, level=0.90).loc["college"]
    assert wide["lower"] < narrow["lower"] < narrow["upper"] < wide["upper"]
    bw = fixed_effects_table(fit, ddf="bw")
    assert bw.loc["college", "df"] == fit.fixed.loc["college", "df"]


def test_profile_intervals_of_the_ml_fit_match_lme4_confint():
    """lme4's confint(method = "profile") profiles the ML deviance; its bounds are for SDs.
    Squared, they agree with ours to 1e-6 except the lower bound of the slope variance
    (1.5e-3 relative): lme4 interpolates its profile with splines, least accurately near
    zero. Tolerance 2e-3 relative."""
    table = variance_components_table(_us_fit("ML"))
    ci = REPORT["profile_ci_sd_ml"]
    for r_name, name in (
        ("sd_(Intercept)|school", "Var(Intercept)"),
        ("sd_college|school", "Var(college)"),
        ("sigma", "Residual"),
    ):
        assert table.loc[name, "lower"] == pytest.approx(ci["lower"][r_name] ** 2, rel=2e-3)
        assert table.loc[name, "upper"] == pytest.approx(ci["upper"][r_name] ** 2, rel=2e-3)
    np.testing.assert_allclose(table["sd"] ** 2, table["estimate"], rtol=1e-12)


def test_methods_facts_describe_the_fit():
    facts = methods_facts(_us_fit())
    assert facts["estimation"] == "restricted maximum likelihood (REML)"
    assert "TYPE=VC" in facts["covariance"]
    assert facts["df_method"].startswith("Satterthwaite")
    assert facts["missing_data"].startswith("1 row(s)")
    assert facts["weights"] == "unweighted"
    assert facts["levels"].startswith("6943 level-1 units in 183 level-2 units")
    ml = methods_facts(_us_fit("ML"), ddf="bw")
    assert ml["estimation"] == "full maximum likelihood (ML)"
    assert ml["df_method"].startswith("between-within")


def test_bad_input_is_refused_with_the_fix():
    with pytest.raises(hlm.ModelInputError, match="Unknown ddf 'kr'"):
        fixed_effects_table(_us_fit(), ddf="kr")
    with pytest.raises(hlm.ModelInputError, match="level must lie strictly between 0 and"):
        fixed_effects_table(_us_fit(), level=95)
    timss = hlm.load_timss()
    with pytest.raises(hlm.ModelInputError, match="pick one"):
        sample_description(hlm.fit_hlm(timss, "math ~ 1", group="school", by="country"))
    weighted = hlm.fit_hlm(
        timss[timss["country"] == "Korea"],
        "math ~ 1",
        group="school",
        method="ML",
        weights="total_weight",
        group_weights="school_weight",
    )
    with pytest.raises(hlm.ModelInputError, match="pass ddf='bw'"):
        fixed_effects_table(weighted)
    assert np.isinf(fixed_effects_table(weighted, ddf="bw")["df"]).all()
    with pytest.raises(hlm.ModelInputError, match="pseudo-likelihood"):
        variance_components_table(weighted)
    assert methods_facts(weighted, ddf="bw")["df_method"].startswith("z tests")
