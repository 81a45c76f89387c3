"""The exact Hessian of the profiled criterion, which Newton's method and the verdict use.

Checked against central differences of the exact gradient (itself checked against the
dense N x N likelihood in test_engine.py) on random models: q = 1..3, UN and VC, REML
and ML, with and without survey weights, tiny and unbalanced schools.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from hlmteach.engine import (
    CovarianceStructure,
    CrossProducts,
    _on_original_scale,
    central_differences,
    criterion_derivatives,
    deviance_and_gradient,
    fit_mixed_model,
)

# Central differences of the gradient with step h = 1e-6 carry a truncation error of
# order h^2 times the third derivative and a rounding error of order 1e-16 |g| / h; on
# these models both stay below 1e-8 of the Hessian's largest entry (measured: 4e-9).
HESSIAN_RTOL = 1e-6


def _random_model(seed: int):
    rng = np.random.default_rng(seed)
    q, p = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    kind = str(rng.choice(["un", "vc"]))
    reml = bool(rng.integers(2))
    J = int(rng.integers(3, 15))
    sizes = rng.integers(1, 9, J)
    groups = np.repeat(np.arange(J), sizes)
    n = groups.size
    X = np.c_[np.ones(n), rng.normal(size=(n, p - 1))]
    Z = np.c_[np.ones(n), rng.normal(size=(n, q - 1))]
    y = rng.normal(size=n) + rng.normal(size=J)[groups]
    weights = ()
    if not reml and rng.random() < 0.3:
        weights = (rng.uniform(0.5, 2.0, n), rng.uniform(0.5, 3.0, J))
    cp = CrossProducts.from_arrays(y, X, Z, groups, *weights)
    structure = CovarianceStructure(kind, q)
    theta = 0.7 * rng.normal(size=structure.n_theta)
    theta[structure.on_diagonal] = np.abs(theta[structure.on_diagonal]) + 0.1
    return cp, structure, reml, theta


@pytest.mark.parametrize("seed", range(60))
def test_hessian_equals_differences_of_the_exact_gradient(seed):
    cp, structure, reml, theta = _random_model(seed)
    dev, grad, hess, _ = criterion_derivatives(theta, cp, structure, reml)
    plain_dev, plain_grad = deviance_and_gradient(theta, cp, structure, reml)
    assert dev == pytest.approx(plain_dev, rel=1e-12)
    np.testing.assert_allclose(grad, plain_grad, rtol=1e-9, atol=1e-9 * np.abs(plain_grad).max())
    k = structure.n_theta
    numeric = central_differences(
        lambda t: deviance_and_gradient(t, cp, structure, reml)[1],
        theta,
        np.arange(k),
        np.full(k, 1e-6),
    ).reshape(k, k)
    scale = max(1.0, np.abs(numeric).max())
    assert np.abs(hess - numeric).max() <= HESSIAN_RTOL * scale
    assert np.array_equal(hess, hess.T)


def test_hessian_is_nan_where_the_covariance_is_not_positive_definite():
    y = np.zeros(4)  # no residual variation: r2 = 0, the criterion is undefined
    flat = CrossProducts.from_arrays(y, np.ones((4, 1)), np.ones((4, 1)), np.array([0, 0, 1, 1]))
    dev, grad, hess, _ = criterion_derivatives(np.array([1.0]), flat, CovarianceStructure("un", 1))
    assert dev == np.inf and not grad.any() and np.isnan(hess).all()


def test_gradient_maps_exactly_to_the_data_as_given():
    """The gradient in T of a standardised, centred fit, mapped back, is the direct gradient.

    Checked away from the optimum (where both would be near zero), on a slope around
    1000 +- 50 whose centring makes the standardised factor non-triangular.
    """
    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(30), 12)
    x = 1000.0 + 50.0 * rng.normal(size=groups.size)
    y = 3.0 + 0.01 * x + rng.normal(size=30)[groups] + rng.normal(size=groups.size)
    X = Z = np.c_[np.ones(groups.size), x]
    cp = CrossProducts.from_arrays(y, X, Z, groups, standardise=True, centre_random=True)
    structure = CovarianceStructure("un", 2)
    fit = fit_mixed_model(cp, structure)
    standardised = fit.standardised
    theta = standardised.theta + np.array([0.2, -0.1, 0.3])  # not the optimum
    moved = replace(
        standardised,
        theta=theta,
        matrix_gradient=criterion_derivatives(theta, cp, structure).matrix,
    )
    mapped = _on_original_scale(moved)
    direct = deviance_and_gradient(mapped.theta, mapped.cross_products, structure)[1]
    assert np.abs(direct).max() > 1.0  # far enough from the optimum to mean something
    np.testing.assert_allclose(mapped.gradient, direct, rtol=1e-6)
