"""The shipped synthetic TIMSS data: provenance, structure and calibration.

The course ships simulated students because TIMSS data may not be
redistributed. These tests prove that

* the shipped CSV file is exactly what :func:`hlmteach.synthetic.make_synthetic_timss`
  makes with its default seed;
* the frame has the published sample sizes, one student per country without
  parents' education, and says that it is synthetic;
* the seed analysis fitted to the synthetic ``math`` (the first plausible value)
  reproduces the published SAS PROC MIXED results: every estimate within one
  published standard error, every number printed without a standard error within
  its printed rounding, -2 Res Log L within 1 %;
* the contextual effect of the school's share of college-educated parents is
  there in the USA and much weaker in Korea;
* the synthetic sampling design is a PPS sample of schools with consistent IEA
  weights (positive, the product of their factors, house and senate weights
  summing to the sample size and 500, the school weight constant in a school and
  inverse to its size), and the weights are informative: weighted and unweighted
  estimates differ by the amounts ``data/README.md`` states;
* the plausible values are posterior draws: their mean has less spread than any
  one of them, the spread between them is the designed posterior variance, and
  by simulation, Rubin's rules give about the right standard errors while a
  single plausible value gives too small ones.

The models are fitted with statsmodels (OLS, and MixedLM with REML), not with the
course's own engine. statsmodels' REML log-likelihood uses SAS's convention
(including the constant (N - p) log 2 pi), which
``test_statsmodels_reml_loglik_follows_the_sas_convention`` verifies against the
formula of the SAS documentation. statsmodels gives no SAS-comparable standard
errors of variance parameters, and its fixed-effect standard errors include the
uncertainty of the variance parameters, so the standard errors are computed here
as SAS PROC MIXED does: (X'V^-1 X)^-1 for fixed effects and the inverse observed
information of the REML likelihood for variance parameters.
"""

from __future__ import annotations

import warnings
from decimal import Decimal
from importlib import resources

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from hlmteach.data import PLAUSIBLE_VALUES, load_timss, tidy_timss
from hlmteach.synthetic import (
    COUNTRY_SPECS,
    DEFAULT_SEED,
    MAX_JK_ZONES,
    PV_DECIMALS,
    SCALE_SD,
    WEIGHT_DECIMALS,
    Z_DECIMALS,
    _draw_plausible_values,
    _simulate_raw,
    make_synthetic_timss,
    write_synthetic_timss,
)

COUNTRY_NAMES = ("Korea", "USA")
Z_COLUMNS = (*(f"math{k}" for k in range(1, len(PLAUSIBLE_VALUES) + 1)), "math")

# The published results of the seed analysis: seed SAS PROC MIXED output, DESIGN.md §5.
# `math` is the first plausible value as a z-score standardised after merging both
# countries. Numbers are kept as printed (strings), with their standard error where
# one is printed. Models: "null" is math ~ 1 + (1 | school); "ols" is OLS of
# math ~ college + boy; "rc" is math ~ college + boy with a random intercept and a
# random college slope, uncorrelated (SAS TYPE=VC), boy fixed.
#   (country, model, quantity, estimate, standard error or None)
PUBLISHED: tuple[tuple[str, str, str, str, str | None], ...] = (
    ("Korea", "null", "students", "2901", None),
    ("Korea", "null", "schools", "150", None),
    ("Korea", "null", "gamma00", "0.7409", "0.02692"),
    ("Korea", "null", "tau00", "0.06161", "0.01268"),
    ("Korea", "null", "sigma2", "0.9077", "0.02448"),
    ("Korea", "null", "-2 Res Log L", "8081.8", None),
    ("Korea", "ols", "Intercept", "0.55", "0.03"),
    ("Korea", "ols", "college", "0.53", "0.04"),
    ("Korea", "ols", "boy", "0.13", "0.04"),
    ("Korea", "ols", "N", "2900", None),
    ("Korea", "ols", "R2", "0.05", None),
    ("Korea", "rc", "Intercept", "0.56", "0.03"),
    ("Korea", "rc", "college", "0.49", "0.05"),
    ("Korea", "rc", "boy", "0.14", "0.04"),
    ("Korea", "rc", "tau_intercept", "0.02", "0.01"),
    ("Korea", "rc", "tau_college", "0.01", "0.01"),
    ("Korea", "rc", "sigma2", "0.88", "0.02"),
    ("USA", "null", "students", "6944", None),
    ("USA", "null", "schools", "183", None),
    ("USA", "null", "gamma00", "-0.3061", "0.04"),
    ("USA", "null", "tau00", "0.2141", "0.02"),
    ("USA", "null", "sigma2", "0.4769", "0.01"),
    ("USA", "null", "-2 Res Log L", "15088.5", None),
    ("USA", "ols", "Intercept", "-0.435", "0.02"),
    ("USA", "ols", "college", "0.357", "0.02"),
    ("USA", "ols", "boy", "0.033", "0.02"),
    ("USA", "ols", "N", "6943", None),
    ("USA", "ols", "R2", "0.039", None),
    ("USA", "rc", "Intercept", "-0.38", "0.04"),
    ("USA", "rc", "college", "0.16", "0.02"),
    ("USA", "rc", "boy", "0.05", "0.02"),
    ("USA", "rc", "tau_intercept", "0.20", "0.02"),
    ("USA", "rc", "tau_college", "0.02", "0.01"),
    ("USA", "rc", "sigma2", "0.47", "0.01"),
)

# Standard errors printed with three or more significant digits are compared within
# this relative tolerance instead of their (much finer) printed rounding: they follow
# from the simulated school sizes, which were not tuned digit by digit.
SE_RELATIVE_TOLERANCE = 0.02

# The one published number the synthetic data cannot reproduce (see
# test_known_gap_korean_college_slope_variance_se).
KNOWN_SE_GAPS = {("Korea", "rc", "tau_college")}


def _half_unit(printed: str) -> float:
    """Half a unit of the last printed digit: the printed rounding of a number."""
    exponent = Decimal(printed).as_tuple().exponent
    return 0.5 * 10.0 ** int(exponent)


def _within_printed_rounding(value: float, printed: str) -> bool:
    """Whether ``value`` rounds to ``printed``: the half-open interval [p - h, p + h)."""
    centre, half = float(printed), _half_unit(printed)
    return centre - half - 1e-12 <= value < centre + half - 1e-12


def _significant_digits(printed: str) -> int:
    return len(Decimal(printed).normalize().as_tuple().digits)


# --------------------------------------------------------------------------------------
# REML as SAS PROC MIXED documents it, for V_j = Z_j D Z_j' + sigma2 I with D diagonal.
# --------------------------------------------------------------------------------------


class SasReml:
    """-2 Res Log L, fixed-effect SEs and variance-parameter SEs as SAS PROC MIXED.

    SAS PROC MIXED documents -2 Res Log L = log|V| + log|X'V^-1 X| + r'V^-1 r
    + (N - p) log(2 pi), with r the GLS residuals. The SEs of fixed effects are
    sqrt(diag((X'V^-1 X)^-1)); those of the variance parameters (taus, sigma2)
    come from the inverse of the observed information, 2 H^-1 with H the Hessian
    of -2 Res Log L in these parameters.
    """

    def __init__(self, y: np.ndarray, X: np.ndarray, Z: np.ndarray, groups: np.ndarray):
        order = np.argsort(groups, kind="stable")
        y, X, Z, groups = y[order], X[order], Z[order], groups[order]
        starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
        self.n, self.p = X.shape
        self.q = Z.shape[1]
        self.ZtZ = np.add.reduceat(Z[:, :, None] * Z[:, None, :], starts, axis=0)
        self.ZtX = np.add.reduceat(Z[:, :, None] * X[:, None, :], starts, axis=0)
        self.Zty = np.add.reduceat(Z * y[:, None], starts, axis=0)
        self.XtX, self.Xty, self.yty = X.T @ X, X.T @ y, y @ y

    def _gls(self, params: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, float]:
        """log|V|, X'V^-1 X, X'V^-1 y and y'V^-1 y by the Woodbury identity, school by school."""
        *taus, sigma2 = params
        D = np.diag(taus)
        eye = np.eye(self.q)
        # V_j^-1 = (I - Z_j M_j Z_j') / sigma2 with M_j = (sigma2 I + D Z_j'Z_j)^-1 D.
        M = np.linalg.solve(sigma2 * eye + D @ self.ZtZ, np.broadcast_to(D, self.ZtZ.shape))
        log_det_v = (
            self.n * np.log(sigma2) + np.linalg.slogdet(eye + D @ self.ZtZ / sigma2)[1].sum()
        )
        xvx = (self.XtX - np.einsum("jap,jab,jbk->pk", self.ZtX, M, self.ZtX)) / sigma2
        xvy = (self.Xty - np.einsum("jap,jab,jb->p", self.ZtX, M, self.Zty)) / sigma2
        yvy = (self.yty - np.einsum("ja,jab,jb->", self.Zty, M, self.Zty)) / sigma2
        return log_det_v, xvx, xvy, yvy

    def minus2_res_loglik(self, params: np.ndarray) -> float:
        log_det_v, xvx, xvy, yvy = self._gls(np.asarray(params, dtype=float))
        beta = np.linalg.solve(xvx, xvy)
        return float(
            log_det_v
            + np.linalg.slogdet(xvx)[1]
            + (yvy - beta @ xvy)
            + (self.n - self.p) * np.log(2 * np.pi)
        )

    def fixed_effect_se(self, params: np.ndarray) -> np.ndarray:
        xvx = self._gls(np.asarray(params, dtype=float))[1]
        return np.sqrt(np.diag(np.linalg.inv(xvx)))

    def variance_se(self, params: np.ndarray) -> np.ndarray:
        params = np.asarray(params, dtype=float)
        k = params.size
        steps = 1e-4 * np.maximum(np.abs(params), 1e-2)
        hessian = np.empty((k, k))
        for i in range(k):
            for j in range(i, k):
                ei, ej = np.eye(k)[i] * steps[i], np.eye(k)[j] * steps[j]
                hessian[i, j] = hessian[j, i] = (
                    self.minus2_res_loglik(params + ei + ej)
                    - self.minus2_res_loglik(params + ei - ej)
                    - self.minus2_res_loglik(params - ei + ej)
                    + self.minus2_res_loglik(params - ei - ej)
                ) / (4 * steps[i] * steps[j])
        return np.sqrt(np.diag(2 * np.linalg.inv(hessian)))


# --------------------------------------------------------------------------------------
# Fits of the seed analysis to the shipped data
# --------------------------------------------------------------------------------------


def _fit_country(frame: pd.DataFrame) -> dict[tuple[str, str], tuple[float, float | None]]:
    """Fit the three models of the seed analysis; (model, quantity) -> (value, SE)."""
    out: dict[tuple[str, str], tuple[float, float | None]] = {}
    out["null", "students"] = (float(len(frame)), None)
    out["null", "schools"] = (float(frame["school"].nunique()), None)

    with warnings.catch_warnings():
        # The Korean fits warn that the MLE "may be on the boundary"; it is not.
        warnings.simplefilter("ignore")
        null = smf.mixedlm("math ~ 1", frame, groups="school").fit(reml=True)
        complete = frame.dropna(subset=["college", "boy"])
        rc = smf.mixedlm(
            "math ~ college + boy",
            complete,
            groups="school",
            re_formula="1",
            vc_formula={"college": "0 + college"},
        ).fit(reml=True)
    assert null.converged and rc.converged

    y = frame["math"].to_numpy()
    ones = np.ones((len(frame), 1))
    sas = SasReml(y, ones, ones, frame["school"].to_numpy())
    params = np.array([null.cov_re.iloc[0, 0], null.scale])
    var_se = sas.variance_se(params)
    out["null", "gamma00"] = (null.fe_params["Intercept"], sas.fixed_effect_se(params)[0])
    out["null", "tau00"] = (params[0], var_se[0])
    out["null", "sigma2"] = (params[1], var_se[1])
    out["null", "-2 Res Log L"] = (-2 * null.llf, None)

    ols = smf.ols("math ~ college + boy", complete).fit()
    for name in ("Intercept", "college", "boy"):
        out["ols", name] = (ols.params[name], ols.bse[name])
    out["ols", "N"] = (float(ols.nobs), None)
    out["ols", "R2"] = (ols.rsquared, None)

    X = np.column_stack([np.ones(len(complete)), complete["college"], complete["boy"]])
    sas = SasReml(complete["math"].to_numpy(), X, X[:, :2], complete["school"].to_numpy())
    params = np.array([rc.cov_re.iloc[0, 0], rc.vcomp[0], rc.scale])
    fe_se, var_se = sas.fixed_effect_se(params), sas.variance_se(params)
    for k, name in enumerate(("Intercept", "college", "boy")):
        out["rc", name] = (rc.fe_params[name], fe_se[k])
    for k, name in enumerate(("tau_intercept", "tau_college", "sigma2")):
        out["rc", name] = (params[k], var_se[k])
    out["rc", "-2 Res Log L"] = (-2 * rc.llf, None)
    return out


@pytest.fixture(scope="module")
def timss() -> pd.DataFrame:
    return load_timss()


@pytest.fixture(scope="module")
def fits(timss: pd.DataFrame) -> dict[str, dict[tuple[str, str], tuple[float, float | None]]]:
    return {name: _fit_country(timss[timss["country"] == name]) for name in COUNTRY_NAMES}


# --------------------------------------------------------------------------------------
# (a) The shipped file is the generator's output
# --------------------------------------------------------------------------------------


WEIGHT_COLUMNS = (
    "total_weight",
    "house_weight",
    "senate_weight",
    "school_weight",
    "within_school_weight",
    "wgtfac1",
    "wgtadj1",
    "wgtfac2",
    "wgtadj2",
    "wgtfac3",
    "wgtadj3",
)


def _rounded_as_written(frame: pd.DataFrame) -> pd.DataFrame:
    decimals = {pv: PV_DECIMALS for pv in PLAUSIBLE_VALUES}
    decimals.update({column: Z_DECIMALS for column in Z_COLUMNS})
    decimals.update({column: WEIGHT_DECIMALS for column in WEIGHT_COLUMNS})
    decimals.update({"boy": 1, "college": 1})
    return frame.round(decimals)


def test_shipped_file_is_exactly_the_generator_output(timss: pd.DataFrame) -> None:
    generated = make_synthetic_timss()
    assert list(generated.columns) == list(tidy_timss(_simulate_raw(DEFAULT_SEED)).columns)
    pd.testing.assert_frame_equal(
        _rounded_as_written(timss), _rounded_as_written(generated), check_exact=True
    )


def test_shipped_file_bytes_are_what_the_writer_writes(tmp_path) -> None:
    shipped = resources.files("hlmteach.datasets").joinpath("timss_synthetic.csv").read_bytes()
    written = write_synthetic_timss(tmp_path / "timss.csv").read_bytes()
    assert written == shipped, "Rewrite data/timss_synthetic.csv with python -m hlmteach.synthetic"


def test_generator_is_deterministic_and_seeded() -> None:
    first, again = make_synthetic_timss(7), make_synthetic_timss(7)
    pd.testing.assert_frame_equal(first, again, check_exact=True)
    assert not first["math"].equals(make_synthetic_timss(8)["math"])


# --------------------------------------------------------------------------------------
# (b) Structure, missing values and labelling
# --------------------------------------------------------------------------------------


def test_sample_sizes_are_the_published_ones(timss: pd.DataFrame) -> None:
    by_country = timss.groupby("country", observed=True)
    assert by_country.size().to_dict() == {"Korea": 2901, "USA": 6944}
    assert by_country["school"].nunique().to_dict() == {"Korea": 150, "USA": 183}
    for name, frame in by_country:
        sizes = frame.groupby("school").size()
        assert sizes.min() >= 4, f"{name}: a school has fewer than 4 students"
        assert sorted(frame["idschool"].unique()) == list(range(1, sizes.size + 1))


def test_exactly_one_student_per_country_lacks_a_predictor(timss: pd.DataFrame) -> None:
    lacking = timss[timss[["college", "boy"]].isna().any(axis=1)]
    assert lacking["country"].value_counts().to_dict() == {"Korea": 1, "USA": 1}
    assert lacking["parent_educ"].isna().all() and lacking["boy"].notna().all()
    assert timss["parent_educ"].isna().sum() == 2
    assert timss[[*PLAUSIBLE_VALUES, *Z_COLUMNS]].notna().all().all()


def test_frame_is_labelled_synthetic(timss: pd.DataFrame) -> None:
    assert "SYNTHETIC" in timss.attrs["label"]
    assert "SYNTHETIC" in load_timss("Korea").attrs["label"]
    assert make_synthetic_timss().attrs["label"] == timss.attrs["label"]


def test_records_look_like_iea_student_records(timss: pd.DataFrame) -> None:
    assert not timss.duplicated().any()
    assert not timss.duplicated(["idcntry", "idstud"]).any()
    assert (timss["school"] == timss["idcntry"] * 10000 + timss["idschool"]).all()
    # IDSTUD = IDSCHOOL * 10000 + class * 100 + seat, as in the IEA files.
    assert (timss["idstud"] // 10000 == timss["idschool"]).all()
    assert set(timss["boy"].unique()) == {0.0, 1.0}
    pv = timss[list(PLAUSIBLE_VALUES)].to_numpy()
    np.testing.assert_array_equal(pv, np.round(pv, PV_DECIMALS))
    means = timss.groupby("country", observed=True)["bsmpv01"].mean()
    assert 590 < means["Korea"] < 620 and 485 < means["USA"] < 515


def test_z_scores_are_standardised_after_merging(timss: pd.DataFrame) -> None:
    for k, pv in enumerate(PLAUSIBLE_VALUES, start=1):
        z = timss[f"math{k}"]
        assert abs(z.mean()) < 1e-6 and abs(z.std(ddof=1) - 1) < 1e-6
        raw = timss[pv]
        np.testing.assert_allclose(z, (raw - raw.mean()) / raw.std(ddof=1), atol=6e-7)
    assert timss["math"].equals(timss["math1"])


def test_plausible_values_carry_realistic_imputation_noise(timss: pd.DataFrame) -> None:
    for name, frame in timss.groupby("country", observed=True):
        z = frame[list(Z_COLUMNS[:-1])].to_numpy()
        noise_sd = np.sqrt(z.var(axis=1, ddof=1).mean())
        ratio = noise_sd / frame["math"].std()
        assert 0.2 <= ratio <= 0.3, f"{name}: PV noise SD / student SD = {ratio:.3f}"


# --------------------------------------------------------------------------------------
# (c) Calibration against the published numbers
# --------------------------------------------------------------------------------------


def _published_rows(model: str) -> list[tuple[str, str, str, str | None]]:
    return [(c, q, est, se) for c, m, q, est, se in PUBLISHED if m == model]


@pytest.mark.parametrize("model", ["null", "ols", "rc"])
def test_estimates_reproduce_the_published_ones(fits, model: str) -> None:
    failures = []
    for country, quantity, estimate, se in _published_rows(model):
        value = fits[country][model, quantity][0]
        if quantity == "-2 Res Log L":
            ok = abs(value - float(estimate)) <= 0.01 * abs(float(estimate))
            rule = "within 1 %"
        elif se is not None:
            ok = abs(value - float(estimate)) <= float(se)
            rule = f"within one SE ({se})"
        elif quantity in {"students", "schools", "N"}:
            ok = value == float(estimate)
            rule = "exactly"
        else:
            ok = _within_printed_rounding(value, estimate)
            rule = "within printed rounding"
        if not ok:
            failures.append(f"{country} {model} {quantity}: {value:.5g} vs {estimate} ({rule})")
    assert not failures, "; ".join(failures)


@pytest.mark.parametrize("model", ["null", "ols", "rc"])
def test_standard_errors_reproduce_the_published_ones(fits, model: str) -> None:
    failures = []
    for country, quantity, _, se in _published_rows(model):
        if se is None or (country, model, quantity) in KNOWN_SE_GAPS:
            continue
        value = fits[country][model, quantity][1]
        if _significant_digits(se) >= 3:
            ok = abs(value - float(se)) <= SE_RELATIVE_TOLERANCE * float(se)
        else:
            ok = _within_printed_rounding(value, se)
        if not ok:
            failures.append(f"{country} {model} {quantity}: SE {value:.5f} vs {se}")
    assert not failures, "; ".join(failures)


@pytest.mark.xfail(strict=True, reason="unreachable with 150 schools of about 19 students")
def test_known_gap_korean_college_slope_variance_se(fits) -> None:
    """The published SE of the Korean college-slope variance, 0.01, is not reproduced.

    A school's college gap is estimated with sampling variance at least
    sigma2 / (n / 4) (half the parents college-educated), about 0.88 / (19 / 4) = 0.19
    for a Korean school of 19 students; with 150 schools the SE of the variance of
    the gaps is then at least about sqrt(2 / 150) * (0.01 + 0.19) = 0.023. The
    synthetic data give about that; the estimate itself (0.01) is reproduced. The US
    analogue, sqrt(2 / 183) * (0.02 + 0.47 / (38 / 4)) = 0.007, agrees with its
    published 0.01.
    """
    value = fits["Korea"]["rc", "tau_college"][1]
    assert _within_printed_rounding(value, "0.01")


def test_intercept_only_model_is_matched_closely(fits) -> None:
    """The four-decimal numbers of the intercept-only model, closer than one SE."""
    close = {"gamma00": 0.005, "tau00": 0.005, "sigma2": 0.01}
    for country, model, quantity, estimate, _ in PUBLISHED:
        if model != "null":
            continue
        value = fits[country][model, quantity][0]
        if quantity in close:
            assert abs(value - float(estimate)) <= close[quantity], (country, quantity, value)
        elif quantity == "-2 Res Log L":
            assert abs(value / float(estimate) - 1) <= 0.002, (country, value)


def test_statsmodels_reml_loglik_follows_the_sas_convention(timss: pd.DataFrame) -> None:
    """-2 * llf of a REML fit equals SAS's -2 Res Log L, constant (N - p) log 2 pi included."""
    for name in COUNTRY_NAMES:
        frame = timss[(timss["country"] == name)].dropna(subset=["college"])
        X = np.column_stack([np.ones(len(frame)), frame["college"], frame["boy"]])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = smf.mixedlm("math ~ college + boy", frame, groups="school").fit(reml=True)
        sas = SasReml(frame["math"].to_numpy(), X, X[:, :1], frame["school"].to_numpy())
        sas_value = sas.minus2_res_loglik(np.array([fit.cov_re.iloc[0, 0], fit.scale]))
        assert -2 * fit.llf == pytest.approx(sas_value, abs=1e-6)


def test_random_coefficient_model_is_diagonal(fits, timss: pd.DataFrame) -> None:
    """The vc_formula fit is SAS's TYPE=VC model: its -2 Res Log L is SAS's at its estimates."""
    for name in COUNTRY_NAMES:
        frame = timss[(timss["country"] == name)].dropna(subset=["college"])
        X = np.column_stack([np.ones(len(frame)), frame["college"], frame["boy"]])
        sas = SasReml(frame["math"].to_numpy(), X, X[:, :2], frame["school"].to_numpy())
        fit = fits[name]
        params = [fit["rc", q][0] for q in ("tau_intercept", "tau_college", "sigma2")]
        value = sas.minus2_res_loglik(np.array(params))
        assert fit["rc", "-2 Res Log L"][0] == pytest.approx(value, abs=1e-6)


# --------------------------------------------------------------------------------------
# The contextual effect of the school's share of college-educated parents
# --------------------------------------------------------------------------------------


def _school_share_and_mean(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.dropna(subset=["college"]).groupby("school")[["college", "math"]].mean()


def test_us_college_effect_is_largely_contextual(fits, timss: pd.DataFrame) -> None:
    usa, korea = fits["USA"], fits["Korea"]
    us_drop = usa["ols", "college"][0] - usa["rc", "college"][0]
    korea_drop = korea["ols", "college"][0] - korea["rc", "college"][0]
    # Published: 0.357 - 0.16 = 0.197 in the USA, 0.53 - 0.49 = 0.04 in Korea.
    assert us_drop > 0.1
    assert korea_drop < 0.1 and korea_drop < us_drop / 2
    schools = _school_share_and_mean(timss[timss["country"] == "USA"])
    assert schools["college"].corr(schools["math"]) > 0.3


def test_contextual_effect_is_weaker_in_korea(timss: pd.DataFrame) -> None:
    """math ~ college + school share + boy: the share's effect is much smaller in Korea."""
    effects = {}
    for name in COUNTRY_NAMES:
        frame = timss[timss["country"] == name].dropna(subset=["college"]).copy()
        frame["share"] = frame.groupby("school")["college"].transform("mean")
        fit = smf.mixedlm("math ~ college + share + boy", frame, groups="school").fit(reml=True)
        effects[name] = fit.fe_params["share"]
    assert effects["USA"] > 0.8
    assert effects["Korea"] < 0.75 * effects["USA"]


# --------------------------------------------------------------------------------------
# The synthetic sampling design and its weights
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    """The generator's raw records, with the schools' enrolment and stratum (not shipped)."""
    return _simulate_raw(DEFAULT_SEED)


def test_raw_records_carry_the_iea_weight_variables(raw: pd.DataFrame) -> None:
    factors = [f"wgt{kind}{stage}" for stage in (1, 2, 3) for kind in ("fac", "adj")]
    assert {"totwgt", "houwgt", "senwgt", *factors, "jkzone", "jkindic"} <= set(raw.columns)


def test_weights_are_positive_and_consistent(timss: pd.DataFrame) -> None:
    assert (timss[list(WEIGHT_COLUMNS)] > 0).all().all()
    product = np.prod(
        timss[["wgtfac1", "wgtadj1", "wgtfac2", "wgtadj2", "wgtfac3", "wgtadj3"]], axis=1
    )
    np.testing.assert_allclose(timss["total_weight"], product, rtol=1e-6)
    np.testing.assert_allclose(
        timss["school_weight"], timss["wgtfac1"] * timss["wgtadj1"], rtol=1e-6
    )
    np.testing.assert_allclose(
        timss["within_school_weight"] * timss["school_weight"], timss["total_weight"], rtol=1e-6
    )
    by_school = timss.groupby("school")
    for column in ("school_weight", "wgtfac1", "wgtadj1", "wgtfac2", "jk_zone", "jk_replicate"):
        assert (by_school[column].nunique() == 1).all(), column
    for name, frame in timss.groupby("country", observed=True):
        assert frame["house_weight"].sum() == pytest.approx(len(frame), abs=0.01), name
        assert frame["senate_weight"].sum() == pytest.approx(500, abs=0.01), name
        # The house and senate weights are the total weight rescaled.
        np.testing.assert_allclose(
            frame["house_weight"] / frame["total_weight"],
            len(frame) / frame["total_weight"].sum(),
            rtol=1e-5,
        )


def test_jackknife_zones_pair_schools(timss: pd.DataFrame) -> None:
    for name, frame in timss.groupby("country", observed=True):
        schools = frame.groupby("school")[["jk_zone", "jk_replicate"]].first()
        zones = schools.groupby("jk_zone")["jk_replicate"]
        assert schools["jk_zone"].min() == 1 and schools["jk_zone"].max() == MAX_JK_ZONES, name
        assert (zones.size() >= 2).all() and (zones.sum() >= 1).all(), name
        assert ((zones.size() - zones.sum()) >= 1).all(), name
        assert set(schools["jk_replicate"]) == {0, 1}


def test_schools_are_drawn_with_probability_proportional_to_size(raw: pd.DataFrame) -> None:
    """wgtfac1 * enrolment is one number per stratum: the PPS selection probability."""
    for code, frame in raw.groupby("idcntry"):
        schools = frame.groupby("idschool")[["wgtfac1", "wgtadj1", "enrolment", "stratum"]].first()
        product = schools["wgtfac1"] * schools["enrolment"]
        for _, stratum in product.groupby(schools["stratum"]):
            np.testing.assert_allclose(stratum, stratum.iloc[0], rtol=1e-6)
        # Larger schools have smaller school weights.
        school_weight = np.log(schools["wgtfac1"] * schools["wgtadj1"])
        assert school_weight.corr(np.log(schools["enrolment"])) < -0.5, code
        # The small-school stratum is over-sampled: half the schools, less than a
        # third of the weighted enrolment.
        small = schools["stratum"] == 0
        assert 0.4 < small.mean() < 0.6
        enrol = schools["wgtfac1"] * schools["wgtadj1"] * schools["enrolment"]
        assert enrol[small].sum() / enrol.sum() < 1 / 3


def _weighted_mean(values: pd.Series, weights: pd.Series) -> float:
    return float(np.average(values, weights=weights))


def _college_gap(frame: pd.DataFrame, weights: pd.Series | None) -> float:
    frame = frame.dropna(subset=["college"])
    w = pd.Series(1.0, index=frame.index) if weights is None else weights.loc[frame.index]
    college = frame["college"] == 1
    return _weighted_mean(frame.loc[college, "bsmpv01"], w[college]) - _weighted_mean(
        frame.loc[~college, "bsmpv01"], w[~college]
    )


# Weighted minus unweighted, TIMSS points of the first plausible value (data/README.md).
INFORMATIVE = {
    # country: (mean of students, mean of school means, college gap) weighted - unweighted
    "Korea": (0.75, -2.79, 1.97),
    "USA": (8.42, -5.04, 5.79),
}


def test_weights_are_informative(timss: pd.DataFrame) -> None:
    """Weighted and unweighted estimates differ, as data/README.md states (to 0.5 points)."""
    for name, frame in timss.groupby("country", observed=True):
        student = _weighted_mean(frame["bsmpv01"], frame["total_weight"]) - frame["bsmpv01"].mean()
        schools = frame.groupby("school").agg(
            mean=("bsmpv01", "mean"), weight=("school_weight", "first")
        )
        school = _weighted_mean(schools["mean"], schools["weight"]) - schools["mean"].mean()
        gap = _college_gap(frame, frame["total_weight"]) - _college_gap(frame, None)
        assert (student, school, gap) == pytest.approx(INFORMATIVE[name], abs=0.5), name
    usa = INFORMATIVE["USA"]
    # In the USA, by several TIMSS points: the weights matter.
    assert usa[0] > 5 and usa[1] < -3 and usa[2] > 3


# --------------------------------------------------------------------------------------
# Plausible values as posterior draws
# --------------------------------------------------------------------------------------


def test_mean_of_plausible_values_has_less_spread_than_each(timss: pd.DataFrame) -> None:
    for name, frame in timss.groupby("country", observed=True):
        pv = frame[list(PLAUSIBLE_VALUES)]
        each = pv.var(ddof=1)
        assert pv.mean(axis=1).var(ddof=1) < 0.97 * each.min(), name
        # Proper draws: every plausible value has about the same spread.
        assert each.max() / each.min() < 1.05, name


def test_between_pv_variance_is_the_designed_posterior_variance(timss: pd.DataFrame) -> None:
    """The variance between a student's PVs is rho * measurement variance, rho < 1.

    The posterior variance is (1 - rho) s2_theta = rho * measurement_sd**2, with rho
    the reliability given the conditioning variables; on the TIMSS scale the
    measurement SD is measurement_sd * SCALE_SD.
    """
    for spec in COUNTRY_SPECS:
        frame = timss[timss["idcntry"] == spec.idcntry]
        between = frame[list(PLAUSIBLE_VALUES)].var(axis=1, ddof=1).mean()
        rho = between / (spec.measurement_sd * SCALE_SD) ** 2
        assert 0.8 < rho < 0.97, (spec.idcntry, rho)
        # ... a share of the variance of one PV of about (1 - reliability) x within variance.
        share = between / frame["bsmpv01"].var(ddof=1)
        assert 0.04 < share < 0.09, (spec.idcntry, share)


def test_rubin_pooling_is_about_right_and_one_pv_is_too_confident() -> None:
    """Simulation with the generator's posterior draws and a known truth.

    Students in 40 schools of 10, theta = school effect + 0.4 college + r, an
    observed score with measurement error (conditional reliability about 0.74),
    and five plausible values drawn by the generator's conditioning model (school,
    college). Over 1500 replications, the estimated OLS slope of college from the
    first PV has a real SD about 20% above its reported SE, while Rubin's pooled SE
    matches the real SD of the pooled estimate.
    """
    rng = np.random.default_rng(20261201)
    n_schools, per_school, reps, n_pv, slope, measurement_sd = 40, 10, 1500, 5, 0.4, 0.6
    n = n_schools * per_school
    school = np.repeat(np.arange(n_schools), per_school)
    first, first_se, pooled, pooled_se = (np.empty(reps) for _ in range(4))
    for rep in range(reps):
        college = (rng.random(n) < 0.3).astype(float)
        theta = 0.3 * rng.standard_normal(n_schools)[school] + slope * college
        theta = theta + rng.standard_normal(n)
        observed = theta + measurement_sd * rng.standard_normal(n)
        pv, rho = _draw_plausible_values(
            observed, school, college[:, None], measurement_sd, rng.standard_normal((n, n_pv))
        )
        X = np.column_stack([np.ones(n), college])
        inverse = np.linalg.inv(X.T @ X)
        coef = inverse @ X.T @ pv
        residual = pv - X @ coef
        within = (residual**2).sum(axis=0) / (n - 2) * inverse[1, 1]
        first[rep], first_se[rep] = coef[1, 0], np.sqrt(within[0])
        pooled[rep] = coef[1].mean()
        pooled_se[rep] = np.sqrt(within.mean() + (1 + 1 / n_pv) * coef[1].var(ddof=1))
    assert 0.7 < rho < 0.8
    assert abs(first.mean() - slope) < 0.015 and abs(pooled.mean() - slope) < 0.015
    single_ratio = first_se.mean() / first.std(ddof=1)
    rubin_ratio = pooled_se.mean() / pooled.std(ddof=1)
    assert single_ratio < 0.88, single_ratio
    assert 0.93 < rubin_ratio < 1.07, rubin_ratio
