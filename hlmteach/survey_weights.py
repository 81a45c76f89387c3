"""Survey weights of a two-level model: what they are, how they are checked and scaled.

Surveys such as TIMSS and PISA draw schools with unequal probabilities, then
students within them. A weighted two-level fit maximises the pseudo-likelihood
of Pfeffermann et al. (1998) and Rabe-Hesketh & Skrondal (2006)::

    sum_j w_j log  integral  prod_i f(y_ij | u_j) ** w_i|j  phi(u_j) du_j

with ``w_j`` the school weight and ``w_i|j`` the student's *conditional*
weight within the school (the inverse of the probability that the student was
drawn, given that the school was). The data sets of TIMSS and PISA carry the
student's *total* weight ``w_ij = w_j w_i|j`` (TIMSS ``TOTWGT``, PISA
``W_FSTUWT``); ``conditional_weights=False`` says that the level-1 column is that
total weight, which is then divided by the school weight, as WeMix does with
``cWeights = FALSE``.

The conditional weights can be rescaled school by school (Pfeffermann et al.
1998; Asparouhov 2006), which changes the variance estimates when schools are
small:

- ``"none"``: raw weights, as WeMix and Stata ``mixed`` by default;
- ``"size"``: ``w_i|j n_j / sum_i w_i|j``, so they add up to the school's
  number of students (Asparouhov's method A, Mplus ``WTSCALE = CLUSTER``);
- ``"effective"``: ``w_i|j sum_i w_i|j / sum_i w_i|j**2``, so they add up to the
  school's effective sample size (method B, Mplus ``ECLUSTER``).

The school weights are never rescaled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .validation import ModelInputError, require_choice, require_column_name, require_flag

__all__ = ["WEIGHT_SCALINGS", "SurveyWeights", "scale_conditional_weights"]

#: The ways of scaling the conditional (level-1) weights within each school.
WEIGHT_SCALINGS: tuple[str, ...] = ("none", "size", "effective")

_SCALING_WORDS = {
    "none": "raw conditional weights (not rescaled)",
    "size": "conditional weights rescaled to sum to each school's number of students "
    "(Asparouhov's method A, Mplus WTSCALE=CLUSTER)",
    "effective": "conditional weights rescaled to sum to each school's effective sample size "
    "(Asparouhov's method B, Mplus WTSCALE=ECLUSTER)",
}


def scale_conditional_weights(
    weights: np.ndarray, group_codes: np.ndarray, scaling: str
) -> np.ndarray:
    """Rescale conditional (within-school) weights school by school.

    Parameters
    ----------
    weights : ndarray
        Each student's conditional weight (N,).
    group_codes : ndarray
        Each student's school as 0..J-1 (N,).
    scaling : {"none", "size", "effective"}
        See the module's description.

    Returns
    -------
    ndarray
        The rescaled weights, in the same order.

    Examples
    --------
    >>> w = np.array([1.0, 3.0, 2.0, 2.0]); schools = np.array([0, 0, 1, 1])
    >>> scale_conditional_weights(w, schools, "size").tolist()
    [0.5, 1.5, 1.0, 1.0]
    >>> scale_conditional_weights(w, schools, "effective").round(6).tolist()
    [0.4, 1.2, 1.0, 1.0]
    """
    scaling = require_choice(scaling, WEIGHT_SCALINGS, "weight_scaling", normalise=str.lower)
    weights = np.asarray(weights, dtype=float)
    if scaling == "none":
        return weights.copy()
    n_groups = int(group_codes.max()) + 1
    total = np.bincount(group_codes, weights=weights, minlength=n_groups)
    if scaling == "size":
        target = np.bincount(group_codes, minlength=n_groups).astype(float)
    else:
        target = total**2 / np.bincount(group_codes, weights=weights**2, minlength=n_groups)
    return weights * (target / total)[group_codes]


@dataclass(frozen=True)
class SurveyWeights:
    """Which columns weight a two-level fit, and how.

    Attributes
    ----------
    weights : str or None
        The level-1 (student) weight column.
    group_weights : str or None
        The level-2 (school) weight column, constant within each school.
    conditional : bool
        True: ``weights`` is already the weight within the school. False: it is
        the student's total weight and is divided by the school weight.
    scaling : {"none", "size", "effective"}
        How the conditional weights are rescaled within each school.

    Examples
    --------
    >>> spec = SurveyWeights("w_fstuwt", "w_fschwt", conditional=False, scaling="none")
    >>> print(spec.describe())
    Survey weights: students 'w_fstuwt' (total weight, divided by the school weight),
    schools 'w_fschwt'; raw conditional weights (not rescaled). Pseudo-maximum likelihood;
    standard errors are cluster-robust (sandwich) over schools.
    """

    weights: str | None
    group_weights: str | None
    conditional: bool = False
    scaling: str = "none"

    @classmethod
    def from_arguments(
        cls, weights: object, group_weights: object, conditional: object, scaling: object
    ) -> SurveyWeights | None:
        """Check ``fit_hlm``'s weight arguments; None when the fit is unweighted."""
        conditional = require_flag(conditional, "conditional_weights")
        scaling = require_choice(scaling, WEIGHT_SCALINGS, "weight_scaling", normalise=str.lower)
        if weights is None and group_weights is None:
            if scaling != "none" or conditional:
                raise ModelInputError(
                    "weight_scaling= and conditional_weights= describe survey weights, but no "
                    "weights were given: pass weights='student_weight_column' and/or "
                    "group_weights='school_weight_column', or drop these arguments."
                )
            return None
        for value, argument, example in (
            (weights, "weights", "weights='totwgt'"),
            (group_weights, "group_weights", "group_weights='school_weight'"),
        ):
            if value is not None:
                require_column_name(value, argument, example)
        return cls(weights, group_weights, conditional, scaling)

    def describe(self) -> str:
        """The weighting in plain words, for reports."""
        if self.weights is None:
            students = "students unweighted"
        elif self.conditional or self.group_weights is None:
            students = f"students {self.weights!r} (conditional weight within the school)"
        else:
            students = f"students {self.weights!r} (total weight, divided by the school weight)"
        schools = f"schools {self.group_weights!r}" if self.group_weights else "schools unweighted"
        return (
            f"Survey weights: {students}, {schools}; {_SCALING_WORDS[self.scaling]}. "
            "Pseudo-maximum likelihood; standard errors are cluster-robust (sandwich) "
            "over schools."
        )

    def arrays(
        self, data: pd.DataFrame, rows: pd.Index, group_codes: np.ndarray, group: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """The conditional student weights (per row used) and the school weights (per school).

        Parameters
        ----------
        data : DataFrame
            The frame the model was fitted to.
        rows : Index
            Labels of the rows the model uses, in the design's order.
        group_codes : ndarray
            Each used row's school as 0..J-1.
        group : str
            The grouping column's name, for messages.

        Returns
        -------
        conditional : ndarray
            (N,) scaled conditional weights.
        school : ndarray
            (J,) school weights in the order of the codes.
        """
        if not data.index.is_unique:
            raise ModelInputError(
                "The data have repeated row labels, so the weights cannot be matched to the rows "
                "the model uses. Give every row its own label with data.reset_index(drop=True)."
            )
        n_groups = int(group_codes.max()) + 1
        school = np.ones(n_groups)
        if self.group_weights is not None:
            values = _weight_values(data, rows, self.group_weights, "school weight")
            school = values[np.unique(group_codes, return_index=True)[1]]
            spread = np.abs(values - school[group_codes]) > 1e-9 * school[group_codes]
            if spread.any():
                labels = data.loc[rows, group].to_numpy()[spread]
                raise ModelInputError(
                    f"The school weight {self.group_weights!r} varies within {group} "
                    f"{sorted(set(map(str, labels)))[:3]}: a school weight must be the same for "
                    f"every student of a {group}. Check that it is the school-level weight, not a "
                    "student weight."
                )
        conditional = np.ones(group_codes.shape[0])
        if self.weights is not None:
            conditional = _weight_values(data, rows, self.weights, "student weight")
            if not self.conditional and self.group_weights is not None:
                conditional = conditional / school[group_codes]
        return scale_conditional_weights(conditional, group_codes, self.scaling), school


def _weight_values(data: pd.DataFrame, rows: pd.Index, column: str, role: str) -> np.ndarray:
    """The weight column on the rows used, after checks that name the problem and the fix."""
    from .validation import require_numeric_column

    if column not in data.columns:
        raise ModelInputError(
            f"The {role} column {column!r} is not in the data. Check the spelling; the columns "
            f"include {list(map(str, data.columns[:8]))}."
        )
    values = data.loc[rows, column]
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        require_numeric_column(data, column, role)  # names text, dates and other types
        raise ModelInputError(f"The {role} {column!r} must hold numbers, not {values.dtype}.")
    values = values.to_numpy(dtype=float)
    problems = {
        "missing (NaN)": np.isnan(values),
        "infinite": np.isinf(values),
        "zero": values == 0,
        "negative": values < 0,
    }
    for what, bad in problems.items():
        if bad.any():
            raise ModelInputError(
                f"The {role} {column!r} is {what} in {int(bad.sum())} of the {values.size} rows "
                "the model uses. Every sampled student and school needs a positive, finite "
                "weight: fix those rows, or leave them out of the data (a weight of zero means "
                "a row does not count, so drop it explicitly)."
            )
    _check_weight_units(values, column, role)
    return values


#: Weights beyond this (or below its inverse) are refused: the pseudo-likelihood's sums of
#: weights, their squares and their products with squared residuals then overflow or
#: underflow (student weights x1e-300 divided by zero in the engine, x1e100 gave NaN
#: standard errors, x1e150 a false "no residual variation").
_WEIGHT_LIMIT = 1e50


def _check_weight_units(values: np.ndarray, column: str, role: str) -> None:
    """Refuse positive weights whose units cannot be computed with: ask to rescale.

    Examples
    --------
    >>> _check_weight_units(np.array([1.0, 2e60]), "w", "student weight")
    Traceback (most recent call last):
    ...
    hlmteach.validation.ModelInputError: The student weight 'w' has values as large as 2e+60;
    weights beyond 1e+50 (or below 1e-50) cannot be computed with in double precision.
    Rescale the column, for example to mean 1: data['w'] = data['w'] / data['w'].mean().
    With weight_scaling='none' the scale of the student weights changes the fit;
    weight_scaling='size' makes it irrelevant.
    """
    largest, smallest = float(values.max()), float(values.min())
    if largest <= _WEIGHT_LIMIT and smallest >= 1 / _WEIGHT_LIMIT:
        return
    extreme = f"as large as {largest:g}" if largest > _WEIGHT_LIMIT else f"as small as {smallest:g}"
    raise ModelInputError(
        f"The {role} {column!r} has values {extreme}; weights beyond {_WEIGHT_LIMIT:g} (or "
        f"below {1 / _WEIGHT_LIMIT:g}) cannot be computed with in double precision. Rescale "
        f"the column, for example to mean 1: data[{column!r}] = data[{column!r}] / "
        f"data[{column!r}].mean(). With weight_scaling='none' the scale of the student weights "
        "changes the fit; weight_scaling='size' makes it irrelevant."
    )
