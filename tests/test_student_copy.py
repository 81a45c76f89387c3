"""The student copy (make student): the course without outputs, solutions or answers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from hlmteach.exercises import EXERCISES, solution_value

ROOT = Path(__file__).resolve().parents[1]
COURSE = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("student")
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "student_copy.py"), str(target)],
        check=True,
        capture_output=True,
    )
    return target


def _shown_forms(value: float, tolerance: float) -> set[str]:
    """The ways a notebook could print ``value`` that would pass its check: 3+ significant digits.

    Two-digit forms (0.16, 0.31) are not counted: such numbers occur all over the course
    for other reasons, and the lectures quote published values to two digits.
    """
    forms = set()
    for decimals in range(1, 7):
        text = f"{abs(value):.{decimals}f}"
        significant = text.replace(".", "").lstrip("0")
        if abs(float(text) - abs(value)) <= tolerance and len(significant) >= 3:
            forms.add(text)
    return forms


def _revealed(texts: dict[str, str]) -> list[str]:
    """Answers shown where a learner sees them: in the asking notebook or an earlier one."""
    found = []
    for key, exercise in EXERCISES.items():
        for form in _shown_forms(solution_value(key), exercise.tolerance):
            pattern = re.compile(rf"(?<![\d.]){re.escape(form)}(?!\d)")
            for name, text in texts.items():
                if name[:2] <= key[:2] and pattern.search(text):
                    found.append(f"{key} = {form} in {name}")
    return found


def _texts(folder: Path) -> dict[str, str]:
    return {
        p.name: p.read_text(encoding="utf-8").replace("\u2212", "-")
        for p in sorted(folder.glob("*.ipynb"))
    }


def test_every_notebook_is_in_the_copy(copy):
    assert [p.name for p in sorted((copy / "notebooks").glob("*.ipynb"))] == [
        p.name for p in COURSE
    ]
    assert (copy / "README.md").read_text().startswith("# hlmteach: the student copy")


def test_no_answer_survives(copy):
    assert _revealed(_texts(copy / "notebooks")) == []


def test_the_check_finds_answers_in_the_instructors_copy():
    # The same check on the course's own notebooks must find the answers it stores.
    revealed = _revealed(_texts(ROOT / "notebooks"))
    assert any(r.startswith("07.1 = 12.64 in 07_") for r in revealed), revealed[:5]
    assert len({r.split(" =")[0] for r in revealed}) >= 10


@pytest.mark.parametrize("name", [p.name for p in COURSE])
def test_no_outputs_solutions_or_test_markers(copy, name):
    notebook = json.loads((copy / "notebooks" / name).read_text(encoding="utf-8"))
    assert "widgets" not in notebook["metadata"]
    for cell in notebook["cells"]:
        source = "".join(cell["source"])
        assert "<summary>Solution" not in source
        assert "NBVAL" not in source
        assert not any(t.startswith("nbval-") for t in cell["metadata"].get("tags", []))
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
    assert any("hlm.check(" in "".join(c["source"]) for c in notebook["cells"]) or name[:2] in (
        "00",
        "06",
    )


def test_the_practice_notebook_still_runs_top_to_bottom(copy):
    # Its check sections lost their published numbers, not the results later cells use.
    path = copy / "notebooks" / "07_practice_hsb.ipynb"
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    text = json.dumps([c.get("outputs", []) for c in notebook.cells])
    assert "Please give a number" in text and "Traceback" not in text
    assert not any("compare([" in c.source for c in notebook.cells if c.cell_type == "code")


def test_the_copy_never_overwrites_the_course(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "student_copy.py"), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "Refusing" in result.stderr
