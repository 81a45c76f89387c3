"""The extended lme4/lmerTest battery: every fit against R at tight tolerances.

The references in ``fixtures/battery_lme4.json`` come from
``reference/battery_lme4.R``: two-level models (one grouping factor) on real data
sets of lme4, nlme, mlmRev and R's datasets and on simulated data sets, q = 1..4
random effects, unstructured (``(1 + x | g)``) and variance-components
(``(1 | g) + (0 + x | g)``) G, REML and ML, each fitted by five or six optimiser
runs at tight settings, the lowest deviance kept (see the file's provenance and
each fit's ``convergence``). The data are the CSV files in ``fixtures/battery/``
that R itself fitted after reading them back, so both programs see the same
numbers. Their columns have names that R and patsy share (dummies and powers
are columns of their own), so the fixed-effect terms map one to one, R's
``(Intercept)`` being patsy's ``Intercept``.

The models on a rescaled or uncentred predictor x' = a + b x (``sim_scaled_*``
with ``x_k`` = 1000 x, ``x_u`` = 1e-5 x, ``x_1000`` = 1000 + x, ``x_50k`` =
50000 + 15000 x) are the model in x reparameterised, so their reference is that
fit mapped exactly (criterion + 2 log|b| under REML; estimates, SEs, df and G
transformed; the boundary flag the base's), not what lme4 reaches on x' itself
(stored as ``lme4_direct``: on ``x_1000`` it stops 2e-5 above the optimum, with
the intercept's Satterthwaite df 1792 against the exact 71).

Each fit is checked on five criteria, one test each:

- ``deviance``: -2 log L (REML or ML) never above lme4's best by more than 1e-6
  (and, where the reference is an exact optimum, see below, not below it either);
- ``estimates``: fixed effects, G entries and sigma2 within 1e-5 relative.
  "Relative" needs a scale where the value itself is (near) zero: a fixed effect
  is compared relative to max(|ref|, 0.01 SE); a variance relative to
  s_i = max(|ref|, 1e-5 sigma2 / mean(z^2)) for its random column z (a variance
  lme4 puts at exactly 0 may be at most ~1e-10 of the residual variance per
  unit of z^2); a covariance relative to max(|ref|, 0.01 sqrt(s_i s_j)) (about
  1e-7 on the correlation scale; the zero covariances of VC fits included);
- ``se``: fixed-effect standard errors within 1e-4 relative;
- ``satterthwaite``: Satterthwaite df within 1e-2 relative wherever lmerTest's is
  finite (and ours then finite too);
- ``flags``: ``converged`` is True exactly when the deviance criterion holds
  (every reference is an optimum the optimisers agree on), and a "Boundary fit"
  note appears exactly when lme4's ``isSingular`` is true (the same rule:
  a diagonal element of the relative Cholesky factor below 1e-4).

The estimates, SEs and df are compared with lme4's best Newton-polished in R
(``fixtures/battery_polish_lme4.json``; see :func:`reference`), where the polish
is valid. A case that fails would be ``xfail(strict=True)`` in KNOWN_FAILURES with
the measured discrepancy as its reason; none does. No tolerance is loosened.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hlmteach as hlm

HERE = Path(__file__).parent
FIXTURE = json.loads((HERE / "fixtures" / "battery_lme4.json").read_text())
FITS = FIXTURE["fits"]
POLISHED = json.loads((HERE / "fixtures" / "battery_polish_lme4.json").read_text())["fits"]

DEVIANCE_TOL = 1e-6
ESTIMATE_RTOL = 1e-5
SE_RTOL = 1e-4
DF_RTOL = 1e-2

# Keys are (criterion, fit), with the measured discrepancy as the reason; none is left.
KNOWN_FAILURES: dict[tuple[str, str], str] = {}


def reference(key: str) -> dict:
    """The reference estimates of one fit: lme4's best, Newton-polished in R where it can be.

    ``fixtures/battery_polish_lme4.json`` (``reference/battery_polish_lme4.R``) takes each
    fit's theta on to lme4's own profiled deviance, by Newton steps with numDeriv
    derivatives accepted within rounding, and re-evaluates lmerTest there. The optimisers
    stop where the deviance no longer falls by more than its rounding, which can leave a
    weakly determined parameter 1e-4 from the optimum (sim_singular_q3_un_ML's tau[x,z]:
    the fixture's Newton step there is 4e-8); the polished point is at the optimum to a
    Newton step of 5e-11. It is used where the polish stayed within rounding of the
    fixture's deviance (1e-9) with a positive definite Hessian, and not for the rescaled
    models, whose reference is the exact transform of their base model.
    """
    ref, polished = FITS[key], POLISHED[key]
    usable = (
        "lme4_direct" not in ref
        and polished["polish"]["hessian_min_eigen_scaled"] is not None
        and polished["polish"]["hessian_min_eigen_scaled"] > 0
        and abs(polished["polish"]["deviance_minus_fixture"]) <= 1e-9
    )
    return {**ref, **{k: polished[k] for k in ("fixed", "tau", "sigma2")}} if usable else ref


def _term(name: str) -> str:
    return "Intercept" if name == "(Intercept)" else name


@cache
def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(HERE / "fixtures" / "battery" / f"{name}.csv")


_CACHE: dict[str, object] = {}


def fitted(key: str):
    """The engine's fit of one battery case (fitted once per session); an exception is kept."""
    if key not in _CACHE:
        ref = FITS[key]
        py = ref["python"]
        try:
            _CACHE[key] = hlm.fit_hlm(
                _data(ref["data"]),
                py["formula"],
                group=py["group"],
                random=list(py["random"]),
                method=ref["method"],
                covariance=py["covariance"],
            )
        except Exception as exc:  # reported by every criterion of this case
            _CACHE[key] = exc
    fit = _CACHE[key]
    if isinstance(fit, Exception):
        raise fit
    return fit


# -- the criteria: each returns (worst discrepancy / tolerance, description) -------------------
def deviance_excess(key: str) -> tuple[float, str]:
    ref, fit = FITS[key], fitted(key)
    excess = fit.deviance - ref["deviance"]
    if "lme4_direct" in ref:  # the exact optimum: a value below it is a wrong likelihood
        return abs(excess) / DEVIANCE_TOL, f"-2LL {excess:+.3g} from the exact optimum"
    return excess / DEVIANCE_TOL, f"-2LL {excess:+.3g} against lme4's {ref['deviance']:.10g}"


def _mean_square(data: pd.DataFrame, column: str) -> float:
    return 1.0 if column == "(Intercept)" else float(np.mean(data[column].to_numpy() ** 2))


def estimate_errors(key: str) -> tuple[float, str]:
    ref, fit = reference(key), fitted(key)
    data = _data(ref["data"])
    fixed = fit.fixed
    assert sorted(fixed.index) == sorted(_term(t) for t in ref["fixed"])
    errors: dict[str, float] = {}
    for term, r in ref["fixed"].items():
        scale = max(abs(r["estimate"]), 0.01 * r["se"])
        errors[_term(term)] = abs(fixed.loc[_term(term), "estimate"] - r["estimate"]) / scale
    tau = fit.tau
    var_scale = {
        k: max(abs(v), 1e-5 * ref["sigma2"] / _mean_square(data, k))
        for k, v in ref["tau"].items()
        if ":" not in k
    }
    for name, value in ref["tau"].items():
        if ":" in name:
            a, b = name.split(":")
            got = tau.loc[_term(a), _term(b)]
            scale = max(abs(value), 0.01 * np.sqrt(var_scale[a] * var_scale[b]))
            label = f"tau[{_term(a)},{_term(b)}]"
        else:
            got = tau.loc[_term(name), _term(name)]
            scale = var_scale[name]
            label = f"tau[{_term(name)}]"
        errors[label] = abs(got - value) / scale
    errors["sigma2"] = abs(fit.sigma2 - ref["sigma2"]) / ref["sigma2"]
    worst = max(errors, key=errors.get)
    return errors[worst] / ESTIMATE_RTOL, f"{worst} off by {errors[worst]:.3g} relative"


def se_errors(key: str) -> tuple[float, str]:
    ref, fit = reference(key), fitted(key)
    fixed = fit.fixed
    errors = {
        _term(t): abs(fixed.loc[_term(t), "se"] - r["se"]) / r["se"]
        for t, r in ref["fixed"].items()
    }
    worst = max(errors, key=errors.get)
    return errors[worst] / SE_RTOL, f"SE of {worst} off by {errors[worst]:.3g} relative"


def df_errors(key: str) -> tuple[float, str]:
    ref, fit = reference(key), fitted(key)
    sat = fit.satterthwaite
    errors: dict[str, float] = {}
    text: dict[str, str] = {}
    for term, r in ref["fixed"].items():
        if r["df"] is None:
            continue
        got = float(sat[_term(term)])
        errors[_term(term)] = abs(got - r["df"]) / r["df"] if np.isfinite(got) else np.inf
        text[_term(term)] = f"df of {_term(term)} {got:.4g} against lmerTest's {r['df']:.4g}"
    if not errors:
        return 0.0, "no finite lmerTest df"
    worst = max(errors, key=errors.get)
    return errors[worst] / DF_RTOL, text[worst]


def flag_errors(key: str) -> tuple[float, str]:
    ref, fit = FITS[key], fitted(key)
    at_optimum = deviance_excess(key)[0] <= 1.0
    boundary = any(note.startswith("Boundary fit") for note in fit.warnings)
    problems = []
    if fit.converged != at_optimum:
        gap = fit.deviance - ref["deviance"]
        problems.append(f"converged={fit.converged} at -2LL {gap:+.3g} from the optimum")
    if boundary != ref["is_singular"]:
        problems.append(f"boundary note {boundary} where lme4 isSingular is {ref['is_singular']}")
    return (1.0 + len(problems) if problems else 0.0), "; ".join(problems) or "flags right"


CRITERIA = {
    "deviance": deviance_excess,
    "estimates": estimate_errors,
    "se": se_errors,
    "satterthwaite": df_errors,
    "flags": flag_errors,
}


def _cases(criterion: str) -> list:
    cases = []
    for key in FITS:
        reason = KNOWN_FAILURES.get((criterion, key))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        cases.append(pytest.param(key, marks=marks, id=key))
    return cases


@pytest.mark.parametrize("key", _cases("deviance"))
def test_deviance_not_above_lme4(key):
    ratio, text = deviance_excess(key)
    assert ratio <= 1.0, text


@pytest.mark.parametrize("key", _cases("estimates"))
def test_estimates(key):
    ratio, text = estimate_errors(key)
    assert ratio <= 1.0, text


@pytest.mark.parametrize("key", _cases("se"))
def test_standard_errors(key):
    ratio, text = se_errors(key)
    assert ratio <= 1.0, text


@pytest.mark.parametrize("key", _cases("satterthwaite"))
def test_satterthwaite_df(key):
    ratio, text = df_errors(key)
    assert ratio <= 1.0, text


@pytest.mark.parametrize("key", _cases("flags"))
def test_convergence_and_boundary_flags(key):
    ratio, text = flag_errors(key)
    assert ratio == 0.0, text


# -- the fixture itself ---------------------------------------------------------------------
def test_fixture_data_files_are_the_ones_r_fitted():
    for name, source in FIXTURE["data"].items():
        path = HERE.parent / source["file"]
        assert hashlib.md5(path.read_bytes()).hexdigest() == source["md5"], name
        assert len(_data(name)) == source["n_obs"]
        assert _data(name)["g"].nunique() == source["n_groups"]


def test_fixture_covers_what_issue_9_asks():
    real = [s for s in FIXTURE["data"].values() if not s["source"].startswith("simulated")]
    assert len(FIXTURE["data"]) >= 20 + 1 and len(real) >= 20
    assert {f["q"] for f in FITS.values()} >= {1, 2, 3, 4}
    assert {f["python"]["covariance"] for f in FITS.values() if f["q"] > 1} == {"un", "vc"}
    assert {f["method"] for f in FITS.values()} == {"REML", "ML"}
    assert any(f["is_singular"] for f in FITS.values())
    assert min(f["group_size"]["min"] for f in FITS.values()) == 1
    assert max(f["group_size"]["max"] / f["group_size"]["median"] for f in FITS.values()) > 100
    total = sum(
        (HERE / "fixtures" / "battery" / p).stat().st_size
        for p in [Path(s["file"]).name for s in FIXTURE["data"].values()]
    )
    assert total < 5e6


def test_reference_is_the_lowest_deviance_its_optimisers_found():
    for key, ref in FITS.items():
        runs = ref["convergence"]["optimisers"]
        assert min(r["deviance"] for r in runs.values()) >= ref["deviance"] - 1e-9, key
        if "lme4_direct" in ref:  # an exact optimum, which lme4's own runs may not reach
            assert ref["lme4_direct"]["deviance_minus_exact"] >= -1e-9, key
        else:  # at least two independent runs reach the reference
            assert ref["convergence"]["n_within_1e6_of_best"] >= 2, key


def test_exact_references_follow_from_their_base_fits():
    """Criterion + 2 log|b| (REML), slope b times smaller, sigma2 the same."""
    for ref in FITS.values():
        if "lme4_direct" not in ref:
            continue
        column = ref["python"]["random"][0]
        a, b = {"x_k": (0, 1e3), "x_u": (0, 1e-5), "x_1000": (1e3, 1), "x_50k": (5e4, 1.5e4)}[
            column
        ]
        base = FITS[f"sim_scaled_{ref['python']['covariance']}_{ref['method']}"]
        shift = 2 * np.log(b) if ref["method"] == "REML" else 0.0
        assert ref["deviance"] == pytest.approx(base["deviance"] + shift, abs=1e-9)
        assert ref["fixed"][column]["estimate"] == pytest.approx(
            base["fixed"]["x"]["estimate"] / b, rel=1e-12
        )
        assert ref["sigma2"] == base["sigma2"]
        data = _data("sim_scaled")
        assert np.allclose(data[column], a + b * data["x"], rtol=1e-12, atol=0)
