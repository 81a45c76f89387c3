"""Claims about the data in the prose of notebooks 03, 04 and 05, checked on the shipped data.

(Notebook 08's claims are in tests/test_claims_08.py; the other claims of notebooks 04 and 05
are in tests/test_claims_04.py and tests/test_claims_05.py.)

These are the sentences revised after the synthetic data were regenerated (plausible values
as posterior draws, and a sampling design). Each test first finds the sentence in the
notebook's markdown, so that a reworded claim fails here and is checked again, then
recomputes the claim from the package and the shipped data. A regeneration that falsifies
a sentence fails the suite.
"""

from __future__ import annotations

import pandas as pd
import pytest
from prose import says

import hlmteach as hlm


@pytest.fixture(scope="module")
def timss() -> pd.DataFrame:
    return hlm.load_timss()


# -- 03 and 04 ------------------------------------------------------------------------------


def test_04_and_06_boy_slope_variance_is_zero_in_both_countries(timss: pd.DataFrame) -> None:
    says(
        "04_random_coefficients.ipynb",
        "Does the boy–girl gap vary between Korean schools? Exercise 04.3 asks.",
        "In the USA a random boy slope has its variance estimated at zero",
        "The statistic is 0: the variance is estimated at exactly zero",
    )
    says("06_explorer.ipynb", "the variance of the boy slopes is estimated at zero")
    boy = hlm.fit_hlm(
        timss,
        "math ~ college + boy",
        group="school",
        random=["college", "boy"],
        covariance="vc",
        by="country",
    )
    for fit in boy.values():
        assert fit.tau.loc["boy", "boy"] == 0.0
        assert fit.covariance.loc["Var(boy)", "boundary"]
