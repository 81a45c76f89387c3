"""The shipped data sets, their codebook, and the tidy TIMSS frame."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import hlmteach as hlm
from hlmteach.data import PARENT_EDUCATION_LEVELS, PISA_CATEGORIES, PLAUSIBLE_VALUES, tidy_timss


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


def _expand(variable: str) -> set[str]:
    """The names a codebook entry stands for: 'bsmpv01..bsmpv05' or 'pv1math..pv5math'."""
    if ".." not in variable:
        return {variable}
    first, last = (re.fullmatch(r"(\D*)(\d+)(\D*)", stem) for stem in variable.split(".."))
    head, digits, tail = first.groups()
    width = len(digits)
    return {f"{head}{k:0{width}d}{tail}" for k in range(int(digits), int(last.group(2)) + 1)}


def test_codebook_covers_every_column():
    assert _expand("pv1math..pv3math") == {"pv1math", "pv2math", "pv3math"}
    assert _expand("bsmpv01..bsmpv02") == {"bsmpv01", "bsmpv02"}
    frames = (("timss", hlm.load_timss()), ("hsb", hlm.load_hsb()), ("pisa", hlm.load_pisa()))
    for name, frame in frames:
        book = hlm.codebook(name)
        described = set().union(*map(_expand, book["variable"]))
        assert set(frame.columns) <= described, set(frame.columns) - described
    with pytest.raises(
        ValueError, match=r"Unknown data set 'pirls'; choose one of 'timss', 'hsb', 'pisa'"
    ):
        hlm.codebook("pirls")


def test_codebook_describes_the_timss_design_columns():
    design = tidy_timss(_design())
    book = hlm.codebook("timss")
    described = set().union(*map(_expand, book["variable"]))
    assert described >= WEIGHT_COLUMNS
    assert set(design.columns) <= described
    school = book.set_index("variable").loc["school_weight", "description"]
    assert "wgtfac1 * wgtadj1" in school


PISA_FILE = Path(__file__).resolve().parent.parent / "data" / "pisa2012_usa.csv"


def test_shipped_pisa_file_is_the_documented_one():
    assert hashlib.md5(PISA_FILE.read_bytes()).hexdigest() == "ce1bde7161dc5eaa799ddfe4fe65d297"
    provenance = (PISA_FILE.parent / "pisa2012_usa.md").read_text(encoding="utf-8")
    assert "ce1bde7161dc5eaa799ddfe4fe65d297" in provenance
    words = " ".join(provenance.split())
    assert "acknowledges the OECD as source and copyright owner" in words
    assert "MLMusingR 0.4.0" in words and "## Licence position" in provenance


def test_pisa_matches_its_published_description():
    pisa = hlm.load_pisa()
    assert pisa.shape == (3136, 14)
    assert pisa["schoolid"].nunique() == 157
    assert pisa["schoolid"].str.fullmatch(r"\d{7}").all()
    assert pisa["schoolid"].iloc[0] == "0000001"  # leading zeros kept
    assert pisa["student"].tolist() == list(range(1, 3137))
    counts = {
        "st29q03": [387, 1037, 1231, 481],
        "sc14q02": [2276, 525, 272, 63],
        "st04q01": [1570, 1566],
    }
    for column, expected in counts.items():
        assert list(pisa[column].cat.categories) == list(PISA_CATEGORIES[column])
        assert pisa[column].value_counts(sort=False).tolist() == expected
    assert pisa["st29q03"].cat.ordered and not pisa["st04q01"].cat.ordered
    sizes = pisa.groupby("schoolid").size()
    assert (sizes.min(), sizes.max(), round(sizes.mean(), 2)) == (1, 28, 19.97)
    assert pisa["w_fstuwt"].sum() == pytest.approx(2236615, abs=0.5)
    assert (round(pisa["w_fstuwt"].min(), 1), round(pisa["w_fstuwt"].max(), 1)) == (134.5, 2597.9)
    school = pisa.groupby("schoolid")["w_fschwt"]
    assert (school.nunique() == 1).all()  # one weight per school
    assert school.first().sum() == pytest.approx(30161, abs=0.5)
    assert (round(school.first().min(), 2), round(school.first().max(), 1)) == (21.97, 1942.5)
    np.testing.assert_allclose(pisa["pwt1"], pisa["w_fstuwt"] / pisa["w_fschwt"], rtol=1e-14)
    assert not pisa.isna().any().any()
    assert "OECD" in pisa.attrs["label"] and "MLMusingR" in pisa.attrs["label"]
    assert "real data" in pisa.attrs["label"]


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


WEIGHT_COLUMNS = {
    "total_weight", "house_weight", "senate_weight", "school_weight", "within_school_weight",
    "wgtfac1", "wgtadj1", "wgtfac2", "wgtadj2", "wgtfac3", "wgtadj3", "jk_zone", "jk_replicate",
}  # fmt: skip


def _design(**changes) -> pd.DataFrame:
    """_raw() with a TIMSS 1995 sampling design, rows in reverse (unsorted) order."""
    design = _raw().assign(
        totwgt=[120.0, 90.0, 900.0, 35.0],
        houwgt=[1.2, 0.9, 1.5, 0.4],
        senwgt=[250.0, 250.0, 400.0, 100.0],
        wgtfac1=[20.0, 20.0, 150.0, 7.0],
        wgtadj1=[1.5, 1.5, 2.0, 1.25],
        wgtfac2=[2.0, 2.0, 1.0, 1.0],
        wgtfac3=1.0,
        wgtadj3=[2.0, 1.5, 3.0, 4.0],
        jkzone=[4, 4, 9, 9],
        jkindic=[1, 1, 0, 1],
    )
    return design.iloc[::-1].reset_index(drop=True).assign(**changes)


def test_tidy_timss_without_a_design_has_no_weight_columns():
    tidy = tidy_timss(_raw())
    assert not WEIGHT_COLUMNS & set(tidy.columns)
    assert tidy.attrs["design_variables"] == {}


def test_tidy_timss_keeps_the_design_and_derives_both_levels_weights():
    tidy = tidy_timss(_design())
    assert tidy["idstud"].tolist() == [1, 2, 3, 4]  # sorted; the weights travel with their rows
    np.testing.assert_array_equal(tidy["total_weight"], [120.0, 90.0, 900.0, 35.0])
    np.testing.assert_array_equal(tidy["house_weight"], [1.2, 0.9, 1.5, 0.4])
    np.testing.assert_array_equal(tidy["senate_weight"], [250.0, 250.0, 400.0, 100.0])
    # school weight = WGTFAC1 * WGTADJ1: 20 * 1.5, 150 * 2, 7 * 1.25
    np.testing.assert_allclose(tidy["school_weight"], [30.0, 30.0, 300.0, 8.75])
    # within-school weight = TOTWGT / school weight: 120/30, 90/30, 900/300, 35/8.75
    np.testing.assert_allclose(tidy["within_school_weight"], [4.0, 3.0, 3.0, 4.0])
    np.testing.assert_array_equal(tidy["wgtadj3"], [2.0, 1.5, 3.0, 4.0])
    assert tidy["jk_zone"].tolist() == [4, 4, 9, 9]
    assert tidy["jk_replicate"].tolist() == [1, 1, 0, 1]
    assert tidy["jk_zone"].dtype == np.int64
    assert "wgtadj2" not in tidy.columns  # not a 1995 variable: absent, not NaN
    sources = tidy.attrs["design_variables"]
    assert sources["total_weight"] == "totwgt" and sources["jk_replicate"] == "jkindic"
    assert sources["school_weight"] == "wgtfac1 * wgtadj1"


def test_tidy_timss_reads_later_release_names():
    tidy = tidy_timss(_design(wgtadj2=[1.0, 1.1, 1.1, 1.0]).rename(columns={"jkindic": "jkrep"}))
    assert tidy["jk_replicate"].tolist() == [1, 1, 0, 1]
    np.testing.assert_array_equal(tidy["wgtadj2"], [1.0, 1.1, 1.1, 1.0])
    assert tidy.attrs["design_variables"]["jk_replicate"] == "jkrep"
    assert tidy.attrs["design_variables"]["wgtadj2"] == "wgtadj2"


@pytest.mark.parametrize("dropped", ["senwgt", "wgtfac1", "jkzone"])
def test_tidy_timss_names_a_missing_design_variable(dropped):
    with pytest.raises(ValueError, match=rf"but lack '{dropped}'"):
        tidy_timss(_design().drop(columns=dropped))


def test_tidy_timss_names_a_missing_replicate_indicator():
    with pytest.raises(ValueError, match=r"lack 'jkindic' or 'jkrep'"):
        tidy_timss(_design().drop(columns="jkindic"))
    with pytest.raises(ValueError, match=r"both 'jkindic' and 'jkrep'"):
        tidy_timss(_design(jkrep=1))


def test_tidy_timss_refuses_upper_case_design_names():
    upper = _design().rename(columns={"totwgt": "TOTWGT"})
    with pytest.raises(ValueError, match=r"lack 'totwgt'"):
        tidy_timss(upper)
    only_upper = _raw().assign(TOTWGT=1.0, JKZONE=1)
    with pytest.raises(ValueError, match=r"\['TOTWGT', 'JKZONE'\] in upper case.*str\.lower"):
        tidy_timss(only_upper)


@pytest.mark.parametrize("bad", [0.0, -3.0, np.nan])
@pytest.mark.parametrize("column", ["totwgt", "wgtadj1", "wgtfac3"])
def test_tidy_timss_refuses_non_positive_weights(column, bad):
    values = _design()[column].to_numpy(dtype=float)
    values[2] = bad
    with pytest.raises(ValueError, match=rf"weight '{column}' \(IEA {column.upper()}\)") as error:
        tidy_timss(_design(**{column: values}))
    assert "1 student(s)" in str(error.value) and "IDSTUD 2" in str(error.value)


def test_tidy_timss_refuses_infinite_weights():
    with pytest.raises(ValueError, match=r"'houwgt' contains infinite values"):
        tidy_timss(_design(houwgt=[1.0, np.inf, 1.0, 1.0]))


def test_tidy_timss_refuses_a_school_weight_that_varies_within_a_school():
    with pytest.raises(ValueError, match=r"varies within 1 school\(s\): Korea IDSCHOOL 1 "):
        tidy_timss(_design(wgtadj1=[1.25, 2.0, 1.5, 1.6]))  # Korea's school 1: 1.5 and 1.6


@pytest.mark.parametrize(
    ("changes", "column"),
    [({"jkindic": [1, 2, 0, 1]}, "jkindic"), ({"jkzone": [9, 9, 4.5, 4]}, "jkzone")],
)
def test_tidy_timss_refuses_bad_jackknife_codes(changes, column):
    with pytest.raises(ValueError, match=rf"jackknife variable '{column}'.*1 student\(s\)"):
        tidy_timss(_design(**changes))


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
    expected = f"{hlm.load_timss().shape} {hlm.load_hsb().shape}"  # the installed loaders
    assert done.stdout.strip() == expected
    assert expected.startswith("(9845, ")
