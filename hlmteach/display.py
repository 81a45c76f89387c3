"""Result tables that read well on a projector and compare stably as text.

In a notebook, :func:`show` displays a table as HTML, which JupyterLab lays out
as a real table: it grows with the zoom and the slideshow instead of wrapping
fixed-width text into broken rows. Every display also carries the same table as
plain text (``DataFrame.to_string``), which is what a reader without a browser
sees and what the notebook tests compare. Outside IPython, :func:`show` prints
that text.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import pandas as pd

from .validation import ModelInputError, require_flag

__all__ = ["Table", "show"]

#: The class every table carries, so that a page's style (or a test) can find the course's tables.
TABLE_CLASS = "hlmteach-table"

# Inline styles survive JupyterLab's sanitiser and static HTML exports alike: the
# frame scrolls sideways instead of squeezing, and no number breaks across lines.
_WRAPPER_STYLE = "overflow-x:auto; max-width:100%"
_TABLE_STYLE = "border-collapse:collapse; font-variant-numeric:tabular-nums"


@dataclass(frozen=True)
class Table:
    """A table with an HTML view for notebooks and a fixed-width text view for everything else.

    Parameters
    ----------
    frame : pandas.DataFrame or pandas.Series
        The numbers, already rounded as they should be shown.
    index : bool, default True
        Whether to show the row labels.

    Examples
    --------
    >>> t = Table(pd.DataFrame({"estimate": [0.5, 1.25]}, index=["a", "b"]))
    >>> print(repr(t))
       estimate
    a      0.50
    b      1.25
    >>> t._repr_html_().startswith("<div class='hlmteach-table'")
    True
    """

    frame: pd.DataFrame | pd.Series
    index: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.frame, pd.DataFrame | pd.Series):
            raise ModelInputError(
                f"show() needs a pandas DataFrame or Series; got {type(self.frame).__name__}."
            )
        require_flag(self.index, "index")

    def __repr__(self) -> str:
        return self.frame.to_string(index=self.index)

    def _repr_html_(self) -> str:
        frame = self.frame.to_frame() if isinstance(self.frame, pd.Series) else self.frame
        table = frame.to_html(index=self.index, border=0, escape=True)
        table = table.replace("<table", f"<table style='{_TABLE_STYLE}'", 1)
        table = table.replace("<td>", "<td style='white-space:nowrap'>")
        return (
            f"<div class='{TABLE_CLASS}' style='{_WRAPPER_STYLE}' "
            f"aria-label='{html.escape(_caption(frame), quote=True)}'>{table}</div>"
        )


def _caption(frame: pd.DataFrame) -> str:
    """A short description for screen readers: the table's columns."""
    names = [" ".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in frame.columns]
    return "table of " + ", ".join(names)


def show(frame: pd.DataFrame | pd.Series, *, index: bool = True) -> None:
    """Show a table: HTML in a notebook, fixed-width text elsewhere.

    Use it where a notebook would ``print(frame.to_string())``. In IPython the
    display carries both views (``text/html`` and ``text/plain``); a browser shows
    the HTML, while the text view is the same as ``frame.to_string(index=index)``.

    Parameters
    ----------
    frame : pandas.DataFrame or pandas.Series
        The table, rounded as it should be shown.
    index : bool, default True
        Whether to show the row labels (``False`` for a plain list of rows).

    Raises
    ------
    ModelInputError
        If ``frame`` is not a DataFrame or a Series, or ``index`` is not a bool.

    Examples
    --------
    >>> import pandas as pd
    >>> import hlmteach as hlm
    >>> hlm.show(pd.DataFrame({"country": ["Korea", "USA"], "icc": [0.07, 0.31]}), index=False)
    country  icc
      Korea 0.07
        USA 0.31
    """
    table = Table(frame, index=index)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython ships with the course environment
        shell = None
    else:
        shell = get_ipython()
    if shell is None:
        print(repr(table))
    else:
        display(table)
