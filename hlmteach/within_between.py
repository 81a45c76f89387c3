"""Fixed or random school effects: the within, between and random-effects estimators.

A level-1 predictor such as ``college`` varies within schools and between them, and
each classical estimator of its slope uses a different part of that variation
(Baltagi 2021, ch. 2; Wooldridge 2010, ch. 10):

- the **within** (fixed-effects) estimator uses only the differences *within* schools:
  OLS with a dummy for every school, or, the same numbers, OLS on the predictors and the
  outcome centred at their school means (:func:`within_estimator`);
- the **between** estimator uses only the differences *between* schools: OLS of the
  school means of the outcome on the school means of the predictors
  (:func:`between_estimator`);
- the **random-effects** estimator (feasible GLS with Swamy and Arora's variance
  components, R's ``plm(model = "random")``) is a precision-weighted average of the two
  (:func:`random_effects_estimator`, :func:`random_effects_weights`);
- the **Hausman test** asks whether the within and the random-effects estimates differ by
  more than chance (:func:`hausman_test`); the **Mundlak** (within-between, hybrid) model
  adds the school means to a random-intercept model and answers the same question by a
  Wald test of their coefficients, while keeping the within effect, the between effect and
  school-level predictors in one model (:func:`mundlak_model`).

The numbers agree with R's ``plm`` (within, between, random, ``phtest``) and ``lme4``
(Mundlak model): ``tests/reference/fixed_or_random.R``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from .validation import (
    ModelInputError,
    as_term_list,
    check_group_ids,
    require_column_name,
    require_columns,
    require_frame,
    require_numeric_column,
)

if TYPE_CHECKING:
    from .models import HLMResult

__all__ = [
    "HausmanTest",
    "MundlakModel",
    "PanelEstimate",
    "RandomEffectsWeights",
    "between_estimator",
    "compare_estimators",
    "hausman_test",
    "mundlak_model",
    "random_effects_estimator",
    "random_effects_weights",
    "within_estimator",
]

#: A predictor whose within-school (or between-school) sum of squares is below this share
#: of its total sum of squares about the grand mean is treated as having none.
_NO_VARIATION = 1e-12


@dataclass(frozen=True)
class _Panel:
    """Complete cases sorted by school: outcome, predictors and school codes.

    ``y`` and ``X`` are centred at their means over these rows (``y_centre``, ``x_centre``),
    so that a predictor with a large mean and a small spread (income in dollars around a
    million) loses no precision; only the intercept depends on the centring, and
    :meth:`intercept_back` restores it.
    """

    y: np.ndarray
    X: np.ndarray
    codes: np.ndarray
    sizes: np.ndarray
    schools: pd.Index
    y_centre: float
    x_centre: np.ndarray
    outcome: str
    predictors: tuple[str, ...]
    group: str
    n_dropped: int

    @property
    def n_obs(self) -> int:
        return int(self.y.shape[0])

    @property
    def n_groups(self) -> int:
        return int(self.sizes.shape[0])

    def intercept_back(self, beta: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The centred data's [intercept, slopes] and their covariance, in the original units."""
        k = self.x_centre.shape[0]
        transform = np.eye(k + 1)
        transform[0, 1:] = -self.x_centre
        beta = transform @ beta
        beta[0] += self.y_centre
        return beta, transform @ cov @ transform.T

    def means(self, values: np.ndarray) -> np.ndarray:
        """School means of the columns of ``values`` (one row per school)."""
        sums = np.zeros((self.n_groups, *values.shape[1:]))
        np.add.at(sums, self.codes, values)
        return sums / self.sizes.reshape(-1, *([1] * (values.ndim - 1)))


def _panel(data: object, outcome: object, predictors: object, group: object) -> _Panel:
    data = require_frame(data)
    outcome = require_column_name(outcome, "outcome", "outcome='math'")
    group = require_column_name(group, "group", "group='school'")
    terms = as_term_list(predictors, "predictors")
    if not terms:
        raise ModelInputError(
            "The argument predictors is empty; name at least one level-1 predictor, such as "
            "predictors=['college', 'boy']."
        )
    require_columns(data, [outcome, *terms, group], "estimator")
    for name in (outcome, group):
        if name in terms:
            raise ModelInputError(
                f"The column {name!r} is named as a predictor and as the "
                f"{'outcome' if name == outcome else 'group'}; a column can play one role."
            )
    columns = {outcome: require_numeric_column(data, outcome, "outcome")}
    for term in terms:
        columns[term] = require_numeric_column(data, term, "predictor")
    check_group_ids(data[group], group)
    frame = pd.DataFrame(columns).astype(float)
    frame[group] = data[group]
    complete = frame.dropna()
    if complete.shape[0] == 0:
        raise ModelInputError(
            f"No row has all of {[outcome, *terms, group]} present, so there is nothing to "
            "estimate. Check for columns that are entirely missing."
        )
    codes, schools = pd.factorize(complete[group], sort=True)
    order = np.argsort(codes, kind="stable")
    y = complete[outcome].to_numpy()[order]
    X = complete[terms].to_numpy()[order]
    y_centre, x_centre = float(y.mean()), X.mean(axis=0)
    return _Panel(
        y=y - y_centre,
        X=X - x_centre,
        codes=codes[order],
        sizes=np.bincount(codes, minlength=len(schools)).astype(float),
        schools=pd.Index(schools, name=group),
        y_centre=y_centre,
        x_centre=x_centre,
        outcome=outcome,
        predictors=tuple(terms),
        group=group,
        n_dropped=int(data.shape[0] - complete.shape[0]),
    )


@dataclass(frozen=True)
class PanelEstimate:
    """One classical estimator's coefficients, with what it is and how much data it used.

    Attributes
    ----------
    estimator : str
        ``"within"``, ``"between"`` or ``"random effects"``.
    table : DataFrame
        One row per coefficient: ``estimate``, ``se``, ``t`` and ``p`` (two-sided, from t
        with ``df_residual`` degrees of freedom, as ``plm``'s summary).
    covariance : DataFrame
        The estimated covariance matrix of the coefficients.
    df_residual : int
        Residual degrees of freedom.
    sigma2 : float
        Residual variance of the regression that was run (for the random-effects estimator,
        the residual variance of the transformed regression).
    n_obs, n_groups, n_dropped : int
        Students used, schools, and rows left out for a missing value.
    variance_components : dict
        Random effects only: ``{"sigma2": ..., "tau00": ...}``, Swamy and Arora's estimates
        of the student-level and school-level variances.
    theta : Series or None
        Random effects only: each school's quasi-demeaning weight
        ``1 - sqrt(sigma2 / (sigma2 + n_j tau00))`` (0 is pooled OLS, 1 the within estimator).
    """

    estimator: str
    table: pd.DataFrame
    covariance: pd.DataFrame
    df_residual: int
    sigma2: float
    n_obs: int
    n_groups: int
    n_dropped: int
    variance_components: dict[str, float] | None = None
    theta: pd.Series | None = None

    @property
    def slopes(self) -> pd.Series:
        """The estimates of the predictors' coefficients (the intercept left out)."""
        return self.table["estimate"].drop("Intercept", errors="ignore")


def _ols(X: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None):
    """Weighted least squares on column-scaled X: coefficients, (X'WX)^-1 and residuals."""
    w = np.ones_like(y) if weights is None else weights
    root = np.sqrt(w)
    scale = np.sqrt(np.mean(X**2, axis=0))
    scale[scale == 0] = 1.0
    Xs = X / scale * root[:, None]
    q, r = np.linalg.qr(Xs)
    beta_scaled = np.linalg.solve(r, q.T @ (y * root))
    r_inv = np.linalg.inv(r)
    xtx_inv = (r_inv @ r_inv.T) / np.outer(scale, scale)
    beta = beta_scaled / scale
    return beta, xtx_inv, y - X @ beta


def _table(names: Sequence[str], beta: np.ndarray, cov: np.ndarray, df: float) -> pd.DataFrame:
    se = np.sqrt(np.diag(cov))
    t = beta / se
    return pd.DataFrame(
        {"estimate": beta, "se": se, "t": t, "p": 2 * stats.t.sf(np.abs(t), df)},
        index=pd.Index(list(names), name="term"),
    )


def _estimate(name: str, panel: _Panel, names, beta, xtx_inv, sigma2, df, **extra):
    cov = sigma2 * xtx_inv
    if names and names[0] == "Intercept":
        beta, cov = panel.intercept_back(beta, cov)
    return PanelEstimate(
        estimator=name,
        table=_table(names, beta, cov, df),
        covariance=pd.DataFrame(cov, index=list(names), columns=list(names)),
        df_residual=int(df),
        sigma2=float(sigma2),
        n_obs=panel.n_obs,
        n_groups=panel.n_groups,
        n_dropped=panel.n_dropped,
        **extra,
    )


def _variation(panel: _Panel) -> tuple[np.ndarray, np.ndarray]:
    """Each predictor's within-school and between-school sums of squares."""
    centred = panel.X - panel.means(panel.X)[panel.codes]
    within = (centred**2).sum(axis=0)
    between = ((panel.X - panel.X.mean(axis=0)) ** 2).sum(axis=0) - within
    return within, between


def _lacking(panel: _Panel, part: str) -> list[str]:
    """The predictors with no within-school (``part="within"``) or between-school variation."""
    within, between = _variation(panel)
    amount = within if part == "within" else between
    total = np.maximum(within + between, np.finfo(float).tiny)
    return [
        t for t, a, s in zip(panel.predictors, amount, total, strict=True) if a <= _NO_VARIATION * s
    ]


def _require_within_variation(panel: _Panel, estimator: str) -> None:
    none = _lacking(panel, "within")
    if none:
        raise ModelInputError(
            f"The {estimator} estimator cannot estimate {none}: they do not vary within any "
            f"school (school-level predictors, constant in each {panel.group!r}), so the school "
            "dummies absorb them. Estimate a school-level predictor with the between or "
            "random-effects estimator, or with mundlak_model, which keeps the school dummies' "
            "within effects and allows school-level predictors."
        )


def within_estimator(
    data: pd.DataFrame, outcome: str, predictors: Sequence[str] | str, group: str
) -> PanelEstimate:
    """The within (fixed-effects, school-dummy) estimator of the predictors' slopes.

    OLS on the outcome and the predictors centred at their school means. Its slopes and
    standard errors equal those of OLS with a dummy for every school
    (``outcome ~ predictors + C(group)``); the residual degrees of freedom are
    N − J − K (students, schools, predictors). R: ``plm(model = "within")``.

    Parameters
    ----------
    data : DataFrame
        One row per student.
    outcome : str
        The outcome column.
    predictors : list of str
        Level-1 predictors (numeric columns that vary within schools).
    group : str
        The school column.

    Returns
    -------
    PanelEstimate

    Raises
    ------
    ModelInputError
        If a predictor is constant within every school (a school-level predictor, which the
        dummies absorb), or if there are too few students per school.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> usa = hlm.load_timss("USA")
    >>> fe = within_estimator(usa, "math", ["college", "boy"], "school")
    >>> fe.table[["estimate", "se"]].round(3).to_dict("index")
    {'college': {'estimate': 0.148, 'se': 0.02}, 'boy': {'estimate': 0.045, 'se': 0.017}}
    >>> fe.df_residual  # 6943 students - 183 schools - 2 slopes
    6758
    >>> usa["share"] = usa.groupby("school")["college"].transform("mean")
    >>> within_estimator(usa, "math", ["share"], "school")
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The within estimator cannot estimate ['share']: they do
    not vary within any school (school-level predictors, constant in each 'school'), so the
    school dummies absorb them. Estimate a school-level predictor with the between or
    random-effects estimator, or with mundlak_model, which keeps the school dummies' within
    effects and allows school-level predictors.
    """
    panel = _panel(data, outcome, predictors, group)
    _require_within_variation(panel, "within")
    return _within(panel)


def _within(panel: _Panel) -> PanelEstimate:
    """The within regression on the predictors that vary within schools (plm drops the rest)."""
    constant = _lacking(panel, "within")
    varies = np.array([t not in constant for t in panel.predictors])
    y = panel.y - panel.means(panel.y)[panel.codes]
    X = (panel.X - panel.means(panel.X)[panel.codes])[:, varies]
    df = panel.n_obs - panel.n_groups - X.shape[1]
    if df < 1:
        raise ModelInputError(
            f"The within regression needs more students than schools plus predictors: "
            f"{panel.n_obs} students in {panel.n_groups} schools leave {df} residual degrees of "
            "freedom. Most schools need at least two students."
        )
    names = [t for t, v in zip(panel.predictors, varies, strict=True) if v]
    if not names:
        resid = y
        return _estimate(
            "within", panel, names, np.zeros(0), np.zeros((0, 0)), resid @ resid / df, df
        )
    beta, xtx_inv, resid = _ols(X, y)
    return _estimate("within", panel, names, beta, xtx_inv, resid @ resid / df, df)


def _require_between_variation(panel: _Panel) -> None:
    k = len(panel.predictors)
    if panel.n_groups < k + 2:
        raise ModelInputError(
            f"The between estimator is a regression on {panel.n_groups} school means, which "
            f"cannot estimate an intercept and {k} slope(s) with any residual degrees of "
            f"freedom: it needs at least {k + 2} schools."
        )
    none = _lacking(panel, "between")
    if none:
        raise ModelInputError(
            f"The school means of {none} are the same in every school, so the between estimator "
            "cannot estimate their slopes. (A predictor centred at its school mean has a school "
            "mean of 0 everywhere: give the uncentred predictor.)"
        )


def between_estimator(
    data: pd.DataFrame, outcome: str, predictors: Sequence[str] | str, group: str
) -> PanelEstimate:
    """The between estimator: OLS of the schools' mean outcome on their mean predictors.

    Every school counts once, whatever its size, as in R's ``plm(model = "between")``;
    the residual degrees of freedom are J − K − 1.

    Parameters
    ----------
    data : DataFrame
        One row per student.
    outcome : str
        The outcome column.
    predictors : list of str
        Numeric predictors; level-1 predictors enter as their school means, school-level
        predictors as they are.
    group : str
        The school column.

    Returns
    -------
    PanelEstimate

    Examples
    --------
    >>> import hlmteach as hlm
    >>> usa = hlm.load_timss("USA")
    >>> be = between_estimator(usa, "math", ["college", "boy"], "school")
    >>> be.slopes.round(3).to_dict(), be.df_residual  # 183 schools - 3 coefficients
    ({'college': 1.392, 'boy': -0.256}, 180)
    """
    panel = _panel(data, outcome, predictors, group)
    _require_between_variation(panel)
    Z = np.column_stack([np.ones(panel.n_groups), panel.means(panel.X)])
    beta, xtx_inv, resid = _ols(Z, panel.means(panel.y))
    df = panel.n_groups - Z.shape[1]
    names = ("Intercept", *panel.predictors)
    return _estimate("between", panel, names, beta, xtx_inv, resid @ resid / df, df)


def _swamy_arora(panel: _Panel, within: PanelEstimate) -> tuple[float, float]:
    """Swamy and Arora's sigma2 and tau00, with plm's corrections for unbalanced schools.

    sigma2 is the within regression's residual variance. tau00 comes from the between
    regression weighted by school size (every student carries their school's means, plm's
    "Between" model): its residual sum of squares has expectation
    (J - K - 1) sigma2 + (N - tr[(Z'TZ)^-1 Z'T^2 Z]) tau00, with Z the schools' [1, means]
    and T the school sizes (plm's ercomp, dfcor = 3). A negative tau00 is set to 0.
    """
    Z = np.column_stack([np.ones(panel.n_groups), panel.means(panel.X)])
    _, ztz_inv, resid = _ols(Z, panel.means(panel.y), weights=panel.sizes)
    quadratic = float((panel.sizes * resid**2).sum())
    trace = float(np.trace(ztz_inv @ (Z.T * panel.sizes**2) @ Z))
    sigma2 = within.sigma2
    tau00 = (quadratic - (panel.n_groups - Z.shape[1]) * sigma2) / (panel.n_obs - trace)
    return sigma2, max(tau00, 0.0)


def random_effects_estimator(
    data: pd.DataFrame, outcome: str, predictors: Sequence[str] | str, group: str
) -> PanelEstimate:
    """The random-effects (feasible GLS) estimator with Swamy and Arora's variance components.

    Each school's outcome and predictors (and the intercept's column of ones) are
    "quasi-demeaned": ``y_ij − θ_j ȳ_j`` with ``θ_j = 1 − sqrt(σ² / (σ² + n_j τ00))``,
    and OLS is run on the result. θ = 0 would be pooled OLS and θ = 1 the within
    estimator. This is GLS under the random-intercept model with the variances fixed at
    Swamy and Arora's moment estimates, R's ``plm(model = "random")``; a REML fit
    (``hlm.fit_hlm``) gives almost the same slopes with likelihood-based variances.

    Parameters
    ----------
    data : DataFrame
        One row per student.
    outcome : str
        The outcome column.
    predictors : list of str
        Numeric predictors (level-1 or school-level).
    group : str
        The school column.

    Returns
    -------
    PanelEstimate
        With ``variance_components`` and ``theta``.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> re = random_effects_estimator(hlm.load_timss("USA"), "math", ["college", "boy"], "school")
    >>> re.slopes.round(3).to_dict()
    {'college': 0.168, 'boy': 0.044}
    >>> {k: round(v, 4) for k, v in re.variance_components.items()}
    {'sigma2': 0.4733, 'tau00': 0.1449}
    """
    panel = _panel(data, outcome, predictors, group)
    _require_between_variation(panel)
    return _random_effects(panel)


def _random_effects(panel: _Panel) -> PanelEstimate:
    sigma2, tau00 = _swamy_arora(panel, _within(panel))
    theta = 1.0 - np.sqrt(sigma2 / (sigma2 + panel.sizes * tau00))
    Z = np.column_stack([np.ones(panel.n_obs), panel.X])
    shrink = theta[panel.codes]
    Zt = Z - shrink[:, None] * panel.means(Z)[panel.codes]
    yt = panel.y - shrink * panel.means(panel.y)[panel.codes]
    beta, xtx_inv, resid = _ols(Zt, yt)
    df = panel.n_obs - Z.shape[1]
    names = ("Intercept", *panel.predictors)
    return _estimate(
        "random effects",
        panel,
        names,
        beta,
        xtx_inv,
        resid @ resid / df,
        df,
        variance_components={"sigma2": float(sigma2), "tau00": float(tau00)},
        theta=pd.Series(theta, index=panel.schools, name="theta"),
    )


@dataclass(frozen=True)
class RandomEffectsWeights:
    """The random-effects slopes as a matrix-weighted average of a within and a between part.

    Attributes
    ----------
    within : Series
        The within estimator's slopes.
    between : Series
        The between estimator's slopes with each school weighted by the precision of its mean,
        ``1 / (τ00 + σ²/n_j)`` (not the equal-weight between estimator).
    weight : DataFrame
        The matrix Ω in ``b_RE = (I − Ω) b_within + Ω b_between``; with one predictor, the
        between part's share of the information.
    random_effects : Series
        ``(I − Ω) b_within + Ω b_between``: equal, to rounding error, to the random-effects
        estimator's slopes.
    """

    within: pd.Series
    between: pd.Series
    weight: pd.DataFrame
    random_effects: pd.Series


def random_effects_weights(
    data: pd.DataFrame,
    outcome: str,
    predictors: Sequence[str] | str,
    group: str,
    variances: HLMResult | None = None,
) -> RandomEffectsWeights:
    """Split the random-effects slopes into their within and (precision-weighted) between parts.

    The quasi-demeaned regression's cross-products split exactly into a within part,
    ``W = Σ (x_ij − x̄_j)(x_ij − x̄_j)'``, and a between part whose school weights are
    ``n_j (1 − θ_j)² = σ² / (τ00 + σ²/n_j)``. So
    ``b_RE = (W + B)⁻¹ (W b_within + B b_between)``: a compromise in which each kind of
    information counts by its precision (notebook 09, section 3, gives the one-predictor
    approximation).

    Parameters
    ----------
    data : DataFrame
        One row per student.
    outcome, predictors, group
        As for :func:`random_effects_estimator`.
    variances : HLMResult, optional
        A random-intercept fit (``hlm.fit_hlm``) of the same model, whose τ00 and σ² are
        used instead of Swamy and Arora's: then ``random_effects`` reproduces that fit's
        GLS slopes.

    Returns
    -------
    RandomEffectsWeights

    Examples
    --------
    >>> import hlmteach as hlm
    >>> parts = random_effects_weights(hlm.load_timss("Korea"), "math", ["college"], "school")
    >>> round(float(parts.weight.iloc[0, 0]), 3)  # the between part's share
    0.229
    >>> w, b, b_within = parts.weight.iloc[0, 0], parts.between.iloc[0], parts.within.iloc[0]
    >>> bool(np.isclose((1 - w) * b_within + w * b, parts.random_effects.iloc[0]))
    True
    """
    panel = _panel(data, outcome, predictors, group)
    _require_between_variation(panel)
    _require_within_variation(panel, "within")
    within = _within(panel)
    if variances is None:
        components = _random_effects(panel).variance_components
        sigma2, tau00 = components["sigma2"], components["tau00"]
    else:
        sigma2, tau00 = _random_intercept_variances(variances, panel)
    precision = sigma2 / (tau00 + sigma2 / panel.sizes)  # n_j (1 - theta_j)^2
    means = panel.means(panel.X)
    b_between, _, _ = _ols(
        np.column_stack([np.ones(panel.n_groups), means]), panel.means(panel.y), precision
    )
    centred_means = means - np.average(means, axis=0, weights=precision)
    B = (centred_means.T * precision) @ centred_means
    deviations = panel.X - means[panel.codes]
    W = deviations.T @ deviations
    omega = np.linalg.solve(W + B, B)
    names = list(panel.predictors)
    b_within = within.slopes.to_numpy()
    combined = b_within + omega @ (b_between[1:] - b_within)
    return RandomEffectsWeights(
        within=pd.Series(b_within, index=names, name="within"),
        between=pd.Series(b_between[1:], index=names, name="between (precision-weighted)"),
        weight=pd.DataFrame(omega, index=names, columns=names),
        random_effects=pd.Series(combined, index=names, name="random effects"),
    )


def _random_intercept_variances(fit: object, panel: _Panel) -> tuple[float, float]:
    from .models import HLMResult

    if not isinstance(fit, HLMResult) or list(fit.tau.index) != ["Intercept"]:
        raise ModelInputError(
            "The argument variances must be a random-intercept fit from hlm.fit_hlm (random "
            f"intercept only), not {type(fit).__name__}."
        )
    if fit.n_obs != panel.n_obs or fit.n_groups != panel.n_groups:
        raise ModelInputError(
            f"The fit passed as variances used {fit.n_obs} students in {fit.n_groups} schools, "
            f"but these data have {panel.n_obs} in {panel.n_groups}: fit the same rows."
        )
    return float(fit.sigma2), float(fit.tau.iloc[0, 0])


@dataclass(frozen=True)
class HausmanTest:
    """Hausman's test of the within against the random-effects slopes.

    Attributes
    ----------
    statistic : float
        ``(b_W − b_RE)' (V_W − V_RE)⁻¹ (b_W − b_RE)``.
    df : int
        The number of slopes compared.
    p_value : float
        Upper tail of chi-square(df).
    difference : DataFrame
        Per slope: within, random effects, their difference and its standard error
        ``sqrt(V_W − V_RE)`` (NaN where that variance is not positive).
    name : str
        ``"Hausman"``, or ``"Mundlak (Wald)"`` for :func:`mundlak_model`'s test.
    """

    statistic: float
    df: int
    p_value: float
    difference: pd.DataFrame
    name: str = "Hausman"

    def __str__(self) -> str:
        p = "< 0.0001" if self.p_value < 1e-4 else f"= {self.p_value:.4f}"
        return f"{self.name} chi-square = {self.statistic:.2f}, df = {self.df}, p {p}"


def hausman_test(within: PanelEstimate, random: PanelEstimate) -> HausmanTest:
    """Hausman's test: do the within and the random-effects slopes differ by more than chance?

    Under the random-intercept model's assumption that the school effects are unrelated to
    the predictors, both estimators are consistent and the random-effects one is efficient,
    so the variance of their difference is ``V_W − V_RE``. R: ``plm::phtest(within, random)``.

    Parameters
    ----------
    within : PanelEstimate
        From :func:`within_estimator`.
    random : PanelEstimate
        From :func:`random_effects_estimator` on the same data and predictors.

    Returns
    -------
    HausmanTest

    Raises
    ------
    ModelInputError
        If the arguments are not a within and a random-effects estimate of the same slopes,
        or if ``V_W − V_RE`` is singular.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> usa = hlm.load_timss("USA")
    >>> fe = within_estimator(usa, "math", ["college", "boy"], "school")
    >>> re = random_effects_estimator(usa, "math", ["college", "boy"], "school")
    >>> print(hausman_test(fe, re))
    Hausman chi-square = 155.11, df = 2, p < 0.0001
    >>> hausman_test(re, fe)
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: hausman_test(within, random) takes the within estimate
    first and the random-effects estimate second; got 'random effects' and 'within'.
    """
    kinds = [getattr(e, "estimator", type(e).__name__) for e in (within, random)]
    if kinds != ["within", "random effects"]:
        raise ModelInputError(
            "hausman_test(within, random) takes the within estimate first and the "
            f"random-effects estimate second; got {kinds[0]!r} and {kinds[1]!r}."
        )
    names = list(within.slopes.index)
    if list(random.slopes.index) != names or within.n_obs != random.n_obs:
        raise ModelInputError(
            "The two estimates are not of the same slopes on the same students "
            f"({names} on {within.n_obs} vs {list(random.slopes.index)} on {random.n_obs}); "
            "fit both with the same data, outcome, predictors and group."
        )
    diff = within.slopes.to_numpy() - random.slopes[names].to_numpy()
    v = (
        within.covariance.loc[names, names].to_numpy()
        - random.covariance.loc[names, names].to_numpy()
    )
    try:
        statistic = float(diff @ np.linalg.solve(v, diff))
    except np.linalg.LinAlgError as error:
        raise ModelInputError(
            "V_within - V_random is singular, so the Hausman statistic is undefined; use the "
            "Mundlak model's Wald test (mundlak_model) instead."
        ) from error
    variance = np.diag(v)
    se = np.sqrt(np.where(variance > 0, variance, np.nan))
    table = pd.DataFrame(
        {
            "within": within.slopes.to_numpy(),
            "random effects": random.slopes[names].to_numpy(),
            "difference": diff,
            "se of difference": se,
        },
        index=pd.Index(names, name="term"),
    )
    return HausmanTest(statistic, len(names), float(stats.chi2.sf(statistic, len(names))), table)


@dataclass(frozen=True)
class MundlakModel:
    """The Mundlak (within-between, hybrid) random-intercept model and its Wald test.

    Attributes
    ----------
    fit : HLMResult
        ``outcome ~ predictors + their school means (+ school-level predictors)``, random
        intercept. Each predictor's coefficient is its within effect (equal to the within
        estimator's); each school mean's coefficient is the contextual effect (between
        minus within).
    effects : DataFrame
        Per level-1 predictor: the within, between and contextual effects with SEs.
    wald : HausmanTest
        Wald chi-square that all the school means' coefficients are 0: the regression form
        of the Hausman test (Mundlak 1978), ``difference`` holding the contextual effects.
    """

    fit: HLMResult
    effects: pd.DataFrame
    wald: HausmanTest


def mundlak_model(
    data: pd.DataFrame,
    outcome: str,
    predictors: Sequence[str] | str,
    group: str,
    school_level: Sequence[str] | str = (),
    method: str = "REML",
) -> MundlakModel:
    """Fit the Mundlak model: a random intercept with each level-1 predictor's school mean added.

    With the school means in the model, each level-1 predictor's coefficient is exactly the
    within (school-dummy) estimate, whatever the variances; and unlike the dummy model it
    can also hold school-level predictors, and it generalises to the population of schools.

    Parameters
    ----------
    data : DataFrame
        One row per student.
    outcome : str
        The outcome column.
    predictors : list of str
        Level-1 predictors; each gets its school mean (column ``<name>_mean``).
    group : str
        The school column.
    school_level : list of str, optional
        School-level predictors, added as they are.
    method : {"REML", "ML"}
        As in ``hlm.fit_hlm``.

    Returns
    -------
    MundlakModel

    Examples
    --------
    >>> import hlmteach as hlm
    >>> m = mundlak_model(hlm.load_timss("USA"), "math", ["college", "boy"], "school")
    >>> m.effects.loc["college", ["within", "between", "contextual"]].round(3).to_dict()
    {'within': 0.148, 'between': 1.393, 'contextual': 1.245}
    >>> print(m.wald)
    Mundlak (Wald) chi-square = 61.47, df = 2, p < 0.0001
    """
    from .models import fit_hlm

    panel = _panel(data, outcome, predictors, group)
    _require_within_variation(panel, "within part of the Mundlak")
    _require_between_variation(panel)
    extra = as_term_list(school_level, "school_level")
    require_columns(data, extra, "school_level argument")
    frame = data[[outcome, *panel.predictors, group, *extra]].dropna().copy()
    means = [f"{term}_mean" for term in panel.predictors]
    clash = [m for m in means if m in extra]
    if clash:
        raise ModelInputError(f"The school_level predictors {clash} clash with the school means.")
    for term, mean in zip(panel.predictors, means, strict=True):
        frame[mean] = frame.groupby(group, sort=False)[term].transform("mean")
    rhs = " + ".join([*panel.predictors, *means, *extra])
    fit = fit_hlm(frame, f"{outcome} ~ {rhs}", group=group, method=method)
    beta = fit.fixed["estimate"]
    cov = pd.DataFrame(
        fit.engine_fit.cov_beta, index=fit.design.fixed_names, columns=fit.design.fixed_names
    )
    rows = {}
    for term, mean in zip(panel.predictors, means, strict=True):
        between = beta[term] + beta[mean]
        se_between = np.sqrt(cov.loc[term, term] + cov.loc[mean, mean] + 2 * cov.loc[term, mean])
        rows[term] = {
            "within": beta[term],
            "se within": np.sqrt(cov.loc[term, term]),
            "between": between,
            "se between": se_between,
            "contextual": beta[mean],
            "se contextual": np.sqrt(cov.loc[mean, mean]),
        }
    effects = pd.DataFrame.from_dict(rows, orient="index")
    effects.index.name = "term"
    b = beta[means].to_numpy()
    v = cov.loc[means, means].to_numpy()
    statistic = float(b @ np.linalg.solve(v, b))
    difference = pd.DataFrame(
        {"contextual": b, "se": np.sqrt(np.diag(v))}, index=pd.Index(means, name="term")
    )
    p_value = float(stats.chi2.sf(statistic, len(means)))
    wald = HausmanTest(statistic, len(means), p_value, difference, "Mundlak (Wald)")
    return MundlakModel(fit, effects, wald)


def compare_estimators(
    data: pd.DataFrame, outcome: str, predictors: Sequence[str] | str, group: str
) -> pd.DataFrame:
    """The slopes of pooled OLS, between, within, random effects and REML side by side.

    Parameters
    ----------
    data : DataFrame
        One row per student.
    outcome, predictors, group
        As for :func:`within_estimator`.

    Returns
    -------
    DataFrame
        One row per predictor, one column per estimator: ``pooled OLS``, ``between``,
        ``within``, ``random effects`` (Swamy–Arora) and ``random intercept (REML)``.

    Examples
    --------
    >>> import hlmteach as hlm
    >>> table = compare_estimators(hlm.load_timss("Korea"), "math", ["college", "boy"], "school")
    >>> table.loc["college"].round(3).to_dict()  # doctest: +NORMALIZE_WHITESPACE
    {'pooled OLS': 0.522, 'between': 0.943, 'within': 0.343, 'random effects': 0.486,
     'random intercept (REML)': 0.465}
    """
    from .models import fit_hlm

    panel = _panel(data, outcome, predictors, group)
    _require_within_variation(panel, "within")
    _require_between_variation(panel)
    Z = np.column_stack([np.ones(panel.n_obs), panel.X])
    pooled, _, _ = _ols(Z, panel.y)
    between = between_estimator(data, outcome, list(panel.predictors), group)
    rhs = " + ".join(panel.predictors)
    frame = data[[outcome, *panel.predictors, group]].dropna()
    reml = fit_hlm(frame, f"{outcome} ~ {rhs}", group=group)
    names = list(panel.predictors)
    table = pd.DataFrame(
        {
            "pooled OLS": pooled[1:],
            "between": between.slopes[names].to_numpy(),
            "within": _within(panel).slopes[names].to_numpy(),
            "random effects": _random_effects(panel).slopes[names].to_numpy(),
            "random intercept (REML)": reml.fixed.loc[names, "estimate"].to_numpy(),
        },
        index=pd.Index(names, name="term"),
    )
    return table
