"""Write the learners' copy of the course: notebooks without outputs, solutions or answers.

Usage: ``python scripts/student_copy.py [TARGET]`` (``make student``, or
``make student STUDENT=folder``); TARGET defaults to ``student/``.

The course's own notebooks are the instructor's copy: they are stored executed,
each exercise has a folded solution, and the practice notebook 07 compares every
result with the published one right below the learner's self-checks. The
student copy keeps every explanation, figure call and self-check, and removes:

- every stored output and execution count (learners run the cells themselves),
  with the saved widget state;
- every ``<details><summary>Solution`` block (the cell says the solution is in
  the instructor's copy);
- the published numbers of each "Check against the published values" section:
  its code still defines the results that later cells use, but the comparison
  tables (``compare([...])`` calls) and the commentary that quotes the numbers are
  dropped;
- in a notebook with such sections (the practice notebook), the Summary, which
  lists the answers: learners are asked to write their own;
- the test markers (nbval's ``nbval-*`` cell tags, and any ``# NBVAL_...`` comment),
  which are no business of learners.

The copy is a folder ``TARGET/notebooks`` with a short ``README.md``; the data
load from the installed ``hlmteach`` package, so nothing else is needed.
"""

from __future__ import annotations

import ast
import re
import shutil
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
CHECK_HEADING = "### Check against the published values"
SOLUTION = re.compile(r"<details>\s*<summary>\s*Solution.*?</details>\s*", re.S)
SOLUTION_NOTE = "*The solution is in the instructor's copy of the course.*"
CHECK_NOTE = (
    f"{CHECK_HEADING}\n\n"
    "In the instructor's copy, this section compares your results with the published "
    "ones. The code below computes the results that the rest of the notebook uses; run it "
    "after your own attempt, and let `hlm.check` above tell you whether you were right."
)
SUMMARY_HEADING = "## Summary"
SUMMARY_NOTE = (
    f"{SUMMARY_HEADING}\n\n"
    "Write your own summary: for each step, the model's equations, the numbers you found "
    "and what they say about the schools. The instructor's copy has ours."
)
MARKER = re.compile(r"^# NBVAL_\w+[^\n]*\n?", re.M)
README = """\
# hlmteach: the student copy

These are the course's notebooks without stored results and without solutions.
Open `notebooks/00_start_here.ipynb` in JupyterLab (the course's Binder link, or
`make lab` in the course's repository) and run each cell yourself. Every exercise
checks your answer with `hlm.check`.
"""


def without_calls(source: str, name: str) -> str:
    """``source`` without its top-level statements that call ``name(...)``.

    Examples
    --------
    >>> without_calls("x = 1\\ncompare([(1, 2)])\\nprint(x)\\n", "compare")
    'x = 1\\nprint(x)\\n'
    """
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    for node in reversed(tree.body):
        call = node.value if isinstance(node, ast.Expr) else None
        if isinstance(call, ast.Call) and getattr(call.func, "id", None) == name:
            del lines[node.lineno - 1 : node.end_lineno]
    return "".join(lines)


def _after_section(text: str) -> str:
    """What follows the first section of a markdown cell: from its next ``## `` heading on."""
    match = re.search(r"^## ", text[1:], re.M)
    return "\n\n" + text[match.start() + 1 :] if match else ""


def _strip_code(cell: nbformat.NotebookNode, in_check: bool) -> None:
    cell.outputs = []
    cell.execution_count = None
    cell.metadata.pop("execution", None)
    tags = [t for t in cell.metadata.get("tags", []) if not t.startswith("nbval-")]
    if tags:
        cell.metadata["tags"] = tags
    else:
        cell.metadata.pop("tags", None)
    source = MARKER.sub("", cell.source)
    cell.source = without_calls(source, "compare") if in_check else source


def student_notebook(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student version of one notebook (a new object; the input is not changed)."""
    notebook = nbformat.from_dict(notebook)
    notebook.metadata.pop("widgets", None)
    practice = any(c.source.lstrip().startswith(CHECK_HEADING) for c in notebook.cells)
    cells, in_check = [], False
    for cell in notebook.cells:
        text = cell.source.lstrip()
        if cell.cell_type == "markdown":
            if text.startswith(CHECK_HEADING):
                in_check = True
                cell.source = CHECK_NOTE
            elif practice and text.startswith(SUMMARY_HEADING):
                cell.source = SUMMARY_NOTE + _after_section(text)
            elif text.startswith("#"):
                in_check = False
            elif in_check:
                continue  # commentary on the published numbers
            if SOLUTION.search(cell.source):
                rest = SOLUTION.sub("", cell.source).strip()
                cell.source = f"{rest}\n\n{SOLUTION_NOTE}" if rest else SOLUTION_NOTE
        elif cell.cell_type == "code":
            _strip_code(cell, in_check)
        cells.append(cell)
    notebook.cells = cells
    return notebook


def write_copy(target: Path) -> list[Path]:
    """Write the student copy into ``target`` (replacing an earlier one); return its notebooks."""
    target = target.resolve()
    if ROOT.is_relative_to(target) or target.is_relative_to(NOTEBOOKS):
        raise SystemExit(f"Refusing to write the student copy over the course: {target}")
    shutil.rmtree(target / "notebooks", ignore_errors=True)
    (target / "notebooks").mkdir(parents=True)
    (target / "README.md").write_text(README, encoding="utf-8")
    written = []
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        notebook = student_notebook(nbformat.read(path, as_version=4))
        out = target / "notebooks" / path.name
        nbformat.write(notebook, out)
        written.append(out)
    return written


def main(argv: list[str]) -> int:
    """Write the copy to ``argv[0]`` (default ``student``) and say where it is."""
    target = Path(argv[0] if argv else "student")
    written = write_copy(target)
    print(f"Student copy: {len(written)} notebooks in {target / 'notebooks'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
