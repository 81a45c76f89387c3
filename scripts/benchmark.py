"""Measure hlmteach against its peers, in one run on one machine, and print ratios.

Usage: ``python scripts/benchmark.py [--quick]`` (or ``make bench``).

**The engine suite** (DESIGN.md §8) times six models, each as a whole call
(formula, checks, fit and result) on a fresh copy of the data frame, so that
nothing is reused from an earlier call:

- sleepstudy, random intercept and slope of days (lme4's example);
- High School and Beyond, R&B Table 4.4 (random cses slope) and Table 4.5
  (intercepts and slopes as outcomes);
- Chem97 (mlmRev; 31,022 students in 2,410 schools), random intercept and
  random gcsecnt slope;
- a simulated random-slope model with 1,000,000 rows in 20,000 schools.

Peers, in the same run: statsmodels ``MixedLM`` (always; the whole
``smf.mixedlm(...).fit()`` call, and for the million rows in a child process
with a time limit), and R's ``lme4::lmer`` when ``Rscript`` with lme4 is
installed. It prints each one's median time and criterion (-2 REML
log-likelihood), the ratios, their geometric mean, and the peak memory of a
process that fits the million rows. The budgets: at least 10x lme4 in
geometric mean and 5x on each model, 50x statsmodels where it finishes, an
equal or better criterion, and under 500 MB for the million rows.

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
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import hlmteach as hlm

ROOT = Path(__file__).resolve().parents[1]
BATTERY = ROOT / "tests" / "fixtures" / "battery"
BIG_SCHOOLS, BIG_PER_SCHOOL = 20_000, 50


@dataclass(frozen=True)
class Model:
    """One model of the engine suite."""

    name: str
    data: str  # "sleepstudy", "hsb", "chem97" or "big"
    formula: str
    group: str
    random: tuple[str, ...]
    repeats: int

    @property
    def lme4_formula(self) -> str:
        """The same model in lme4's syntax (UN covariance, as fit_hlm's default)."""
        return f"{self.formula} + ({' + '.join(['1', *self.random])} | {self.group})"


SUITE = (
    Model("sleepstudy random slope", "sleepstudy", "y ~ days", "g", ("days",), 30),
    Model("R&B 4.4 random coefficient", "hsb", "mathach ~ cses", "school", ("cses",), 15),
    Model(
        "R&B 4.5 slopes as outcomes",
        "hsb",
        "mathach ~ meanses + sector + cses + meanses:cses + sector:cses",
        "school",
        ("cses",),
        15,
    ),
    Model("Chem97 random intercept", "chem97", "y ~ gcsecnt", "g", (), 7),
    Model("Chem97 random slope", "chem97", "y ~ gcsecnt", "g", ("gcsecnt",), 7),
    Model("1,000,000 rows, 20,000 schools", "big", "y ~ x", "g", ("x",), 3),
)


def big_frame(seed: int = 20261202) -> pd.DataFrame:
    """The simulated million rows: a random intercept and slope, 50 students per school."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(BIG_SCHOOLS), BIG_PER_SCHOOL)
    x = rng.normal(size=groups.size)
    u0 = rng.normal(scale=0.5, size=BIG_SCHOOLS)
    u1 = rng.normal(scale=0.3, size=BIG_SCHOOLS)
    y = 1.0 + 0.5 * x + u0[groups] + u1[groups] * x + rng.normal(size=groups.size)
    return pd.DataFrame({"g": groups, "x": x, "y": y})


def load(name: str) -> pd.DataFrame:
    """A data set of the suite by name."""
    if name == "hsb":
        frame = hlm.load_hsb()
        frame["cses"] = frame["ses"] - frame.groupby("school")["ses"].transform("mean")
        return frame
    if name == "big":
        return big_frame()
    return pd.read_csv(BATTERY / f"{name}.csv")


def median_seconds(
    function: Callable[[pd.DataFrame], object], frame: pd.DataFrame, repeats: int
) -> float:
    """Median wall time of ``repeats`` calls on fresh copies of ``frame``, after a warm-up."""
    function(frame.copy())
    times = []
    for _ in range(repeats):
        fresh = frame.copy()
        start = time.perf_counter()
        function(fresh)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


R_SUITE = r"""
suppressMessages(library(lme4))
spec <- jsonlite::fromJSON(commandArgs(TRUE)[1])
frames <- list()
out <- list()
for (k in seq_len(nrow(spec))) {
  path <- spec$path[k]
  if (is.null(frames[[path]])) {
    d <- read.csv(path)
    if (spec$data[k] == "hsb") d$cses <- d$ses - ave(d$ses, d$school)
    frames[[path]] <- d
  }
  d <- frames[[path]]
  f <- as.formula(spec$formula[k])
  fit <- suppressMessages(suppressWarnings(lmer(f, d, REML = TRUE)))
  times <- sapply(seq_len(spec$repeats[k]), function(i)
    system.time(suppressMessages(suppressWarnings(lmer(f, d, REML = TRUE))))[["elapsed"]])
  out[[k]] <- list(seconds = median(times), criterion = REMLcrit(fit))
}
cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = NA))
"""


def lme4_available() -> bool:
    """Whether ``Rscript`` with lme4 and jsonlite is installed."""
    if shutil.which("Rscript") is None:
        return False
    check = subprocess.run(
        ["Rscript", "-e", "library(lme4); library(jsonlite)"],
        capture_output=True,
        text=True,
        check=False,
    )
    return check.returncode == 0


def lme4_time(model: Model, path: Path) -> dict[str, float]:
    """lme4's median seconds and REML criterion for one model (R started just for it)."""
    spec = [
        {
            "path": str(path),
            "data": model.data,
            "formula": model.lme4_formula,
            "repeats": 1 if model.data == "big" else model.repeats,
        }
    ]
    with tempfile.TemporaryDirectory() as tmp:
        script, spec_file = Path(tmp) / "suite.R", Path(tmp) / "suite.json"
        script.write_text(R_SUITE)
        spec_file.write_text(json.dumps(spec))
        done = subprocess.run(
            ["Rscript", str(script), str(spec_file)], capture_output=True, text=True, check=True
        )
    return json.loads(done.stdout.strip().splitlines()[-1])[0]


def statsmodels_call(model: Model) -> Callable[[pd.DataFrame], object]:
    """The whole statsmodels call for a model: formula, design and REML fit."""
    import statsmodels.formula.api as smf

    re_formula = "~" + " + ".join(["1", *model.random])

    def call(frame: pd.DataFrame) -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return smf.mixedlm(
                model.formula, frame, groups=frame[model.group], re_formula=re_formula
            ).fit(reml=True)

    return call


_CHILD = """
import resource, sys, time
sys.path.insert(0, {root!r})
from scripts.benchmark import SUITE, big_frame, statsmodels_call
import hlmteach as hlm
model = SUITE[-1]
frame = big_frame()
start = time.perf_counter()
if {which!r} == "hlmteach":
    fit = hlm.fit_hlm(frame, model.formula, group=model.group, random=list(model.random))
    criterion = fit.deviance
else:
    fit = statsmodels_call(model)(frame)
    criterion = -2 * fit.llf
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(seconds, criterion, peak)
"""


def big_in_child(which: str, limit: float) -> tuple[float, float, float] | None:
    """(seconds, criterion, peak MB) of the million-row fit in a fresh process, or None."""
    code = _CHILD.format(root=str(ROOT), which=which)
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=limit, check=True
        )
    except subprocess.TimeoutExpired:
        return None
    seconds, criterion, peak = map(float, done.stdout.split())
    return seconds, criterion, peak


def main(quick: bool = False) -> None:
    """Time the six-model engine suite and print times, criteria and ratios.

    Each model is timed by lme4, hlmteach and statsmodels one after the other, so
    that the three see the same load on the machine.
    """
    frames = {name: load(name) for name in dict.fromkeys(m.data for m in SUITE)}
    use_r = not quick and lme4_available()
    print("Engine suite: whole calls on a fresh copy of the data each time, REML, UN covariance")
    print(f"Python {sys.version.split()[0]}, numpy {np.__version__}; medians")
    if not use_r:
        print("lme4: not timed (R with lme4 and jsonlite is not installed, or --quick).")
    lme4_ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = {"hsb": ROOT / "data" / "hsb.csv", "big": Path(tmp) / "big.csv"}
        paths |= {n: BATTERY / f"{n}.csv" for n in ("sleepstudy", "chem97")}
        frames["big"].to_csv(paths["big"], index=False)
        for model in SUITE:
            lme4_ratios += time_model(model, frames[model.data], paths[model.data], use_r)
    if lme4_ratios:
        geometric = math.exp(statistics.fmean(math.log(r) for r in lme4_ratios))
        print(f"\nGeometric mean of the lme4 ratios: {geometric:.1f}x (budget >= 10x)")
    child = big_in_child("hlmteach", 600.0)
    if child is not None:
        print(
            f"Million-row fit in a fresh process: {child[0]:.2f} s, peak memory "
            f"{child[2]:.0f} MB (budget 500 MB, the data and Python included)"
        )


def time_model(model: Model, frame: pd.DataFrame, path: Path, use_r: bool) -> list[float]:
    """Print one model's lines of the suite; return its lme4 ratio (empty without R)."""
    r = lme4_time(model, path) if use_r else None
    fit = hlm.fit_hlm(frame.copy(), model.formula, group=model.group, random=model.random)
    ours = median_seconds(
        lambda f: hlm.fit_hlm(f, model.formula, group=model.group, random=model.random),
        frame,
        model.repeats,
    )
    print(f"\n{model.name}: {model.lme4_formula}  ({len(frame):,} rows)")
    print(
        f"  hlmteach     {ours * 1e3:10.1f} ms   -2RLL {fit.deviance:.6f}"
        f"   converged={fit.converged}"
    )
    if model.data == "big":
        child = big_in_child("statsmodels", 120.0)
        sm = None if child is None else (child[0], child[1])
    else:
        call = statsmodels_call(model)
        sm_fit = call(frame.copy())
        sm = (median_seconds(call, frame, 3), -2 * sm_fit.llf)
    if sm is None:
        print("  statsmodels  did not finish within 120 s")
    else:
        print(
            f"  statsmodels  {sm[0] * 1e3:10.1f} ms   -2RLL {sm[1]:.6f}"
            f"   ratio {sm[0] / ours:7.1f}x (budget >= 50x)"
        )
    if r is None:
        return []
    print(
        f"  lme4         {r['seconds'] * 1e3:10.1f} ms   -2RLL {r['criterion']:.6f}"
        f"   ratio {r['seconds'] / ours:7.1f}x (budget >= 5x)"
    )
    print(f"  criterion: hlmteach minus lme4 = {fit.deviance - r['criterion']:+.2e}")
    return [r["seconds"] / ours]


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

    def toggle(setting: ExplorerSetting, figure: str) -> float:
        start = time.perf_counter()
        view = explorer.view(setting)
        view.to_html()
        explorer.figure_png(view, figure)
        return time.perf_counter() - start

    toggle(settings[0], "school lines")  # warm up imports and fonts
    start = time.perf_counter()
    explorer = Explorer(hlm.load_timss())
    built = time.perf_counter() - start
    print("\nExplorer toggle latency (table + figure rendered to PNG; budget 0.2 s)")
    print(f"  building the explorer (all its fits and figures, once): {built:.2f} s")
    for figure in ("school lines", "slope distribution"):
        print(f"  figure: {figure}")
        for setting in settings:
            first = toggle(setting, figure)
            cached = statistics.median(toggle(setting, figure) for _ in range(3))
            label = f"{setting.country}, random {'+'.join(setting.random_slopes)}, {setting.method}"
            print(f"    {label:<36} first {first * 1e3:7.1f} ms   cached {cached * 1e3:7.1f} ms")


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
        lambda f: hlm.fit_hlm(f, formula, group="schoolid", method="ML", **weights), pisa, repeats
    )
    plain = median_seconds(
        lambda f: hlm.fit_hlm(f, formula, group="schoolid", method="ML"), pisa, repeats
    )
    print(
        f"\nWeighted fit, PISA 2012 USA (3136 students, 157 schools, WeMix Table 1 model): "
        f"{weighted * 1e3:.1f} ms against {plain * 1e3:.1f} ms unweighted, "
        f"ratio {weighted / plain:.2f} (budget <= 2)"
    )


if __name__ == "__main__":
    main(quick="--quick" in sys.argv)
    explorer_latency()
    bootstrap_time()
    weighted_time()
