"""Lost or merged data: every dropped row is counted and shown; ids never merge or get replaced.

Each refusal is a ModelInputError that names the culprit, and the user's frame is
never modified.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from frames import raw_timss

import hlmteach as hlm
from hlmteach.data import tidy_timss
from hlmteach.validation import ModelInputError


@pytest.fixture(scope="module")
def hsb() -> pd.DataFrame:
    return hlm.load_hsb()


def _panel() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "school": [1, 1, 1, 2, 2, 3, 3],
            "ses": [1.0, 2.0, np.nan, 4.0, 6.0, 0.0, 1.0],
            "female": [0, 1, 1, 0, 1, 0, 1],
            "label": list("abcdefg"),
            "ses_text": ["1", "2", None, "4", "6", "0", "1"],
        }
    )


# -- contextual_effect counts the incomplete rows it leaves out ---------------------------------
@pytest.mark.parametrize(
    ("holes", "covariates"),
    [
        ({"ses": [0, 1, 2]}, ()),
        ({"mathach": [10, 11]}, ()),
        ({"ses": [0, 1], "mathach": [1, 2, 3]}, ()),
        ({"sector": [100, 200, 300]}, ("sector",)),
        ({"school": [5, 6]}, ()),
        ({"sector": [100]}, ()),  # not in the model: no row is lost
    ],
)
def test_contextual_effect_counts_and_shows_dropped_rows(hsb, holes, covariates):
    data = hsb.copy()
    for column, rows in holes.items():
        data.loc[rows, column] = np.nan
    before = data.copy()
    used = ["mathach", "ses", "school", *covariates]
    expected = int(data[used].isna().any(axis=1).sum())
    ce = hlm.contextual_effect(data, "mathach", "ses", "school", covariates=list(covariates))
    pd.testing.assert_frame_equal(data, before)
    assert ce.n_dropped == expected
    assert ce.fit.n_obs + ce.n_dropped == len(data)
    if expected:
        assert f"rows not used (missing values): {expected}" in str(ce)
        assert f"rows not used (missing values): {expected}" in ce._repr_html_()
    else:
        assert "not used" not in str(ce)


def test_contextual_effect_complete_data_drops_nothing(hsb):
    ce = hlm.contextual_effect(hsb, "mathach", "ses", "school")
    assert ce.n_dropped == 0 and ce.n_obs == 7185 and ce.dropped_by_column == {}


# -- centring: NaN school ids are counted, and no column is silently replaced -------------------
@pytest.mark.parametrize("function", ["center", "school_mean"])
@pytest.mark.parametrize("n_missing", [1, 2, 3])
def test_missing_school_ids_are_counted(function, n_missing):
    data = _panel()
    data["school"] = data["school"].astype(float)
    rows = [0, 3, 5][:n_missing]
    data.loc[rows, "school"] = np.nan
    before = data.copy()
    if function == "center":
        out = hlm.center(data, "ses", group="school", kind="group")
        name = "ses_cwc"
    else:
        out = hlm.school_mean(data, "ses", "school")
        name = "ses_mean"
    pd.testing.assert_frame_equal(data, before)
    assert out.attrs["centering_missing"][name] == n_missing
    assert f"{n_missing} row(s) with no school id" in out.attrs["centering"][name]
    # the row without ses has no centred value, but its school has a mean
    assert out[name].isna().sum() == n_missing + (function == "center")
    assert len(out) == len(data)


@pytest.mark.parametrize("inplace", [True, False])
@pytest.mark.parametrize(
    ("call", "culprit"),
    [
        ({"name": "female"}, "female"),
        ({"name": "label"}, "label"),
        ({"name": "ses"}, "ses"),
        ({"name": "school", "kind": "group", "group": "school"}, "school"),
        ({"name": "ses_text"}, "ses_text"),
    ],
)
def test_center_refuses_to_replace_a_column(inplace, call, culprit):
    data = _panel()
    before = data.copy()
    with pytest.raises(ModelInputError, match=f"name={culprit!r}|column {culprit!r}"):
        hlm.center(data, "ses", inplace=inplace, **call)
    pd.testing.assert_frame_equal(data, before)
    assert "centering" not in data.attrs


@pytest.mark.parametrize("inplace", [True, False])
def test_school_mean_refuses_to_replace_a_column(hsb, inplace):
    data = hsb.head(200).copy()
    before = data.copy()
    with pytest.raises(ModelInputError, match=r"'meanses'.*overwrite=True"):
        hlm.school_mean(data, "ses", "school", name="meanses", inplace=inplace)
    pd.testing.assert_frame_equal(data, before)


def test_replacing_on_request_and_rerunning_the_same_centring():
    data = _panel()
    hlm.center(data, "ses", group="school", kind="group", inplace=True)
    first = data["ses_cwc"].copy()
    hlm.center(data, "ses", group="school", kind="group", inplace=True)  # a re-run cell
    pd.testing.assert_series_equal(data["ses_cwc"], first)
    with pytest.raises(ModelInputError, match="'ses_cwc'"):  # a different centring
        hlm.center(data, "ses", name="ses_cwc", inplace=True)
    out = hlm.center(data, "ses", name="female", overwrite=True)
    np.testing.assert_allclose(out["female"], data["ses"] - data["ses"].mean())
    assert data["female"].tolist() == [0, 1, 1, 0, 1, 0, 1]


@pytest.mark.parametrize("function", ["center", "school_mean"])
@pytest.mark.parametrize(
    ("column", "message"),
    [
        ("sex", r"\['sex'\]"),
        ("label", "'label' is not numeric"),
        ("ses_text", "'ses_text' holds numbers stored as text"),
    ],
)
def test_centring_bad_columns(function, column, message):
    data = _panel()
    before = data.copy()
    with pytest.raises(ModelInputError, match=message):
        extra = {"kind": "group"} if function == "center" else {}
        getattr(hlm, function)(data, column, group="school", **extra)
    pd.testing.assert_frame_equal(data, before)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ({"kind": "within", "group": "school"}, "Unknown centring kind 'within'"),
        ({"kind": "group", "group": "schul"}, r"\['schul'\]"),
        ({"kind": "group", "group": ["school"]}, "argument group must be the name"),
        ({"group": "school"}, "kind='group'"),
        ({"by": "ses"}, "argument by names 'ses'"),
        ({"inplace": "yes"}, "inplace must be True or False"),
        ({"name": 3}, "argument name must be the name"),
    ],
)
def test_center_bad_arguments(call, message):
    data = _panel()
    before = data.copy()
    with pytest.raises(ModelInputError, match=message):
        hlm.center(data, "ses", **call)
    pd.testing.assert_frame_equal(data, before)


def test_school_ids_that_mix_numbers_and_text_are_refused():
    data = _panel().astype({"school": object})
    data.loc[0, "school"] = "1"
    with pytest.raises(ModelInputError, match="'school' mixes numbers and text"):
        hlm.school_mean(data, "ses", "school")


# -- plausible values: every row left out is counted -------------------------------------------
@pytest.fixture(scope="module")
def hsb_pv(hsb) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = hsb.copy()
    for k in (1, 2, 3):
        frame[f"pv{k}"] = frame["mathach"] + rng.normal(scale=2.0, size=len(frame))
    return frame


@pytest.mark.parametrize(
    ("pv_holes", "ses_holes"),
    [([0, 1, 2], []), ([], [5, 6]), ([0, 1], [1, 7, 8]), ([], [])],
)
@pytest.mark.parametrize("model", ["hlm", "ols"])
def test_plausible_values_count_every_dropped_row(hsb_pv, pv_holes, ses_holes, model):
    data = hsb_pv.copy()
    data.loc[pv_holes, "pv2"] = np.nan
    data.loc[ses_holes, "ses"] = np.nan
    before = data.copy()
    group = "school" if model == "hlm" else None
    pooled = hlm.fit_plausible_values(data, "~ ses", ["pv1", "pv2", "pv3"], group, model=model)
    pd.testing.assert_frame_equal(data, before)
    incomplete = data[["pv1", "pv2", "pv3", "ses"]].isna().any(axis=1)
    assert pooled.n_dropped == len(pv_holes)
    assert pooled.n_dropped_total == int(incomplete.sum())
    assert pooled.n_obs == len(data) - int(incomplete.sum())
    n_predictor = pooled.n_dropped_total - pooled.n_dropped
    for text in (pooled.summary(), pooled._repr_html_()):
        assert (f"rows without plausible values: {len(pv_holes)}" in text) == bool(pv_holes)
        assert (f"rows with a missing predictor: {n_predictor}" in text) == bool(n_predictor)


@pytest.mark.parametrize(
    ("outcomes", "message"),
    [
        (["pv1", "nope"], r"\['nope'\] that the data do not have"),
        (["pv1", "pv1"], "names a plausible value twice"),
        (["pv1"], "at least two plausible values"),
        ("pv1", "at least two plausible values"),
        (["pv1", "pv_text"], "'pv_text' holds numbers stored as text"),
        (["pv1", "label"], "'label' is not numeric"),
        (["pv1", "pv_inf"], "'pv_inf' contains infinite values"),
        ([1, 2], "outcomes must be a list of column names"),
    ],
)
def test_plausible_value_columns_are_checked(hsb_pv, outcomes, message):
    data = hsb_pv.head(300).copy()
    data["pv_text"] = data["pv2"].astype(str)
    data["label"] = "x"
    data["pv_inf"] = data["pv2"].where(data.index != 3, np.inf)
    before = data.copy()
    with pytest.raises(ModelInputError, match=message):
        hlm.fit_plausible_values(data, "~ ses", outcomes, group="school")
    pd.testing.assert_frame_equal(data, before)


def test_rows_without_any_complete_plausible_values(hsb_pv):
    data = hsb_pv.head(100).assign(pv2=np.nan)
    with pytest.raises(ModelInputError, match=r"No row has all the plausible values"):
        hlm.fit_plausible_values(data, "~ ses", ["pv1", "pv2"], group="school")


# -- ids with a fractional part would merge students or schools ---------------------------------
@pytest.mark.parametrize(
    ("changes", "culprit"),
    [
        ({"idschool": [1.5, 1.7, 1.0, 2.0]}, "idschool"),
        ({"idschool": [1.0, 1.0000001, 1.0, 2.0]}, "idschool"),
        ({"idstud": [1.0, 2.5, 3.0, 4.0]}, "idstud"),
        ({"idcntry": [410.0, 410.5, 840.0, 840.0]}, "idcntry"),
        ({"idschool": [1.0, np.nan, 1.0, 2.0]}, "idschool"),
        ({"idstud": [1.0, 2.0, np.nan, 4.0]}, "idstud"),
        ({"idschool": ["1", "x", "1", "2"]}, "idschool"),
    ],
)
def test_tidy_timss_refuses_ids_that_would_merge(changes, culprit):
    raw = raw_timss(**changes)
    before = raw.copy()
    with pytest.raises(ModelInputError, match=f"'{culprit}'"):
        tidy_timss(raw)
    pd.testing.assert_frame_equal(raw, before)


def test_tidy_timss_keeps_every_school_apart():
    tidy = tidy_timss(raw_timss(idschool=[1.0, 2.0, 1.0, 2.0]))
    assert tidy["school"].nunique() == 4 and len(tidy) == 4


def _write_timss(path, idschool, idcntry):
    pyreadstat = pytest.importorskip("pyreadstat")
    frame = pd.DataFrame(
        {
            "IDCNTRY": [idcntry] * 3,
            "IDSCHOOL": idschool,
            "IDSTUD": [10101.0, 10102.0, 20101.0],
            "ITSEX": [1, 2, 1],
            "BSBGEDUM": [6, 3, 2],
            "BSBGEDUF": [7, 4, 1],
            **{f"BSMPV0{k}": [620.0, 580.0, 500.0 + k] for k in range(1, 6)},
            # The sampling design; one school weight (10 * 1.2) for every school.
            "TOTWGT": [24.0, 36.0, 12.0],
            "HOUWGT": [0.8, 1.2, 0.4],
            "SENWGT": [2.0, 3.0, 1.0],
            "WGTFAC1": 10.0,
            "WGTADJ1": 1.2,
            "WGTFAC2": [2.0, 3.0, 1.0],
            "WGTFAC3": 1.0,
            "WGTADJ3": 1.0,
            "JKZONE": 1,
            "JKREP": [0, 0, 1],
        }
    )
    pyreadstat.write_sav(frame, path)
    return path


@pytest.mark.parametrize(
    "idschool", [[1.5, 1.7, 2.0], [1.0, 1.25, 2.0], [1.0, 1.0, 2.000001]], ids=str
)
def test_read_timss_files_refuses_fractional_school_ids(tmp_path, idschool):
    korea = _write_timss(tmp_path / "BSGKORM1.sav", idschool, 410)
    usa = _write_timss(tmp_path / "BSGUSAM1.sav", [1.0, 1.0, 2.0], 840)
    with pytest.raises(ModelInputError, match=r"BSGKORM1.*'IDSCHOOL'.*not whole numbers"):
        hlm.read_timss_files(korea, usa)


def test_read_timss_files_reads_whole_ids(tmp_path):
    korea = _write_timss(tmp_path / "BSGKORM1.sav", [1.0, 1.0, 2.0], 410)
    usa = _write_timss(tmp_path / "BSGUSAM1.sav", [1.0, 1.0, 2.0], 840)
    timss = hlm.read_timss_files(korea, usa)
    assert len(timss) == 6 and timss["school"].nunique() == 4
    assert timss.attrs["n_other_grades"] == {"Korea": 0, "USA": 0}
    assert timss["within_school_weight"].tolist() == [2.0, 3.0, 1.0] * 2


@pytest.mark.parametrize(
    ("argument", "value", "message"),
    [
        ("plausible_values", "BSM", "Unknown plausible_values 'BSM'"),
        ("plausible_values", 5, "Unknown plausible_values 5"),
        ("upper_grade_only", "no", "upper_grade_only must be True or False"),
        ("sampling_design", 1, "sampling_design must be True or False"),
    ],
)
def test_read_timss_files_bad_options(tmp_path, argument, value, message):
    korea = _write_timss(tmp_path / "BSGKORM1.sav", [1.0, 1.0, 2.0], 410)
    usa = _write_timss(tmp_path / "BSGUSAM1.sav", [1.0, 1.0, 2.0], 840)
    with pytest.raises(ModelInputError, match=message):
        hlm.read_timss_files(korea, usa, **{argument: value})


@pytest.mark.parametrize("korea", [None, 3, ["a"], ("a", "b", "c")], ids=repr)
def test_read_timss_files_bad_paths_are_model_input_errors(korea):
    pytest.importorskip("pyreadstat")
    with pytest.raises(ModelInputError, match="files for Korea"):
        hlm.read_timss_files(korea, "usa.sav")


# -- by= never merges levels, and every row of every level is fitted ----------------------------
@pytest.mark.parametrize("fit", ["ols", "hlm"])
@pytest.mark.parametrize("levels", [(1, "1"), (1.0, "1.0"), (True, "True"), ("a", "a")])
def test_by_levels_that_look_alike_are_refused(hsb, fit, levels):
    """Two levels whose labels coincide would share one result: one of them would be lost."""
    data = hsb.copy()
    data["country"] = pd.Series(
        [levels[i % 2] for i in range(len(hsb))], index=hsb.index, dtype=object
    )
    before = data.copy()
    call = (
        (lambda: hlm.fit_ols(data, "mathach ~ ses", by="country"))
        if fit == "ols"
        else (lambda: hlm.fit_hlm(data, "mathach ~ ses", group="school", by="country"))
    )
    if levels[0] == levels[1]:  # the same level twice is one level: every row is fitted
        assert call()["a"].n_obs == len(hsb)
        return
    with pytest.raises(
        ModelInputError, match=r"by= column 'country' has levels that look the same"
    ):
        call()
    pd.testing.assert_frame_equal(data, before)


@pytest.mark.parametrize("by", [["country"], 3, None])
def test_by_must_name_one_column(hsb, by):
    if by is None:
        assert hlm.fit_ols(hsb, "mathach ~ ses", by=by).n_obs == len(hsb)
        return
    with pytest.raises(ModelInputError, match=r"argument by must be the name of one column"):
        hlm.fit_ols(hsb, "mathach ~ ses", by=by)


def test_by_fits_every_row_of_every_level(hsb):
    data = hsb.assign(kind=np.where(hsb["sector"] == 1, "catholic", "public"))
    data.loc[data.index[:9], "ses"] = np.nan
    fits = hlm.fit_hlm(data, "mathach ~ ses", group="school", by="kind")
    assert sum(f.n_obs + f.n_dropped for f in fits.values()) == len(data)
    assert sum(f.n_dropped for f in fits.values()) == 9


def test_by_with_missing_levels_is_refused(hsb):
    data = hsb.assign(kind=np.where(hsb.index < 5, None, "a"))
    with pytest.raises(ModelInputError, match=r"by= column 'kind' has 5 missing value"):
        hlm.fit_ols(data, "mathach ~ ses", by="kind")


def test_rows_missing_the_school_id_are_counted(hsb):
    data = hsb.copy()
    data["school"] = data["school"].astype(float)
    data.loc[data.index[:4], "school"] = np.nan
    fit = hlm.fit_hlm(data, "mathach ~ ses", group="school")
    assert (fit.n_obs, fit.n_dropped) == (len(hsb) - 4, 4)
    assert "Observations Not Used" in str(fit) or "not used" in str(fit).lower()


@pytest.mark.parametrize("where", ["missing file", "empty folder"])
def test_missing_timss_files_are_model_input_errors(tmp_path, where):
    path = tmp_path / "BSGKORM1.sav" if where == "missing file" else tmp_path
    with pytest.raises(ModelInputError, match=r"Korea") as error:
        hlm.read_timss_files(path, path)
    assert isinstance(error.value, FileNotFoundError)
