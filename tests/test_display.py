"""hlm.show: HTML tables for the lecture hall, with the same table as stable text."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from IPython.core.formatters import DisplayFormatter

import hlmteach as hlm
from hlmteach.display import TABLE_CLASS, Table

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
FRAME = pd.DataFrame(
    {"estimate": [0.562, -0.378], "se": ["(0.032)", "(0.036)"]},
    index=pd.Index(["Korea", "USA"], name="country"),
)


def test_outside_ipython_show_prints_the_text_table(capsys):
    hlm.show(FRAME)
    assert capsys.readouterr().out == FRAME.to_string() + "\n"
    hlm.show(FRAME, index=False)
    assert capsys.readouterr().out == FRAME.to_string(index=False) + "\n"


def test_a_display_carries_html_and_the_same_text():
    data, _ = DisplayFormatter().format(Table(FRAME))
    assert data["text/plain"] == FRAME.to_string()
    page = data["text/html"]
    assert page.startswith(f"<div class='{TABLE_CLASS}'")
    assert page.count("<tr") == 1 + 1 + len(FRAME)  # column names, index name, rows
    assert "-0.378" in page and "white-space:nowrap" in page


def test_the_html_is_the_same_on_every_run():
    # nbval compares every mime type of a checked cell: no random ids may appear.
    assert Table(FRAME)._repr_html_() == Table(FRAME.copy())._repr_html_()
    assert not re.search(r"id=['\"]T_", Table(FRAME)._repr_html_())


def test_text_in_cells_is_escaped():
    page = Table(pd.DataFrame({"<b>name</b>": ["a & b"]}))._repr_html_()
    assert "<b>" not in page and "a &amp; b" in page


def test_a_series_shows_as_a_one_column_table():
    series = pd.Series([0.9, 0.4], index=["Intercept", "college"], name="reliability")
    table = Table(series)
    assert repr(table) == series.to_string()
    assert "reliability" in table._repr_html_()


@pytest.mark.parametrize(
    ("frame", "index", "argument"),
    [([[1, 2]], True, "DataFrame"), ("a table", True, "DataFrame"), (FRAME, "no", "index")],
)
def test_bad_arguments_are_named(frame, index, argument):
    with pytest.raises(hlm.ModelInputError, match=argument):
        hlm.show(frame, index=index)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_tables_are_html_with_a_text_view(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    shown = 0
    for cell in cells:
        source = "".join(cell["source"])
        if cell["cell_type"] != "code":
            continue
        assert not re.search(r"print\([^\n]*to_string\(", source), source[:200]
        for output in cell.get("outputs", []):
            data = {kind: "".join(text) for kind, text in output.get("data", {}).items()}
            if TABLE_CLASS in data.get("text/html", ""):
                shown += 1
                assert data["text/plain"].strip(), source[:200]
    # Tables reach the page through hlm.show, directly or through published.compare_printed.
    showing = ("hlm.show(", "compare_printed")
    calls = sum(
        any(name in "".join(c["source"]) for name in showing)
        for c in cells
        if c["cell_type"] == "code"
    )
    assert (shown > 0) == (calls > 0), f"{calls} cells call hlm.show, {shown} tables shown"
