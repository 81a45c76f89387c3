"""The prose of a course notebook, for tests that check its claims against the data.

A claims test first finds its sentence in the notebook's markdown with :func:`says`,
so that a reworded claim fails and is checked again, then recomputes the claim from the
package and the shipped data.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

__all__ = ["notebook_prose", "says"]

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@cache
def notebook_prose(name: str) -> str:
    """The markdown of notebook ``name``, whitespace collapsed and the minus sign made '-'."""
    cells = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return re.sub(r"\s+", " ", text.replace("\u2212", "-"))


def says(name: str, *phrases: str) -> None:
    """Fail unless notebook ``name``'s markdown contains every phrase (whitespace collapsed)."""
    text = notebook_prose(name)
    for phrase in phrases:
        assert re.sub(r"\s+", " ", phrase) in text, (
            f"{name} no longer says {phrase!r}: check the new wording against the data "
            "and update this test"
        )
