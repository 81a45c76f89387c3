"""Give every course notebook its frame: a Binder link, a shut-down note and slide metadata.

Usage: ``python scripts/course_frame.py [--check] [NOTEBOOK ...]`` (``make frame``): with
no notebook named, every course notebook.

The frame is the same for every notebook, so it is written by this script rather
than by hand:

- the first cell starts with a *launch Binder* badge that opens this notebook at
  the release tag (``v`` + the version in ``pyproject.toml``), so a push during a
  workshop never rebuilds the image learners are using;
- the last cell says how to shut the notebook's kernel down, and why (memory on
  Binder);
- every cell carries slideshow metadata for RISE (``jupyterlab-rise``): ``#``
  and ``##`` headings start a slide, ``###`` headings a sub-slide, solutions and
  the shut-down note are skipped, and every other cell continues its slide;
  long slides scroll.

Running it again changes nothing. ``--check`` writes nothing and exits non-zero
if a notebook's frame is missing or out of date (the release tag changed).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
REPOSITORY = "hlmteach/hlmteach"
SHUT_DOWN_ID = "shut-down-the-kernel"
BADGE = "https://mybinder.org/badge_logo.svg"
_BADGE_LINE = re.compile(r"^\[!\[Launch[^\]]*\]\([^)]*mybinder[^)]*\)\]\([^)]*\)\n\n?")

SHUT_DOWN_NOTE = """\
## Before you open the next notebook: shut this kernel down

Each open notebook runs its own Python process, its *kernel*, which holds about
200–250 MB of memory, and closing the notebook's tab does **not** stop it. Binder
gives you about 2 GB in all, so after a few notebooks the kernels would crowd each
other out and be killed ("kernel died, restarting").

So when you have finished here, either

- choose **Kernel ▸ Shut Down Kernel** in the menu (or **File ▸ Close and Shut Down
  Notebook**), or
- open the **Running Terminals and Kernels** panel in the left sidebar (the
  circle with a square inside) and click the shut-down button next to this notebook.

Your saved work stays; running the notebook again starts a fresh kernel. On
Binder, kernels that stay idle for 20 minutes are shut down for you, but do not
wait for that."""


def release_tag() -> str:
    """The release tag that every Binder link points at: ``v`` and pyproject's version."""
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return "v" + tomllib.load(handle)["project"]["version"]


def binder_url(notebook: str | None = None, tag: str | None = None) -> str:
    """Binder's launch URL at the release tag, opening ``notebook`` (a repository path) in the lab.

    Examples
    --------
    >>> binder_url("notebooks/03_intercept_only.ipynb", tag="v1.0.0")
    'https://mybinder.org/v2/gh/hlmteach/hlmteach/v1.0.0?urlpath=lab/tree/notebooks/03_intercept_only.ipynb'
    """
    url = f"https://mybinder.org/v2/gh/{REPOSITORY}/{tag or release_tag()}"
    return f"{url}?urlpath=lab/tree/{notebook}" if notebook else url


def badge(notebook: str, tag: str | None = None) -> str:
    """The Markdown line of the launch badge for one notebook."""
    return f"[![Launch this notebook on Binder]({BADGE})]({binder_url(notebook, tag)})"


def slide_type(cell: nbformat.NotebookNode, position: int) -> str:
    """The RISE slide type of a cell, from its place and its first line.

    Examples
    --------
    >>> from nbformat.v4 import new_markdown_cell, new_code_cell
    >>> slide_type(new_markdown_cell("## 2. The model"), 4)
    'slide'
    >>> slide_type(new_markdown_cell("<details><summary>Solution</summary>..."), 9)
    'skip'
    >>> slide_type(new_code_cell("fit = ..."), 5)
    '-'
    """
    if position == 0:
        return "slide"
    if cell.get("id") == SHUT_DOWN_ID:
        return "skip"
    if cell.cell_type != "markdown":
        return "-"
    text = cell.source.lstrip()
    if text.startswith("<details><summary>Solution"):
        return "skip"
    if re.match(r"#{1,2} ", text):
        return "slide"
    if text.startswith("### "):
        return "subslide"
    return "-"


def framed(notebook: nbformat.NotebookNode, name: str, tag: str) -> nbformat.NotebookNode:
    """The notebook with its frame; ``name`` is its file name in ``notebooks/``."""
    cells = [c for c in notebook.cells if c.get("id") != SHUT_DOWN_ID]
    first = cells[0]
    first.source = badge(f"notebooks/{name}", tag) + "\n\n" + _BADGE_LINE.sub("", first.source)
    note = nbformat.v4.new_markdown_cell(SHUT_DOWN_NOTE)
    note["id"] = SHUT_DOWN_ID
    cells.append(note)
    for position, cell in enumerate(cells):
        cell.metadata["slideshow"] = {"slide_type": slide_type(cell, position)}
    notebook.cells = cells
    notebook.metadata["rise"] = {"scroll": True, "autolaunch": False}
    return notebook


def course_notebooks() -> list[Path]:
    """The course's notebooks, in order."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def main(argv: list[str]) -> int:
    """Frame the notebooks named in ``argv`` (default: all); ``--check`` reports stale ones."""
    check = "--check" in argv
    named = [Path(a).resolve() for a in argv if a != "--check"]
    tag = release_tag()
    stale = []
    for path in named or course_notebooks():
        before = path.read_text(encoding="utf-8")
        notebook = framed(nbformat.reads(before, as_version=4), path.name, tag)
        after = nbformat.writes(notebook) + "\n"
        if after != before:
            stale.append(path.name)
            if not check:
                path.write_text(after, encoding="utf-8")
    verb = "out of date" if check else "framed"
    print(f"{len(stale)} notebook(s) {verb} (release tag {tag}): {', '.join(stale) or '-'}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
