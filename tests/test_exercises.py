"""Self-checks accept right answers (with sensible rounding) and give hints for wrong ones."""

from __future__ import annotations

import pytest

import hlmteach as hlm
from hlmteach.exercises import EXERCISES, solution_value
from hlmteach.validation import ModelInputError

HSB_KEYS = [k for k in EXERCISES if k.startswith("07.")]
FULL = "mathach ~ meanses + sector + cses + meanses:cses + sector:cses"


@pytest.mark.parametrize("key", sorted(EXERCISES))
def test_right_rounded_and_wrong_answers(key):
    right = solution_value(key)
    assert hlm.check(key, right).correct
    assert hlm.check(key, round(right, 2)).correct, "rounding to two decimals is accepted"
    wrong = hlm.check(key, right + 0.05 + 2 * EXERCISES[key].tolerance)
    assert not wrong.correct
    assert "Hint:" in wrong.message and EXERCISES[key].hint in wrong.message


def test_non_numbers_are_explained():
    assert "Please give a number" in hlm.check("03.1", None).message
    with pytest.raises(ModelInputError, match="not the text 'about a third'"):
        hlm.check("03.1", "about a third")
    with pytest.raises(ModelInputError, match="finite"):
        hlm.check("03.1", float("nan"))


def test_unknown_exercise():
    with pytest.raises(ModelInputError, match=r"There is no exercise '99\.9'"):
        hlm.check("99.9", 1.0)


@pytest.mark.parametrize("key", HSB_KEYS)
def test_published_hsb_answers_match_our_fit(key, hsb):
    """The HSB self-checks use published values; our fits must round to them."""
    fits = {
        "07.1": lambda: hlm.fit_hlm(hsb, "mathach ~ 1", group="school").fixed.loc[
            "Intercept", "estimate"
        ],
        "07.2": lambda: hlm.fit_hlm(hsb, "mathach ~ 1", group="school").icc,
        "07.3": lambda: hlm.fit_hlm(
            hsb, "mathach ~ cses", group="school", random=["cses"]
        ).fixed.loc["cses", "estimate"],
        "07.4": lambda: hlm.fit_hlm(hsb, "mathach ~ cses", group="school", random=["cses"]).tau.loc[
            "cses", "cses"
        ],
        "07.5": lambda: (
            1
            - hlm.fit_hlm(hsb, "mathach ~ meanses", group="school").tau.iloc[0, 0]
            / hlm.fit_hlm(hsb, "mathach ~ 1", group="school").tau.iloc[0, 0]
        ),
        "07.6": lambda: (
            hlm.lr_test(
                hlm.fit_hlm(hsb, "mathach ~ cses", group="school"),
                hlm.fit_hlm(hsb, "mathach ~ cses", group="school", random=["cses"]),
            ).statistic
        ),
        "07.7": lambda: hlm.fit_hlm(hsb, FULL, group="school", random=["cses"]).fixed.loc[
            "sector:cses", "estimate"
        ],
        "07.8": lambda: (
            hlm.fit_hlm(hsb, "mathach ~ 1", group="school").school_reliability["Intercept"].min()
        ),
        "07.9": lambda: (
            hlm.fit_hlm(hsb, FULL, group="school", random=["cses"]).fixed.loc["sector", "estimate"]
            / -hlm.fit_hlm(hsb, FULL, group="school", random=["cses"]).fixed.loc[
                "sector:cses", "estimate"
            ]
        ),
    }
    assert hlm.check(key, fits[key]()).correct


def test_html_display():
    assert "✔" in hlm.check("07.1", 12.64)._repr_html_()
    assert "✘" in hlm.check("07.1", 1.0)._repr_html_()
