"""The estimation core against first principles: dense-matrix likelihoods and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from hlmteach.engine import (
    CovarianceStructure,
    CrossProducts,
    _full_deviance,
    _solve,
    deviance_and_gradient,
    fit_mixed_model,
    full_deviance_gradient,
)


def _simulated(seed: int = 1, J: int = 25):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(3, 15, J)
    groups = np.repeat(np.arange(J), sizes)
    n = groups.size
    x = rng.normal(size=n)
    w = rng.normal(size=J)[groups]
    u = rng.multivariate_normal([0, 0], [[0.6, 0.1], [0.1, 0.2]], size=J)
    y = 1 + 0.5 * x + 0.3 * w + u[groups, 0] + u[groups, 1] * x + rng.normal(size=n)
    X = np.c_[np.ones(n), x, w]
    Z = np.c_[np.ones(n), x]
    return y, X, Z, groups


def _dense_deviance(y, X, Z, groups, G, sigma2, reml):
    """-2 log L built from the full N x N covariance matrix: no blocks, no Woodbury."""
    n, p = X.shape
    V = sigma2 * np.eye(n)
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        V[np.ix_(idx, idx)] += Z[idx] @ G @ Z[idx].T
    Vinv = np.linalg.inv(V)
    XtVX = X.T @ Vinv @ X
    beta = np.linalg.solve(XtVX, X.T @ Vinv @ y)
    r = y - X @ beta
    dev = np.linalg.slogdet(V)[1] + r @ Vinv @ r
    if reml:
        return dev + np.linalg.slogdet(XtVX)[1] + (n - p) * np.log(2 * np.pi), beta
    return dev + n * np.log(2 * np.pi), beta


@pytest.mark.parametrize("reml", [True, False])
def test_block_deviance_equals_dense_deviance(reml):
    y, X, Z, groups = _simulated()
    cp = CrossProducts.from_arrays(y, X, Z, groups)
    G = np.array([[0.5, 0.05], [0.05, 0.15]])
    sigma2 = 0.9
    sol = _solve(cp, G / sigma2)
    dense, beta = _dense_deviance(y, X, Z, groups, G, sigma2, reml)
    assert _full_deviance(cp, sol, sigma2, reml) == pytest.approx(dense, abs=1e-8)
    np.testing.assert_allclose(sol.beta, beta, rtol=1e-10)


@pytest.mark.parametrize("kind", ["un", "vc"])
@pytest.mark.parametrize("reml", [True, False])
def test_profiled_gradient_matches_finite_differences(kind, reml):
    y, X, Z, groups = _simulated(2)
    cp = CrossProducts.from_arrays(y, X, Z, groups)
    structure = CovarianceStructure(kind, 2)
    theta = structure.start() * 0.7 + (0.2 if kind == "un" else 0.0) * ~structure.on_diagonal
    _, grad = deviance_and_gradient(theta, cp, structure, reml)
    h = 1e-6
    numeric = [
        (
            deviance_and_gradient(theta + h * e, cp, structure, reml)[0]
            - deviance_and_gradient(theta - h * e, cp, structure, reml)[0]
        )
        / (2 * h)
        for e in np.eye(theta.size)
    ]
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("reml", [True, False])
def test_full_gradient_matches_finite_differences(reml):
    y, X, Z, groups = _simulated(3)
    cp = CrossProducts.from_arrays(y, X, Z, groups)
    structure = CovarianceStructure("un", 2)
    params = np.array([0.5, 0.05, 0.15, 0.9])

    def dev(p):
        sol = _solve(cp, structure.unpack(p[:-1]) / p[-1])
        return _full_deviance(cp, sol, p[-1], reml)

    h = 1e-6
    numeric = [(dev(params + h * e) - dev(params - h * e)) / (2 * h) for e in np.eye(4)]
    np.testing.assert_allclose(
        full_deviance_gradient(params, cp, structure, reml), numeric, rtol=1e-5, atol=1e-5
    )


def test_fit_reaches_the_dense_optimum_and_reports_convergence():
    y, X, Z, groups = _simulated(4, J=40)
    cp = CrossProducts.from_arrays(y, X, Z, groups)
    fit = fit_mixed_model(cp, CovarianceStructure("un", 2))
    assert fit.converged
    assert fit.deviance == pytest.approx(
        _dense_deviance(y, X, Z, groups, fit.G, fit.sigma2, True)[0], abs=1e-8
    )
    # Any small move of the covariance parameters makes the criterion worse.
    rng = np.random.default_rng(0)
    for _ in range(20):
        step = rng.normal(scale=1e-3, size=fit.theta.size)
        moved = fit.theta + step
        moved[fit.structure.on_diagonal] = np.abs(moved[fit.structure.on_diagonal])
        assert deviance_and_gradient(moved, cp, fit.structure)[0] >= fit.deviance - 1e-9


def _no_slope_variance(seed: int) -> CrossProducts:
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(50), 20)
    x = rng.normal(size=groups.size)
    y = rng.normal(size=50)[groups] + 0.3 * x + rng.normal(size=groups.size)
    X = np.c_[np.ones(groups.size), x]
    return CrossProducts.from_arrays(y, X, X, groups)


def test_zero_variance_is_put_on_the_boundary_and_flagged():
    fit = fit_mixed_model(_no_slope_variance(9), CovarianceStructure("vc", 2))
    assert fit.converged
    assert fit.G[1, 1] == 0.0
    assert fit.on_boundary.tolist() == [False, True, False]
    assert np.isnan(fit.covparm_cov[1, 1]) and np.isfinite(fit.covparm_cov[0, 0])


def test_a_saddle_on_the_boundary_is_left_for_the_true_optimum():
    # With this seed the optimiser first lands on slope variance 0, where the gradient
    # vanishes by symmetry but the criterion still falls off the boundary.
    cp = _no_slope_variance(6)
    structure = CovarianceStructure("vc", 2)
    fit = fit_mixed_model(cp, structure)
    assert fit.converged
    assert fit.theta[1] > 0.05
    on_boundary = deviance_and_gradient(np.array([fit.theta[0], 0.0]), cp, structure)[0]
    assert fit.deviance < on_boundary - 1e-3


def test_unknown_structure_is_rejected():
    with pytest.raises(ValueError, match="Unknown covariance structure 'toeplitz'"):
        CovarianceStructure("toeplitz", 2)


def test_cross_products_do_not_need_sorted_rows():
    y, X, Z, groups = _simulated(6)
    order = np.random.default_rng(1).permutation(groups.size)
    a = CrossProducts.from_arrays(y, X, Z, groups)
    b = CrossProducts.from_arrays(y[order], X[order], Z[order], groups[order])
    np.testing.assert_allclose(a.ZtZ, b.ZtZ)
    np.testing.assert_allclose(a.ZtX, b.ZtX)
    assert a.yty == pytest.approx(b.yty)


@pytest.mark.parametrize("country", ["Korea", "USA"])
def test_unstructured_is_never_worse_than_diagonal(country):
    """VC is nested in UN, so the UN optimum can only be lower. A zero diagonal element of
    Lambda with non-zero entries below it once trapped the optimiser on a false boundary
    optimum (Korea, random college and boy): the escape probe now flips the column."""
    import hlmteach as hlm

    data = hlm.load_timss(country)
    for random in (["college"], ["college", "boy"]):
        vc = hlm.fit_hlm(
            data, "math ~ college + boy", group="school", random=random, covariance="vc"
        )
        un = hlm.fit_hlm(
            data, "math ~ college + boy", group="school", random=random, covariance="un"
        )
        assert vc.converged and un.converged
        assert un.deviance <= vc.deviance + 1e-7


def test_random_starts_find_no_better_optimum():
    y, X, Z, groups = _simulated(7, J=60)
    Z3 = np.c_[Z, np.random.default_rng(3).normal(size=groups.size)]
    cp = CrossProducts.from_arrays(y, X, Z3, groups)
    structure = CovarianceStructure("un", 3)
    fit = fit_mixed_model(cp, structure)
    assert fit.converged
    rng = np.random.default_rng(11)
    from scipy import optimize

    bounds = [(0.0, None) if d else (None, None) for d in structure.on_diagonal]
    for _ in range(8):
        start = rng.normal(scale=0.7, size=structure.n_theta)
        start[structure.on_diagonal] = np.abs(start[structure.on_diagonal])
        res = optimize.minimize(
            deviance_and_gradient,
            start,
            args=(cp, structure, True),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
        )
        assert res.fun >= fit.deviance - 1e-6
