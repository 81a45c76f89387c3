"""The shipped data sets, their codebook, and the tidy TIMSS frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hlmteach as hlm
from hlmteach.data import PARENT_EDUCATION_LEVELS, PLAUSIBLE_VALUES, tidy_timss


def test_timss_by_country_and_labelled():
    korea = hlm.load_timss("Korea")
    assert korea["country"].unique().tolist() == ["Korea"]
    assert len(korea) == 2901 and korea["school"].nunique() == 150
    assert "SYNTHETIC" in korea.attrs["label"]
    assert list(korea["parent_educ"].cat.categories) == list(PARENT_EDUCATION_LEVELS)
    assert korea["parent_educ"].cat.ordered


def test_unknown_country_is_named():
    with pytest.raises(ValueError, match=r"Unknown country 'France'.*\['Korea', 'USA'\]"):
        hlm.load_timss("France")


def test_hsb_matches_its_published_description():
    hsb = hlm.load_hsb()
    assert (len(hsb), hsb["school"].nunique()) == (7185, 160)
    assert hsb["mathach"].mean() == pytest.approx(12.748, abs=5e-4)  # R&B Table 4.1
    assert hsb.groupby("school")["sector"].first().sum() == 70  # 70 Catholic schools
    assert "real data" in hsb.attrs["label"]


def test_codebook_covers_every_column():
    for name, frame in (("timss", hlm.load_timss()), ("hsb", hlm.load_hsb())):
        book = hlm.codebook(name)
        described = set()
        for variable in book["variable"]:
            if ".." in variable:
                stem_a, stem_b = variable.split("..")
                prefix = stem_a.rstrip("0123456789")
                first, last = int(stem_a[len(prefix) :]), int(stem_b[len(prefix) :])
                width = len(stem_a) - len(prefix)
                described |= {f"{prefix}{k:0{width}d}" for k in range(first, last + 1)}
            else:
                described.add(variable)
        assert set(frame.columns) <= described, set(frame.columns) - described
    with pytest.raises(ValueError, match="Unknown data set 'pisa'"):
        hlm.codebook("pisa")


def _raw(**changes) -> pd.DataFrame:
    raw = pd.DataFrame(
        {
            "idcntry": [410, 410, 840, 840],
            "idschool": [1, 1, 1, 2],
            "idstud": [1, 2, 3, 4],
            "boy": [1, 0, 1, np.nan],
            "parent_educ": ["college", None, "high school", "2-year college"],
            **{pv: [600.0, 550.0, 500.0, 450.0] for pv in PLAUSIBLE_VALUES},
        }
    )
    return raw.assign(**changes)


def test_tidy_timss_recodes_and_standardises():
    tidy = tidy_timss(_raw())
    assert tidy["school"].tolist() == [4100001, 4100001, 8400001, 8400002]
    assert tidy["college"].tolist()[0] == 1.0 and np.isnan(tidy["college"].iloc[1])
    scores = np.array([600.0, 550.0, 500.0, 450.0])
    expected = (scores - scores.mean()) / scores.std(ddof=1)
    np.testing.assert_allclose(tidy["math"], expected)
    np.testing.assert_allclose(tidy["math5"], expected)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"idcntry": [410, 410, 840, 250]}, r"Unknown IEA country code\(s\) \['250'\]"),
        ({"parent_educ": ["college", "PhD", None, None]}, r"Unknown parents' education.*'PhD'"),
    ],
)
def test_tidy_timss_rejects_unknown_codes(changes, message):
    with pytest.raises(ValueError, match=message):
        tidy_timss(_raw(**changes))


def test_tidy_timss_names_missing_columns():
    with pytest.raises(ValueError, match=r"lack the column\(s\) \['boy'\]"):
        tidy_timss(_raw().drop(columns="boy"))


def test_data_load_from_the_repository_root_without_the_installed_mapping(tmp_path):
    """Started in the repository root, Python imports the source folder, which has no
    ``datasets`` sub-package (the Binder failure): the loaders must read ``data/``."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    shutil.copytree(root / "hlmteach", tmp_path / "hlmteach")
    shutil.copytree(root / "data", tmp_path / "data")
    script = (
        "import sys\n"
        # Drop the editable install's finder, as a wheel install (Binder) has none.
        "sys.meta_path = [f for f in sys.meta_path\n"
        "                 if not str(getattr(f, '__module__', '')).startswith('__editable__')]\n"
        "import hlmteach as hlm\n"
        f"assert hlm.__file__.startswith({str(tmp_path)!r}), hlm.__file__\n"
        "try:\n"
        "    import hlmteach.datasets\n"
        "    raise SystemExit('hlmteach.datasets should not be importable here')\n"
        "except ModuleNotFoundError:\n"
        "    pass\n"
        "print(hlm.load_timss().shape, hlm.load_hsb().shape)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "(9845, 19) (7185, 11)"
