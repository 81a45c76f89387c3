"""Measure hlmteach against its peers, in one run on one machine, and print ratios.

Usage: ``python scripts/benchmark.py`` (or ``make bench``). It times the
High School and Beyond random-coefficient model (R&B Table 4.4) and the
intercepts-and-slopes-as-outcomes model (Table 4.5) with:

- hlmteach's own engine (the whole ``fit_hlm`` call: formula, checks and fit);
- statsmodels ``MixedLM`` (always);
- R's lme4 (``lmer``), when ``Rscript`` with lme4 is installed.

and prints each one's median time, the criterion (-2 REML log-likelihood) it
reached, and the speed ratios. The budgets (DESIGN.md §8) are at least 4x
faster than lme4 and 50x faster than statsmodels with an equal or better
criterion.

It then times the explorer widget's toggles (the table and the figure, rendered
to PNG as the notebook does), first and cached; the budget is 0.2 s. Last, it
times the parametric bootstrap of 200 refits of the Korean random-slope model
(budget 10 s), and a survey-weighted fit of PISA 2012 USA (WeMix's Table 1 model)
against the same model unweighted, each call on a fresh copy of the frame
(budget: weighted at most 2x unweighted).
Timings are printed, never asserted.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import hlmteach as hlm

ROOT = Path(__file__).resolve().parents[1]

MODELS = {
    "random coefficient (R&B 4.4)": ("mathach ~ cses", ["cses"]),
    "intercepts and slopes as outcomes (R&B 4.5)": (
        "mathach ~ meanses + sector + cses + meanses:cses + sector:cses",
        ["cses"],
    ),
}

R_SCRIPT = r"""
suppressMessages(library(lme4))
d <- read.csv(commandArgs(TRUE)[1])
d$cses <- d$ses - ave(d$ses, d$school)
forms <- list(
  mathach ~ cses + (cses | school),
  mathach ~ meanses + sector + cses + meanses:cses + sector:cses + (cses | school))
out <- lapply(forms, function(f) {
  fit <- lmer(f, d, REML = TRUE)
  times <- sapply(1:REPEATS, function(i) system.time(lmer(f, d, REML = TRUE))[["elapsed"]])
  list(seconds = median(times), criterion = REMLcrit(fit))
})
cat(sprintf('{"rc": [%.6f, %.10f], "isao": [%.6f, %.10f]}',
  out[[1]]$seconds, out[[1]]$criterion, out[[2]]$seconds, out[[2]]$criterion))
"""


def median_seconds(function: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls, after one warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def lme4_times(repeats: int) -> list[tuple[float, float]] | None:
    """(seconds, criterion) for each model from R's lme4, or None without R."""
    if shutil.which("Rscript") is None:
        return None
    check = subprocess.run(
        ["Rscript", "-e", "library(lme4)"], capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench.R"
        script.write_text(R_SCRIPT.replace("REPEATS", str(repeats)))
        done = subprocess.run(
            ["Rscript", str(script), str(ROOT / "data" / "hsb.csv")],
            capture_output=True,
            text=True,
            check=True,
        )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return [tuple(result["rc"]), tuple(result["isao"])]


def main(repeats: int = 20) -> None:
    """Run the benchmark and print a table of times, criteria and ratios."""
    from hlmteach.design import build_design
    from hlmteach.statsmodels_bridge import fit_with_statsmodels

    hsb = hlm.load_hsb()
    hsb["cses"] = hsb["ses"] - hsb.groupby("school")["ses"].transform("mean")
    r_results = lme4_times(repeats)
    print("Engine benchmark on High School and Beyond (7185 students, 160 schools), REML")
    print(f"Python {sys.version.split()[0]}; medians of {repeats} fits (statsmodels: 3)")
    if r_results is None:
        print("R with lme4 is not installed: lme4 column skipped.")
    for k, (name, (formula, random)) in enumerate(MODELS.items()):
        fit = hlm.fit_hlm(hsb, formula, group="school", random=random)
        ours = median_seconds(
            lambda f=formula, r=random: hlm.fit_hlm(hsb, f, group="school", random=r), repeats
        )
        design = build_design(hsb, formula, group="school", random=random)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sm_fit = fit_with_statsmodels(design)
            sm = median_seconds(lambda d=design: fit_with_statsmodels(d), 3)
        print(f"\n{name}: {formula} + random {random}")
        print(f"  hlmteach     {ours * 1e3:9.1f} ms   -2RLL {fit.deviance:.6f}")
        print(
            f"  statsmodels  {sm * 1e3:9.1f} ms   -2RLL {-2 * sm_fit.llf:.6f}"
            f"   converged={sm_fit.converged}   ratio {sm / ours:6.1f}x (budget >= 50x)"
        )
        if r_results is not None:
            r_seconds, r_criterion = r_results[k]
            print(
                f"  lme4         {r_seconds * 1e3:9.1f} ms   -2RLL {r_criterion:.6f}"
                f"   ratio {r_seconds / ours:6.1f}x (budget >= 4x)"
            )
            print(f"  criterion: hlmteach minus lme4 = {fit.deviance - r_criterion:+.2e}")


def explorer_latency() -> None:
    """Time each explorer toggle: the fits (first time only), tables and the figure as PNG."""
    import matplotlib

    matplotlib.use("Agg")

    from hlmteach.widgets import Explorer, ExplorerSetting

    explorer = Explorer(hlm.load_timss())
    settings = [
        ExplorerSetting("Korea", ("college",), "REML"),
        ExplorerSetting("USA", ("college",), "REML"),
        ExplorerSetting("USA", ("boy", "college"), "REML"),
        ExplorerSetting("Both", ("college",), "REML"),
        ExplorerSetting("Korea", ("college",), "ML"),
    ]

    def toggle(setting: ExplorerSetting) -> float:
        start = time.perf_counter()
        view = explorer.view(setting)
        view.to_html()
        explorer.figure_png(view, "school lines")
        return time.perf_counter() - start

    toggle(settings[0])  # warm up imports and fonts
    explorer = Explorer(hlm.load_timss())
    print("\nExplorer toggle latency (table + figure rendered to PNG; budget 0.2 s)")
    for setting in settings:
        first = toggle(setting)
        cached = statistics.median(toggle(setting) for _ in range(3))
        label = f"{setting.country}, random {'+'.join(setting.random_slopes)}, {setting.method}"
        print(f"  {label:<36} first {first * 1e3:7.1f} ms   cached {cached * 1e3:7.1f} ms")


def bootstrap_time(n_boot: int = 200) -> None:
    """Time the parametric-bootstrap LR test of the Korean college-slope variance."""
    start = time.perf_counter()
    test = hlm.bootstrap_lr_test(
        hlm.load_timss("Korea"),
        "math ~ college + boy",
        group="school",
        random_null=(),
        random_alt=("college",),
        covariance="vc",
        n_boot=n_boot,
        progress=False,
    )
    seconds = time.perf_counter() - start
    print(
        f"\nBootstrap LR test, Korea college slope: {n_boot} replicates ({2 * n_boot} fits) "
        f"in {seconds:.2f} s (budget 10 s); p = {test.p_value:.3f}"
    )


def weighted_time(repeats: int = 20) -> None:
    """Time a weighted pseudo-ML fit against the same model unweighted (ML), cold each time."""
    pisa = hlm.load_pisa()
    formula = (
        "pv1math ~ C(st29q03, Treatment('Strongly agree')) + C(sc14q02, Treatment('Not at all'))"
        " + C(st04q01, Treatment('Female')) + escs"
    )
    weights = {"weights": "w_fstuwt", "group_weights": "w_fschwt"}
    hlm.fit_hlm(pisa, formula, group="schoolid", method="ML", **weights)  # warm the imports
    weighted = median_seconds(
        lambda: hlm.fit_hlm(pisa.copy(), formula, group="schoolid", method="ML", **weights),
        repeats,
    )
    plain = median_seconds(
        lambda: hlm.fit_hlm(pisa.copy(), formula, group="schoolid", method="ML"), repeats
    )
    print(
        f"\nWeighted fit, PISA 2012 USA (3136 students, 157 schools, WeMix Table 1 model): "
        f"{weighted * 1e3:.1f} ms against {plain * 1e3:.1f} ms unweighted, "
        f"ratio {weighted / plain:.2f} (budget <= 2)"
    )


if __name__ == "__main__":
    main()
    explorer_latency()
    bootstrap_time()
    weighted_time()
