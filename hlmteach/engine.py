"""The estimation core: exact REML/ML for two-level linear mixed models.

The model for school ``j`` is ``y_j = X_j beta + Z_j b_j + e_j`` with
``b_j ~ N(0, G)`` and ``e_j ~ N(0, sigma2 I)``. Schools are independent, so
everything the likelihood needs is a sum over schools of small cross-product
blocks (``Z'Z``, ``Z'X``, ``Z'y``) plus the totals ``X'X``, ``X'y`` and ``y'y``.
Writing ``G = sigma2 * T`` with the *relative* covariance ``T = Lambda Lambda'``
(Bates et al. 2015, J. Stat. Softw. 67(1)), ``sigma2`` and ``beta`` profile
out in closed form and the optimiser only searches over the few elements
``theta`` of the lower-triangular factor ``Lambda``.

Every per-school quantity below is a stack of ``q x q`` arrays (``q`` is the
number of random effects, at most a handful), so one evaluation of the
criterion, of its analytic gradient and of its exact Hessian costs a few
vectorised numpy calls, and Newton's method reaches the optimum in a handful
of them.

The functions here work on arrays only; :mod:`hlmteach.models` turns formulas
and data frames into arrays and the answer into a result object.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from typing import NamedTuple

import numpy as np
from scipy import optimize
from scipy.linalg.lapack import dgeqrf, dpotrf, dpotrs, dsyevd

__all__ = [
    "CovarianceStructure",
    "CriterionDerivatives",
    "CrossProducts",
    "EngineFit",
    "SingleThreadedBlas",
    "Standardisation",
    "central_differences",
    "criterion_derivatives",
    "deviance_and_gradient",
    "evaluate_at",
    "fit_mixed_model",
    "fixed_effect_covariance",
    "full_deviance",
    "full_deviance_gradient",
    "sandwich",
    "school_scores",
    "theta_sigma_gradient",
]

_LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class Standardisation:
    """How standardised arrays map back to the data as given.

    The engine fits ``y' = (y - X @ outcome_shift) / outcome_scale``,
    ``X' = X @ fixed_map`` and ``Z' = Z @ random_map``. ``fixed_map`` centres
    each predictor on its mean (``fixed_shift`` times the intercept column) and
    divides by its root mean square, then (only for nearly collinear predictors,
    such as an interaction with a predictor far from zero) orthonormalises them
    by ``fixed_rotation``; ``random_map`` scales the random-effect columns and
    centres the slopes (``random_shift``; only for unstructured covariance, where it
    is the same model). That is the same model in other
    units and origins: the random effects become ``inv(random_map) @ u``, so
    variances on the boundary stay there, and every estimate maps back exactly.
    The fit then does not depend on the units or the origin of the outcome, nor
    on the units of the predictors and random-effect columns (nor, under UN, on
    the origin of the slopes); the boundary tolerance and the optimiser work in
    units of the data, and the blocks are free of cancellation when the outcome
    has a large mean and a small spread.

    Examples
    --------
    >>> st = Standardisation(2.0, np.array([10.0, 0.0]), np.ones(2), np.ones(2), np.array([0, 5.0]))
    >>> st.random_map.tolist(), st.fixed_map.tolist()
    ([[1.0, -5.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]])
    """

    outcome_scale: float
    outcome_shift: np.ndarray
    x_scale: np.ndarray
    z_scale: np.ndarray
    random_shift: np.ndarray | None = None
    fixed_shift: np.ndarray | None = None
    fixed_constant: int = 0
    fixed_rotation: np.ndarray | None = None

    @classmethod
    def of(
        cls, y: np.ndarray, X: np.ndarray, Z: np.ndarray, centre_random: bool = False
    ) -> Standardisation:
        """Centre (when a column of X is a non-zero constant) and SD of y; RMS of each column.

        ``centre_random=True`` also centres the random slopes' columns when the first
        column of Z is a non-zero constant (valid for unstructured covariance only).
        """
        return cls.with_columns(y, X, Z, centre_random)[0]

    @classmethod
    def with_columns(
        cls, y: np.ndarray, X: np.ndarray, Z: np.ndarray, centre_random: bool = False
    ) -> tuple[Standardisation, np.ndarray, np.ndarray | None]:
        """The standardisation (as :meth:`of`), the standardised variables ``[Z', X', y']'``,
        and the totals ``[X', y']'[X', y']`` when they were formed on the way (else None).

        The variables are one array (q + p + 1, N), a contiguous row per variable, filled
        without temporaries; :class:`CrossProducts` accumulates its blocks from it. The
        totals are formed, to judge the predictors' conditioning, when there are two
        predictors or more, and kept unless the predictors are then orthonormalised.

        Examples
        --------
        >>> X = np.c_[np.ones(4), [1.0, 2.0, 3.0, 4.0]]
        >>> y = np.array([1.0, 3.0, 2.0, 6.0])
        >>> st, rows, totals = Standardisation.with_columns(y, X, X[:, :1])
        >>> st.outcome_shift.tolist(), rows[2].round(3).tolist()  # centred x over its RMS
        ([3.0, 0.0], [-1.342, -0.447, 0.447, 1.342])
        >>> bool(np.allclose(totals, rows[1:] @ rows[1:].T))
        True
        """
        n, p, q = y.shape[0], X.shape[1], Z.shape[1]
        rows = np.empty((q + p + 1, n))
        shift = np.zeros(p)
        fixed_shift = random_shift = None
        intercept = 0
        if n:
            constant = _constant_columns(X)
            if constant.size:
                intercept = int(constant[0])
                shift[intercept] = float(y.sum() / n) / X[0, intercept]
                fixed_shift = (np.ones(n) @ X) / n / X[0, intercept]
                fixed_shift[intercept] = 0.0
            if centre_random and q > 1 and _constant_columns(Z[:, :1]).size:
                random_shift = np.concatenate(([0.0], (np.ones(n) @ Z[:, 1:]) / n / Z[0, 0]))
        np.subtract(y, X @ shift, out=rows[-1])
        # A centred column is the column less its shift times the constant column's value.
        for block, M, centre, constant_value in (
            (slice(0, q), Z, random_shift, Z[0, 0] if n else 0.0),
            (slice(q, q + p), X, fixed_shift, X[0, intercept] if n else 0.0),
        ):
            if centre is None:
                rows[block] = M.T
            else:
                np.subtract(M.T, (constant_value * centre)[:, None], out=rows[block])
        scales = _column_scale(rows.T)
        rows /= scales[:, None]
        totals = rows[q:] @ rows[q:].T if p > 1 and n else None
        rotation = None if totals is None else _orthonormalising(totals[:p, :p] / n)
        if rotation is not None:
            rows[q : q + p] = rotation.T @ rows[q : q + p]
            totals = None  # the rotated predictors' totals are formed from their rows
        return (
            cls(
                float(scales[-1]),
                shift,
                scales[q : q + p],
                scales[:q],
                random_shift,
                fixed_shift,
                intercept,
                rotation,
            ),
            rows,
            totals,
        )

    @property
    def fixed_map(self) -> np.ndarray:
        """``R`` with ``X' = X @ R``: the centring of the predictors, the division by RMS,
        and (for nearly collinear predictors) ``fixed_rotation``."""
        scaled = _centring_map(self.fixed_shift, self.x_scale, self.fixed_constant)
        return scaled if self.fixed_rotation is None else scaled @ self.fixed_rotation

    @property
    def fixed_map_log_det(self) -> float:
        """``log|det fixed_map|``: the centring has determinant 1 (it subtracts multiples of
        the constant column, which it leaves as it is), and the rotation is triangular.

        Examples
        --------
        >>> st = Standardisation(1.0, np.zeros(2), np.array([2.0, 4.0]), np.ones(1), None,
        ...                      np.array([0.0, 3.0]))
        >>> bool(np.isclose(st.fixed_map_log_det, np.linalg.slogdet(st.fixed_map)[1]))
        True
        """
        log_det = -float(np.log(self.x_scale).sum())
        if self.fixed_rotation is not None:
            log_det += float(np.log(np.abs(np.diag(self.fixed_rotation))).sum())
        return log_det

    @property
    def random_map(self) -> np.ndarray:
        """``R`` with ``Z' = Z @ R``: the centring of the slopes, then the division by RMS."""
        return _centring_map(self.random_shift, self.z_scale, 0)


def _centring_map(shift: np.ndarray | None, scale: np.ndarray, constant: int) -> np.ndarray:
    """``(I - e_c shift') / scale``: subtract ``shift`` times the constant column ``c``."""
    centre = np.eye(scale.size)
    if shift is not None:
        centre[constant] -= shift
    return centre / scale


#: Centred and scaled predictors whose Gram matrix is conditioned worse than this are
#: orthonormalised before the blocks are formed: the criterion loses about cond x 1e-16
#: of its value to rounding (an interaction with a predictor far from zero: 5e7).
_WORST_FIXED_CONDITION = 1e3


def _orthonormalising(gram: np.ndarray) -> np.ndarray | None:
    """An upper-triangular ``K`` with ``X K`` orthonormal (over rows), or None if not needed.

    ``gram`` is the mean Gram matrix (p, p) of the centred, scaled predictors ``X``.
    ``K`` is the inverse of its Cholesky factor, computed only where it is conditioned
    worse than ``_WORST_FIXED_CONDITION`` (and positive definite).

    Examples
    --------
    >>> x = np.arange(6.0) - 2.5
    >>> columns = np.vstack([x, x + 0.001 * x**2])
    >>> columns /= np.sqrt((columns**2).mean(axis=1, keepdims=True))
    >>> K = _orthonormalising(columns @ columns.T / 6)
    >>> rotated = K.T @ columns
    >>> bool(np.allclose(np.triu(K), K)), bool(np.allclose(rotated @ rotated.T, 6 * np.eye(2)))
    (True, True)
    >>> _orthonormalising(np.eye(2)) is None
    True
    """
    values = _symmetric_eigen(gram)[0]
    if not values[0] > 0 or values[-1] <= _WORST_FIXED_CONDITION * values[0]:
        return None
    factor = _cholesky(gram)
    if factor is None:
        return None
    return np.linalg.inv(factor.T)


def _school_runs(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each school's run of rows starts in sorted ``codes``, and its length.

    Examples
    --------
    >>> [a.tolist() for a in _school_runs(np.array([0, 0, 1, 2, 2, 2]))]
    [[0, 2, 3], [2, 1, 3]]
    """
    changes = np.empty(codes.shape[0], dtype=bool)
    changes[:1] = True
    np.not_equal(codes[1:], codes[:-1], out=changes[1:])
    starts = np.flatnonzero(changes)
    sizes = np.empty_like(starts)
    np.subtract(starts[1:], starts[:-1], out=sizes[:-1])
    sizes[-1:] = codes.shape[0] - starts[-1:]
    return starts, sizes


def _column_scale(M: np.ndarray) -> np.ndarray:
    """Root mean square of each column (1 where it is zero or not finite)."""
    if not M.shape[0]:
        return np.ones(M.shape[1])
    scale = np.sqrt(np.einsum("ij,ij->j", M, M) / M.shape[0])
    return np.where((scale > 0) & np.isfinite(scale), scale, 1.0)


def _constant_columns(M: np.ndarray) -> np.ndarray:
    """Indices of the columns that hold one non-zero value in every row.

    Examples
    --------
    >>> _constant_columns(np.array([[1.0, 2.0, 0.0], [1.0, 3.0, 0.0]])).tolist()
    [0]
    """
    first = M[0]
    # The first rows rule out most columns; only the rest are compared in full.
    maybe = np.flatnonzero((M[:64] == first).all(axis=0) & (first != 0))
    return np.array([j for j in maybe if (M[:, j] == first[j]).all()], dtype=int)


@dataclass(frozen=True)
class CrossProducts:
    """Per-school cross-product blocks: all the data a two-level LMM needs.

    Attributes
    ----------
    ZtZ, ZtX, Zty : ndarray
        Stacks over the ``J`` schools of ``Z_j'Z_j`` (J, q, q), ``Z_j'X_j``
        (J, q, p) and ``Z_j'y_j`` (J, q).
    XtX, Xty, yty : ndarray or float
        Totals over all students.
    group_sizes : ndarray
        Students per school (J,).
    group_weights : ndarray or None
        Survey weight of each school (J,) for a pseudo-likelihood fit, or None.
        With weights, the per-school blocks are weighted by the students'
        conditional (within-school) weights, and the totals by both weights.
    weight_sums : ndarray or None
        Sum of the conditional student weights in each school (J,).
    school_XtX, school_Xty, school_yty : ndarray or None
        Per-school ``X_j'W_jX_j``, ``X_j'W_jy_j`` and ``y_j'W_jy_j``, kept for the
        per-school score contributions of the sandwich standard errors.

    Examples
    --------
    >>> y = np.array([1.0, 2.0, 3.0, 5.0])
    >>> X = np.ones((4, 1)); Z = np.ones((4, 1)); groups = np.array([0, 0, 1, 1])
    >>> CrossProducts.from_arrays(y, X, Z, groups).Zty.ravel().tolist()
    [3.0, 8.0]
    """

    ZtZ: np.ndarray
    ZtX: np.ndarray
    Zty: np.ndarray
    XtX: np.ndarray
    Xty: np.ndarray
    yty: float
    group_sizes: np.ndarray
    group_weights: np.ndarray | None = None
    weight_sums: np.ndarray | None = None
    school_XtX: np.ndarray | None = field(default=None, repr=False)
    school_Xty: np.ndarray | None = field(default=None, repr=False)
    school_yty: np.ndarray | None = field(default=None, repr=False)
    standardisation: Standardisation | None = None

    @cached_property
    def n_obs(self) -> int:
        """Number of students."""
        return int(self.group_sizes.sum())

    @property
    def is_weighted(self) -> bool:
        """Whether the blocks carry survey weights (a pseudo-likelihood fit)."""
        return self.group_weights is not None

    @property
    def total_weight(self) -> float:
        """Sum over schools of school weight times the school's conditional weights (else N)."""
        if self.group_weights is None:
            return float(self.n_obs)
        return float(self.group_weights @ self.weight_sums)

    @property
    def weight_scale(self) -> float:
        """Average total weight of a student (1 without weights): the criterion's own unit."""
        return self.total_weight / self.n_obs

    def unstandardised(self) -> CrossProducts:
        """The blocks of the data as given (self if they are not standardised)."""
        st = self.standardisation
        if st is None:
            return self
        s, d = st.outcome_scale, st.outcome_shift
        back = np.linalg.inv(st.random_map)  # Z = Z' @ back
        x_back = np.linalg.inv(st.fixed_map)  # X = X' @ x_back
        ZtZ = back.T @ self.ZtZ @ back  # per school, broadcast over the stack
        ZtX = back.T @ self.ZtX @ x_back
        XtX = x_back.T @ self.XtX @ x_back
        Zty, Xty = self.Zty @ back, self.Xty @ x_back  # still of the standardised outcome
        mapped = {
            "ZtZ": ZtZ,
            "ZtX": ZtX,
            "XtX": XtX,
            "Zty": s * Zty + ZtX @ d,
            "Xty": s * Xty + XtX @ d,
            "yty": float(s**2 * self.yty + 2.0 * s * d @ Xty + d @ XtX @ d),
        }
        if self.school_XtX is not None:
            school_XtX = x_back.T @ self.school_XtX @ x_back
            school_Xty = self.school_Xty @ x_back
            mapped["school_XtX"] = school_XtX
            mapped["school_Xty"] = s * school_Xty + school_XtX @ d
            mapped["school_yty"] = (
                s**2 * self.school_yty
                + 2.0 * s * (school_Xty @ d)
                + np.einsum("a,jab,b->j", d, school_XtX, d)
            )
        return replace(self, standardisation=None, **mapped)

    @cached_property
    def schools_last(self) -> _SchoolsLast:
        """The per-school blocks with the school index last (the criterion's fast layout)."""
        return _SchoolsLast.of(self)

    def over_schools(self, blocks: np.ndarray) -> np.ndarray:
        """Per-school blocks multiplied by the school weights (unchanged without weights)."""
        if self.group_weights is None:
            return blocks
        return blocks * self.group_weights.reshape((-1,) + (1,) * (blocks.ndim - 1))

    @property
    def n_groups(self) -> int:
        """Number of schools."""
        return int(self.group_sizes.shape[0])

    @property
    def n_fixed(self) -> int:
        """Number of fixed-effect columns."""
        return int(self.XtX.shape[0])

    @property
    def n_random(self) -> int:
        """Number of random effects per school."""
        return int(self.ZtZ.shape[1])

    @classmethod
    def from_arrays(
        cls,
        y: np.ndarray,
        X: np.ndarray,
        Z: np.ndarray,
        group_codes: np.ndarray,
        weights: np.ndarray | None = None,
        group_weights: np.ndarray | None = None,
        standardise: bool = False,
        centre_random: bool = False,
    ) -> CrossProducts:
        """Accumulate the blocks from student-level arrays.

        ``group_codes`` are integers ``0 .. J-1``; rows need not be sorted.
        ``weights`` are the students' conditional (within-school) survey weights
        and ``group_weights`` the schools' weights, in the order of the codes;
        give either or both for a pseudo-likelihood fit (a missing one is 1).
        ``standardise=True`` accumulates the blocks of standardised arrays instead
        and records in ``standardisation`` how they map back
        (:func:`fit_mixed_model` then reports everything for the data as given);
        ``centre_random=True`` centres the random slopes there too, which is the same
        model only under unstructured covariance.
        """
        with _one_blas_thread_beyond(y.shape[0]):  # tall, thin products: threads only contend
            return cls._accumulate(
                y, X, Z, group_codes, weights, group_weights, standardise, centre_random
            )

    @classmethod
    def _accumulate(
        cls,
        y: np.ndarray,
        X: np.ndarray,
        Z: np.ndarray,
        group_codes: np.ndarray,
        weights: np.ndarray | None,
        group_weights: np.ndarray | None,
        standardise: bool,
        centre_random: bool,
    ) -> CrossProducts:
        codes = np.asarray(group_codes)
        q, p = Z.shape[1], X.shape[1]
        if standardise:
            st, rows, totals = Standardisation.with_columns(y, X, Z, centre_random)
            if weights is None and group_weights is None:
                plain = cls._unweighted(rows, q, p, codes, totals)
            else:
                y, X, Z = rows[-1], rows[q : q + p].T, rows[:q].T
                plain = cls.from_arrays(y, X, Z, codes, weights, group_weights)
            return replace(plain, standardisation=st)
        if weights is None and group_weights is None:
            return cls._unweighted(np.vstack([Z.T, X.T, y]), q, p, codes)
        order = np.argsort(codes, kind="stable")
        codes = codes[order]
        y, X, Z = y[order], X[order], Z[order]
        starts, sizes = _school_runs(codes)
        w = np.ones(y.shape[0]) if weights is None else np.asarray(weights, float)[order]
        school_w = (
            np.ones(sizes.shape[0]) if group_weights is None else np.asarray(group_weights, float)
        )
        wZ, wX = Z * w[:, None], X * w[:, None]
        school_XtX = np.add.reduceat(wX[:, :, None] * X[:, None, :], starts, axis=0)
        school_Xty = np.add.reduceat(wX * y[:, None], starts, axis=0)
        totals = school_w[codes] * w
        return cls(
            ZtZ=np.add.reduceat(wZ[:, :, None] * Z[:, None, :], starts, axis=0),
            ZtX=np.add.reduceat(wZ[:, :, None] * X[:, None, :], starts, axis=0),
            Zty=np.add.reduceat(wZ * y[:, None], starts, axis=0),
            XtX=np.einsum("j,jab->ab", school_w, school_XtX),
            Xty=school_w @ school_Xty,
            yty=float(totals @ (y * y)),
            group_sizes=sizes,
            group_weights=school_w,
            weight_sums=np.add.reduceat(w, starts),
            school_XtX=school_XtX,
            school_Xty=school_Xty,
            school_yty=np.add.reduceat(w * y * y, starts),
        )

    @classmethod
    def _unweighted(
        cls,
        rows: np.ndarray,
        q: int,
        p: int,
        codes: np.ndarray,
        totals: np.ndarray | None = None,
    ) -> CrossProducts:
        """The blocks without weights from the variables ``rows = [Z, X, y]'`` (q + p + 1, N).

        One pass per random effect; rows already in school order (the usual case) are
        not copied into order. ``totals``, ``[X, y]'[X, y]``, is formed here unless given.
        """
        if totals is None:
            totals = rows[q:] @ rows[q:].T
        if codes.size > 1 and (codes[1:] < codes[:-1]).any():
            order = np.argsort(codes, kind="stable")
            codes, rows = codes[order], rows[:, order]
        starts, sizes = _school_runs(codes)
        # (q, q + p + 1, J): Z_j' [Z_j, X_j, y_j], schools last.
        per_school = np.stack([np.add.reduceat(rows[a] * rows, starts, axis=1) for a in range(q)])
        per_school = per_school.transpose(2, 0, 1)  # schools first, as the fields are kept
        return cls(
            np.ascontiguousarray(per_school[:, :, :q]),
            np.ascontiguousarray(per_school[:, :, q : q + p]),
            np.ascontiguousarray(per_school[:, :, -1]),
            totals[:p, :p].copy(),
            totals[:p, p].copy(),
            float(totals[p, p]),
            sizes,
        )


@dataclass(frozen=True)
class CovarianceStructure:
    """Which elements of the relative covariance factor ``Lambda`` are free.

    ``"un"`` (unstructured, as HLM 8, lme4 and SAS ``TYPE=UN``) frees the whole
    lower triangle; ``"vc"`` (variance components, SAS's default ``TYPE=VC``)
    frees the diagonal only, so the random effects are uncorrelated. The arrays
    ``rows``, ``cols``, ``on_diagonal``, ``units`` and ``same_column`` locate the
    free elements (see ``_FreeElements``); they are read-only and shared by every
    structure of the same kind and size.

    Examples
    --------
    >>> CovarianceStructure("un", 2).n_theta, CovarianceStructure("vc", 2).n_theta
    (3, 2)
    """

    kind: str
    q: int
    rows: np.ndarray = field(init=False, repr=False)
    cols: np.ndarray = field(init=False, repr=False)
    on_diagonal: np.ndarray = field(init=False, repr=False)
    units: np.ndarray = field(init=False, repr=False)
    same_column: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # The arrays depend on (kind, q) alone: made once, read-only, shared by fits.
        for name, value in _free_elements(self.kind, self.q)._asdict().items():
            object.__setattr__(self, name, value)

    @property
    def n_theta(self) -> int:
        """Number of free elements of ``Lambda`` (= covariance parameters of G)."""
        return int(self.rows.shape[0])

    def factor(self, theta: np.ndarray) -> np.ndarray:
        """The lower-triangular ``Lambda`` for the free elements ``theta``."""
        lam = np.zeros((self.q, self.q))
        lam[self.rows, self.cols] = theta
        return lam

    def start(self) -> np.ndarray:
        """lme4's starting point: identity factor."""
        return self.on_diagonal.astype(float)

    def pack(self, matrix: np.ndarray) -> np.ndarray:
        """The free elements of a symmetric matrix (lower triangle or diagonal)."""
        return matrix[self.rows, self.cols]

    def unpack(self, values: np.ndarray) -> np.ndarray:
        """A symmetric matrix from its free elements."""
        out = np.zeros((self.q, self.q))
        out[self.rows, self.cols] = values
        out[self.cols, self.rows] = values
        return out


class _FreeElements(NamedTuple):
    """Where the free elements of ``Lambda`` are, as :class:`CovarianceStructure` keeps it."""

    rows: np.ndarray  # (k,): row of each free element
    cols: np.ndarray  # (k,): its column
    on_diagonal: np.ndarray  # (k,): diagonal elements, which are bounded below by zero
    units: np.ndarray  # (k, q, q): the unit matrix at each free element's place
    same_column: np.ndarray  # (k, k): whether two free elements lie in the same column


@lru_cache(maxsize=64)
def _free_elements(kind: str, q: int) -> _FreeElements:
    """The free elements of ``Lambda`` for a structure (read-only arrays, shared by fits)."""
    if kind == "un":
        rows, cols = np.tril_indices(q)
    elif kind == "vc":
        rows = cols = np.arange(q)
    else:
        raise ValueError(
            f"Unknown covariance structure {kind!r}; use 'un' (unstructured) "
            "or 'vc' (uncorrelated variance components)."
        )
    k = rows.shape[0]
    units = np.zeros((k, q, q))
    units[np.arange(k), rows, cols] = 1.0
    elements = _FreeElements(rows, cols, rows == cols, units, cols[:, None] == cols[None, :])
    for array in elements:
        array.flags.writeable = False
    return elements


class _SchoolsLast(NamedTuple):
    """The per-school blocks with the school index last, for fast arithmetic on stacks.

    Numpy multiplies thousands of 2 x 2 matrices far faster as a few operations on
    contiguous length-J vectors (one per matrix element) than as a stack of
    matrices: with schools last, each product of stacks is q such operations.
    """

    ZtZ: np.ndarray  # (q, q, J)
    ZtX: np.ndarray  # (q, p, J)
    Zty: np.ndarray  # (q, J)
    weights: np.ndarray | None  # (J,) school weights, or None

    @classmethod
    def of(cls, cp: CrossProducts) -> _SchoolsLast:
        """The blocks of ``cp``, transposed once (the fit reuses them)."""
        return cls(
            np.ascontiguousarray(np.moveaxis(cp.ZtZ, 0, -1)),
            np.ascontiguousarray(np.moveaxis(cp.ZtX, 0, -1)),
            np.ascontiguousarray(cp.Zty.T),
            cp.group_weights,
        )

    def weighted(self, blocks: np.ndarray) -> np.ndarray:
        """Blocks (..., J) times the school weights (unchanged without weights)."""
        return blocks if self.weights is None else blocks * self.weights


def _stack_product(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Per-school matrix products of schools-last stacks: (a, b, J) @ (b, c, J) -> (a, c, J).

    Either factor may be one matrix for all schools, shaped (a, b, 1).
    """
    out = A[:, 0, None, :] * B[None, 0, :, :]
    for k in range(1, A.shape[1]):
        out += A[:, k, None, :] * B[None, k, :, :]
    return out


def _stack_vector(A: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Per-school matrix-vector products: (a, b, J) @ (b, J) -> (a, J)."""
    out = A[:, 0, :] * v[0]
    for k in range(1, A.shape[1]):
        out += A[:, k, :] * v[k]
    return out


def _over_schools(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Sum over schools of A_j' B_j: (q, a, J) and (q, b, J) -> (a, b)."""
    return np.einsum("qaj,qbj->ab", A, B)


@dataclass
class _Solution:
    """Everything that follows from a relative covariance ``T`` (and the data)."""

    C_last: np.ndarray  # (q, q, J): (I + T Z'Z)^-1 T, the per-school shrinkage kernel
    log_det_M: float  # sum_j log|I + T Z_j'Z_j|
    A: np.ndarray  # X' (sigma2 V^-1) X
    A_chol: np.ndarray
    beta: np.ndarray
    r2: float  # sigma2 * r'V^-1 r (the penalised residual sum of squares)
    z_last: np.ndarray  # (q, J): Z_j'(y_j - X_j beta)

    @property
    def C(self) -> np.ndarray:  # noqa: N802 (the kernel's name in the formulas)
        """The kernels as a stack over schools, (J, q, q)."""
        return np.moveaxis(self.C_last, -1, 0)

    @property
    def z(self) -> np.ndarray:
        """Z_j'(y_j - X_j beta) as (J, q)."""
        return self.z_last.T


def _solve(cp: CrossProducts, T: np.ndarray) -> _Solution | None:
    """Profile ``beta`` given the relative covariance ``T``; None if V is not positive definite."""
    blocks = cp.schools_last
    q = cp.n_random
    M = (T @ blocks.ZtZ.reshape(q, -1)).reshape(blocks.ZtZ.shape)  # T Z_j'Z_j, by BLAS
    for a in range(q):
        M[a, a] += 1.0
    inverse_and_log_det = _small_inverse(M)
    if inverse_and_log_det is None:
        return None
    M_inv, log_det = inverse_and_log_det
    # C = M^-1 T is symmetric, so it is also T M^-T: one BLAS product with T on the left.
    C = (T @ M_inv.transpose(1, 0, 2).reshape(q, -1)).reshape(M_inv.shape)
    C = 0.5 * (C + C.transpose(1, 0, 2))
    CZX = blocks.weighted(_stack_product(C, blocks.ZtX))
    CZy = blocks.weighted(_stack_vector(C, blocks.Zty))
    A = cp.XtX - _over_schools(blocks.ZtX, CZX)
    b = cp.Xty - np.einsum("qaj,qj->a", blocks.ZtX, CZy)
    c = cp.yty - float(np.vdot(blocks.Zty, CZy))
    A_chol = _cholesky(A)
    if A_chol is None:
        return None
    beta = _chol_solve(A_chol, b)
    r2 = c - float(b @ beta)
    if not r2 > 0:
        return None
    z = blocks.Zty - np.einsum("a,qaj->qj", beta, blocks.ZtX)
    return _Solution(C, float(blocks.weighted(log_det).sum()), A, A_chol, beta, r2, z)


def _small_inverse(M: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Inverses and log-determinants of a schools-last stack (q, q, J); None unless dets > 0.

    One and two random effects (the commonest models) use closed forms, which
    avoid the per-call overhead of LAPACK on thousands of tiny matrices.
    """
    q = M.shape[0]
    if q == 1:
        det = M[0, 0]
        if (det <= 0).any():
            return None
        return 1.0 / M, np.log(det)
    if q == 2:
        a, b, c, d = M[0, 0], M[0, 1], M[1, 0], M[1, 1]
        det = a * d - b * c
        if (det <= 0).any():
            return None
        inverse = np.array([[d, -b], [-c, a]]) / det
        return inverse, np.log(det)
    stack = np.moveaxis(M, -1, 0)
    sign, log_det = np.linalg.slogdet(stack)
    if (sign <= 0).any():
        return None
    return np.moveaxis(np.linalg.inv(stack), 0, -1), log_det


def _cholesky(M: np.ndarray) -> np.ndarray | None:
    """The lower Cholesky factor of a small symmetric matrix (LAPACK's potrf); None unless PD.

    numpy's wrapper costs several times the factorisation itself on the engine's
    matrices of a few rows, and the engine factors some at every evaluation.

    Examples
    --------
    >>> _cholesky(np.array([[4.0, 2.0], [2.0, 5.0]])).tolist(), _cholesky(-np.eye(2))
    ([[2.0, 0.0], [1.0, 2.0]], None)
    """
    factor, info = dpotrf(M, lower=1)
    return factor if info == 0 else None


def _symmetric_eigen(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ascending eigenvalues and eigenvectors of a small symmetric matrix (LAPACK's syevd).

    As ``np.linalg.eigh`` (which calls the same routine on the lower triangle), less
    its wrapper's overhead; NaN where LAPACK fails (a matrix with NaN in it).

    Examples
    --------
    >>> values, vectors = _symmetric_eigen(np.array([[2.0, 1.0], [1.0, 2.0]]))
    >>> values.round(12).tolist()
    [1.0, 3.0]
    """
    values, vectors, info = dsyevd(M, lower=1)
    if info != 0 or not np.isfinite(M).all():
        return np.full(M.shape[0], np.nan), np.full(M.shape, np.nan)
    return values, vectors


def _chol_solve(chol: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve ``(L L') x = rhs`` for the lower Cholesky factor ``L`` (LAPACK's potrs)."""
    solution, info = dpotrs(chol, rhs, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"potrs failed (info {info})")
    return solution


def _residual_df(cp: CrossProducts, reml: bool) -> float:
    if reml and cp.is_weighted:
        raise ValueError("REML is not defined with survey weights; fit by ML.")
    return cp.n_obs - cp.n_fixed if reml else cp.total_weight


def _full_deviance(cp: CrossProducts, sol: _Solution, sigma2: float, reml: bool) -> float:
    """-2 log-likelihood (REML or ML) at ``G = sigma2 T``, with SAS's and lme4's constants."""
    n = _residual_df(cp, reml)
    dev = n * (_LOG_2PI + np.log(sigma2)) + sol.log_det_M + sol.r2 / sigma2
    if reml:
        dev += 2.0 * float(np.log(sol.A_chol.diagonal()).sum())
    return float(dev)


def _gradient_g_sigma2(
    cp: CrossProducts, sol: _Solution, sigma2: float, reml: bool, with_sigma2: bool = True
) -> tuple[np.ndarray, float]:
    """Gradient of -2 log L with respect to the matrix G (as D, d = tr(D dG)) and sigma2.

    ``with_sigma2=False`` skips the sigma2 component (returned as NaN), which the
    profiled criterion does not need. With survey weights, each school's terms
    are multiplied by its weight (the pseudo-likelihood's gradient).
    """
    blocks = cp.schools_last
    S, C, z = blocks.ZtZ, sol.C_last, sol.z_last
    SC = _stack_product(S, C)
    u = z - _stack_vector(SC, z)  # Z'(sigma2 V^-1) r
    # First term: the sum of Z'(sigma2 V^-1)Z.
    D = blocks.weighted(S - _stack_product(SC, S)).sum(axis=-1)
    D -= (blocks.weighted(u) @ u.T) / sigma2
    CZX = _stack_product(C, blocks.ZtX)
    if reml:
        Wx = blocks.ZtX - _stack_product(S, CZX)  # Z'(sigma2 V^-1) X
        A_inv = _chol_solve(sol.A_chol, np.eye(cp.n_fixed))
        WxA = A_inv @ Wx  # A_inv is symmetric: sum_a Wx[q, a, j] A_inv[a, b], by BLAS
        D -= np.einsum("qbj,rbj->qr", blocks.weighted(WxA), Wx)
    if not with_sigma2:
        return D / sigma2, float("nan")
    beta = sol.beta
    rr = cp.yty - 2.0 * float(beta @ cp.Xty) + float(beta @ cp.XtX @ beta)
    Cz = _stack_vector(C, z)
    wCz = blocks.weighted(Cz)
    r_V2_r = (
        rr - 2.0 * float(np.vdot(z, wCz)) + float(np.vdot(wCz, _stack_vector(S, Cz)))
    ) / sigma2**2
    traces = np.einsum("abj,baj->j", C, S)
    trace_Vinv = (cp.total_weight - float(blocks.weighted(traces).sum())) / sigma2
    d_sigma2 = trace_Vinv - r_V2_r
    if reml:
        K = 2.0 * sol.A - cp.XtX + _over_schools(blocks.weighted(CZX), _stack_product(S, CZX))
        d_sigma2 -= float(np.sum(A_inv * K)) / sigma2
    return D / sigma2, d_sigma2


def school_scores(
    cp: CrossProducts,
    structure: CovarianceStructure,
    G: np.ndarray,
    sigma2: float,
    beta: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each school's contribution to the score of the ML (pseudo-)log-likelihood.

    The scores are the derivatives of school ``j``'s term ``w_j log L_j`` (its
    school weight times its log-likelihood, with the students' conditional
    weights inside) at the given parameters. Summed over schools they are the
    gradient of the log-likelihood; their outer products are the "meat" of the
    cluster-robust (sandwich) covariance (Rabe-Hesketh & Skrondal 2006).

    Parameters
    ----------
    cp : CrossProducts
        Weighted blocks (they keep the per-school ``X'WX``, ``X'Wy``, ``y'Wy``).
    structure : CovarianceStructure
        Which elements of G are parameters.
    G, sigma2, beta : ndarray, float, ndarray
        The parameters at which to evaluate (usually the estimates).

    Returns
    -------
    fixed : ndarray
        (J, p): the scores in beta.
    covariance : ndarray
        (J, k): the scores in the free elements of G, then sigma2.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> groups = np.repeat(np.arange(8), 5)
    >>> y = rng.normal(size=8)[groups] + rng.normal(size=40)
    >>> cp = CrossProducts.from_arrays(y, np.ones((40, 1)), np.ones((40, 1)), groups,
    ...                                group_weights=np.full(8, 2.0))
    >>> fit = fit_mixed_model(cp, CovarianceStructure("un", 1), reml=False)
    >>> fixed, cov = school_scores(cp, fit.structure, fit.G, fit.sigma2, fit.beta)
    >>> bool(np.allclose(fixed.sum(axis=0), 0.0, atol=1e-6)), cov.shape
    (True, (8, 2))
    """
    if cp.school_XtX is None:
        raise ValueError("Per-school scores need blocks built with weights (from_arrays).")
    sol = _solve(cp, G / sigma2)
    if sol is None:
        raise ValueError("These parameters give no positive-definite covariance.")
    w = cp.group_weights
    S = cp.ZtZ
    z = cp.Zty - cp.ZtX @ beta
    Cz = np.einsum("jab,jb->ja", sol.C, z)
    Xr = cp.school_Xty - cp.school_XtX @ beta
    fixed = w[:, None] * (Xr - np.einsum("jqa,jq->ja", cp.ZtX, Cz)) / sigma2
    SC = S @ sol.C
    u = z - np.einsum("jab,jb->ja", SC, z)
    D = (S - SC @ S - u[:, :, None] * u[:, None, :] / sigma2) / sigma2
    off = structure.rows != structure.cols
    grad_g = D[:, structure.rows, structure.cols] * np.where(off, 2.0, 1.0)
    rr = (
        cp.school_yty
        - 2.0 * (cp.school_Xty @ beta)
        + np.einsum("a,jab,b->j", beta, cp.school_XtX, beta)
    )
    r_V2_r = (
        rr - 2.0 * np.einsum("ja,ja->j", z, Cz) + np.einsum("ja,jab,jb->j", Cz, S, Cz)
    ) / sigma2**2
    d_sigma2 = (cp.weight_sums - np.einsum("jab,jba->j", sol.C, S)) / sigma2 - r_V2_r
    covariance = -0.5 * w[:, None] * np.c_[grad_g, d_sigma2]
    return fixed, covariance


def sandwich(bread: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Cluster-robust covariance ``B J B`` with ``J = n/(n-1) sum_j s_j s_j'``.

    ``bread`` is the inverse of the information (the negative Hessian of the
    log-likelihood); ``scores`` are the clusters' score contributions (n, k).

    Examples
    --------
    >>> s = np.array([[1.0], [-1.0], [2.0], [-2.0]])
    >>> float(sandwich(np.eye(1), s)[0, 0])
    13.333333333333332
    """
    n = scores.shape[0]
    meat = n / (n - 1.0) * (scores.T @ scores)
    return bread @ meat @ bread


def deviance_and_gradient(
    theta: np.ndarray, cp: CrossProducts, structure: CovarianceStructure, reml: bool = True
) -> tuple[float, np.ndarray]:
    """The profiled criterion over ``theta`` (lme4's ``devfun``) and its exact gradient.

    Parameters
    ----------
    theta : ndarray
        Free elements of the relative covariance factor ``Lambda``.
    cp : CrossProducts
        The data's cross-product blocks.
    structure : CovarianceStructure
        Which elements of ``Lambda`` ``theta`` fills.
    reml : bool
        REML (default) or ML.

    Returns
    -------
    deviance : float
        -2 log-likelihood with ``sigma2`` and ``beta`` profiled out (``inf`` where
        the covariance is not positive definite).
    gradient : ndarray
        Its derivative with respect to ``theta``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> groups = np.repeat(np.arange(20), 10)
    >>> y = rng.normal(size=20)[groups] + rng.normal(size=200)
    >>> cp = CrossProducts.from_arrays(y, np.ones((200, 1)), np.ones((200, 1)), groups)
    >>> dev, grad = deviance_and_gradient(np.array([1.0]), cp, CovarianceStructure("un", 1))
    >>> bool(np.isfinite(dev)), grad.shape
    (True, (1,))
    """
    lam = structure.factor(theta)
    sol = _solve(cp, lam @ lam.T)
    if sol is None:
        return np.inf, np.zeros_like(theta)
    sigma2 = sol.r2 / _residual_df(cp, reml)
    dev = _full_deviance(cp, sol, sigma2, reml)
    D, _ = _gradient_g_sigma2(cp, sol, sigma2, reml, with_sigma2=False)
    # G = sigma2 Lambda Lambda'; sigma2 is at its optimum, so only dLambda matters.
    grad_lambda = 2.0 * sigma2 * (D @ lam)
    return dev, grad_lambda[structure.rows, structure.cols]


class CriterionDerivatives(NamedTuple):
    """The profiled criterion at one ``theta`` with its first and second derivatives."""

    deviance: float
    gradient: np.ndarray  # (k,): in theta
    hessian: np.ndarray  # (k, k): in theta
    matrix: np.ndarray  # (q, q) symmetric D with d criterion = tr(D dT), T = Lambda Lambda'


def criterion_derivatives(
    theta: np.ndarray, cp: CrossProducts, structure: CovarianceStructure, reml: bool = True
) -> CriterionDerivatives:
    """The profiled criterion over ``theta``, its gradient and its exact Hessian.

    With ``sigma2`` and ``beta`` profiled out, the criterion is
    ``log|I + T Z'Z| + n log r2(T)`` (plus ``log|X'P X|`` under REML), with
    ``T = Lambda Lambda'``, ``P = (I + Z T Z')^-1`` and ``r2`` the penalised residual
    sum of squares. Its second derivatives in ``T`` need only the per-school blocks
    ``Q = Z'P Z``, ``W = Z'P X`` and ``u = Z'P r`` (Bates et al. 2015; Lindstrom &
    Bates 1988): with ``d`` a change of ``T``,

    - ``d log|M| = tr(Q dT)`` and ``d2 log|M| = -tr(dT Q dT' Q)``;
    - ``d r2 = -u' dT u`` and ``d2 r2 = 2 u' dT Q dT' u - 2 b' (X'PX)^-1 b`` with
      ``b = sum_j W_j' dT u_j`` (``beta`` moves with ``T``);
    - ``d log|X'PX| = -tr(N dT)`` with ``N_j = W_j (X'PX)^-1 W_j'``, and
      ``d2 log|X'PX| = 2 tr(dT Q dT' N) - tr(A^-1 B A^-1 B')`` with
      ``B = sum_j W_j' dT W_j``.

    The chain rule through ``T = Lambda Lambda'`` gives the Hessian in ``theta``.
    With survey weights, each school's terms carry its weight.

    Parameters
    ----------
    theta : ndarray
        Free elements of the relative covariance factor ``Lambda``.
    cp : CrossProducts
        The data's cross-product blocks.
    structure : CovarianceStructure
        Which elements of ``Lambda`` ``theta`` fills.
    reml : bool
        REML (default) or ML.

    Returns
    -------
    CriterionDerivatives
        ``deviance`` as :func:`deviance_and_gradient` (``inf`` where V is not positive
        definite, with a zero gradient and a NaN Hessian); ``gradient`` (k,) and
        ``hessian`` (k, k) in ``theta``; ``matrix``, the gradient in ``T`` itself.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> groups = np.repeat(np.arange(20), 10)
    >>> y = rng.normal(size=20)[groups] + rng.normal(size=200)
    >>> cp = CrossProducts.from_arrays(y, np.ones((200, 1)), np.ones((200, 1)), groups)
    >>> structure = CovarianceStructure("un", 1)
    >>> dev, grad, hess, _ = criterion_derivatives(np.array([1.0]), cp, structure)
    >>> step = 1e-6
    >>> up = deviance_and_gradient(np.array([1.0 + step]), cp, structure)[1]
    >>> down = deviance_and_gradient(np.array([1.0 - step]), cp, structure)[1]
    >>> bool(np.isclose(hess[0, 0], (up - down)[0] / (2 * step), rtol=1e-6))
    True
    """
    return _solution_and_derivatives(theta, cp, structure, reml)[1]


def _solution_and_derivatives(
    theta: np.ndarray, cp: CrossProducts, structure: CovarianceStructure, reml: bool
) -> tuple[_Solution | None, CriterionDerivatives]:
    """:func:`criterion_derivatives` with the solution at ``theta`` it is built on."""
    k = structure.n_theta
    lam = structure.factor(theta)
    sol = _solve(cp, lam @ lam.T)
    if sol is None:
        q = structure.q
        nowhere = np.zeros(k), np.full((k, k), np.nan), np.zeros((q, q))
        return None, CriterionDerivatives(np.inf, *nowhere)
    blocks = cp.schools_last
    n = _residual_df(cp, reml)
    r2 = sol.r2
    dev = _full_deviance(cp, sol, r2 / n, reml)
    S, C, z = blocks.ZtZ, sol.C_last, sol.z_last
    SC = _stack_product(S, C)
    Q = S - _stack_product(SC, S)
    u = z - _stack_vector(SC, z)
    wQ, wu = blocks.weighted(Q), blocks.weighted(u)
    UU = wu @ u.T
    D = wQ.sum(axis=-1) - (n / r2) * UU
    q, J = structure.q, S.shape[-1]
    # The per-school second-order terms all have the form sum_j tr(dT Q_j dT' X_j):
    # X_j = -Q_j + (2n / r2) u_j u_j' (+ 2 N_j under REML), one contraction for all.
    X = (2.0 * n / r2) * (u[:, None, :] * u[None, :, :]) - Q
    H4 = -(n / r2**2) * np.multiply.outer(UU, UU)
    if cp.n_fixed:
        W = blocks.ZtX - _stack_product(SC, blocks.ZtX)
        wW = blocks.weighted(W)
        p = W.shape[1]
        A_inv = _chol_solve(sol.A_chol, np.eye(p))
        b = (wW.reshape(q * p, J) @ u.T).reshape(q, p, q).transpose(0, 2, 1).reshape(q * q, p)
        H4 -= (2.0 * n / r2) * (b @ A_inv @ b.T).reshape(q, q, q, q)
    if reml:
        WA = A_inv @ W  # A_inv is symmetric: sum_a W[q, a, j] A_inv[a, b], by BLAS
        N = np.einsum("qbj,rbj->qrj", WA, W)
        D -= blocks.weighted(N).sum(axis=-1)
        X += 2.0 * N
        B4 = (wW.reshape(q * p, J) @ W.reshape(q * p, J).T).reshape(q, p, q, p)
        AB = A_inv @ B4.transpose(0, 2, 1, 3)  # (k, l, a, c)
        H4 -= (AB.reshape(q * q, p * p) @ AB.transpose(0, 1, 3, 2).reshape(q * q, p * p).T).reshape(
            q, q, q, q
        )
    H4 += np.einsum("lmj,nkj->klmn", wQ, X)
    # dT/dtheta_a = F_a Lambda' + Lambda F_a', with F_a the unit matrix at theta_a's place.
    dT = structure.units @ lam.T
    dT = (dT + dT.transpose(0, 2, 1)).reshape(k, q * q)
    hess = dT @ H4.reshape(q * q, q * q) @ dT.T
    # d2T/dtheta_a dtheta_b = F_a F_b' + F_b F_a', non-zero where the columns agree.
    hess += 2.0 * structure.same_column * D[structure.rows[None, :], structure.rows[:, None]]
    grad = 2.0 * (D @ lam)[structure.rows, structure.cols]
    return sol, CriterionDerivatives(float(dev), grad, 0.5 * (hess + hess.T), D)


@dataclass(frozen=True)
class EngineFit:
    """The optimum of a two-level REML/ML fit, as arrays.

    Attributes
    ----------
    theta : ndarray
        Free elements of the relative covariance factor at the optimum.
    G : ndarray
        Random-effect covariance matrix (q, q).
    sigma2 : float
        Level-1 residual variance.
    beta, cov_beta : ndarray
        GLS fixed effects and their covariance ``(X'V^-1 X)^-1``.
    deviance : float
        -2 log-likelihood (REML or ML) at the optimum.
    covparm_index : list of tuple
        (row, col) of G for each covariance parameter, then ``None`` for sigma2.
    covparm_estimates : ndarray
        The covariance parameters: the free elements of G, then sigma2.
    on_boundary : ndarray of bool
        Which covariance parameters sit on the boundary of the parameter space.
    gradient : ndarray
        Gradient of the profiled criterion in ``theta`` at the optimum.
    matrix_gradient : ndarray
        The same gradient in ``T = Lambda Lambda'`` (the symmetric D with
        ``d criterion = tr(D dT)``), which maps exactly between units.
    converged : bool
        True only when the optimum passed the gradient and boundary checks.
    message : str
        How the optimisation ended, in plain words.
    n_evaluations : int
        Criterion evaluations used.
    blocks : CrossProducts or None
        The cross-product blocks the fit was computed on; None for a fit mapped back
        from standardised blocks (``standardised``), whose ``cross_products`` are
        then mapped back at first use.
    flat_directions : int
        Directions in which the criterion is flat at the optimum (to second order)
        while G changes: other covariance matrices fit equally well, so the data do
        not determine every covariance parameter. 0 for a unique optimum.
    """

    theta: np.ndarray
    G: np.ndarray
    sigma2: float
    beta: np.ndarray
    cov_beta: np.ndarray
    deviance: float
    covparm_index: list[tuple[int, int] | None]
    covparm_estimates: np.ndarray
    on_boundary: np.ndarray
    gradient: np.ndarray
    matrix_gradient: np.ndarray
    converged: bool
    message: str
    n_evaluations: int
    reml: bool
    structure: CovarianceStructure
    blocks: CrossProducts | None = field(repr=False)
    standardised: EngineFit | None = field(default=None, repr=False)
    flat_directions: int = 0

    @cached_property
    def cross_products(self) -> CrossProducts:
        """The cross-product blocks of the data as given (for a standardised fit, mapped back)."""
        if self.blocks is not None:
            return self.blocks
        return self.standardised.cross_products.unstandardised()

    @cached_property
    def covparm_cov(self) -> np.ndarray:
        """Asymptotic covariance of the covariance parameters (SAS ``ASYCOV``).

        Twice the inverse of the observed Hessian of -2 log L in (G, sigma2), as SAS
        PROC MIXED computes it. Parameters on the boundary are held there: their rows
        and columns are NaN, and SAS too prints no standard error for them. With
        survey weights it is the cluster-robust sandwich over schools instead.
        """
        if self.standardised is not None:  # computed where the data are well scaled
            jacobian = _covparm_jacobian(self.standardised)
            unit_free = self.standardised.covparm_cov
            held = np.isnan(np.diag(unit_free))  # parameters held on the boundary
            cov = jacobian @ np.nan_to_num(unit_free) @ jacobian.T
            cov[held, :] = cov[:, held] = np.nan
            return cov
        free = ~self.on_boundary
        cov = np.full((free.size, free.size), np.nan)
        with SingleThreadedBlas():
            H = _observed_information(
                self.covparm_estimates, free, self.cross_products, self.structure, self.reml
            )
        # A singular information matrix leaves the standard errors undefined (NaN).
        with contextlib.suppress(np.linalg.LinAlgError):
            bread = 2.0 * np.linalg.inv(H)
            if self.cross_products.is_weighted:
                scores = school_scores(
                    self.cross_products, self.structure, self.G, self.sigma2, self.beta
                )[1]
                bread = sandwich(bread, scores[:, free])
            cov[np.ix_(free, free)] = bread
        return cov

    @property
    def shrinkage_kernel(self) -> np.ndarray:
        """Per-school ``C_j = (I + T Z_j'Z_j)^-1 T``; EBLUPs are ``C_j Z_j'(y_j - X_j beta)``."""
        sol = _solve(self.cross_products, self.G / self.sigma2)
        assert sol is not None
        return sol.C

    def covparm_function_gradient(self, function, step: float = 1e-5) -> np.ndarray:
        """Central-difference gradient of ``function(G, sigma2)`` over the free parameters."""
        est = self.covparm_estimates
        grads = np.full(est.shape + np.shape(function(self.G, self.sigma2)), np.nan)
        for k in np.flatnonzero(~self.on_boundary):
            # Steps relative to the parameter, with a floor in the data's own units (sigma2).
            h = step * max(abs(est[k]), 1e-3 * est[-1])
            values = []
            for sign in (1.0, -1.0):
                moved = est.copy()
                moved[k] += sign * h
                values.append(np.asarray(function(*self._split(moved))))
            grads[k] = (values[0] - values[1]) / (2.0 * h)
        return grads

    def _split(self, params: np.ndarray) -> tuple[np.ndarray, float]:
        return _split_params(params, self.structure), float(params[-1])


def _split_params(params: np.ndarray, structure: CovarianceStructure) -> np.ndarray:
    return structure.unpack(params[:-1])


def full_deviance_gradient(
    params: np.ndarray, cp: CrossProducts, structure: CovarianceStructure, reml: bool
) -> np.ndarray:
    """Gradient of the unprofiled -2 log L in (free elements of G, sigma2)."""
    G = _split_params(params, structure)
    sigma2 = float(params[-1])
    sol = _solve(cp, G / sigma2)
    if sol is None:
        return np.full(params.shape, np.nan)
    D, d_sigma2 = _gradient_g_sigma2(cp, sol, sigma2, reml)
    off = structure.rows != structure.cols
    grad_g = D[structure.rows, structure.cols] * np.where(off, 2.0, 1.0)
    return np.r_[grad_g, d_sigma2]


def full_deviance(
    params: np.ndarray, cp: CrossProducts, structure: CovarianceStructure, reml: bool
) -> float:
    """The unprofiled -2 log L at (free elements of G, sigma2), ``beta`` at its GLS value.

    ``inf`` where the covariance is not positive definite.

    Examples
    --------
    >>> groups = np.repeat(np.arange(10), 5)
    >>> cp = CrossProducts.from_arrays(np.arange(50.0) % 7, np.ones((50, 1)),
    ...                                np.ones((50, 1)), groups)
    >>> round(full_deviance(np.array([0.0, 4.0]), cp, CovarianceStructure("un", 1), True), 3)
    213.101
    """
    sigma2 = float(params[-1])
    sol = _solve(cp, _split_params(params, structure) / sigma2)
    if sol is None:
        return np.inf
    return _full_deviance(cp, sol, sigma2, reml)


def theta_sigma_gradient(
    varpar: np.ndarray, cp: CrossProducts, structure: CovarianceStructure, reml: bool
) -> np.ndarray:
    """Exact gradient of -2 log L (``beta`` profiled) in (``theta``, ``sigma``).

    lmerTest's parameterisation of the variance parameters: the relative factor's free
    elements, then the residual standard deviation (not its variance). NaN where the
    covariance is not positive definite.

    Examples
    --------
    >>> groups = np.repeat(np.arange(10), 5)
    >>> cp = CrossProducts.from_arrays(np.arange(50.0) % 7, np.ones((50, 1)),
    ...                                np.ones((50, 1)), groups)
    >>> theta_sigma_gradient(np.array([0.5, 2.0]), cp, CovarianceStructure("un", 1), True).shape
    (2,)
    """
    lam, sigma = structure.factor(varpar[:-1]), float(varpar[-1])
    T = lam @ lam.T
    sol = _solve(cp, T)
    if sol is None:
        return np.full(varpar.shape, np.nan)
    D, d_sigma2 = _gradient_g_sigma2(cp, sol, sigma**2, reml)
    d_theta = 2.0 * sigma**2 * (D @ lam)[structure.rows, structure.cols]
    return np.r_[d_theta, 2.0 * sigma * (d_sigma2 + float(np.sum(D * T)))]


def fixed_effect_covariance(
    varpar: np.ndarray, cp: CrossProducts, structure: CovarianceStructure
) -> np.ndarray:
    """``cov(beta) = sigma2 (X'(sigma2 V^-1)X)^-1`` at (``theta``, ``sigma``); NaN if V is not PD.

    Examples
    --------
    >>> groups = np.repeat(np.arange(10), 5)
    >>> cp = CrossProducts.from_arrays(np.arange(50.0) % 7, np.ones((50, 1)),
    ...                                np.ones((50, 1)), groups)
    >>> fixed_effect_covariance(np.array([0.0, 2.0]), cp, CovarianceStructure("un", 1))
    array([[0.08]])
    """
    lam, sigma = structure.factor(varpar[:-1]), float(varpar[-1])
    sol = _solve(cp, lam @ lam.T)
    if sol is None:
        return np.full((cp.n_fixed, cp.n_fixed), np.nan)
    return sigma**2 * _chol_solve(sol.A_chol, np.eye(cp.n_fixed))


def central_differences(
    function: Callable[[np.ndarray], np.ndarray],
    point: np.ndarray,
    indices: np.ndarray,
    steps: np.ndarray,
) -> np.ndarray:
    """Row a: the central difference of ``function`` along ``point[indices[a]]``, step ``steps[a]``.

    Examples
    --------
    >>> rows = central_differences(lambda x: x**2, np.array([1.0, 3.0]), np.array([1]),
    ...                             np.array([1e-3]))
    >>> rows.round(6).tolist()
    [[0.0, 6.0]]
    """
    rows = []
    for k, h in zip(indices, steps, strict=True):
        up, down = point.copy(), point.copy()
        up[k] += h
        down[k] -= h
        rows.append((np.asarray(function(up)) - np.asarray(function(down))) / (2.0 * h))
    return np.array(rows)


def _observed_information(
    params: np.ndarray,
    free: np.ndarray,
    cp: CrossProducts,
    structure: CovarianceStructure,
    reml: bool,
) -> np.ndarray:
    """Hessian of -2 log L over the free covariance parameters.

    Central differences of the exact gradient.
    """
    idx = np.flatnonzero(free)
    # Relative steps, with a floor in the data's own units (sigma2), not an absolute one.
    steps = 1e-5 * np.maximum(np.abs(params[idx]), 1e-3 * params[-1])
    H = central_differences(
        lambda p: full_deviance_gradient(p, cp, structure, reml)[idx], params, idx, steps
    ).reshape(idx.size, idx.size)
    return 0.5 * (H + H.T)


def _minimise(
    cp: CrossProducts, structure: CovarianceStructure, reml: bool, start: np.ndarray
) -> tuple[optimize.OptimizeResult, int]:
    bounds = [(0.0, None) if diag else (None, None) for diag in structure.on_diagonal]
    calls = 0

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal calls
        calls += 1
        return deviance_and_gradient(theta, cp, structure, reml)

    result = optimize.minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 2000, "maxls": 50},
    )
    return result, calls


def _boundary_escape(
    theta: np.ndarray,
    dev: float,
    cp: CrossProducts,
    structure: CovarianceStructure,
    reml: bool,
) -> np.ndarray | None:
    """A point off the boundary with a lower criterion, if a zero variance is not a minimum.

    A zero diagonal element of ``Lambda`` can be a false optimum in two ways.
    Where its column is otherwise zero, the criterion's gradient vanishes by
    symmetry, so a gradient check cannot tell a boundary minimum from a saddle.
    Where the column has non-zero entries below the diagonal, the bound at zero
    can block the way to the optimum, which lies across the bound: flipping the
    sign of a whole column of ``Lambda`` leaves ``T = Lambda Lambda'`` unchanged,
    so the point beyond the bound is reached with the diagonal positive and the
    column's other entries negated. Probing small positive diagonal values, with
    and without that flip, finds both.
    """
    best, best_dev = None, dev - 1e-8 * cp.weight_scale
    zeros = np.flatnonzero(structure.on_diagonal & (theta <= 0.0))
    for k in zeros:
        column = structure.rows[k]
        below = (structure.cols == column) & (structure.rows > column)
        flips = (1.0, -1.0) if below.any() else (1.0,)
        for flip in flips:
            for size in _PROBE_SIZES:
                probe = theta.copy()
                probe[below] *= flip
                probe[k] = size
                probe_dev = _deviance(probe, cp, structure, reml)
                if probe_dev < best_dev:
                    best, best_dev = probe, probe_dev
    if zeros.size > 1:  # variances that are zero together may leave the boundary only together
        for size in _PROBE_SIZES:
            probe = theta.copy()
            probe[zeros] = size
            probe_dev = _deviance(probe, cp, structure, reml)
            if probe_dev < best_dev:
                best, best_dev = probe, probe_dev
    return best


#: Probe sizes of a zero diagonal element of Lambda (the fit is standardised: units of the data).
_PROBE_SIZES = (1e-3, 1e-2, 1e-1, 0.5, 1.0, 2.0)


class _OptimumCheck(NamedTuple):
    deviance: float
    gradient: np.ndarray
    projected: np.ndarray
    gradient_ok: bool
    escape: np.ndarray | None
    matrix_gradient: np.ndarray
    flat_directions: int = 0


def _optimum_checks(
    theta: np.ndarray,
    cp: CrossProducts,
    structure: CovarianceStructure,
    reml: bool,
    derivatives: CriterionDerivatives | None = None,
) -> _OptimumCheck:
    """Is the projected gradient zero, and is there a better point off a bound (else None)?

    ``derivatives`` are :func:`criterion_derivatives` at ``theta``, if already known.
    """
    if derivatives is None:
        derivatives = criterion_derivatives(theta, cp, structure, reml)
    dev, grad, hess, matrix = derivatives
    at_bound = structure.on_diagonal & (theta <= 0.0)
    projected = np.where(at_bound, np.minimum(grad, 0.0), grad)
    scale = np.maximum(np.abs(theta), 1.0)
    # The criterion grows with the total weight: judge the gradient per unit of weight.
    tolerance = 1e-3 * cp.weight_scale
    gradient_ok = bool(np.isfinite(dev) and np.all(np.abs(projected) * scale < tolerance))
    if np.isfinite(dev) and not np.any(projected[at_bound]):
        # A small gradient is not enough: in a long curved valley it is small far from the
        # optimum, and the gradient of a criterion that grows with N is not small at the
        # optimum of a large data set. What a Newton step would still gain decides.
        gradient_ok, flat = _verified_minimum(grad, hess, ~at_bound)
        flat_directions = _flat_covariances(theta, flat, structure)
    else:
        flat_directions = 0
    escape = _boundary_escape(theta, dev, cp, structure, reml)
    return _OptimumCheck(dev, grad, projected, gradient_ok, escape, matrix, flat_directions)


def _verified_minimum(
    grad: np.ndarray, hess: np.ndarray, free: np.ndarray
) -> tuple[bool, np.ndarray]:
    """Whether the free elements are at a minimum, and the directions along which it is flat.

    A minimum when the Hessian over the free elements is positive semi-definite and a
    Newton step within its range would gain less than 1e-8 in -2 log L, with no slope
    along its null space. The null directions (k, m) are returned: along them the
    criterion does not change to second order, so the minimum is not a single point.

    Examples
    --------
    >>> ok, flat = _verified_minimum(np.zeros(2), np.diag([2.0, 0.0]), np.ones(2) > 0)
    >>> ok, flat.round(6).T.tolist()
    (True, [[0.0, 1.0]])
    """
    k = grad.size
    idx = np.flatnonzero(free)
    if idx.size == 0:
        return True, np.zeros((k, 0))
    every = idx.size == k
    values, vectors = _symmetric_eigen(hess if every else hess[np.ix_(idx, idx)])
    if not np.isfinite(values).all():
        return False, np.zeros((k, 0))
    tolerance = 1e-8 * max(_largest_magnitude(values), 1.0)
    if values[0] < -tolerance:
        return False, np.zeros((k, 0))
    slopes = vectors.T @ (grad if every else grad[idx])
    curved = values > tolerance
    gain = 0.5 * float(np.sum(slopes[curved] ** 2 / values[curved]))
    flat = np.zeros((k, int((~curved).sum())))
    flat[idx] = vectors[:, ~curved]
    return bool(gain < 1e-8 and np.all(np.abs(slopes[~curved]) < 1e-6)), flat


def _largest_magnitude(ascending: np.ndarray) -> float:
    """The largest absolute value of ascending numbers (eigenvalues): the first or the last.

    Examples
    --------
    >>> _largest_magnitude(np.array([-3.0, 1.0, 2.0]))
    3.0
    """
    return max(-float(ascending[0]), float(ascending[-1]))


def _flat_covariances(theta: np.ndarray, flat: np.ndarray, structure: CovarianceStructure) -> int:
    """How many flat directions of ``theta`` change the covariance ``T = Lambda Lambda'``.

    A zero diagonal element of Lambda leaves the elements below it free to turn
    without changing T (an artefact of the factor, not of the model); the other flat
    directions are covariance matrices that fit the data equally well.
    """
    if not flat.shape[1]:
        return 0
    lam = structure.factor(theta)
    dT = structure.units @ lam.T
    dT = (dT + dT.transpose(0, 2, 1)).reshape(structure.n_theta, -1)
    change = np.linalg.norm(flat.T @ dT, axis=1)
    return int(np.sum(change > 1e-6 * max(float(np.linalg.norm(lam @ lam.T)), 1.0)))


def _newton_step(
    grad: np.ndarray, hess: np.ndarray, free: np.ndarray
) -> tuple[float, np.ndarray | None]:
    """The Newton step over the free elements, and the decrease it would bring.

    ``g' H^-1 g / 2`` with the exact Hessian: in units of -2 log L, whatever N and the
    units of the data. The gain is infinite (and the step None) where H is not
    positive definite (not a minimum).

    Examples
    --------
    >>> gain, step = _newton_step(np.array([2.0, 1.0]), np.diag([4.0, 1.0]), np.array([1, 0]) > 0)
    >>> gain, step.tolist()
    (0.5, [-0.5, 0.0])
    """
    idx = np.flatnonzero(free)
    if idx.size == 0:
        return 0.0, np.zeros_like(grad)
    chol = _cholesky(hess[np.ix_(idx, idx)])
    if chol is None:
        return np.inf, None
    step = np.zeros_like(grad)
    step[idx] = -_chol_solve(chol, grad[idx])
    gain = -0.5 * float(grad[idx] @ step[idx])
    return (gain, step) if np.isfinite(gain) else (np.inf, None)


def _positive_columns(theta: np.ndarray, structure: CovarianceStructure) -> np.ndarray:
    """``theta`` with every column of Lambda whose diagonal is negative flipped (same T)."""
    theta = theta.copy()
    for k in np.flatnonzero(structure.on_diagonal & (theta < 0.0)):
        theta[structure.cols == structure.cols[k]] *= -1.0
    return theta


def _deviance(
    theta: np.ndarray, cp: CrossProducts, structure: CovarianceStructure, reml: bool
) -> float:
    """The profiled criterion alone (no gradient): for line searches and probes."""
    lam = structure.factor(theta)
    sol = _solve(cp, lam @ lam.T)
    if sol is None:
        return np.inf
    return _full_deviance(cp, sol, sol.r2 / _residual_df(cp, reml), reml)


def _line_search(
    theta: np.ndarray,
    dev: float,
    step: np.ndarray,
    slope: float,
    cp: CrossProducts,
    structure: CovarianceStructure,
    reml: bool,
    first_size: float = 1.0,
) -> tuple[np.ndarray, float, int] | None:
    """Backtracking (Armijo) along ``step``: the first point that lowers the criterion enough."""
    size = first_size
    for tries in range(1, 41):
        trial = _positive_columns(theta + size * step, structure)
        trial_dev = _deviance(trial, cp, structure, reml)
        if trial_dev <= dev + 1e-4 * size * slope:
            return trial, trial_dev, tries
        size /= 2.0
    return None


def _newton_minimise(
    cp: CrossProducts, structure: CovarianceStructure, reml: bool, start: np.ndarray
) -> tuple[optimize.OptimizeResult, int]:
    """Newton's method with the exact Hessian over all of ``theta``, from ``start``.

    The criterion is even in each column of ``Lambda``, so no bounds are needed: a step
    across zero is the same covariance with the column flipped back. Where the Hessian
    is not positive definite (far from the optimum, or at a saddle) its eigenvalues are
    replaced by their absolute values (floored), which keeps the step a descent
    direction. Stops when a Newton step would gain less than 1e-15 in -2 log L, or
    after 50 iterations, or when the line search fails; the caller verifies the point.
    """
    theta = _positive_columns(np.asarray(start, dtype=float), structure)
    solution, here = _solution_and_derivatives(theta, cp, structure, reml)
    evaluations = 1
    success = False
    for _ in range(50):
        dev, grad, hess, _ = here
        if not np.isfinite(dev):
            break
        values, vectors = _symmetric_eigen(hess)
        if not np.isfinite(values[0]):
            break
        floor = 1e-8 * max(_largest_magnitude(values), 1.0)
        regular = values[0] > floor
        step = -(vectors @ ((vectors.T @ grad) / np.maximum(np.abs(values), floor)))
        slope = float(grad @ step)
        if regular and -0.5 * slope < _NEWTON_DONE:
            success = True
            break
        # The full step first, with all derivatives (Newton's steps are mostly taken whole).
        trial = _positive_columns(theta + step, structure)
        trial_solution, there = _solution_and_derivatives(trial, cp, structure, reml)
        evaluations += 1
        # Near a regular optimum the criterion's change is below its rounding, which a
        # line search could not tell from a rise: there the full step is taken.
        rounding = 1e-12 * max(abs(dev), 1.0) if regular and -0.5 * slope < 1e-6 else 0.0
        if there.deviance <= dev + 1e-4 * slope or (rounding and there.deviance <= dev + rounding):
            theta, solution, here = trial, trial_solution, there
            continue
        found = _line_search(theta, dev, step, slope, cp, structure, reml, first_size=0.5)
        if found is None:
            break
        theta, _, tries = found
        evaluations += tries + 1
        solution, here = _solution_and_derivatives(theta, cp, structure, reml)
    result = optimize.OptimizeResult(x=theta, fun=here.deviance, success=success)
    result.derivatives, result.solution = here, solution
    return result, evaluations


def _newton_polish(
    theta: np.ndarray, cp: CrossProducts, structure: CovarianceStructure, reml: bool
) -> tuple[np.ndarray, float, int]:
    """Newton steps with backtracking over the elements off the boundary, to the optimum.

    Where the criterion is a long curved valley (a random slope whose column is nearly
    the intercept's, under VC), a quasi-Newton method can stop with a small gradient
    far from the optimum; Newton's steps, with the exact Hessian, cross such a valley
    in a few iterations. Returns the point, its criterion and the evaluations used.
    """
    evaluations = 1
    dev, grad, hess, _ = criterion_derivatives(theta, cp, structure, reml)
    for _ in range(30):
        free = ~(structure.on_diagonal & (theta <= 0.0))
        gain, step = _newton_step(grad, hess, free)
        if step is None or gain < 1e-10:
            break
        found = _line_search(theta, dev, step, -2.0 * gain, cp, structure, reml)
        if found is None:
            break
        theta, dev, tries = found
        evaluations += tries + 1
        dev, grad, hess, _ = criterion_derivatives(theta, cp, structure, reml)
    return theta, dev, evaluations


#: Newton's method stops where a further step would gain less than this in -2 log L
#: (quadratic convergence: the step before gained about its square root). A looser
#: 1e-13 saves an evaluation on some fits (sleepstudy: 4 to 3, 8% of the call), but
#: leaves the estimates 3e-7 standard errors from the optimum, not 3e-8, and a p-value
#: that equals a closed form to 1e-9 in notebook 17 then differs by 1e-8.
_NEWTON_DONE = 1e-15


class SingleThreadedBlas:
    """Run BLAS on one thread: the engine's arrays are tiny, and threads only add overhead.

    Examples
    --------
    >>> with SingleThreadedBlas():
    ...     float(np.ones(3) @ np.ones(3))
    3.0
    """

    _controller = None

    def __enter__(self) -> None:
        if SingleThreadedBlas._controller is None:
            from threadpoolctl import ThreadpoolController

            SingleThreadedBlas._controller = ThreadpoolController()
        self._limits = SingleThreadedBlas._controller.limit(limits=1, user_api="blas")

    def __exit__(self, *exc: object) -> None:
        self._limits.restore_original_limits()


def _one_blas_thread_beyond(size: int) -> contextlib.AbstractContextManager:
    """:class:`SingleThreadedBlas` for arrays of more than 10,000 rows (as the design's rank
    check); on smaller ones threads gain nothing, and setting the limit costs more."""
    return SingleThreadedBlas() if size > 10_000 else contextlib.nullcontext()


def fit_mixed_model(
    cp: CrossProducts,
    structure: CovarianceStructure,
    reml: bool = True,
    boundary_tol: float = 1e-4,
    start: np.ndarray | None = None,
) -> EngineFit:
    """Fit a two-level LMM by REML or ML and verify that the answer is an optimum.

    The profiled criterion is minimised by Newton's method with its exact gradient
    and Hessian (:func:`criterion_derivatives`), from a method-of-moments start;
    where Newton's point cannot be verified, L-BFGS-B, Newton polishing, boundary
    probes and restarts take over. An optimum with a variance near zero or far above
    sigma2 is searched again from other starts, and the best is kept. The answer is
    accepted as converged only when a further Newton step would gain less than 1e-8
    in -2 log L and, at a boundary, moving off the boundary does not lower the
    criterion; ``message`` says in plain words when it is not.

    Parameters
    ----------
    cp : CrossProducts
        The data's cross-product blocks.
    structure : CovarianceStructure
        Unstructured or diagonal random-effect covariance.
    reml : bool
        REML (default) or ML.
    boundary_tol : float
        A diagonal element of the relative factor below this is a variance on
        the boundary (lme4's ``isSingular`` uses the same tolerance).
    start : ndarray, optional
        Starting ``theta`` (e.g. the fit of similar data, in a bootstrap); by
        default a method-of-moments start. The optimum is verified either way.

    Returns
    -------
    EngineFit

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> groups = np.repeat(np.arange(30), 20)
    >>> y = 2.0 + rng.normal(scale=0.7, size=30)[groups] + rng.normal(size=600)
    >>> cp = CrossProducts.from_arrays(y, np.ones((600, 1)), np.ones((600, 1)), groups)
    >>> fit = fit_mixed_model(cp, CovarianceStructure("un", 1))
    >>> fit.converged, round(float(fit.beta[0]), 2)
    (True, 1.93)
    """
    with _one_blas_thread_beyond(cp.n_groups):
        fit = _fit(cp, structure, reml, boundary_tol, start)
    return fit if cp.standardisation is None else _on_original_scale(fit)


def _covparm_jacobian(fit: EngineFit) -> np.ndarray:
    """d(original covariance parameters) / d(standardised ones), a (k, k) matrix.

    ``G = s^2 R G' R'`` with ``R`` the random map and ``s`` the outcome's scale;
    without centring ``R`` is diagonal, and so is the Jacobian.
    """
    st = fit.cross_products.standardisation
    s2, R = st.outcome_scale**2, st.random_map
    rows, cols = fit.structure.rows, fit.structure.cols
    k = rows.size
    # Element (r, c) of R E R' for the symmetric unit E at (a, b) is
    # R[r, a] R[c, b] + R[r, b] R[c, a] (counted once on the diagonal, a = b).
    jacobian = np.zeros((k + 1, k + 1))
    both = R[rows][:, rows] * R[cols][:, cols] + R[rows][:, cols] * R[cols][:, rows]
    jacobian[:k, :k] = s2 * np.where(rows == cols, 0.5, 1.0) * both
    jacobian[k, k] = s2
    return jacobian


def _lower_factor(M: np.ndarray) -> np.ndarray:
    """A lower-triangular ``L`` with ``L L' = M M'`` and a non-negative diagonal."""
    L = np.tril(dgeqrf(M.T)[0].T)  # M' = Q R (LAPACK's geqrf), so M M' = R'R
    signs = np.where(np.diag(L) < 0, -1.0, 1.0)
    return L * signs


def _on_original_scale(fit: EngineFit) -> EngineFit:
    """A fit of standardised arrays, reported for the data as they were given."""
    cp = fit.cross_products
    st = cp.standardisation
    s, R, F = st.outcome_scale, st.random_map, st.fixed_map
    rows, cols = fit.structure.rows, fit.structure.cols
    deviance = fit.deviance + _residual_df(cp, fit.reml) * np.log(s**2)
    if fit.reml:  # the REML criterion's log|X'V^-1 X| carries the units of X: X' = X F
        deviance -= 2.0 * st.fixed_map_log_det
    lam = fit.structure.factor(fit.theta)
    # T = R T' R', so the criterion's gradient in T is R^-T D' R^-1.
    R_inv = np.linalg.inv(R)
    matrix_gradient = R_inv.T @ fit.matrix_gradient @ R_inv
    # Centred, R Lambda is no longer triangular: take the triangular factor of the same T.
    factor = R @ lam if st.random_shift is None else _lower_factor(R @ lam)
    theta = factor[rows, cols]
    gradient = 2.0 * (matrix_gradient @ factor)[rows, cols]
    G, sigma2 = s**2 * R @ fit.G @ R.T, float(s**2 * fit.sigma2)
    return replace(
        fit,
        theta=theta,
        G=G,
        sigma2=sigma2,
        beta=s * F @ fit.beta + st.outcome_shift,
        cov_beta=s**2 * F @ fit.cov_beta @ F.T,
        deviance=float(deviance),
        covparm_estimates=np.append(fit.structure.pack(G), sigma2),
        gradient=gradient,
        matrix_gradient=matrix_gradient,
        blocks=None,
        standardised=fit,
    )


def _search(
    cp: CrossProducts,
    structure: CovarianceStructure,
    reml: bool,
    start: np.ndarray,
    checks: Callable[..., _OptimumCheck],
) -> tuple[optimize.OptimizeResult, int]:
    """L-BFGS-B from ``start``, then what the checks ask for, until they pass.

    Newton steps first where the gradient check fails (a curved valley), then a step
    off a boundary saddle, then restarts from the optimum (L-BFGS-B forgets its
    curvature) and from lme4's start.
    """
    res, evaluations = _minimise(cp, structure, reml, start)
    fallbacks: list[np.ndarray | None] = [None, structure.start()]
    polished = False
    for _ in range(8):
        check = checks(res.x)
        if check.gradient_ok and check.escape is None:
            break
        if check.escape is not None:
            start = check.escape  # leave a boundary saddle along its descent direction
        elif not polished:
            polished = True
            theta, dev, more = _newton_polish(res.x, cp, structure, reml)
            evaluations += more
            if dev <= res.fun:
                res = optimize.OptimizeResult(x=theta, fun=dev)
            continue
        elif fallbacks:
            fallback = fallbacks.pop(0)
            start = res.x if fallback is None else fallback
        else:
            break
        other, more = _minimise(cp, structure, reml, start)
        evaluations += more
        if other.fun <= res.fun:
            res = other
    return res, evaluations


def _optimise(
    cp: CrossProducts,
    structure: CovarianceStructure,
    reml: bool,
    start: np.ndarray,
    checks: Callable[..., _OptimumCheck],
) -> tuple[optimize.OptimizeResult, int]:
    """Newton's method from ``start``; where its point fails the checks, the full search.

    Newton with the exact Hessian reaches a regular optimum in a few iterations. A
    point that it cannot verify (a boundary saddle, a singular Hessian, a failed line
    search) goes on to :func:`_search` from there, and the better of the two is kept.
    """
    newton, evaluations = _newton_minimise(cp, structure, reml, start)
    check = checks(newton.x, newton.derivatives) if np.isfinite(newton.fun) else None
    if check is not None and check.gradient_ok and check.escape is None:
        return newton, evaluations
    origin = newton.x if np.isfinite(newton.fun) else start
    res, more = _search(cp, structure, reml, origin, checks)
    best = res if res.fun <= newton.fun else newton
    return best, evaluations + more


#: Under VC, random-effect columns whose uncentred cosine exceeds this (a slope on a
#: predictor far from zero, next to the intercept) make the likelihood multimodal.
_COLLINEAR_RANDOM_COLUMNS = 0.5


def _may_have_other_optima(
    theta: np.ndarray, cp: CrossProducts, structure: CovarianceStructure
) -> bool:
    """Whether the optimum found is where these likelihoods have other local optima.

    That is an optimum with a variance at or near zero, or one far larger than sigma2
    (in the standardised units: a relative factor below 0.01 or above 10), and any fit
    of uncorrelated random effects (VC) whose columns are far from orthogonal: there
    an intercept variance can trade against a slope variance, and random small data
    sets show separate optima both ways.

    Examples
    --------
    >>> groups = np.repeat(np.arange(10), 5)
    >>> x = np.arange(50.0) % 5
    >>> cp = CrossProducts.from_arrays(x, np.ones((50, 1)), np.c_[np.ones(50), 100 + x], groups)
    >>> _may_have_other_optima(np.array([1.0, 1.0]), cp, CovarianceStructure("vc", 2))
    True
    >>> _may_have_other_optima(np.array([1.0, 1.0, 1.0]), cp, CovarianceStructure("un", 2))
    False
    """
    factor_diagonal = np.abs(theta[structure.on_diagonal])
    if np.any(factor_diagonal <= 1e-2) or np.any(factor_diagonal >= 10.0):
        return True
    if structure.kind != "vc" or structure.q < 2:
        return False
    S = cp.over_schools(cp.ZtZ).sum(axis=0)
    scale = np.sqrt(np.diag(S))
    cosines = S / np.outer(scale, scale)
    off_diagonal = ~np.eye(structure.q, dtype=bool)
    return bool(np.any(np.abs(cosines[off_diagonal]) > _COLLINEAR_RANDOM_COLUMNS))


def _reproduces_every_observation(cp: CrossProducts) -> Exception:
    """The refusal of a model whose fixed and random effects can reproduce the data."""
    from .validation import ModelInputError

    return ModelInputError(
        f"The model reproduces every observation: with {cp.n_fixed} fixed effects and "
        f"{cp.n_random} random effect(s) in each of {cp.n_groups} schools for "
        f"{cp.n_obs} students, the residual variance goes to zero, so it and the "
        "variances of the random effects cannot be estimated. Use fewer predictors or "
        "random slopes, or more data."
    )


def _exact_fit_possible(cp: CrossProducts) -> bool:
    """Whether X and a separate Z-regression in every school leave no residual at all.

    Only possible with no more students than ``p + J q`` coefficients; then the residual
    of y on [X, Z_1, ..., Z_J] (from the blocks, a small system) decides. Unweighted
    blocks only (with weights, the per-school and total blocks carry different weights).

    Examples
    --------
    >>> groups = np.array([0, 0, 0, 1, 1])
    >>> X = np.c_[np.ones(5), [0.0, 1, 3, 0.5, 2], [1.0, 0, 2, 1, 4]]
    >>> y = np.array([1.0, 2, 4, 3, 0])
    >>> cp = CrossProducts.from_arrays(y, X, np.c_[np.ones(5), X[:, 1]], groups)
    >>> _exact_fit_possible(cp)
    True
    """
    p, q, J = cp.n_fixed, cp.n_random, cp.n_groups
    if cp.is_weighted or cp.n_obs > p + J * q:
        return False
    size = p + J * q
    gram, moments = np.zeros((size, size)), np.zeros(size)
    gram[:p, :p], moments[:p] = cp.XtX, cp.Xty
    for j in range(J):
        block = slice(p + j * q, p + (j + 1) * q)
        gram[block, block], moments[block] = cp.ZtZ[j], cp.Zty[j]
        gram[block, :p] = cp.ZtX[j]
        gram[:p, block] = cp.ZtX[j].T
    residual = cp.yty - moments @ np.linalg.lstsq(gram, moments, rcond=None)[0]
    ols = cp.yty - cp.Xty @ np.linalg.lstsq(cp.XtX, cp.Xty, rcond=None)[0]
    return bool(residual <= 1e-10 * max(ols, 0.0))


def _fit(
    cp: CrossProducts,
    structure: CovarianceStructure,
    reml: bool,
    boundary_tol: float,
    start: np.ndarray | None,
) -> EngineFit:
    if reml and cp.is_weighted:
        raise ValueError("REML is not defined with survey weights; fit by ML.")
    if _exact_fit_possible(cp):
        raise _reproduces_every_observation(cp)
    if start is None:
        start = _moment_start(cp, structure)
    else:
        # A warm start on the boundary would stay stuck at a zero gradient: lift it off.
        start = np.where(structure.on_diagonal, np.maximum(start, 1e-2), start)
    checked: dict[bytes, _OptimumCheck] = {}

    def checks(theta: np.ndarray, derivatives: CriterionDerivatives | None = None) -> _OptimumCheck:
        if theta.tobytes() not in checked:
            checked[theta.tobytes()] = _optimum_checks(theta, cp, structure, reml, derivatives)
        return checked[theta.tobytes()]

    res, evaluations = _optimise(cp, structure, reml, start, checks)
    if _may_have_other_optima(res.x, cp, structure):
        # Search from lme4's start, from a small and a large one (nearly collinear VC
        # columns can hold an optimum where large variances almost cancel), and from
        # each random effect's variance alone, and keep the best.
        identity = structure.start()
        alone = [
            np.where(np.arange(identity.size) == k, 1.0, 0.01 * identity)
            for k in np.flatnonzero(structure.on_diagonal)
        ]
        for other_start in (identity, 0.1 * identity, 10.0 * identity, *alone):
            other, more = _optimise(cp, structure, reml, other_start, checks)
            evaluations += more
            if other.fun < res.fun - 1e-9 * cp.weight_scale:
                res = other
    theta = res.x.copy()
    # Snap tiny diagonal elements onto the boundary, if that does not worsen the fit.
    tiny = structure.on_diagonal & (theta < boundary_tol * 1e-2)
    if tiny.any():
        snapped = np.where(tiny, 0.0, theta)
        if _deviance(snapped, cp, structure, reml) <= res.fun + 1e-9 * cp.weight_scale:
            theta = snapped
    check = checks(theta)
    dev, grad, gradient_ok, boundary_ok = (
        check.deviance,
        check.gradient,
        check.gradient_ok,
        (check.escape is None),
    )
    converged = bool(np.isfinite(dev) and gradient_ok and boundary_ok)
    if converged and check.flat_directions:
        message = (
            "The optimum passed the gradient and boundary checks, but the criterion is flat "
            f"there in {check.flat_directions} direction(s): other covariance estimates fit "
            "the data exactly as well."
        )
    elif converged:
        message = "The optimum passed the gradient and boundary checks."
    elif not gradient_ok:
        message = (
            f"The optimiser stopped where the gradient is not zero (largest |gradient| "
            f"{np.max(np.abs(check.projected)):.2g}); these estimates are not a verified optimum."
        )
    else:
        message = "Moving off the boundary improves the fit: this is not a verified optimum."

    lam = structure.factor(theta)
    T = lam @ lam.T
    # Newton's last point comes with its solution; any other point is solved here.
    sol = res.get("solution") if np.array_equal(theta, res.x) else None
    if sol is None:
        sol = _solve(cp, T)
    if sol is None:
        from .validation import ModelInputError

        raise ModelInputError(
            "The model could not be fitted: at every covariance tried, the data leave no "
            "residual variation or a singular fixed-effect system. Check for predictors that "
            "reproduce the outcome, and for schools too small for the random effects asked for."
        )
    sigma2 = sol.r2 / _residual_df(cp, reml)
    # OLS leaves at most y'y; only a residual far below that needs OLS's own for comparison.
    ols = _solve(cp, np.zeros_like(T)) if sol.r2 < 1e-10 * cp.yty else None
    if ols is not None and sol.r2 < 1e-10 * ols.r2:
        raise _reproduces_every_observation(cp)
    # A variance whose factor element is (nearly) zero is on the boundary, and so are
    # its covariances, which are then determined by the other random effects.
    diag_small = np.diag(lam) < boundary_tol
    on_boundary = np.append(diag_small[structure.rows] | diag_small[structure.cols], False)
    return _build_fit(
        cp,
        structure,
        reml,
        theta,
        sigma2 * T,
        sigma2,
        sol,
        dev,
        on_boundary,
        grad,
        check.matrix_gradient,
        converged,
        message,
        evaluations,
        check.flat_directions if converged else 0,
    )


def _build_fit(
    cp: CrossProducts,
    structure: CovarianceStructure,
    reml: bool,
    theta: np.ndarray,
    G: np.ndarray,
    sigma2: float,
    sol: _Solution,
    deviance: float,
    on_boundary: np.ndarray,
    gradient: np.ndarray,
    matrix_gradient: np.ndarray,
    converged: bool,
    message: str,
    evaluations: int,
    flat_directions: int = 0,
) -> EngineFit:
    index: list[tuple[int, int] | None] = [
        (int(r), int(c)) for r, c in zip(structure.rows, structure.cols, strict=True)
    ]
    index.append(None)
    cov_beta = sigma2 * _chol_solve(sol.A_chol, np.eye(cp.n_fixed))
    if cp.is_weighted:
        fixed_scores = school_scores(cp, structure, G, sigma2, sol.beta)[0]
        cov_beta = sandwich(cov_beta, fixed_scores)
    return EngineFit(
        theta=theta,
        G=G,
        sigma2=sigma2,
        beta=sol.beta,
        cov_beta=cov_beta,
        deviance=deviance,
        covparm_index=index,
        covparm_estimates=np.append(structure.pack(G), sigma2),
        on_boundary=on_boundary,
        gradient=gradient,
        matrix_gradient=matrix_gradient,
        converged=converged,
        message=message,
        n_evaluations=evaluations,
        reml=reml,
        structure=structure,
        blocks=cp,
        flat_directions=flat_directions,
    )


def evaluate_at(
    cp: CrossProducts,
    structure: CovarianceStructure,
    G: np.ndarray,
    sigma2: float,
    reml: bool = True,
) -> EngineFit:
    """Everything a fit reports, at given covariance parameters instead of the optimum.

    Useful to reproduce another program's output from its printed variance
    components (the GLS fixed effects, their SEs and the covariance-parameter SEs
    at that point), and to show learners what changes when tau or sigma2 change.
    The result is marked as not converged, because it is not an optimum.

    Parameters
    ----------
    cp : CrossProducts
        The data's cross-product blocks.
    structure : CovarianceStructure
        The random-effect covariance structure; ``G`` must respect it.
    G : ndarray
        Random-effect covariance matrix (q, q), positive semi-definite.
    sigma2 : float
        Level-1 residual variance (positive).
    reml : bool
        Whether ``deviance`` is the REML or the ML criterion.

    Returns
    -------
    EngineFit

    Examples
    --------
    >>> groups = np.repeat(np.arange(10), 5)
    >>> y = np.arange(50.0) % 7
    >>> cp = CrossProducts.from_arrays(y, np.ones((50, 1)), np.ones((50, 1)), groups)
    >>> fit = evaluate_at(cp, CovarianceStructure("un", 1), np.array([[0.0]]), 4.0)
    >>> round(float(fit.beta[0]), 4), fit.converged
    (2.94, False)
    """
    G = np.asarray(G, dtype=float)
    if sigma2 <= 0 or G.shape != (structure.q, structure.q):
        raise ValueError(f"Need sigma2 > 0 and a {structure.q} x {structure.q} matrix G.")
    if structure.kind == "vc" and np.any(np.diag(np.diag(G)) != G):
        raise ValueError("A 'vc' structure has no covariances: G must be diagonal.")
    sol = _solve(cp, G / sigma2)
    if sol is None:
        raise ValueError("These covariance parameters give no positive-definite covariance.")
    eigen = np.linalg.eigvalsh(G)
    if eigen.min() < -1e-12 * max(eigen.max(), 1.0):
        raise ValueError("G is not positive semi-definite.")
    T = G / sigma2
    try:
        lam = np.linalg.cholesky(T)
    except np.linalg.LinAlgError:  # a singular G: the factor of a slightly lifted T
        lam = np.linalg.cholesky(T + 1e-12 * max(np.trace(T), 1.0) * np.eye(structure.q))
    on_boundary = np.r_[
        (np.diag(G) <= 0)[structure.rows] | (np.diag(G) <= 0)[structure.cols], False
    ]
    return _build_fit(
        cp,
        structure,
        reml,
        structure.pack(lam),
        G,
        float(sigma2),
        sol,
        _full_deviance(cp, sol, sigma2, reml),
        on_boundary,
        np.full(structure.n_theta, np.nan),
        np.full((structure.q, structure.q), np.nan),
        False,
        "Evaluated at given covariance parameters; not an optimum.",
        1,
    )


def _moment_start(cp: CrossProducts, structure: CovarianceStructure) -> np.ndarray:
    """A method-of-moments start from per-school OLS (Swamy 1970).

    The spread of the schools' own coefficients overstates ``T`` by their sampling
    variance, ``sigma2 (Z_j'Z_j)^-1`` on average, which is subtracted; ``sigma2`` is the
    residual variance within schools. Eigenvalues are floored at 0.01, so that the
    start is off the boundary. Schools with no more students than random effects
    have no OLS coefficients and are left out; with too few others, lme4's start.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> groups = np.repeat(np.arange(200), 20)
    >>> y = rng.normal(scale=0.7, size=200)[groups] + rng.normal(size=4000)
    >>> cp = CrossProducts.from_arrays(y, np.ones((4000, 1)), np.ones((4000, 1)), groups)
    >>> _moment_start(cp, CovarianceStructure("un", 1)).round(2).tolist()  # the truth: 0.7
    [0.64]
    """
    q = cp.n_random
    informative = cp.group_sizes > q
    if informative.sum() <= q:
        return structure.start()
    XtX_chol = _cholesky(cp.XtX)
    if XtX_chol is None:
        beta = np.linalg.lstsq(cp.XtX, cp.Xty, rcond=None)[0]
    else:
        beta = _chol_solve(XtX_chol, cp.Xty)
    blocks = cp.schools_last
    z = blocks.Zty - _stack_vector(blocks.ZtX, beta[:, None]) if cp.n_fixed else blocks.Zty
    z, S = z[:, informative], blocks.ZtZ[:, :, informative]
    n_informative = z.shape[1]
    # A ridge of 1e-6 of each school's trace keeps a school with a constant slope finite.
    ridge = 1e-6 * np.maximum(np.einsum("aaj->j", S), 1.0)
    S = S.copy()
    for a in range(q):
        S[a, a] += ridge
    inverse = _small_inverse(S)
    if inverse is None:
        return structure.start()
    S_inv = inverse[0]
    b = _stack_vector(S_inv, z)  # (q, J): each school's own OLS coefficients
    rss = cp.yty - 2.0 * float(beta @ cp.Xty) + float(beta @ cp.XtX @ beta)
    within_df = cp.n_obs - q * n_informative - cp.n_fixed
    within = rss - float(np.vdot(b, z))
    sigma2 = within / within_df if within_df > 0 and within > 0 else rss / cp.n_obs
    if not sigma2 > 0:
        return structure.start()
    deviations = b - b.mean(axis=1, keepdims=True)
    spread = (deviations @ deviations.T) / ((n_informative - 1) * sigma2) - S_inv.mean(axis=-1)
    if structure.kind == "vc":
        spread = np.diag(np.diag(spread))
    if not np.all(np.isfinite(spread)):
        return structure.start()
    values, vectors = _symmetric_eigen(spread)
    lam = _cholesky((vectors * np.maximum(values, 1e-2)) @ vectors.T)
    if lam is None:
        return structure.start()
    return np.where(
        structure.on_diagonal,
        np.abs(lam[structure.rows, structure.cols]),
        lam[structure.rows, structure.cols],
    )
