"""A four-student raw TIMSS frame, in the layout ``tidy_timss`` reads, for input-check tests."""

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
