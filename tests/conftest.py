"""Shared fixtures of the test suite."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hlmteach as hlm


@pytest.fixture(scope="session")
def hsb() -> pd.DataFrame:
    """High School and Beyond with group-mean-centred SES (``cses``), as R&B chapter 4."""
    frame = hlm.load_hsb()
    frame["cses"] = frame["ses"] - frame.groupby("school")["ses"].transform("mean")
    return frame


@pytest.fixture()
def small_panel() -> pd.DataFrame:
    """A small simulated two-level data set with a real random slope."""
    rng = np.random.default_rng(20261126)
    groups = np.repeat(np.arange(40), 15)
    x = rng.normal(size=groups.size)
    u0 = rng.normal(scale=0.8, size=40)
    u1 = rng.normal(scale=0.4, size=40)
    y = 1.0 + 0.5 * x + u0[groups] + u1[groups] * x + rng.normal(size=groups.size)
    return pd.DataFrame({"y": y, "x": x, "school": groups, "w": np.repeat(rng.normal(size=40), 15)})


@pytest.fixture(scope="session")
def slope_model(hsb: pd.DataFrame) -> hlm.HLMResult:
    """HSB with a random intercept and a random SES slope (unstructured)."""
    return hlm.fit_hlm(hsb, "mathach ~ ses", group="school", random=["ses"])


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every figure a test opened, so none leaks into the next test."""
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
