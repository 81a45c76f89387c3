"""Small frames that several test modules share."""

from __future__ import annotations

import pandas as pd

from hlmteach.data import PLAUSIBLE_VALUES


def raw_timss(**changes: object) -> pd.DataFrame:
    """Two schools in each country; ``changes`` replace whole columns."""
    raw = pd.DataFrame(
        {
            "idcntry": [410, 410, 840, 840],
            "idschool": [1, 2, 1, 2],
            "idstud": [1, 2, 3, 4],
            "boy": [1, 0, 1, 0],
            "parent_educ": ["college", "high school", None, "college"],
            **{pv: [600.0, 500.0, 520.0, 480.0] for pv in PLAUSIBLE_VALUES},
        }
    )
    for column, values in changes.items():
        raw[column] = values
    return raw


def false_positive_table() -> pd.DataFrame:
    """A 2 x 2 result of ``simulate_false_positives``, as ``false_positive_rates`` reads it."""
    table = pd.DataFrame(
        {
            "icc": [0.0, 0.2, 0.0, 0.2],
            "school_size": [5, 5, 50, 50],
            "ols_rate": [0.05, 0.2, 0.06, 0.55],
            "ols_mcse": [0.01, 0.02, 0.01, 0.03],
            "hlm_rate": [0.04, 0.05, 0.05, 0.06],
            "hlm_mcse": [0.01, 0.01, 0.01, 0.01],
        }
    )
    table.attrs["alpha"] = 0.05
    return table
