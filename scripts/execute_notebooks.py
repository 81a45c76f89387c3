"""Execute every course notebook in place, top to bottom in a fresh kernel, and time each one.

Usage: ``python scripts/execute_notebooks.py [NOTEBOOK ...]`` (or ``make execute``).

Each notebook runs in a new kernel from the ``notebooks/`` folder; its outputs
are written back, so the stored outputs are current and execution counts run
1..n. The run fails if a cell raises, or if any output goes to stderr (warnings
must never reach the learner). It prints each notebook's time and the total:
the course's budget is 90 s for everything on a 2-core machine (DESIGN.md §8).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BUDGET_SECONDS = 90.0


def stderr_outputs(notebook: nbformat.NotebookNode) -> list[str]:
    """Text that the notebook's cells wrote to stderr."""
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                found.append(output.get("text", "")[:300])
    return found


def execute(path: Path) -> float:
    """Run one notebook in place; return its wall time in seconds."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    problems = stderr_outputs(notebook)
    if problems:
        raise RuntimeError(
            f"{path.name} wrote to stderr (a warning reached the learner):\n" + "\n".join(problems)
        )
    nbformat.write(notebook, path)
    return seconds


def main(argv: list[str]) -> int:
    """Execute the notebooks named in ``argv`` (default: all) and print the timings."""
    paths = [Path(a).resolve() for a in argv] or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    total = 0.0
    for path in paths:
        seconds = execute(path)
        total += seconds
        print(f"{seconds:7.1f} s  {path.name}", flush=True)
    print(f"{total:7.1f} s  total for {len(paths)} notebooks (budget {BUDGET_SECONDS:.0f} s)")
    if total > BUDGET_SECONDS and not argv:
        print("The course is over its execution budget.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
