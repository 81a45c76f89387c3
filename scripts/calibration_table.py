"""Print the calibration table of the synthetic TIMSS data as markdown (for data/README.md).

Usage: ``python scripts/calibration_table.py``. For every number the seed tutorial
publishes (DESIGN.md §5) it prints the published value and SE, the value the
shipped synthetic data give with hlmteach's engine and with statsmodels, and
whether it lies within one published SE (or within the printed rounding). The
calibration is unweighted, as the source analysis was.

``python scripts/calibration_table.py --weights`` prints instead the table of
weighted against unweighted estimates of simple models (weighted means, no model
fitting) that shows how informative the synthetic sampling weights are.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd

import hlmteach as hlm

# (country, model, row): (published estimate, published SE or None)
PUBLISHED = {
    ("Korea", "OLS", "Intercept"): ("0.55", "0.03"),
    ("Korea", "OLS", "college"): ("0.53", "0.04"),
    ("Korea", "OLS", "boy"): ("0.13", "0.04"),
    ("Korea", "OLS", "N"): ("2900", None),
    ("Korea", "OLS", "R2"): ("0.05", None),
    ("USA", "OLS", "Intercept"): ("-0.435", "0.02"),
    ("USA", "OLS", "college"): ("0.357", "0.02"),
    ("USA", "OLS", "boy"): ("0.033", "0.02"),
    ("USA", "OLS", "N"): ("6943", None),
    ("USA", "OLS", "R2"): ("0.039", None),
    ("Korea", "intercept-only", "Intercept"): ("0.7409", "0.02692"),
    ("Korea", "intercept-only", "tau00"): ("0.06161", "0.01268"),
    ("Korea", "intercept-only", "sigma2"): ("0.9077", "0.02448"),
    ("Korea", "intercept-only", "-2 Res Log L"): ("8081.8", None),
    ("Korea", "intercept-only", "N / schools"): ("2901 / 150", None),
    ("USA", "intercept-only", "Intercept"): ("-0.3061", "0.04"),
    ("USA", "intercept-only", "tau00"): ("0.2141", "0.02"),
    ("USA", "intercept-only", "sigma2"): ("0.4769", "0.01"),
    ("USA", "intercept-only", "-2 Res Log L"): ("15088.5", None),
    ("USA", "intercept-only", "N / schools"): ("6944 / 183", None),
    ("Korea", "random college slope", "Intercept"): ("0.56", "0.03"),
    ("Korea", "random college slope", "college"): ("0.49", "0.05"),
    ("Korea", "random college slope", "boy"): ("0.14", "0.04"),
    ("Korea", "random college slope", "tau00"): ("0.02", "0.01"),
    ("Korea", "random college slope", "tau college"): ("0.01", "0.01"),
    ("Korea", "random college slope", "sigma2"): ("0.88", "0.02"),
    ("USA", "random college slope", "Intercept"): ("-0.38", "0.04"),
    ("USA", "random college slope", "college"): ("0.16", "0.02"),
    ("USA", "random college slope", "boy"): ("0.05", "0.02"),
    ("USA", "random college slope", "tau00"): ("0.20", "0.02"),
    ("USA", "random college slope", "tau college"): ("0.02", "0.01"),
    ("USA", "random college slope", "sigma2"): ("0.47", "0.01"),
}


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def _ok(value: float, estimate: str, se: str | None) -> bool:
    if se is not None:
        return abs(value - float(estimate)) <= float(se)
    if estimate.startswith("-2") or float(estimate) > 1000:  # a deviance: within 1%
        return abs(value / float(estimate) - 1) <= 0.01
    return abs(value - float(estimate)) <= 0.5 * 10 ** -_decimals(estimate) + 1e-12


def main() -> None:
    """Fit the seed's models both ways and print the markdown table."""
    timss = hlm.load_timss()
    ours = {
        "OLS": hlm.fit_ols(timss, "math ~ college + boy", by="country"),
        "intercept-only": hlm.fit_hlm(timss, "math ~ 1", group="school", by="country"),
        "random college slope": hlm.fit_hlm(
            timss,
            "math ~ college + boy",
            group="school",
            random=["college"],
            covariance="vc",
            by="country",
        ),
    }
    specs = {
        "intercept-only": ("math ~ 1", []),
        "random college slope": ("math ~ college + boy", ["college"]),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm = {
            (model, country): hlm.fit_hlm(
                timss[timss["country"] == country],
                formula,
                group="school",
                random=random,
                covariance="vc",
                engine="statsmodels",
            )
            for model, (formula, random) in specs.items()
            for country in ("Korea", "USA")
        }

    def value(country: str, model: str, row: str, engine: str) -> float | str:
        if model == "OLS":
            fit = ours[model][country]
            return {"N": fit.n_obs, "R2": fit.r2}.get(row, fit.fixed["estimate"].get(row))
        if engine == "statsmodels":
            res = sm[model, country]
            return {
                "tau00": lambda: float(res.cov_re.iloc[0, 0]),
                "tau college": lambda: float(res.vcomp[0]),
                "sigma2": lambda: float(res.scale),
                "-2 Res Log L": lambda: -2 * float(res.llf),
                "N / schools": lambda: "",
            }.get(row, lambda: float(res.fe_params[row]))()
        fit = ours[model][country]
        cov = fit.covariance["estimate"]
        return {
            "tau00": lambda: cov["Var(Intercept)"],
            "tau college": lambda: cov["Var(college)"],
            "sigma2": lambda: cov["Residual"],
            "-2 Res Log L": lambda: fit.deviance,
            "N / schools": lambda: f"{fit.n_obs} / {fit.n_groups}",
        }.get(row, lambda: fit.fixed.loc[row, "estimate"])()

    print("| country | model | quantity | published (SE) | hlmteach | statsmodels | within |")
    print("|---|---|---|---|---|---|---|")
    for (country, model, row), (estimate, se) in PUBLISHED.items():
        mine = value(country, model, row, "hlmteach")
        theirs = value(country, model, row, "statsmodels") if model != "OLS" else mine
        if isinstance(mine, str):
            within = "exact" if mine == estimate else "NO"
            shown = (mine, "")
        else:
            within = "yes" if _ok(float(mine), estimate, se) else "NO"
            digits = 1 if abs(float(mine)) > 1000 else 4
            shown = tuple(
                f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in (mine, theirs)
            )
            if row == "N":
                within = "exact" if int(mine) == int(estimate) else "NO"
        published = f"{estimate} ({se})" if se else estimate
        print(f"| {country} | {model} | {row} | {published} | {shown[0]} | {shown[1]} | {within} |")


def _mean(values: pd.Series, weights: pd.Series | None = None) -> float:
    return float(np.average(values, weights=weights))


def _gap(frame: pd.DataFrame, weights: pd.Series | None) -> float:
    """Mean of the students with a college-educated parent minus that of the others."""
    college = frame["college"] == 1
    return _mean(
        frame.loc[college, "bsmpv01"], None if weights is None else weights[college]
    ) - _mean(frame.loc[~college, "bsmpv01"], None if weights is None else weights[~college])


def weights_table() -> None:
    """Print weighted against unweighted estimates of simple models, by weighted means."""
    timss = hlm.load_timss()
    print("| country | estimate | unweighted | weighted | weighted - unweighted | weight |")
    print("|---|---|---|---|---|---|")
    for country, frame in timss.groupby("country", observed=True):
        known = frame.dropna(subset=["college"])
        schools = frame.groupby("school").agg(
            mean=("bsmpv01", "mean"), weight=("school_weight", "first")
        )
        rows = {
            "mean score (bsmpv01, points)": (
                frame["bsmpv01"].mean(),
                _mean(frame["bsmpv01"], frame["total_weight"]),
                "totwgt",
            ),
            "mean of school means (points)": (
                schools["mean"].mean(),
                _mean(schools["mean"], schools["weight"]),
                "school weight",
            ),
            "college gap, difference of means (points)": (
                *(_gap(known, w) for w in (None, known["total_weight"])),
                "totwgt",
            ),
            "share with a college-educated parent": (
                known["college"].mean(),
                _mean(known["college"], known["total_weight"]),
                "totwgt",
            ),
        }
        for name, (unweighted, weighted, weight) in rows.items():
            digits = 3 if name.startswith("share") else 1
            print(
                f"| {country} | {name} | {unweighted:.{digits}f} | {weighted:.{digits}f} "
                f"| {weighted - unweighted:+.{digits}f} | {weight} |"
            )


if __name__ == "__main__":
    weights_table() if "--weights" in sys.argv[1:] else main()
