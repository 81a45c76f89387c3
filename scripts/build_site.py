"""Build the course website: every notebook with its stored outputs, as static HTML.

Usage: ``python scripts/build_site.py`` (``make site``); open
``book/_build/html/index.html``.

Jupyter Book 1 renders the pages with Sphinx, with no network and without
executing anything (``book/_config.yml``: ``execute_notebooks: off``). The book's
files in ``book/`` and the course's ``notebooks/`` are copied into
``book/_build/source`` first, so that each page keeps the notebook's path in the
repository (``notebooks/03_intercept_only.ipynb``): its launch button then opens
that same notebook on Binder, at the release tag read from ``pyproject.toml``.
The table of contents lists every notebook of ``notebooks/`` in order, so a
new notebook gets its page without editing the book. Any Sphinx warning fails
the build.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from course_frame import release_tag

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
OUTPUT = BOOK / "_build"


def stage(source: Path) -> Path:
    """Copy the book's files and the notebooks into ``source``, with the release tag filled in."""
    shutil.rmtree(source, ignore_errors=True)
    shutil.copytree(BOOK, source, ignore=shutil.ignore_patterns("_build"))
    checkpoints = shutil.ignore_patterns(".ipynb_checkpoints")
    shutil.copytree(ROOT / "notebooks", source / "notebooks", ignore=checkpoints)
    config = source / "_config.yml"
    config.write_text(config.read_text().replace("{release_tag}", release_tag()))
    (source / "_toc.yml").write_text(table_of_contents())
    return source


def table_of_contents() -> str:
    """Jupyter Book's _toc.yml: the front page, then every course notebook in order.

    Examples
    --------
    >>> table_of_contents().splitlines()[:4]
    ['format: jb-book', 'root: intro', 'chapters:', '  - file: notebooks/00_start_here']
    """
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    chapters = [f"  - file: notebooks/{path.stem}" for path in notebooks]
    return "\n".join(["format: jb-book", "root: intro", "chapters:", *chapters]) + "\n"


def build(output: Path = OUTPUT) -> Path:
    """Build the site into ``output / 'html'`` and return the path of its front page."""
    source = stage(output / "source")
    shutil.rmtree(output / "html", ignore_errors=True)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    subprocess.run(
        [str(jupyter_book), "build", str(source), "--path-output", str(output.parent), "-W", "-n"],
        check=True,
    )
    # Jupyter Book writes to <path-output>/_build/html.
    return output / "html" / "index.html"


def main() -> int:
    """Build the site and say where it is."""
    print(f"The course website: {build()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
