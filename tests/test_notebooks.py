"""Hygiene of the course notebooks (nbval runs them; these check how they are stored)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MACHINE_PATH = re.compile(r"(/work/|/root/|/home/|/tmp/|/usr/|site-packages|[A-Z]:\\\\Users)")


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    return "".join(cell.get("source", []))


def test_the_course_has_its_notebooks():
    names = [p.name for p in NOTEBOOKS]
    for prefix in ("00_", "01_", "02_", "03_", "04_", "05_", "07_"):
        assert any(n.startswith(prefix) for n in names), f"no notebook {prefix}*"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
class TestNotebook:
    def test_execution_counts_run_one_to_n(self, path):
        code = [c for c in _load(path)["cells"] if c["cell_type"] == "code" and _source(c).strip()]
        assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1))

    def test_no_errors_or_stderr_in_stored_outputs(self, path):
        for cell in _load(path)["cells"]:
            for output in cell.get("outputs", []):
                assert output["output_type"] != "error", _source(cell)[:200]
                assert output.get("name") != "stderr", output.get("text", "")[:300]

    def test_no_machine_paths_in_outputs(self, path):
        for cell in _load(path)["cells"]:
            text = json.dumps(cell.get("outputs", []))
            match = MACHINE_PATH.search(text)
            assert match is None, f"machine path {match.group(0)!r} in {_source(cell)[:120]!r}"

    def test_python3_kernelspec(self, path):
        meta = _load(path)["metadata"]
        assert meta["kernelspec"]["name"] == "python3"
        assert meta["kernelspec"]["language"] == "python"

    def test_no_path_hacks_or_installs(self, path):
        for cell in _load(path)["cells"]:
            if cell["cell_type"] == "code":
                src = _source(cell)
                assert "sys.path" not in src and "pip install" not in src, src[:200]

    def test_shape_objectives_summary_exercises(self, path):
        cells = _load(path)["cells"]
        first = _source(cells[0]) + _source(cells[1])
        assert "Learning objectives" in first or path.name.startswith("00_"), path.name
        assert re.search(r"\b\d+\s*(-|–)?\s*\d*\s*min", first), "the opening states the time"
        markdown = "\n".join(_source(c) for c in cells if c["cell_type"] == "markdown")
        assert "## Summary" in markdown
        if not path.name.startswith(("00_", "06_")):
            assert "## Exercises" in markdown


def test_every_notebook_is_listed_in_the_course_map():
    start = next(p for p in NOTEBOOKS if p.name.startswith("00_"))
    text = "\n".join(_source(c) for c in _load(start)["cells"])
    for path in NOTEBOOKS:
        assert path.name in text, f"{path.name} is missing from the course map"


def test_key_tables_are_compared_by_nbval():
    for path in NOTEBOOKS:
        if path.name.startswith(("02_", "03_", "04_", "05_", "07_")):
            cells = [c for c in _load(path)["cells"] if c["cell_type"] == "code"]
            assert any("nbval-check-output" in c["metadata"].get("tags", []) for c in cells), (
                path.name
            )


def test_no_test_markers_in_what_learners_read():
    """nbval's markers are cell tags, never ``# NBVAL_...`` comments in the code shown."""
    for path in NOTEBOOKS:
        for cell in _load(path)["cells"]:
            assert "NBVAL_" not in _source(cell), path.name
