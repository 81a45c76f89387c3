"""Teaching simulations: seeded, fast, and showing what they claim to show."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hlmteach.simulation import (
    design_effect,
    school_sizes_around,
    simulate_eblup_tests,
    simulate_false_positives,
    simulate_school_means,
)

ALPHA = 0.05


def _null_mcse(n_reps: int, alpha: float = ALPHA) -> float:
    """Monte-Carlo SE of a rejection rate whose true value is alpha."""
    return float(np.sqrt(alpha * (1 - alpha) / n_reps))


# -- design_effect --------------------------------------------------------------------------------
def test_design_effect_numbers():
    assert design_effect(0.0, 50) == 1.0
    assert design_effect(0.2, 50) == pytest.approx(10.8)
    assert design_effect(1.0, 30) == 30.0
    assert design_effect(0.5, 1) == 1.0
    assert isinstance(design_effect(0.1, 20), float)


def test_design_effect_is_vectorised():
    deff = design_effect(np.array([[0.0], [0.1], [0.3]]), np.array([5, 20, 50]))
    assert deff.shape == (3, 3)
    np.testing.assert_allclose(deff[1], [1.4, 2.9, 5.9])
    np.testing.assert_allclose(deff[:, 2], [1.0, 5.9, 15.7])


@pytest.mark.parametrize(("icc", "size"), [(-0.1, 10), (1.2, 10), (0.1, 0), (np.nan, 5)])
def test_design_effect_refuses_impossible_values(icc, size):
    with pytest.raises(ValueError):
        design_effect(icc, size)


# -- simulate_false_positives ---------------------------------------------------------------------
SMALL = {"iccs": (0.0, 0.2), "school_sizes": (5, 10), "n_schools": 12, "n_reps": 8}


def test_false_positives_are_deterministic_given_the_seed():
    first = simulate_false_positives(**SMALL, seed=7, progress=False)
    again = simulate_false_positives(**SMALL, seed=7, progress=False)
    other = simulate_false_positives(**SMALL, seed=8, progress=False)
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["ols_se"], other["ols_se"])


def test_false_positive_table_shape_and_bookkeeping(capsys):
    res = simulate_false_positives(**SMALL, seed=1, alpha=0.1, progress=True)
    assert list(res[["icc", "school_size"]].itertuples(index=False, name=None)) == [
        (0.0, 5),
        (0.0, 10),
        (0.2, 5),
        (0.2, 10),
    ]
    assert (res["n_students"] == res["school_size"] * 12).all()
    np.testing.assert_allclose(res["design_effect"], design_effect(res["icc"], res["school_size"]))
    np.testing.assert_allclose(res["sqrt_design_effect"], np.sqrt(res["design_effect"]))
    for method in ("ols", "hlm"):
        rate = res[f"{method}_rate"]
        assert ((rate * 8) % 1 == 0).all()  # a share of 8 data sets
        np.testing.assert_allclose(res[f"{method}_mcse"], np.sqrt(rate * (1 - rate) / 8))
    np.testing.assert_allclose(res["se_ratio"], res["empirical_sd"] / res["ols_se"])
    np.testing.assert_allclose(res["hlm_se_ratio"], res["hlm_se"] / res["ols_se"])
    assert (res["hlm_not_converged"] == 0).all()
    assert res.attrs["alpha"] == 0.1 and res.attrs["seed"] == 1
    assert res.attrs["seconds"] > 0
    assert "simulated data sets" in capsys.readouterr().err


def test_with_icc_zero_both_methods_reject_near_alpha():
    n_reps = 300
    res = simulate_false_positives(
        iccs=(0.0,), school_sizes=(10,), n_schools=30, n_reps=n_reps, seed=11, progress=False
    )
    row = res.iloc[0]
    assert abs(row["ols_rate"] - ALPHA) < 3 * _null_mcse(n_reps)
    assert abs(row["hlm_rate"] - ALPHA) < 3 * _null_mcse(n_reps)
    assert row["design_effect"] == 1.0


def test_with_icc_02_and_50_students_ols_rejects_far_too_often():
    n_reps = 150
    res = simulate_false_positives(
        iccs=(0.2,), school_sizes=(50,), n_schools=30, n_reps=n_reps, seed=12, progress=False
    )
    row = res.iloc[0]
    assert row["design_effect"] == pytest.approx(10.8)
    assert row["ols_rate"] > 0.3  # alpha is 0.05: more than six times too often
    assert row["ols_rate"] - ALPHA > 10 * row["ols_mcse"]
    assert abs(row["hlm_rate"] - ALPHA) < 3 * _null_mcse(n_reps)
    # The naive SE is too small by about sqrt(design effect); HLM's SE corrects it.
    assert row["se_ratio"] == pytest.approx(np.sqrt(10.8), rel=0.2)
    assert row["hlm_se_ratio"] == pytest.approx(np.sqrt(10.8), rel=0.1)
    assert row["mean_icc_estimate"] == pytest.approx(0.2, abs=0.03)


@pytest.mark.parametrize(
    "bad",
    [
        {"iccs": (1.0,)},
        {"iccs": ()},
        {"school_sizes": (1,)},
        {"school_sizes": (2.5,)},
        {"n_schools": 3},
        {"n_reps": 0},
        {"alpha": 1.5},
    ],
)
def test_false_positives_refuse_bad_settings(bad):
    with pytest.raises(ValueError):
        simulate_false_positives(**{**SMALL, **bad}, progress=False)


# -- simulate_school_means ------------------------------------------------------------------------
def test_school_means_eb_formula_by_hand():
    tau00, sigma2 = 0.15, 0.85
    sim = simulate_school_means(tau00, sigma2, n_schools=9, school_sizes=(3, 12, 40), seed=5)
    assert list(sim.columns) == [
        "school",
        "n",
        "true_mean",
        "observed_mean",
        "reliability",
        "grand_mean",
        "eb",
    ]
    assert sim["n"].tolist() == [3, 12, 40] * 3
    n = sim["n"].to_numpy()
    lam = tau00 / (tau00 + sigma2 / n)
    np.testing.assert_allclose(sim["reliability"], lam)
    weights = 1.0 / (tau00 + sigma2 / n)
    grand = np.sum(weights * sim["observed_mean"]) / np.sum(weights)
    np.testing.assert_allclose(sim["grand_mean"], grand)
    assert sim.attrs["grand_mean"] == pytest.approx(grand)
    eb = lam * sim["observed_mean"] + (1 - lam) * grand
    np.testing.assert_allclose(sim["eb"], eb)
    # Shrinkage: every EB estimate lies between the school's mean and the grand mean.
    assert (np.abs(sim["eb"] - grand) <= np.abs(sim["observed_mean"] - grand) + 1e-12).all()
    assert sim.attrs["icc"] == pytest.approx(0.15)


def test_school_means_are_seeded_and_sized():
    a = simulate_school_means(0.2, 0.8, seed=1)
    pd.testing.assert_frame_equal(a, simulate_school_means(0.2, 0.8, seed=1))
    assert not np.allclose(a["true_mean"], simulate_school_means(0.2, 0.8, seed=2)["true_mean"])
    assert len(a) == 30
    assert (simulate_school_means(0.2, 0.8, n_schools=4, school_sizes=7)["n"] == 7).all()


def test_school_means_observed_means_scatter_as_sigma2_over_n():
    sim = simulate_school_means(0.3, 1.0, n_schools=4000, school_sizes=(4, 100), seed=9)
    error = sim["observed_mean"] - sim["true_mean"]
    variances = error.groupby(sim["n"]).var()
    assert variances[4] == pytest.approx(1.0 / 4, rel=0.1)
    assert variances[100] == pytest.approx(1.0 / 100, rel=0.1)
    assert sim["true_mean"].var() == pytest.approx(0.3, rel=0.1)


def test_school_means_without_school_variance_shrink_completely():
    sim = simulate_school_means(0.0, 1.0, n_schools=6, school_sizes=(2, 8), seed=4)
    assert (sim["reliability"] == 0).all()
    n = sim["n"].to_numpy()
    student_mean = np.sum(n * sim["observed_mean"]) / n.sum()
    np.testing.assert_allclose(sim["eb"], student_mean)


@pytest.mark.parametrize(
    ("average", "sizes"),
    [
        (2, (2, 2, 2, 3, 4)),
        (10, (3, 5, 10, 13, 20)),
        (19, (5, 10, 19, 24, 38)),
        (60, (15, 30, 60, 75, 120)),
    ],
)
def test_school_sizes_around_an_average(average, sizes):
    """A quarter, a half, once, 1.25 times and twice the average, rounded half up, at least 2."""
    assert school_sizes_around(average) == sizes
    assert all(isinstance(n, int) for n in school_sizes_around(average))


def test_school_sizes_around_average_what_they_say():
    for average in range(4, 200):
        sizes = school_sizes_around(average)
        assert abs(np.mean(sizes) - average) <= 0.25
        assert list(sizes) == sorted(sizes) and sizes[0] < sizes[-1]


@pytest.mark.parametrize("bad", [1, 0, -3, 2.5, "19", None, True])
def test_school_sizes_around_refuse_bad_averages(bad):
    with pytest.raises(ValueError, match="average_size must be a whole number of at least 2"):
        school_sizes_around(bad)


@pytest.mark.parametrize(
    "bad",
    [
        {"tau00": -0.1},
        {"sigma2": 0.0},
        {"n_schools": 1},
        {"school_sizes": (0, 5)},
        {"school_sizes": ()},
    ],
)
def test_school_means_refuse_bad_settings(bad):
    with pytest.raises(ValueError):
        simulate_school_means(**{"tau00": 0.2, "sigma2": 0.8, **bad})


# -- simulate_eblup_tests -------------------------------------------------------------------------
def _one_replicate(tau00: float, sigma2: float, n_schools: int, school_size: int, seed: int):
    """The students of simulate_eblup_tests(n_reps=1): the same draws, in long form."""
    rng = np.random.default_rng(seed)
    u = np.sqrt(tau00) * rng.standard_normal((1, n_schools))
    scores = u[:, :, None] + np.sqrt(sigma2) * rng.standard_normal((1, n_schools, school_size))
    frame = pd.DataFrame(
        {
            "y": scores.ravel(),
            "school": np.repeat(np.arange(n_schools), school_size),
        }
    )
    return frame, u.ravel()


@pytest.mark.parametrize(("tau00", "seed"), [(0.1, 3), (0.0, 0)])
def test_eblup_tests_closed_form_is_the_reml_fit(tau00, seed):
    """The closed-form balanced REML fit equals fit_hlm's (itself checked against lme4).

    Seed 0 with tau00 = 0 gives a negative ANOVA estimate, so both sides sit on the boundary.
    """
    import hlmteach as hlm

    sim = simulate_eblup_tests(tau00, 0.9, n_schools=40, school_size=7, n_reps=1, seed=seed)
    data, u = _one_replicate(tau00, 0.9, 40, 7, seed)
    fit = hlm.fit_hlm(data, "y ~ 1", group="school")
    tau_hat = float(fit.tau.iloc[0, 0])
    assert sim.loc[0, "tau00_hat"] == pytest.approx(tau_hat, abs=1e-6)
    assert sim.loc[0, "sigma2_hat"] == pytest.approx(fit.sigma2, rel=1e-6)
    if tau00 == 0.0:
        assert tau_hat < 1e-6, "this seed must give a boundary fit"
    re = fit.random_effects.xs("Intercept", level="term")
    significant = int((re["estimate"].abs() > 1.96 * re["se"] + 1e-9).sum())
    covered = ((re["estimate"] - u).abs() <= 1.96 * re["se"] + 1e-9).mean()
    assert sim.loc[0, "significant"] == significant
    assert sim.loc[0, "coverage"] == pytest.approx(covered)
    if tau_hat > 0:
        lam = tau_hat / (tau_hat + fit.sigma2 / 7)
        pev = tau_hat * (1 - lam) + lam * tau_hat / 40
        np.testing.assert_allclose(re["se"], np.sqrt(pev), rtol=1e-4)


def test_eblup_tests_without_school_variance_find_no_school():
    sim = simulate_eblup_tests(0.0, n_reps=200, seed=1)
    # A chance tau_hat near 0.02 gives lambda near 0.3 and t an SD near 0.65: about 1 data set
    # in 200 has one "significant" school, never more.
    assert sim["significant"].max() <= 1
    assert sim["significant"].mean() < 0.05
    assert sim["coverage"].mean() > 0.999
    assert (sim["tau00_hat"] == 0).mean() > 0.3, "about half the fits are on the boundary"


def test_eblup_tests_count_grows_with_reliability_and_intervals_cover():
    """t has SD about sqrt(lambda / (1 - lambda)), so P(|t| > 1.96) rises with lambda."""
    rows = {t: simulate_eblup_tests(t, n_reps=200, seed=5) for t in (0.02, 0.05, 0.2)}
    counts = [rows[t]["significant"].mean() for t in (0.02, 0.05, 0.2)]
    assert counts[0] < counts[1] < counts[2]
    for t, sim in rows.items():
        lam = sim.attrs["reliability"]
        expected = 150 * 2 * stats.norm.sf(1.96 * np.sqrt((1 - lam) / lam))
        assert sim["significant"].mean() == pytest.approx(expected, rel=0.25, abs=0.5), t
    # Coverage averages 95% once the variance is well estimated; 200 x 150 intervals give a
    # Monte-Carlo SE below 0.002, so 0.01 is a generous band.
    for t in (0.05, 0.2):
        assert rows[t]["coverage"].mean() == pytest.approx(0.95, abs=0.01)


def test_eblup_tests_are_seeded():
    pd.testing.assert_frame_equal(
        simulate_eblup_tests(0.05, seed=9), simulate_eblup_tests(0.05, seed=9)
    )


@pytest.mark.parametrize(
    "bad", [{"tau00": -0.1}, {"sigma2": 0.0}, {"n_schools": 1}, {"school_size": 1}, {"z": 0}]
)
def test_eblup_tests_refuse_bad_settings(bad):
    with pytest.raises(ValueError):
        simulate_eblup_tests(**{"tau00": 0.05, **bad})


def test_eblup_tests_agree_with_lme4():
    """simulate_eblup_tests against lme4's REML fit of the same students.

    tests/reference/eblup_tests_lme4.R fitted the two replicates stored in
    tests/fixtures/eblup_tests_replicates.csv (lme4 1.1.31). Tolerances: lme4's optimiser
    stops near 1e-7 relative in the variances; the boundary fit's tau00 is 0 up to 1e-12.
    """
    import json
    from pathlib import Path

    fixtures = Path(__file__).parent / "fixtures"
    students = pd.read_csv(fixtures / "eblup_tests_replicates.csv")
    lme4 = json.loads((fixtures / "eblup_tests_lme4.json").read_text())
    for case, (tau00, seed) in {"interior": (0.1, 3), "boundary": (0.0, 0)}.items():
        data, u = _one_replicate(tau00, 0.9, 40, 7, seed)
        stored = students[students["case"] == case]
        np.testing.assert_allclose(stored["y"], data["y"], rtol=1e-15, atol=1e-15)
        np.testing.assert_allclose(stored["u"], np.repeat(u, 7), rtol=1e-15, atol=1e-15)
        sim = simulate_eblup_tests(tau00, 0.9, n_schools=40, school_size=7, n_reps=1, seed=seed)
        ref = lme4[case]
        assert sim.loc[0, "tau00_hat"] == pytest.approx(ref["tau00"], rel=1e-6, abs=1e-12)
        assert sim.loc[0, "sigma2_hat"] == pytest.approx(ref["sigma2"], rel=1e-6)
        assert sim.loc[0, "significant"] == ref["significant"]
        assert sim.loc[0, "coverage"] == pytest.approx(ref["coverage"])
        means = data.groupby("school")["y"].mean().to_numpy()
        lam = sim.loc[0, "reliability"]
        np.testing.assert_allclose(lam * (means - means.mean()), ref["eblup"], atol=1e-6)
        tau_hat = sim.loc[0, "tau00_hat"]
        np.testing.assert_allclose(tau_hat * (1 - lam), ref["cond_var"], rtol=1e-5, atol=1e-12)
