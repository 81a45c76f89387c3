"""Exercises with self-checks: the learner computes a number, ``hlm.check`` says if it is right.

Each exercise has a key such as ``"03.1"`` (notebook 03, exercise 1), the
question, how to compute the right answer from the course data (or the
published value it must match), a tolerance that accepts sensible rounding,
and a hint that points toward the method without giving the answer away.
A wrong answer gets the hint; a right one gets a confirmation with the
reference value.
"""

from __future__ import annotations

import html
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np

from .validation import ModelInputError, numbers_stored_as_text

__all__ = ["EXERCISES", "CheckResult", "Exercise", "check", "solution_value"]


@dataclass(frozen=True)
class Exercise:
    """One self-checked exercise.

    Attributes
    ----------
    key : str
        Notebook number and exercise number, e.g. ``"03.1"``.
    question : str
        What the learner is asked to compute.
    answer : callable
        Returns the right answer (computed from the course data, or a published value).
    tolerance : float
        Largest absolute difference accepted (covers rounding to the printed digits).
    hint : str
        Shown after a wrong answer.
    """

    key: str
    question: str
    answer: Callable[[], float]
    tolerance: float
    hint: str


@dataclass(frozen=True)
class CheckResult:
    """The verdict of :func:`check`; true when the answer is right."""

    correct: bool
    message: str

    def __bool__(self) -> bool:
        return self.correct

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return self.message

    def _repr_html_(self) -> str:
        colour = "#1b7837" if self.correct else "#a6611a"
        mark = "✔" if self.correct else "✘"
        return f"<p style='color:{colour}'><b>{mark}</b> {html.escape(self.message)}</p>"


def _timss_fit(country: str, formula: str, random: tuple[str, ...] = (), covariance: str = "vc"):
    return _cached_fit(country, formula, random, covariance)


@cache
def _cached_fit(country: str, formula: str, random: tuple[str, ...], covariance: str):
    from .data import load_timss
    from .models import fit_hlm

    return fit_hlm(
        load_timss(country), formula, group="school", random=list(random), covariance=covariance
    )


@cache
def _hsb_fit(formula: str, random: tuple[str, ...] = (), method: str = "REML"):
    from .data import load_hsb
    from .models import fit_hlm

    hsb = load_hsb()
    hsb["cses"] = hsb["ses"] - hsb.groupby("school")["ses"].transform("mean")
    return fit_hlm(hsb, formula, group="school", random=list(random), method=method)


#: R&B Table 4.5: meanses and sector predict both the intercept and the cses slope.
_HSB_SLOPES_AS_OUTCOMES = "mathach ~ meanses + sector + cses + meanses:cses + sector:cses"


def _hsb_lme4_bic_ml() -> float:
    """lme4's BIC of HSB's one-way ANOVA fitted by ML: deviance + (p + q) ln(N)."""
    fit = _hsb_fit("mathach ~ 1", (), "ML")
    return float(fit.deviance + (len(fit.fixed) + len(fit.covariance)) * np.log(fit.n_obs))


def _hsb_tau(formula: str, random: tuple[str, ...], term: str) -> float:
    return float(_hsb_fit(formula, random).tau.loc[term, term])


def _hsb_gamma(formula: str, random: tuple[str, ...], term: str) -> float:
    return float(_hsb_fit(formula, random).fixed.loc[term, "estimate"])


def _hsb_tau00_explained_by_meanses() -> float:
    anova = _hsb_tau("mathach ~ 1", (), "Intercept")
    return (anova - _hsb_tau("mathach ~ meanses", (), "Intercept")) / anova


def _hsb_slope_variance_lr() -> float:
    from .inference import lr_test

    fixed_slope = _hsb_fit("mathach ~ cses")
    return float(lr_test(fixed_slope, _hsb_fit("mathach ~ cses", ("cses",))).statistic)


def _ols_coefficient(country: str, term: str, formula: str = "math ~ college + boy") -> float:
    from .data import load_timss
    from .models import fit_ols

    return float(fit_ols(load_timss(country), formula).fixed.loc[term, "estimate"])


def _korean_students():
    """The Korean students of the shipped TIMSS data (exercise 00.1)."""
    from .data import load_timss

    return load_timss("Korea")


def _hsb_ols_se(formula: str, term: str) -> float:
    """OLS standard error of ``term`` in High School and Beyond (exercise 01.4)."""
    from .data import load_hsb
    from .models import fit_ols

    return float(fit_ols(load_hsb(), formula).fixed.loc[term, "se"])


def _ols_cluster_robust_t(country: str, term: str) -> float:
    """t of ``term`` in math ~ college + boy with SEs clustered by school (statsmodels)."""
    import statsmodels.formula.api as smf

    from .data import load_timss

    students = load_timss(country).dropna(subset=["college"])
    fit = smf.ols("math ~ college + boy", data=students).fit(
        cov_type="cluster", cov_kwds={"groups": students["school"]}
    )
    return float(fit.tvalues[term])


def _timss_design_effect(country: str) -> float:
    """1 + (m - 1) ICC from the intercept-only fit, m = students per school on average."""
    fit = _timss_fit(country, "math ~ 1")
    return 1.0 + (fit.n_obs / fit.n_groups - 1.0) * fit.icc


@cache
def _ten_korean_schools(method: str):
    """Exercises 03.1 and 03.4: the intercept-only model of the first ten Korean schools."""
    from .data import load_timss
    from .models import fit_hlm, fit_ols

    korea = load_timss("Korea")
    ten = korea[korea["school"].isin(korea["school"].unique()[:10])]
    if method == "OLS":
        return fit_ols(ten, "math ~ 1")
    return fit_hlm(ten, "math ~ 1", group="school", method=method)


def _ten_schools_lr() -> float:
    """ML likelihood-ratio statistic of the random intercept against OLS (exercise 03.4)."""
    ols = _ten_korean_schools("OLS")
    return float(-2.0 * ols.statsmodels_result.llf - _ten_korean_schools("ML").deviance)


# Exercise 01 uses the published variance components of Korea's intercept-only model
# (tau00 = 0.06161, sigma2 = 0.9077, so ICC = 0.064) and its 2901 students in 150 schools.
_KOREA_ICC, _KOREA_STUDENTS, _KOREA_SCHOOLS = 0.064, 2901, 150


def _korea_design_effect() -> float:
    from .simulation import design_effect

    return float(design_effect(_KOREA_ICC, _KOREA_STUDENTS / _KOREA_SCHOOLS))


@cache
def _small_icc_ols_rate() -> float:
    from .simulation import simulate_false_positives

    result = simulate_false_positives(
        iccs=(0.05,), school_sizes=(100,), n_schools=20, n_reps=200, seed=1, progress=False
    )
    return float(result.loc[0, "ols_rate"])


def _rc_fit(country: str):
    """The course's random-coefficient model (notebooks 04-05): random college slope, boy fixed."""
    return _timss_fit(country, "math ~ college + boy", ("college",))


def _icc_at_college(country: str) -> float:
    """Conditional ICC of two students who both have a college-educated parent (VC model)."""
    fit = _rc_fit(country)
    between = float(fit.tau.loc["Intercept", "Intercept"] + fit.tau.loc["college", "college"])
    return between / (between + fit.sigma2)


def _boy_slope_lr(country: str) -> float:
    from .inference import lr_test

    with_boy = _timss_fit(country, "math ~ college + boy", ("college", "boy"))
    return float(lr_test(_rc_fit(country), with_boy).statistic)


def _share_of_schools_below_zero(country: str, term: str) -> float:
    """P(gamma + u < 0) for u ~ N(0, tau) of ``term``: the model's share of negative slopes."""
    from scipy import stats

    fit = _rc_fit(country)
    gamma = float(fit.fixed.loc[term, "estimate"])
    return float(stats.norm.cdf(0.0, loc=gamma, scale=np.sqrt(fit.tau.loc[term, term])))


def _smallest_school(country: str) -> int:
    """Id of the school with the fewest students (the smallest id if several tie)."""
    from .data import load_timss

    sizes = load_timss(country).groupby("school").size()
    smallest = sizes[sizes == sizes.min()]
    return int(smallest.index.min())


def _eblup_sd_ratio(country: str, term: str) -> float:
    """SD (N - 1) of the schools' EBLUPs of ``term`` over the model's SD sqrt(tau)."""
    fit = _rc_fit(country)
    eblups = fit.random_effects["estimate"].xs(term, level="term")
    return float(eblups.std(ddof=1) / np.sqrt(fit.tau.loc[term, term]))


# -- notebook 06: the explorer ---------------------------------------------------------------------
@cache
def _explorer_fit(country: str, random: tuple[str, ...], method: str):
    from .data import load_timss
    from .models import fit_hlm

    return fit_hlm(
        load_timss(country),
        "math ~ college + boy",
        group="school",
        random=list(random),
        method=method,
        covariance="vc",
    )


def _slope_variance_lr(country: str, term: str, method: str = "REML"):
    """LR test of one slope's variance: ``term`` random against all slopes fixed (VC)."""
    from .inference import lr_test

    return lr_test(_explorer_fit(country, (), method), _explorer_fit(country, (term,), method))


# -- notebooks 08 and 09: plausible values; within, between and contextual effects ----------------
_MATH_PVS = ("math1", "math2", "math3", "math4", "math5")
_SCALE_PVS = ("bsmpv01", "bsmpv02", "bsmpv03", "bsmpv04", "bsmpv05")


@cache
def _pooled_timss(
    country: str,
    formula: str,
    outcomes: tuple[str, ...] = _MATH_PVS,
    random: tuple[str, ...] = (),
    covariance: str = "vc",
):
    """One model fitted to each plausible value of one country, pooled by Rubin's rules."""
    from .data import load_timss
    from .plausible import fit_plausible_values

    return fit_plausible_values(
        load_timss(country),
        formula,
        list(outcomes),
        group="school",
        random=list(random),
        covariance=covariance,
    )


# Exercise 08.3 states these pooling inputs in its question (a made-up report, M = 5).
_EX083_UBAR, _EX083_B, _EX083_M = 2.25, 0.50, 5


@cache
def _timss_share_model(
    country: str, term: str, random: tuple[str, ...] = (), pooled: bool = False
) -> float:
    """A coefficient of math ~ college + college_share + boy, college NOT centred (notebook 09).

    college is then the within-school effect and college_share the contextual effect (exactly
    so with a random intercept only); ``pooled`` fits math1..math5 and pools them.
    """
    from .centering import school_mean
    from .data import load_timss
    from .models import fit_hlm
    from .plausible import fit_plausible_values

    data = school_mean(
        load_timss(country).dropna(subset=["college"]), "college", "school", name="college_share"
    )
    formula = "college + college_share + boy"
    if pooled:
        fit = fit_plausible_values(data, "~ " + formula, list(_MATH_PVS), group="school")
    else:
        fit = fit_hlm(data, "math ~ " + formula, group="school", random=list(random))
    return float(fit.fixed.loc[term, "estimate"])


def _hsb_contextual_with_sector() -> float:
    from .centering import contextual_effect
    from .data import load_hsb

    ce = contextual_effect(load_hsb(), "mathach", "ses", "school", covariates=["sector"])
    return float(ce.table.loc["contextual", "estimate"])


# -- notebooks 10 and 11: testing variance components; reading output ---------------------------
# Exercise 10.1 gives this LR statistic in its question (one added variance, type=vc).
_EX101_LR = 3.1


def _mixture_p_value(statistic: float) -> float:
    """p-value of one added variance: 50:50 mixture of chi2(0) and chi2(1)."""
    from scipy import stats

    return float(0.5 * stats.chi2.sf(statistic, 1))


def _korea_college_slope_p_un() -> float:
    """Korea, math ~ college + boy: LR test of a random college slope with type=un (df 2)."""
    from .inference import lr_test

    null = _timss_fit("Korea", "math ~ college + boy", (), "un")
    alt = _timss_fit("Korea", "math ~ college + boy", ("college",), "un")
    return float(lr_test(null, alt).p_value)


def _usa_two_slopes_p() -> float:
    """USA, math ~ college + boy: college and boy slopes (type=vc) tested together."""
    from .variance_tests import boundary_lr_test

    null = _timss_fit("USA", "math ~ college + boy", (), "vc")
    both = _timss_fit("USA", "math ~ college + boy", ("college", "boy"), "vc")
    return float(boundary_lr_test(null, both).p_value)


@cache
def _korea_college_slope_profile_upper(level: float) -> float:
    """Upper end of the REML profile interval of Korea's college-slope variance (type=vc)."""
    from .variance_tests import profile_ci

    return float(profile_ci(_rc_fit("Korea"), "Var(college)", level=level).upper)


# -- notebook 12: survey-weighted fits of PISA 2012 USA (the WeMix vignette's Table 1) ---------
#: The published random-intercept model (Bailey, Kelley & Nguyen 2019, WeMix vignette, Table 1);
#: load_pisa puts each question's reference level first.
_PISA_FORMULA = "pv1math ~ st29q03 + sc14q02 + st04q01 + escs"
_PISA_PVS = ("pv1math", "pv2math", "pv3math", "pv4math", "pv5math")
#: Table 1's log pseudo-likelihood as WeMix, SAS GLIMMIX and Mplus print it (Stata: -12789991.9).
_WEMIX_LOGLIK = -12789992.0


@cache
def _pisa_fit(
    weights: str | None = "w_fstuwt",
    group_weights: str | None = "w_fschwt",
    scaling: str = "none",
    random: tuple[str, ...] = (),
    house: bool = False,
):
    """The published model by pseudo-ML; ``house=True`` adds the column ``house`` first.

    ``house`` is the total weight rescaled to sum to the number of students, as TIMSS's
    HOUWGT (exercise 12.5).
    """
    from .data import load_pisa
    from .models import fit_hlm

    pisa = load_pisa()
    if house:
        pisa["house"] = pisa["w_fstuwt"] * len(pisa) / pisa["w_fstuwt"].sum()
    return fit_hlm(
        pisa,
        _PISA_FORMULA,
        group="schoolid",
        random=list(random),
        covariance="vc",
        method="ML",
        weights=weights,
        group_weights=group_weights,
        weight_scaling=scaling,
    )


@cache
def _pisa_pooled():
    """The published model on all five plausible values, raw weights, pooled by Rubin's rules."""
    from .data import load_pisa
    from .plausible import fit_plausible_values

    return fit_plausible_values(
        load_pisa(),
        "{pv} ~ st29q03 + sc14q02 + st04q01 + escs",
        list(_PISA_PVS),
        group="schoolid",
        method="ML",
        weights="w_fstuwt",
        group_weights="w_fschwt",
    )


_ALL: tuple[Exercise, ...] = (
    # A count: tolerance 0.5 accepts exactly the right whole number.
    Exercise(
        "00.1",
        "How many Korean students in the TIMSS data have a college-educated parent "
        "(college equal to 1)?",
        lambda: float((_korean_students()["college"] == 1).sum()),
        0.5,
        "Select the Korean students, timss[timss['country'] == 'Korea'], then count the rows "
        "whose college column equals 1: (korea['college'] == 1).sum(). A count, not a share.",
    ),
    # Tolerance 0.01: a design effect rounded to two decimals (or computed with the
    # average school size rounded to 19.3) stays within it.
    Exercise(
        "01.1",
        "Korea's 2901 students sit in 150 schools, and the ICC of mathematics is 0.064. "
        "Using the average school size, what is the design effect?",
        _korea_design_effect,
        0.01,
        "The design effect is 1 + (m - 1) * ICC, where m is the number of students per school; "
        "here m is the average, students divided by schools.",
    ),
    # Tolerance 5 students: rounding the design effect to two decimals before dividing
    # moves the answer by up to about 3 students.
    Exercise(
        "01.2",
        "How many independent students are Korea's 2901 students worth for estimating the "
        "effect of a school-level predictor (the effective sample size)?",
        lambda: _KOREA_STUDENTS / _korea_design_effect(),
        5.0,
        "Divide the number of students by the design effect of exercise 01.1; "
        "the answer is a number of students, well below 2901.",
    ),
    # The rate is a multiple of 1/200; tolerance 0.006 accepts it rounded to two decimals.
    Exercise(
        "01.3",
        "ICC 0.05, 20 schools of 100 students: in what share of 200 simulated data sets "
        "(seed 1) does OLS call a useless school-level predictor significant?",
        _small_icc_ols_rate,
        0.006,
        "Run hlm.simulation.simulate_false_positives with iccs=[0.05], school_sizes=[100], "
        "n_schools=20, n_reps=200 and seed=1, and read the ols_rate column: a proportion "
        "between 0 and 1, not a percentage.",
    ),
    # Tolerance 0.006 accepts the ratio rounded to two decimals.
    Exercise(
        "01.4",
        "HSB, mathach ~ minority: what is the random-intercept model's SE of minority divided "
        "by OLS's?",
        lambda: float(
            _hsb_fit("mathach ~ minority").fixed.loc["minority", "se"]
            / _hsb_ols_se("mathach ~ minority", "minority")
        ),
        0.006,
        "Fit hlm.fit_ols(hsb, 'mathach ~ minority') and hlm.fit_hlm(hsb, 'mathach ~ minority', "
        "group='school'), and divide the second fit's se of minority by the first's.",
    ),
    Exercise(
        "02.1",
        "Korea, OLS math ~ C(parent_educ) + boy: how many SDs higher do children of a "
        "college-educated parent score than children whose parents finished middle school?",
        lambda: _ols_coefficient(
            "Korea", "C(parent_educ)[T.college]", "math ~ C(parent_educ) + boy"
        ),
        0.006,
        "Fit hlm.fit_ols(korea, 'math ~ C(parent_educ) + boy') on the Korean students and read "
        "the row C(parent_educ)[T.college] of its `fixed` table: the college level against the "
        "baseline, middle school (not the 0/1 college coefficient).",
    ),
    # Tolerance 0.016: the sum of three coefficients each rounded to two decimals is off by
    # at most 0.015.
    Exercise(
        "02.2",
        "With the US OLS coefficients, what mathematics z-score does the model predict for a "
        "boy with a college-educated parent?",
        lambda: sum(_ols_coefficient("USA", term) for term in ("Intercept", "college", "boy")),
        0.016,
        "Put college = 1 and boy = 1 into the USA's fitted equation: the prediction is the "
        "intercept plus the college coefficient plus the boy coefficient, in SD units.",
    ),
    # Tolerance 0.01 accepts t rounded to two decimals. (Dividing the table's three-decimal
    # estimate by its three-decimal SE can be off by 0.1; the hint asks for full precision.)
    Exercise(
        "02.3",
        "What is the cluster-robust t statistic (clusters: schools) of the boy coefficient in "
        "the US OLS model math ~ college + boy?",
        lambda: _ols_cluster_robust_t("USA", "boy"),
        0.01,
        "Fit smf.ols('math ~ college + boy', data=usa).fit(cov_type='cluster', "
        "cov_kwds={'groups': usa['school']}) on the US students with a known college, and take "
        "its tvalues['boy'] at full precision, not the naive OLS t.",
    ),
    # Tolerance 0.006 accepts the ratio rounded to two decimals (0.85).
    Exercise(
        "03.1",
        "The first ten Korean schools: what is tau00 by ML divided by tau00 by REML "
        "(intercept-only model)?",
        lambda: float(
            _ten_korean_schools("ML").tau.iloc[0, 0] / _ten_korean_schools("REML").tau.iloc[0, 0]
        ),
        0.006,
        "Fit hlm.fit_hlm(ten, 'math ~ 1', group='school') twice, once with method='ML', and "
        "divide the two tau00 (fit.tau.loc['Intercept', 'Intercept']): ML's over REML's.",
    ),
    Exercise(
        "03.2",
        "What does the source's formula tau00 / sigma2 give for Korea? Compare with the ICC.",
        lambda: (lambda m: m.tau.iloc[0, 0] / m.sigma2)(_timss_fit("Korea", "math ~ 1")),
        0.006,
        "Divide the school-level variance by the student-level variance of Korea's "
        "intercept-only model.",
    ),
    # Tolerance 0.01: an ICC rounded to three decimals moves 1 + (m - 1) ICC by at most
    # (2901 / 150 - 1) * 0.0005 = 0.009.
    Exercise(
        "03.3",
        "From Korea's intercept-only fit, what is the design effect 1 + (m - 1) ICC, with m the "
        "average number of students per school?",
        lambda: _timss_design_effect("Korea"),
        0.01,
        "Take the ICC of the fit, tau00 / (tau00 + sigma2), with at least three decimals "
        "(`fit.icc`), and m = students / schools of the fit (`fit.n_obs / fit.n_groups`).",
    ),
    # Tolerance 0.01 accepts LR rounded to two decimals.
    Exercise(
        "03.4",
        "The first ten Korean schools: what is the ML likelihood-ratio statistic of the random "
        "intercept against OLS (math ~ 1)?",
        _ten_schools_lr,
        0.01,
        "LR = -2 log L of OLS minus -2 log L of the random-intercept model, both by ML: "
        "-2 * hlm.fit_ols(ten, 'math ~ 1').statsmodels_result.llf minus the ML fit's deviance.",
    ),
    # Tolerance 0.1 (percentage points): accepts one decimal; Korea's 1.9% is refused.
    Exercise(
        "04.1",
        "USA: what percentage of the within-school variance sigma2 of the intercept-only model "
        "do college and boy explain in the random-coefficient model (VC)?",
        lambda: 100.0 * (1.0 - _rc_fit("USA").sigma2 / _timss_fit("USA", "math ~ 1").sigma2),
        0.1,
        "Fit the US intercept-only model and the random-coefficient model (random=['college'], "
        "covariance='vc'); compute 1 - sigma2 (with predictors) / sigma2 (intercept-only) and "
        "give it in per cent.",
    ),
    # Tolerance 0.006: accepts the ICC rounded to two decimals, or computed from the
    # three-decimal tau and sigma2 of the HLM table.
    Exercise(
        "04.2",
        "US random-coefficient model (VC): what is the conditional ICC of two students of the "
        "same school who both have a college-educated parent (same sex)?",
        lambda: _icc_at_college("USA"),
        0.006,
        "With college = 1 the school part of a student's score is u0j + u1j, whose variance "
        "(with uncorrelated random effects) is tau00 + tau11; divide it by itself plus sigma2.",
    ),
    # Tolerance 0.1: the difference of two -2 Res Log Likelihoods printed with one decimal
    # each is off by at most 0.1.
    Exercise(
        "04.3",
        "Korea: what is the likelihood-ratio statistic for a random boy slope (VC), against "
        "the model with boy fixed?",
        lambda: _boy_slope_lr("Korea"),
        0.1,
        "Fit Korea's model twice, with random=['college'] and random=['college', 'boy'] (both "
        "covariance='vc'), and pass them to hlm.lr_test, smaller model first; or subtract the "
        "two -2 Res Log Likelihoods.",
    ),
    # Tolerance 0.006: accepts the share rounded to two decimals; the EB share (0.005) is refused.
    Exercise(
        "05.1",
        "US random-coefficient model: if the schools' college effects are normal with mean "
        "gamma10 and variance tau11, what share of US schools has a college effect below 0?",
        lambda: _share_of_schools_below_zero("USA", "college"),
        0.006,
        "Take gamma10 from fit.fixed and sqrt(tau11) from fit.tau, and compute the normal "
        "probability of a value below 0: stats.norm.cdf(0, loc=gamma10, scale=sd). Do not count "
        "the EB coefficients: they are shrunk.",
    ),
    # 05.2a-c: the three parts of Exercise 05.2, each checked. Tolerance 0.5 accepts exactly
    # the id of the smallest school (ids are whole numbers); 0.006 accepts two decimals.
    Exercise(
        "05.2a",
        "US intercept-only model: what is the id of the US school with the fewest students?",
        lambda: float(_smallest_school("USA")),
        0.5,
        "Count the students of each US school (groupby('school').size()) and take the idxmin().",
    ),
    Exercise(
        "05.2b",
        "US intercept-only model: what is the reliability lambda_j of the mean of the US "
        "school with the fewest students?",
        lambda: float(_timss_fit("USA", "math ~ 1").school_reliability["Intercept"].min()),
        0.006,
        "lambda_j = tau00 / (tau00 + sigma2 / n_j): take tau00 and sigma2 from the US "
        "intercept-only fit and n_j from the smallest school (or read fit.school_reliability).",
    ),
    Exercise(
        "05.2c",
        "US intercept-only model: by what fraction of the distance between its own mean and "
        "gamma00 is the EB estimate of the smallest US school pulled toward gamma00?",
        lambda: 1.0 - float(_timss_fit("USA", "math ~ 1").school_reliability["Intercept"].min()),
        0.006,
        "EB = lambda_j * (own mean) + (1 - lambda_j) * gamma00: the pull is the weight on gamma00.",
    ),
    # Tolerance 0.01: the ratio of an SD and sqrt(tau) each printed with three decimals is
    # off by at most about 0.006.
    Exercise(
        "05.3",
        "USA: the SD of the schools' EBLUPs of college is what fraction of the model's SD "
        "of the college slopes, sqrt(tau11)?",
        lambda: _eblup_sd_ratio("USA", "college"),
        0.01,
        "Take the college rows of fit.random_effects, compute the SD of their estimates, "
        "and divide it by the square root of the college entry of fit.tau.",
    ),
    # Tolerance 0.003: accepts 0.047 (sigma2 / n = 0.9 / 19 = 0.0474) and refuses Korea's
    # own tau00 (about 0.06).
    Exercise(
        "05.4",
        "Schools of 19 students with sigma2 = 0.9: at what tau00 does the t of an EBLUP have "
        "an SD of 1 (reliability one half)?",
        lambda: 0.9 / 19,
        0.003,
        "sqrt(lambda / (1 - lambda)) = 1 means lambda = 1/2; solve "
        "tau00 / (tau00 + sigma2 / n) = 1/2 for tau00.",
    ),
    # HSB (R&B ch. 4). 07.1-07.3 are the two-decimal values R&B print, to which converged
    # fits (ours, lme4, SPSS) round; the other answers are computed from the data. Tolerance
    # 0.006 accepts a value rounded to two decimals, or any more precise one.
    # 06.1: tolerance 0.06 accepts the difference of two -2 log L printed with one decimal;
    # the REML statistic (6.33) is rejected.
    Exercise(
        "06.1",
        "USA, ML: what is the likelihood-ratio statistic for the variance of the college "
        "slopes (boy fixed, VC), against the model with the college slope fixed?",
        lambda: float(_slope_variance_lr("USA", "college", "ML").statistic),
        0.06,
        "Fit the US model twice with method='ML' and covariance='vc', with random=[] and "
        "random=['college'], and pass them to hlm.lr_test, smaller model first (or use the "
        "explorer on ML and untick the college slope).",
    ),
    # 06.2: a count of decisions; only the exact count is right.
    Exercise(
        "06.2",
        "REML: of the four random slopes (college and boy, in Korea and in the USA), how many "
        "would you fix because the likelihood-ratio test of its variance, against the model "
        "with that slope fixed, has a mixture p-value of 0.05 or more?",
        lambda: float(
            sum(
                _slope_variance_lr(country, term).p_value >= 0.05
                for country in ("Korea", "USA")
                for term in ("college", "boy")
            )
        ),
        0.0,
        "Run the four likelihood-ratio tests (or read the explorer's LR p column with each "
        "slope random, country by country) and count the p-values of 0.05 or more.",
    ),
    # 06.3: tolerance 0.01, as 05.3; the US ratio (about 0.46) is rejected.
    Exercise(
        "06.3",
        "Korea, REML, college slope random (boy fixed, VC): the SD of the schools' EBLUPs of "
        "college is what fraction of the model's SD of the college slopes, sqrt(tau)?",
        lambda: _eblup_sd_ratio("Korea", "college"),
        0.01,
        "Take the college rows of fit.random_effects, compute the SD of their estimates, "
        "and divide it by the square root of the college entry of fit.tau.",
    ),
    Exercise(
        "07.1",
        "HSB one-way ANOVA (R&B Table 4.2): what is the grand mean of mathematics "
        "achievement, gamma00? (Published: 12.64.)",
        lambda: 12.64,
        0.006,
        "Fit `mathach ~ 1` with `group='school'` and read the intercept.",
    ),
    Exercise(
        "07.2",
        "HSB one-way ANOVA: what share of the variance in mathematics achievement lies "
        "between schools (the ICC)? (Published: 0.18.)",
        lambda: 0.18,
        0.006,
        "The ICC is tau00 / (tau00 + sigma2): the between-school variance over the total "
        "variance, not over sigma2. Take tau00 from `fit.tau` and sigma2 from `fit.sigma2`, "
        "or read `fit.icc`.",
    ),
    Exercise(
        "07.3",
        "HSB random-coefficient model with group-mean-centred SES (R&B Table 4.4): what is "
        "the average within-school SES slope, gamma10? (Published: 2.19.)",
        lambda: 2.19,
        0.006,
        "Centre SES on each school's mean, then fit `mathach ~ cses` with `random=['cses']`.",
    ),
    # R&B print 0.68, from HLM's iterations, which stop on a small change in the likelihood;
    # the converged REML estimate is 0.694 (lme4 with tight tolerances: 0.69399). Tolerance
    # 0.015 accepts both and 0.69; it is 5% of tau11's standard error (0.28).
    Exercise(
        "07.4",
        "HSB random-coefficient model (R&B Table 4.4): what is the variance of the schools' "
        "SES slopes, tau11? (R&B print 0.68; the fully converged REML estimate rounds to 0.69.)",
        lambda: _hsb_tau("mathach ~ cses", ("cses",), "cses"),
        0.015,
        "Read the cses-by-cses entry of `tau` (or the `Var(cses)` row of `covariance`).",
    ),
    # Tolerance 0.006: the share computed from R&B's or SAS's printed tau00s (8.61 and 2.64;
    # 8.6097 and 2.6357) is 0.693-0.694, and the two-decimal 0.69 is accepted.
    Exercise(
        "07.5",
        "HSB means-as-outcomes model (R&B Table 4.3): what proportion of the between-school "
        "variance tau00 of the one-way ANOVA does the school's mean SES account for? "
        "(Published: 0.69.)",
        _hsb_tau00_explained_by_meanses,
        0.006,
        "Fit `mathach ~ meanses` with a random intercept. Subtract its tau00 from the one-way "
        "ANOVA's tau00 and divide the difference by the one-way ANOVA's tau00.",
    ),
    # Tolerance 0.1: the difference of two -2 Res Log Likelihoods printed with one decimal
    # each is off by at most 0.1.
    Exercise(
        "07.6",
        "HSB random-coefficient model: what is the likelihood-ratio statistic for the "
        "variance of the SES slopes (against the same model with a fixed cses slope)?",
        _hsb_slope_variance_lr,
        0.1,
        "Fit `mathach ~ cses` twice, with and without `random=['cses']`, and pass both to "
        "`hlm.lr_test(smaller, larger)`; the statistic is the difference of their "
        "-2 Res Log Likelihoods.",
    ),
    Exercise(
        "07.7",
        "HSB intercepts- and slopes-as-outcomes model (R&B Table 4.5): by how much is the "
        "SES slope of a Catholic school flatter or steeper than that of a public school with "
        "the same mean SES (the sector-by-cses coefficient, gamma12)? (Published: -1.64.)",
        lambda: _hsb_gamma(_HSB_SLOPES_AS_OUTCOMES, ("cses",), "sector:cses"),
        0.006,
        "Put meanses and sector in the formula, and their interactions with cses "
        "(`meanses:cses`, `sector:cses`), with `random=['cses']`; read the `sector:cses` row "
        "of `fixed`. Mind the sign.",
    ),
    # HLM prints 0.901 for this reliability; tolerance 0.006 accepts two or three decimals.
    Exercise(
        "07.8",
        "HSB one-way ANOVA: how reliable is the sample mean of the least reliable school, "
        "as an estimate of its true mean?",
        lambda: float(_hsb_fit("mathach ~ 1").school_reliability["Intercept"].min()),
        0.006,
        "A school's reliability is tau00 / (tau00 + sigma2 / n_j) for its n_j students; "
        "`fit.school_reliability` has one per school. Which schools have the fewest students?",
    ),
    # Tolerance 0.012: the ratio of the two coefficients, each rounded to two decimals
    # (1.23 / 1.64 = 0.750), is within it; the Catholic slope of the old exercise (0.79) is not.
    Exercise(
        "07.9",
        "HSB intercepts- and slopes-as-outcomes model: compare a Catholic and a public school, "
        "both with mean SES 0. Up to what group-centred SES (cses) does the Catholic school's "
        "student score higher?",
        lambda: (
            _hsb_gamma(_HSB_SLOPES_AS_OUTCOMES, ("cses",), "sector")
            / -_hsb_gamma(_HSB_SLOPES_AS_OUTCOMES, ("cses",), "sector:cses")
        ),
        0.012,
        "With meanses = 0, the two schools' predicted scores differ by gamma01 (sector) + "
        "gamma12 (sector:cses) * cses. Where is that difference zero?",
    ),
    # Tolerance 0.008 accepts the FMI rounded to two decimals (0.20) and rejects the FMI of
    # the random-coefficient model printed in notebook 08 (0.19, 0.012 away); with M = 5 the
    # FMI is itself uncertain in its first decimal, so no finer check is meaningful.
    Exercise(
        "08.1",
        "Random-intercept model {pv} ~ college + boy (no random slope) fitted to Korea's five "
        "plausible values and pooled by Rubin's rules: what is the fraction of missing "
        "information (FMI) of the college effect?",
        lambda: float(_pooled_timss("Korea", "{pv} ~ college + boy").fixed.loc["college", "fmi"]),
        0.008,
        "Fit Korea's model with `hlm.fit_plausible_values(korea, '{pv} ~ college + boy', "
        "outcomes=PVS, group='school')`, without random=, and read the `fmi` column of the "
        "pooled `fixed` table, row college; not `lambda`, and not the random-slope model's FMI.",
    ),
    # Tolerance 0.01 score points accepts two decimals and rejects the first plausible
    # value's own SE (about 0.02 points away in the shipped data).
    Exercise(
        "08.2",
        "Intercept-only model fitted to Korea's five plausible values on the TIMSS scale "
        "(bsmpv01-bsmpv05): what is the pooled standard error of the intercept, in score points?",
        lambda: float(
            _pooled_timss("Korea", "{pv} ~ 1", outcomes=_SCALE_PVS).fixed.loc["Intercept", "se"]
        ),
        0.01,
        "Pass the Korean rows, the formula '{pv} ~ 1', group='school' and "
        "outcomes=['bsmpv01', ..., 'bsmpv05'] to `hlm.fit_plausible_values`, and read the se "
        "of the Intercept in `.fixed`. The answer is a few score points, not a z-score.",
    ),
    # Tolerance 0.006 accepts the SE rounded to two or three decimals.
    Exercise(
        "08.3",
        "A coefficient estimated on M = 5 plausible values has within variance U_bar = 2.25 "
        "and between variance B = 0.50. What is its pooled standard error?",
        lambda: float(np.sqrt(_EX083_UBAR + (1.0 + 1.0 / _EX083_M) * _EX083_B)),
        0.006,
        "The total variance is T = U_bar + (1 + 1/M) * B with M = 5; the standard error is "
        "the square root of T, not T itself.",
    ),
    # 09.1: the pooled within effect (0.333) is 0.011 from the first PV's (0.344, printed in
    # notebook 09); tolerance 0.005 accepts 0.33 and 0.333 and rejects the printed value.
    Exercise(
        "09.1",
        "Korea, random-intercept model {pv} ~ college + college_share + boy (college not "
        "centred, college_share the school's share) fitted to math1-math5 and pooled by "
        "Rubin's rules: what is the pooled within-school effect of college?",
        lambda: _timss_share_model("Korea", "college", pooled=True),
        0.005,
        "Add the share with `hlm.school_mean(..., name='college_share')` to the Korean rows "
        "(without the student whose parents' education is missing), pass the formula "
        "'{pv} ~ college + college_share + boy' with outcomes=['math1', ..., 'math5'] and "
        "group='school' to `hlm.fit_plausible_values`, and read the college row of `.fixed`; "
        "not the first plausible value's estimate.",
    ),
    # 09.2: with a random college slope the uncentred model's share coefficient (1.191) differs
    # from the centred model's contextual effect (1.199); tolerance 0.005 accepts 1.19 and
    # rejects 1.20 and the random-intercept value 1.245.
    Exercise(
        "09.2",
        "USA: fit math ~ college + college_share + boy with a random intercept and a random "
        "college slope (college not centred). What is the coefficient of college_share?",
        lambda: _timss_share_model("USA", "college_share", random=("college",)),
        0.005,
        "Drop the student without parents' education, add the share with "
        "`hlm.school_mean(data, 'college', 'school', name='college_share')`, keep college as "
        "the 0/1 variable, fit with `random=['college']` and read the college_share row of "
        "`fixed`; not the contextual effect of `hlm.contextual_effect`.",
    ),
    # lme4 (tests/fixtures/contextual_lme4.json, ri_sector) gives 3.14509; tolerance 0.01
    # accepts two decimals.
    Exercise(
        "09.3",
        "HSB: add sector (Catholic or public) to the model of R&B's contextual effect of SES "
        "(mathach ~ ses_cwc + ses_mean + sector, random intercept). What is the contextual "
        "effect now?",
        _hsb_contextual_with_sector,
        0.01,
        "Call `hlm.contextual_effect(hsb, 'mathach', 'ses', 'school', covariates=['sector'])` "
        "and read the contextual row of its table.",
    ),
    # 10.1: the mixture p-value of LR = 3.1 is 0.0391; tolerance 0.002 accepts 0.039 and 0.04
    # and rejects the naive chi2(1) p-value, 0.078.
    Exercise(
        "10.1",
        "A random slope (its variance only) lowers -2 Res Log Likelihood by 3.1. What is the "
        "p-value of the likelihood-ratio test with the correct (boundary) reference distribution?",
        lambda: _mixture_p_value(_EX101_LR),
        0.002,
        "Under the null the statistic is 0 half the time and chi-square(1) the other half: take "
        "the chi-square(1) upper-tail probability of 3.1 (scipy.stats.chi2.sf) and weight it by "
        "the mixture.",
    ),
    # 10.2: tolerance 0.006 accepts two decimals; the naive chi2(2) p-value and the type=vc
    # test's p-value both differ from the answer by more than 0.1.
    Exercise(
        "10.2",
        "Korea, math ~ college + boy: test a random college slope with correlated random "
        "effects (covariance='un'; null: random intercept only). What is the p-value from the "
        "50:50 mixture of chi-square(1) and chi-square(2)?",
        _korea_college_slope_p_un,
        0.006,
        "Fit the null and the alternative with the same fixed part and covariance='un', then "
        "call hlm.boundary_lr_test(null, alternative) and read its p_value (not p_value_naive).",
    ),
    # 10.3: tolerance 0.006 accepts two decimals and the ML profile (lme4's confint squared),
    # about 0.002 lower; it rejects the 95% profile end and the 90% Wald end (each about 0.01 off).
    Exercise(
        "10.3",
        "Korea, math ~ college + boy with a random college slope (covariance='vc'): what is the "
        "upper end of the 90% profile-likelihood interval for the college-slope variance?",
        lambda: _korea_college_slope_profile_upper(0.90),
        0.006,
        "Call hlm.profile_intervals(fit, level=0.90) on the REML fit and read the upper column "
        "of the Var(college) row; the Wald columns are a different interval.",
    ),
    # 10.4: the chi-bar-square p-value is 0.0165; tolerance 0.004 accepts two decimals (0.02)
    # and rejects the plain chi2(2) p (0.042), the college slope's own test (0.006) and its
    # naive chi2(1) p (0.012).
    Exercise(
        "10.4",
        "USA, math ~ college + boy: test the college and boy slopes together (covariance='vc') "
        "against the random-intercept model. What is the p-value with the right reference "
        "distribution?",
        _usa_two_slopes_p,
        0.004,
        "Two uncorrelated variances are tested at zero: hlm.boundary_lr_test(null, both) uses "
        "the mixture 1/4 chi2(0) + 1/2 chi2(1) + 1/4 chi2(2); read its p_value.",
    ),
    # 11.1: lme4 prints SD 2.935 for HSB's one-way ANOVA; 2.935 squared is 8.6142 against the
    # converged 8.6140, so tolerance 0.01 accepts squaring the printed SD and two decimals.
    Exercise(
        "11.1",
        "lme4 prints the school (Intercept) Std.Dev. of HSB's one-way ANOVA as 2.935. "
        "What is tau00?",
        lambda: _hsb_tau("mathach ~ 1", (), "Intercept"),
        0.01,
        "lme4's print() shows standard deviations; tau00 is a variance, the square of the SD.",
    ),
    # 11.2: from lme4's printed Corr 0.39 and SDs 1.5426 and 0.3183 the covariance is 0.1915,
    # against the converged 0.1920; tolerance 0.006 accepts it and two decimals, and rejects
    # the correlation itself.
    Exercise(
        "11.2",
        "lme4 prints, for HSB's intercepts- and slopes-as-outcomes model, SDs 1.5426 "
        "(Intercept) and 0.3183 (cses) with Corr 0.39. What is the covariance tau01?",
        lambda: float(_hsb_fit(_HSB_SLOPES_AS_OUTCOMES, ("cses",)).tau.loc["cses", "Intercept"]),
        0.006,
        "A covariance is the correlation times the two standard deviations.",
    ),
    # 11.3: lme4's ML BIC is 47142.449 (tests/fixtures/hsb_lme4.json's ML deviance + 3 ln 7185);
    # tolerance 0.05 accepts two decimals and rejects SAS's BIC (ln J: 47131.04), the REML
    # BIC (47143.43) and the count without the fixed effect (47133.57).
    Exercise(
        "11.3",
        "HSB one-way ANOVA fitted by ML: what BIC does R's BIC() print for "
        "lmer(mathach ~ 1 + (1 | school), REML = FALSE)?",
        _hsb_lme4_bic_ml,
        0.05,
        "Fit with method='ML'. lme4's BIC is -2 log L plus (number of fixed effects + number of "
        "covariance parameters) times the log of the number of students, not of schools.",
    ),
    # 12.1: the published value (WeMix, SAS, Mplus); tolerance 0.15 accepts Stata's -12789991.9
    # and our -12789991.99, and rejects -2 x logL and logL of the unweighted fit by far.
    Exercise(
        "12.1",
        "Fit the WeMix vignette's Table 1 model in Stata's form (weights='pwt1', "
        "conditional_weights=True, group_weights='w_fschwt'). What is its log pseudo-likelihood?",
        lambda: _WEMIX_LOGLIK,
        0.15,
        "fit.deviance is -2 times the log pseudo-likelihood: divide it by -2 (a log "
        "pseudo-likelihood of survey-weighted data is negative and very large).",
    ),
    # 12.2-12.4: tolerance 0.006 accepts two decimals. 12.2 (pooled, 28.434) rejects the
    # single-PV school-weights-only escs printed in section 5 (28.73) and the raw-weight pooled
    # escs of section 6 (25.88); 12.4 rejects the first plausible value's SE (0.59 away).
    Exercise(
        "12.2",
        "Fit the published PISA model with the school weights only (group_weights='w_fschwt', "
        "no weights) to all five plausible values and pool them. What is the pooled escs "
        "coefficient?",
        lambda: float(
            __import__("hlmteach.plausible", fromlist=["fit_plausible_values"])
            .fit_plausible_values(
                __import__("hlmteach.data", fromlist=["load_pisa"]).load_pisa(),
                "{pv} ~ st29q03 + sc14q02 + st04q01 + escs",
                list(_PISA_PVS),
                group="schoolid",
                method="ML",
                group_weights="w_fschwt",
            )
            .fixed.loc["escs", "estimate"]
        ),
        0.006,
        "Use hlm.fit_plausible_values with outcomes pv1math ... pv5math, method='ML' and "
        "group_weights='w_fschwt' but no weights=; read the escs row of .fixed (the pooled "
        "estimate, not the first plausible value's).",
    ),
    # 12.3: tolerance 0.06 accepts one decimal and rejects the 'size' fit (about 0.75 away) and
    # the raw-weight fit (about 276 away).
    Exercise(
        "12.3",
        "Add an uncorrelated random escs slope to the published PISA model (random=['escs'], "
        "covariance='vc') and fit it with weight_scaling='effective'. What is the variance of "
        "the schools' escs slopes?",
        lambda: float(
            _pisa_fit("w_fstuwt", "w_fschwt", "effective", ("escs",)).tau.loc["escs", "escs"]
        ),
        0.06,
        "Keep weights='w_fstuwt' and group_weights='w_fschwt', add random=['escs'], "
        "covariance='vc' and weight_scaling='effective', and read the Var(escs) row of "
        "fit.covariance (or fit.tau).",
    ),
    Exercise(
        "12.4",
        "Pool the five PISA plausible values (pv1math ... pv5math) with the published weights. "
        "What is the pooled standard error of st29q03[T.Disagree], the coefficient with the "
        "largest fraction of missing information?",
        lambda: float(_pisa_pooled().fixed.loc["st29q03[T.Disagree]", "se"]),
        0.006,
        "Call hlm.fit_plausible_values with the formula '{pv} ~ st29q03 + sc14q02 + st04q01 + "
        "escs', outcomes=['pv1math', ..., 'pv5math'], group='schoolid', method='ML', "
        "weights='w_fstuwt' and group_weights='w_fschwt', and read the se column of .fixed.",
    ),
    # 12.5: tolerance 0.06 accepts one decimal; the raw-weight fit's sigma2 is 1267 away.
    Exercise(
        "12.5",
        "Fit the published PISA model with a house weight, house = w_fstuwt * 3136 / "
        "w_fstuwt.sum(), as the level-1 weight (group_weights='w_fschwt', raw scaling). "
        "What residual variance sigma2 do you get?",
        lambda: float(_pisa_fit("house", "w_fschwt", house=True).sigma2),
        0.06,
        "Make the column with pisa['house'] = pisa['w_fstuwt'] * len(pisa) / "
        "pisa['w_fstuwt'].sum(), pass weights='house', group_weights='w_fschwt' and "
        "method='ML', and read fit.sigma2.",
    ),
    # 13.1: tolerance 0.01 accepts the ratio rounded to two decimals (0.15 or 0.16) and rejects
    # the one-step ratio of the second-ranked school. 13.2: H is printed with one decimal.
    # 13.3: a count; tolerance 0.5 accepts exactly the right whole number.
    Exercise(
        "13.1",
        "USA: delete the school with the largest one-step Cook's distance and refit; by how "
        "many of its full-data standard errors does the college coefficient move?",
        lambda: _ex13_us_college_shift(),
        0.01,
        "Take the school with the largest cooks_distance in dg.school_influence(fit), refit "
        "hlm.fit_hlm on the US rows without it, and divide the absolute change in the college "
        "estimate by fit.fixed.loc['college', 'se'] of the full fit.",
    ),
    Exercise(
        "13.2",
        "HSB: what is the H statistic for homogeneous level-1 variance of mathach ~ ses + "
        "minority + female + sector with a random ses slope?",
        lambda: float(
            _ex13_homogeneity("mathach ~ ses + minority + female + sector", ("ses",)).statistic
        ),
        0.1,
        "Fit the model with hlm.fit_hlm(hsb, ..., group='school', random=['ses']) and pass it "
        "to dg.homogeneity_test (min_df=10, the default); read .statistic.",
    ),
    Exercise(
        "13.3",
        "USA: how many schools' standardised intercept EBLUPs exceed 1.96 in absolute value?",
        lambda: float((_ex13_us_standardised_intercepts().abs() > 1.96).sum()),
        0.5,
        "Take the standardised column of dg.eblup_qq(fit, 'Intercept') for the US model and "
        "count the schools whose absolute value is above 1.96.",
    ),
    # 14.1-14.3 and 16.2: tolerance 0.006 accepts two decimals. 14.1 rejects meanses alone
    # (0.694); 14.2 rejects the marginal R2 (0.043); 14.3 rejects the total share of f
    # (0.104) and the between share of m (0.686); 16.2 rejects estimate + 1 SE (0.044 away).
    Exercise(
        "14.1",
        "HSB: what proportion of the one-way ANOVA's tau00 do meanses and sector together "
        "account for (mathach ~ meanses + sector, random intercept)?",
        lambda: float(_ex14_hsb_tau00_reduction()),
        0.006,
        "Fit 'mathach ~ meanses + sector' with group='school', then call "
        "proportional_reduction(anova, fit) and read its Var(Intercept) row.",
    ),
    Exercise(
        "14.2",
        "Korea: what is Nakagawa's conditional R2 of math ~ college + boy with a random "
        "college slope (covariance='vc')?",
        lambda: float(_ex14_korea_nakagawa()["conditional"]),
        0.006,
        "Fit the model to hlm.load_timss('Korea') with random=['college'] and "
        "covariance='vc', then read the conditional row of nakagawa_r2(fit), not the marginal.",
    ),
    Exercise(
        "14.3",
        "USA: with college and boy centred within schools and their school means added "
        "(random college_cwc slope, covariance='vc'), what share of the between-school "
        "variance do the fixed effects explain?",
        lambda: float(_ex14_us_centred_decomposition().r2.at["f2", "between"]),
        0.006,
        "Drop the student without parents' education, make college_cwc, boy_cwc (hlm.center, "
        "kind='group') and college_mean, boy_mean (hlm.school_mean), fit, and read the f2 row "
        "of the between column of rights_sterba(fit).r2.",
    ),
    # 15.1-15.3: our within, random-effects and Mundlak numbers agree with plm and lme4
    # (tests/test_within_between.py). 15.1: tolerance 0.01 accepts two decimals and rejects
    # the random-effects slope and the SES-only within slope (both 2.19).
    Exercise(
        "15.1",
        "HSB: the within (school-dummy) estimator of mathach ~ ses + minority. What is its "
        "SES slope?",
        lambda: float(
            __import__("hlmteach.within_between", fromlist=["within_estimator"])
            .within_estimator(
                __import__("hlmteach.data", fromlist=["load_hsb"]).load_hsb(),
                "mathach",
                ["ses", "minority"],
                "school",
            )
            .slopes["ses"]
        ),
        0.01,
        "Call within_estimator(hsb, 'mathach', ['ses', 'minority'], 'school') and read "
        "`.slopes['ses']`; not the random-effects estimator, and keep minority in the model.",
    ),
    # 15.2: the statistic is 77.98; tolerance 0.5 accepts rounding to a whole number and
    # rejects the Mundlak model's Wald statistic (67.6) and the three-predictor model's (79.95).
    Exercise(
        "15.2",
        "HSB, mathach ~ ses + minority: the Hausman test of the within against the "
        "random-effects (Swamy-Arora) estimator. What is its chi-square statistic?",
        lambda: (
            lambda wb, hsb: (
                wb.hausman_test(
                    wb.within_estimator(hsb, "mathach", ["ses", "minority"], "school"),
                    wb.random_effects_estimator(hsb, "mathach", ["ses", "minority"], "school"),
                ).statistic
            )
        )(
            __import__("hlmteach.within_between", fromlist=["hausman_test"]),
            __import__("hlmteach.data", fromlist=["load_hsb"]).load_hsb(),
        ),
        0.5,
        "Fit within_estimator and random_effects_estimator with the same data, outcome, "
        "predictors ['ses', 'minority'] and group, then hausman_test(within, random).statistic "
        "(within first).",
    ),
    # 15.3: lme4 reproduces the Mundlak fits (fixture); tolerance 0.01 accepts two decimals
    # and rejects the sector coefficient of section 6's model with SES alone (1.22).
    Exercise(
        "15.3",
        "HSB: the Mundlak model with ses, female and minority at level 1 (each with its school "
        "mean) and sector at level 2. What is the sector coefficient?",
        lambda: float(
            __import__("hlmteach.within_between", fromlist=["mundlak_model"])
            .mundlak_model(
                __import__("hlmteach.data", fromlist=["load_hsb"]).load_hsb(),
                "mathach",
                ["ses", "female", "minority"],
                "school",
                school_level=["sector"],
            )
            .fit.fixed.loc["sector", "estimate"]
        ),
        0.01,
        "mundlak_model(hsb, 'mathach', ['ses', 'female', 'minority'], 'school', "
        "school_level=['sector']), then read .fit.fixed.loc['sector', 'estimate'].",
    ),
    # 17.1-17.3: the closed form agrees with R's power.t.test and noncentral t to 1e-9
    # (tests/test_power.py). 17.1: the answer is a whole number of schools, 270 with the
    # fitted ICC (or with 0.312); tolerance 2.5 also accepts 268, from the ICC rounded to 0.31,
    # and rejects 260 (ICC 0.30), 276 (0.32) and the Korean ICC's 82.
    Exercise(
        "17.1",
        "Synthetic US TIMSS: with the ICC of the intercept-only model, how many schools does a "
        "cluster-randomised trial with 25 students per school need to detect delta = 0.2 with "
        "power 0.8 (two-sided alpha 0.05)?",
        lambda: float(
            __import__("hlmteach.power", fromlist=["schools_needed"]).schools_needed(
                0.2, 25, _timss_fit("USA", "math ~ 1").icc
            )
        ),
        2.5,
        "Fit hlm.fit_hlm(hlm.load_timss('USA'), 'math ~ 1', group='school') and take its .icc, "
        "then schools_needed(0.2, 25, icc): the total number of schools, both arms together.",
    ),
    # 17.2: tolerance 0.005 accepts two or three decimals and rejects the MDES without the
    # covariate (0.316) and the multiplier form's value for it.
    Exercise(
        "17.2",
        "60 schools of 25 students, ICC 0.15, a school-level covariate explaining 60% of the "
        "between-school variance: what is the minimum detectable effect size (power 0.8, "
        "two-sided alpha 0.05)?",
        lambda: float(
            __import__(
                "hlmteach.power", fromlist=["minimum_detectable_effect"]
            ).minimum_detectable_effect(60, 25, 0.15, r2_between=0.6)
        ),
        0.005,
        "Call minimum_detectable_effect(60, 25, 0.15, r2_between=0.6): r2_between is a share "
        "(0.6, not 60), and it adds one school-level covariate, which costs a degree of freedom.",
    ),
    # 17.3: the best of the three designs is 120 schools of 10 (power 0.869); tolerance 0.005
    # accepts two or three decimals and rejects the other designs (0.645 and 0.394).
    Exercise(
        "17.3",
        "1200 students, ICC 0.2, delta 0.3: of 30 schools x 40, 60 x 20 and 120 x 10, choose "
        "the design with the most power. What is its power?",
        lambda: float(
            __import__("hlmteach.power", fromlist=["cluster_trial_power"]).cluster_trial_power(
                0.3, 120, 10, 0.2
            )
        ),
        0.005,
        "Compute cluster_trial_power(0.3, J, 1200 // J, 0.2) for J = 30, 60 and 120 and give "
        "the largest power; the school-level part of the variance shrinks only with more schools.",
    ),
    # 16.1: lmerTest gives 112.71; tolerance 0.6 accepts rounding to a whole number and
    # rejects the between-within df (2748).
    Exercise(
        "16.1",
        "Korea, the course's model (random college slope, covariance='vc'): what are the "
        "Satterthwaite degrees of freedom of the college effect?",
        lambda: float(_ex16_korea_table().loc["college", "df"]),
        0.6,
        "Call fixed_effects_table(fit) (Satterthwaite is its default) and read the df "
        "column of the college row; fit.fixed has the between-within df instead.",
    ),
    Exercise(
        "16.2",
        "Korea, the same model: what is the upper end of the 95% confidence interval of the "
        "college effect, with Satterthwaite df?",
        lambda: float(_ex16_korea_table().loc["college", "upper"]),
        0.006,
        "Read the upper column of the college row of fixed_effects_table(fit): estimate plus "
        "t(0.975, df) times the SE.",
    ),
)


@cache
def _ex14_hsb_tau00_reduction() -> float:
    from .variance_explained import proportional_reduction

    both = _hsb_fit("mathach ~ meanses + sector")
    return float(proportional_reduction(_hsb_fit("mathach ~ 1"), both)["Var(Intercept)"])


def _ex14_korea_nakagawa():
    from .variance_explained import nakagawa_r2

    return nakagawa_r2(_rc_fit("Korea"))


@cache
def _ex14_us_centred_decomposition():
    from .centering import center, school_mean
    from .data import load_timss
    from .models import fit_hlm
    from .variance_explained import rights_sterba

    us = load_timss("USA").dropna(subset=["college", "boy"])
    for column in ("college", "boy"):
        us = center(us, column, group="school", kind="group")
        us = school_mean(us, column, "school")
    formula = "math ~ college_cwc + boy_cwc + college_mean + boy_mean"
    fit = fit_hlm(us, formula, group="school", random=["college_cwc"], covariance="vc")
    return rights_sterba(fit)


def _ex16_korea_table():
    from .reporting import fixed_effects_table

    return fixed_effects_table(_rc_fit("Korea"))


@cache
def _ex13_us_college_shift() -> float:
    from .data import load_timss
    from .diagnostics import school_influence
    from .models import fit_hlm

    fit = _rc_fit("USA")
    school = school_influence(fit)["cooks_distance"].idxmax()
    us = load_timss("USA")
    refit = fit_hlm(
        us[us["school"] != school],
        "math ~ college + boy",
        group="school",
        random=["college"],
        covariance="vc",
    )
    change = fit.fixed.loc["college", "estimate"] - refit.fixed.loc["college", "estimate"]
    return float(abs(change) / fit.fixed.loc["college", "se"])


def _ex13_homogeneity(formula: str, random: tuple[str, ...]):
    from .diagnostics import homogeneity_test

    return homogeneity_test(_hsb_fit(formula, random))


def _ex13_us_standardised_intercepts():
    from .diagnostics import eblup_qq

    return eblup_qq(_rc_fit("USA"), "Intercept")["standardised"]


#: Every exercise of the course, by key.
EXERCISES: dict[str, Exercise] = {e.key: e for e in _ALL}


def solution_value(key: str) -> float:
    """The right answer of an exercise (for solutions and tests).

    Examples
    --------
    >>> solution_value("07.1")
    12.64
    """
    return float(_exercise(key).answer())


def _exercise(key: object) -> Exercise:
    if not isinstance(key, str) or key not in EXERCISES:
        hint = (
            f" Exercise keys are text: write check({key!r}, ...) as check('{key:04.1f}', ...)."
            if isinstance(key, numbers.Real) and not isinstance(key, bool)
            else ""
        )
        raise ModelInputError(
            f"There is no exercise {key!r} (argument key); the exercises are "
            f"{sorted(EXERCISES)}.{hint}"
        )
    return EXERCISES[key]


def _answer_number(value: object) -> float:
    """The learner's answer as a float: one finite real number, never text or a table."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, (bool, np.bool_)):
        raise ModelInputError(
            f"The answer (argument value) must be a number, not the truth value {value!r}."
        )
    if isinstance(value, numbers.Real):
        number = float(value)
        if not np.isfinite(number):
            raise ModelInputError(
                f"The answer (argument value) is {value!r}, not a finite number: check the "
                "computation that produced it (a NaN often means a missing value or a division "
                "by zero)."
            )
        return number
    if isinstance(value, str):
        import pandas as pd

        if numbers_stored_as_text(pd.Series([value])):
            raise ModelInputError(
                f"The answer (argument value) is the text {value!r}; give the number itself, "
                f"without quotes: check(key, {value.strip()})."
            )
        raise ModelInputError(
            f"The answer (argument value) must be a number, not the text {value!r}."
        )
    size = getattr(value, "size", None)
    if size is not None:
        raise ModelInputError(
            f"The answer (argument value) must be one number, not a {type(value).__name__} "
            f"of {size} value(s). Pick the number, for example fit.fixed.loc['college', "
            "'estimate'], or float(x.iloc[0]) for a single value."
        )
    raise ModelInputError(
        f"The answer (argument value) must be a number, not {type(value).__name__}."
    )


def check(key: str, value: float) -> CheckResult:
    """Check a learner's answer to exercise ``key``.

    Parameters
    ----------
    key : str
        The exercise, e.g. ``"03.1"``.
    value : float
        The learner's answer: one finite number.

    Returns
    -------
    CheckResult
        Right: a confirmation. Wrong: the hint. ``None`` (the notebooks'
        placeholder ``my_answer = None``, not answered yet): a request for a
        number, not an error.

    Raises
    ------
    ModelInputError
        For an unknown exercise, or an answer that is not one finite number
        (text, a number written as text, NaN, a truth value, a table or an
        array); nothing is converted silently.

    Examples
    --------
    >>> check("07.1", 12.64).correct
    True
    >>> check("07.1", 13.5).message.startswith("Not yet: 13.5 is not right. Hint: Fit")
    True
    >>> check("07.1", "12.64")
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The answer (argument value) is the text '12.64'; give
    the number itself, without quotes: check(key, 12.64).
    """
    exercise = _exercise(key)
    if value is None:  # the notebooks' placeholder, my_answer = None: not answered yet
        return CheckResult(False, "Please give a number (you gave None).")
    number = _answer_number(value)
    right = exercise.answer()
    if abs(number - right) <= exercise.tolerance:
        return CheckResult(True, f"Right: {number:g} (reference value {right:.4g}).")
    return CheckResult(False, f"Not yet: {number:g} is not right. Hint: {exercise.hint}")
