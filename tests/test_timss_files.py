"""Tests of hlmteach.timss_files: small files in IEA's TIMSS 1995 layout, written here."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pyreadstat = pytest.importorskip("pyreadstat")

from hlmteach.data import PARENT_EDUCATION_LEVELS, PLAUSIBLE_VALUES  # noqa: E402
from hlmteach.timss_files import read_timss_files  # noqa: E402
from hlmteach.validation import ModelInputError  # noqa: E402

PVS = [f"BSMPV0{k}" for k in range(1, 6)]

# idschool, idstud, ITSEX, BSBGEDUM, BSBGEDUF, first plausible value; deliberately unsorted.
KOREA = [
    (2, 20102, 2, 6, 7, 610.0),  # boy, mother university, father "don't know" -> college
    (1, 10101, 1, 3, 98, 540.0),  # girl, secondary + not administered -> high school
    (2, 20101, 9, 7, 7, 600.0),  # sex omitted, both "don't know" -> missing
    (1, 10102, 2, 1, 2, 520.0),  # boy, primary + some secondary -> middle school
]
USA = [
    (5, 50101, 1, 4, 1, 480.0),  # girl, some vocational -> 2-year college
    (3, 30101, 2, 5, 3, 500.0),  # boy, some university -> 2-year college
    (3, 30102, 8, 99, 99, 450.0),  # sex not administered, both omitted -> missing
]

# What the tidy frame must hold, in its sorted order: (idcntry, idschool, idstud, boy, level).
EXPECTED = [
    (410, 1, 10101, 0.0, "high school"),
    (410, 1, 10102, 1.0, "middle school"),
    (410, 2, 20101, np.nan, None),
    (410, 2, 20102, 1.0, "college"),
    (840, 3, 30101, 1.0, "2-year college"),
    (840, 3, 30102, np.nan, None),
    (840, 5, 50101, 0.0, "2-year college"),
]
FIRST_PV = {10101: 540.0, 10102: 520.0, 20101: 600.0, 20102: 610.0, 30101: 500.0}
FIRST_PV |= {30102: 450.0, 50101: 480.0}

# The sampling design by student, in IEA's variables. TOTWGT is the product of the five
# factors, worked out by hand: school 1: 25 * 1.2 = 30; school 2: 40 * 1 = 40;
# school 3: 300 * 1.1 = 330; school 5: 150 * 1.3 = 195.
DESIGN_COLUMNS = [
    "TOTWGT",
    "WGTFAC1",
    "WGTADJ1",
    "WGTFAC2",
    "WGTFAC3",
    "WGTADJ3",
    "JKZONE",
    "JKREP",
]
DESIGN = {
    10101: (75.0, 25.0, 1.2, 2.0, 1.0, 1.25, 1, 0),  # 30 * 2 * 1.25
    10102: (60.0, 25.0, 1.2, 2.0, 1.0, 1.0, 1, 0),  # 30 * 2
    20101: (60.0, 40.0, 1.0, 1.0, 1.0, 1.5, 1, 1),  # 40 * 1.5
    20102: (80.0, 40.0, 1.0, 1.0, 1.0, 2.0, 1, 1),  # 40 * 2
    30101: (330.0, 300.0, 1.1, 1.0, 1.0, 1.0, 2, 1),  # 330
    30102: (660.0, 300.0, 1.1, 1.0, 2.0, 1.0, 2, 1),  # 330 * 2
    50101: (585.0, 150.0, 1.3, 3.0, 1.0, 1.0, 2, 0),  # 195 * 3
}
# What the tidy frame must derive, in EXPECTED's order: school weight WGTFAC1 * WGTADJ1,
# within-school weight TOTWGT / school weight.
SCHOOL_WEIGHT = [30.0, 30.0, 40.0, 40.0, 330.0, 330.0, 195.0]
WITHIN_SCHOOL_WEIGHT = [2.5, 2.0, 1.5, 2.0, 1.0, 2.0, 3.0]

EDUCATION_LABELS = {
    1: "<finish primary schl>",
    2: "<finish some secondary schl>",
    3: "<finish secondary schl>",
    4: "<some vocational education>",
    5: "<some university>",
    6: "<finish university>",
    7: "I don't know",
    98: "not admin.",
    99: "omitted",
}
VALUE_LABELS = {
    "ITSEX": {1: "girl", 2: "boy", 8: "not admin.", 9: "omitted"},
    "BSBGEDUM": EDUCATION_LABELS,
    "BSBGEDUF": EDUCATION_LABELS,
    "IDGRADER": {1: "lower grade", 2: "upper grade", 3: "grade above upper grade"},
}
USER_MISSING = {"ITSEX": [8, 9], "BSBGEDUM": [96, 98, 99], "BSBGEDUF": [96, 98, 99]}


def students(idcntry: int, rows: list[tuple]) -> pd.DataFrame:
    """One row per student with every variable of IEA's student background file."""
    frame = pd.DataFrame(
        rows, columns=["IDSCHOOL", "IDSTUD", "ITSEX", "BSBGEDUM", "BSBGEDUF", "PV"]
    )
    frame.insert(0, "IDCNTRY", idcntry)
    frame["IDGRADER"] = 2
    for k, pv in enumerate(PVS, start=1):
        frame[pv] = frame["PV"] + 3.0 * (k - 1)
    design = pd.DataFrame([DESIGN[i] for i in frame["IDSTUD"]], columns=DESIGN_COLUMNS)
    frame = pd.concat([frame.drop(columns="PV"), design], axis=1)
    frame["HOUWGT"] = frame["TOTWGT"] / 100.0
    frame["SENWGT"] = frame["TOTWGT"] / 4.0
    return frame


def write(path: Path, frame: pd.DataFrame, *, lower: bool = False) -> Path:
    """Write a frame as SPSS (with IEA value labels and user-missing codes) or SAS transport."""
    if path.suffix == ".xpt":
        pyreadstat.write_xport(frame, str(path))
        return path
    labels = {name: codes for name, codes in VALUE_LABELS.items() if name in frame.columns}
    missing = {name: codes for name, codes in USER_MISSING.items() if name in frame.columns}
    if lower:
        frame = frame.rename(columns=str.lower)
        labels = {name.lower(): codes for name, codes in labels.items()}
        missing = {name.lower(): codes for name, codes in missing.items()}
    pyreadstat.write_sav(
        frame, str(path), variable_value_labels=labels, missing_ranges=missing or None
    )
    return path


@pytest.fixture
def korea() -> pd.DataFrame:
    return students(410, KOREA)


@pytest.fixture
def usa() -> pd.DataFrame:
    return students(840, USA)


@pytest.fixture
def files(tmp_path: Path, korea: pd.DataFrame, usa: pd.DataFrame) -> tuple[Path, Path]:
    """Korea in upper-case SPSS, the USA in lower-case SPSS, both in IEA's layout."""
    return (
        write(tmp_path / "BSGKORM1.sav", korea),
        write(tmp_path / "BSGUSAM1.sav", usa, lower=True),
    )


def check_tidy(timss: pd.DataFrame) -> None:
    """Compare a tidy frame with EXPECTED, with z-scores computed here by hand."""
    assert list(timss["idcntry"]) == [row[0] for row in EXPECTED]
    assert list(timss["idschool"]) == [row[1] for row in EXPECTED]
    assert list(timss["idstud"]) == [row[2] for row in EXPECTED]
    assert list(timss["country"].astype(str)) == ["Korea"] * 4 + ["USA"] * 3
    assert list(timss["school"]) == [row[0] * 10000 + row[1] for row in EXPECTED]
    np.testing.assert_array_equal(timss["boy"].to_numpy(), [row[3] for row in EXPECTED])
    educ = [None if pd.isna(value) else value for value in timss["parent_educ"]]
    assert educ == [row[4] for row in EXPECTED]
    assert list(timss["parent_educ"].cat.categories) == list(PARENT_EDUCATION_LEVELS)
    assert timss["parent_educ"].cat.ordered
    college = [np.nan if row[4] is None else float(row[4] == "college") for row in EXPECTED]
    np.testing.assert_array_equal(timss["college"].to_numpy(), college)
    first = np.array([FIRST_PV[row[2]] for row in EXPECTED])
    for k, pv in enumerate(PLAUSIBLE_VALUES, start=1):
        values = first + 3.0 * (k - 1)
        np.testing.assert_allclose(timss[pv].to_numpy(), values)
        mean = values.sum() / len(values)
        sd = np.sqrt(((values - mean) ** 2).sum() / (len(values) - 1))
        np.testing.assert_allclose(timss[f"math{k}"].to_numpy(), (values - mean) / sd)
    np.testing.assert_allclose(timss["math"].to_numpy(), timss["math1"].to_numpy())
    check_design(timss)


def check_design(timss: pd.DataFrame, replicate: str = "JKREP") -> None:
    """The sampling design of EXPECTED's students, kept and derived."""
    design = np.array([DESIGN[row[2]] for row in EXPECTED])
    np.testing.assert_allclose(timss["total_weight"].to_numpy(), design[:, 0])
    np.testing.assert_allclose(timss["house_weight"].to_numpy(), design[:, 0] / 100.0)
    np.testing.assert_allclose(timss["senate_weight"].to_numpy(), design[:, 0] / 4.0)
    for position, name in enumerate(["wgtfac1", "wgtadj1", "wgtfac2", "wgtfac3", "wgtadj3"]):
        np.testing.assert_allclose(timss[name].to_numpy(), design[:, position + 1])
    np.testing.assert_allclose(timss["school_weight"].to_numpy(), SCHOOL_WEIGHT)
    np.testing.assert_allclose(timss["within_school_weight"].to_numpy(), WITHIN_SCHOOL_WEIGHT)
    assert timss["jk_zone"].tolist() == [1, 1, 1, 1, 2, 2, 2]
    assert timss["jk_replicate"].tolist() == [0, 0, 1, 1, 1, 1, 0]
    assert "wgtadj2" not in timss.columns
    sources = timss.attrs["design_variables"]
    assert sources["total_weight"] == "TOTWGT" and sources["jk_zone"] == "JKZONE"
    assert sources["jk_replicate"] == replicate
    assert sources["school_weight"] == "WGTFAC1 * WGTADJ1"
    assert "Sampling design: TOTWGT, HOUWGT, SENWGT, WGTFAC1" in timss.attrs["label"]


def test_reads_spss_files_into_the_tidy_frame(files: tuple[Path, Path]) -> None:
    timss = read_timss_files(*files)
    check_tidy(timss)
    label = timss.attrs["label"]
    assert label.startswith("REAL TIMSS 1995 data")
    assert "BSGKORM1.sav" in label and "BSGUSAM1.sav" in label
    assert "BSMPV01..BSMPV05" in label


def test_accepts_str_paths(files: tuple[Path, Path]) -> None:
    check_tidy(read_timss_files(str(files[0]), str(files[1])))


def test_iea_missing_codes_count_as_missing_without_spss_declarations(
    tmp_path: Path, korea: pd.DataFrame, usa: pd.DataFrame
) -> None:
    korea_file = tmp_path / "BSGKORM1.sav"
    usa_file = tmp_path / "BSGUSAM1.sav"
    pyreadstat.write_sav(korea, str(korea_file))
    pyreadstat.write_sav(usa, str(usa_file))
    check_tidy(read_timss_files(korea_file, usa_file))


def test_reads_sas_transport_files(tmp_path: Path, korea: pd.DataFrame, usa: pd.DataFrame) -> None:
    timss = read_timss_files(
        write(tmp_path / "bsgkorm1.xpt", korea), write(tmp_path / "bsgusam1.xpt", usa)
    )
    check_tidy(timss)
    assert "bsgkorm1.xpt" in timss.attrs["label"]


def split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """IEA's background (questionnaire) and achievement (plausible values) files.

    As in IEA's 1995 files, the achievement file repeats the weights and the
    jackknife variables but not the weighting factors.
    """
    ids = ["IDCNTRY", "IDSCHOOL", "IDSTUD"]
    background = frame.drop(columns=PVS)
    repeated = ["ITSEX", "TOTWGT", "HOUWGT", "SENWGT", "JKZONE", "JKREP"]
    achievement = frame[[*ids, *repeated, *PVS]].sample(frac=1.0, random_state=1)
    return background, achievement


def test_merges_background_and_achievement_files(
    tmp_path: Path, korea: pd.DataFrame, usa: pd.DataFrame
) -> None:
    pairs = []
    for code, frame in (("KOR", korea), ("USA", usa)):
        background, achievement = split(frame)
        pairs.append(
            (
                write(tmp_path / f"BSG{code}M1.sav", background),
                write(tmp_path / f"BSA{code}M1.sav", achievement, lower=True),
            )
        )
    timss = read_timss_files(*pairs)
    check_tidy(timss)
    assert "BSGKORM1.sav + BSAKORM1.sav" in timss.attrs["label"]


def test_merge_that_drops_students_is_an_error(
    tmp_path: Path, korea: pd.DataFrame, files: tuple[Path, Path]
) -> None:
    background, achievement = split(korea)
    pair = (
        write(tmp_path / "BSGKOR1.sav", background),
        write(tmp_path / "BSAKOR1.sav", achievement.iloc[1:]),
    )
    with pytest.raises(ValueError, match=r"would drop 1 student\(s\)") as error:
        read_timss_files(pair, files[1])
    assert "BSGKOR1.sav" in str(error.value) and "BSAKOR1.sav" in str(error.value)


def test_reads_folders_of_iea_files(tmp_path: Path, korea: pd.DataFrame, usa: pd.DataFrame) -> None:
    for code, frame in (("KOR", korea), ("USA", usa)):
        folder = tmp_path / code
        folder.mkdir()
        background, achievement = split(frame)
        write(folder / f"BSG{code}M1.sav", background)
        write(folder / f"BSA{code}M1.sav", achievement)
        (folder / f"BCG{code}M1.sav").write_bytes(b"a school file the reader must not open")
    timss = read_timss_files(tmp_path / "KOR", tmp_path / "USA")
    check_tidy(timss)
    assert "BSGUSAM1.sav + BSAUSAM1.sav" in timss.attrs["label"]


def test_folder_without_a_student_file_is_an_error(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="BSGKORM1"):
        read_timss_files(empty, files[1])


def test_keeps_the_upper_grade_only(
    tmp_path: Path, korea: pd.DataFrame, files: tuple[Path, Path]
) -> None:
    seventh = korea.iloc[[0]].assign(IDSTUD=99901, IDGRADER=1)
    both_grades = write(tmp_path / "BSGKOR1.sav", pd.concat([korea, seventh]))
    check_tidy(read_timss_files(both_grades, files[1]))
    every_grade = read_timss_files(both_grades, files[1], upper_grade_only=False)
    assert 99901 in set(every_grade["idstud"])


def test_missing_file_is_named(tmp_path: Path, files: tuple[Path, Path]) -> None:
    absent = tmp_path / "nowhere" / "BSGKORM1.sav"
    with pytest.raises(FileNotFoundError) as error:
        read_timss_files(absent, files[1])
    message = str(error.value)
    assert str(absent) in message
    assert "student background file for Korea" in message and "BSGKORM1.sav" in message


def test_corrupt_file_is_named(tmp_path: Path, files: tuple[Path, Path]) -> None:
    garbage = tmp_path / "BSGUSAM1_broken.sav"
    garbage.write_bytes(b"\x00\x17 this is not an SPSS file " * 20)
    with pytest.raises(ValueError, match="Cannot read") as error:
        read_timss_files(files[0], garbage)
    assert "BSGUSAM1_broken.sav" in str(error.value)


def test_unsupported_extension_is_an_error(tmp_path: Path, files: tuple[Path, Path]) -> None:
    text = tmp_path / "BSGKOR1.DAT"
    text.write_text("41000001")
    with pytest.raises(ValueError, match=r"'\.DAT' is not one of"):
        read_timss_files(text, files[1])


def test_missing_variable_is_named(
    tmp_path: Path, korea: pd.DataFrame, files: tuple[Path, Path]
) -> None:
    incomplete = write(tmp_path / "BSGKOR1.sav", korea.drop(columns=["BSBGEDUF"]))
    with pytest.raises(ValueError, match=r"\['BSBGEDUF'\]") as error:
        read_timss_files(incomplete, files[1])
    message = str(error.value)
    assert "BSGKOR1.sav" in message and "IDCNTRY, IDSCHOOL, IDSTUD, ITSEX" in message


def test_rescaled_plausible_values_on_request(
    tmp_path: Path, korea: pd.DataFrame, usa: pd.DataFrame
) -> None:
    renames = {pv: pv.replace("BSMPV", "BSMMAT") for pv in PVS}
    rescaled = [
        write(tmp_path / f"BSG{code}M1.sav", frame.rename(columns=renames))
        for code, frame in (("KOR", korea), ("USA", usa))
    ]
    with pytest.raises(ValueError, match="plausible_values='BSMMAT'"):
        read_timss_files(*rescaled)
    timss = read_timss_files(*rescaled, plausible_values="BSMMAT")
    check_tidy(timss)
    assert "BSMMAT01..BSMMAT05" in timss.attrs["label"]


def test_unknown_country_code_is_an_error(
    tmp_path: Path, korea: pd.DataFrame, files: tuple[Path, Path]
) -> None:
    japan = write(tmp_path / "BSGJPNM1.sav", korea.assign(IDCNTRY=392))
    with pytest.raises(ValueError, match=r"\['392'\]") as error:
        read_timss_files(japan, files[1])
    message = str(error.value)
    assert "BSGJPNM1.sav" in message and "expected 410 (Korea)" in message


def test_wrong_country_in_a_file_is_an_error(files: tuple[Path, Path]) -> None:
    with pytest.raises(ValueError, match="expected 410 \\(Korea\\)") as error:
        read_timss_files(files[1], files[0])
    message = str(error.value)
    assert "BSGUSAM1.sav" in message and "['840']" in message and "swap" in message


def test_unknown_sex_code_is_an_error(
    tmp_path: Path, korea: pd.DataFrame, files: tuple[Path, Path]
) -> None:
    korea.loc[0, "ITSEX"] = 3
    odd = write(tmp_path / "BSGKORM1.sav", korea)
    with pytest.raises(ValueError, match=r"unknown code\(s\) \['3'\] in ITSEX") as error:
        read_timss_files(odd, files[1])
    assert "1 girl; 2 boy" in str(error.value)


def test_unknown_parent_education_code_is_an_error(
    tmp_path: Path, usa: pd.DataFrame, files: tuple[Path, Path]
) -> None:
    usa.loc[1, "BSBGEDUF"] = 12
    odd = write(tmp_path / "BSGUSAM1.sav", usa)
    with pytest.raises(ValueError, match=r"unknown code\(s\) \['12'\] in BSBGEDUF") as error:
        read_timss_files(files[0], odd)
    message = str(error.value)
    assert "6 <finish university>" in message and "PARENT_EDUCATION_CODES" in message


def test_duplicate_students_are_an_error(
    tmp_path: Path, korea: pd.DataFrame, files: tuple[Path, Path]
) -> None:
    twice = write(tmp_path / "BSGKORM1.sav", pd.concat([korea, korea.iloc[[0]]]))
    with pytest.raises(ValueError, match="more than once"):
        read_timss_files(twice, files[1])


def test_three_files_for_a_country_are_refused(files: tuple[Path, Path]) -> None:
    with pytest.raises(ModelInputError, match="pair"):
        read_timss_files([files[0]] * 3, files[1])


def test_missing_pyreadstat_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, files: tuple[Path, Path]
) -> None:
    monkeypatch.setitem(sys.modules, "pyreadstat", None)
    with pytest.raises(ImportError, match=r"pip install pyreadstat.*hlmteach\[timss\]"):
        read_timss_files(*files)


def test_reads_the_1997_replicate_name_jkindic(
    tmp_path: Path, korea: pd.DataFrame, usa: pd.DataFrame
) -> None:
    files = [
        write(tmp_path / f"BSG{code}1.sav", frame.rename(columns={"JKREP": "JKINDIC"}))
        for code, frame in (("KOR", korea), ("USA", usa))
    ]
    timss = read_timss_files(*files)
    check_design(timss, replicate="JKINDIC")
    assert "JKZONE, JKINDIC." in timss.attrs["label"]


def test_releases_that_differ_between_countries_are_named(
    tmp_path: Path, korea: pd.DataFrame, files: tuple[Path, Path]
) -> None:
    old = write(tmp_path / "BSGKOR1.sav", korea.rename(columns={"JKREP": "JKINDIC"}))
    timss = read_timss_files(old, files[1])
    check_design(timss, replicate="JKINDIC (Korea), JKREP (USA)")


def test_later_release_class_adjustment_is_kept_when_both_countries_have_it(
    tmp_path: Path, korea: pd.DataFrame, usa: pd.DataFrame
) -> None:
    later = [
        write(tmp_path / f"BSG{code}M5.sav", frame.assign(WGTADJ2=adjustment))
        for code, frame, adjustment in (("KOR", korea, 1.0), ("USA", usa, 1.25))
    ]
    timss = read_timss_files(*later)
    assert timss["wgtadj2"].tolist() == [1.0] * 4 + [1.25] * 3
    assert timss.attrs["design_variables"]["wgtadj2"] == "WGTADJ2"
    only_korea = read_timss_files(later[0], write(tmp_path / "BSGUSAM1.sav", usa))
    check_design(only_korea)
    assert "WGTADJ2 was found only in Korea's files and is left out." in only_korea.attrs["label"]


@pytest.mark.parametrize("variable", ["TOTWGT", "WGTFAC1", "WGTADJ1", "SENWGT", "JKZONE"])
def test_missing_weight_variable_is_named_with_the_fix(
    tmp_path: Path, korea: pd.DataFrame, files: tuple[Path, Path], variable: str
) -> None:
    incomplete = write(tmp_path / "BSGKORM1.sav", korea.drop(columns=variable))
    with pytest.raises(
        ModelInputError, match=rf"lack\(s\) the variable\(s\) \['{variable}'\]"
    ) as error:
        read_timss_files(incomplete, files[1])
    message = str(error.value)
    assert "BSGKORM1.sav" in message
    assert "student background file (BSG...)" in message and "sampling_design=False" in message


def test_missing_replicate_indicator_names_both_release_names(
    tmp_path: Path, usa: pd.DataFrame, files: tuple[Path, Path]
) -> None:
    incomplete = write(tmp_path / "BSGUSAM1.sav", usa.drop(columns="JKREP"))
    with pytest.raises(ModelInputError, match=r"\['JKREP or JKINDIC'\]") as error:
        read_timss_files(files[0], incomplete)
    assert "BSGUSAM1.sav" in str(error.value)


def test_renamed_weight_variable_is_named_with_its_likely_new_name(
    tmp_path: Path, korea: pd.DataFrame, files: tuple[Path, Path]
) -> None:
    renamed = write(tmp_path / "BSGKORM1.sav", korea.rename(columns={"TOTWGT": "TOTWGT_S"}))
    with pytest.raises(ModelInputError, match=r"\['TOTWGT'\]") as error:
        read_timss_files(renamed, files[1])
    message = str(error.value)
    assert "BSGKORM1.sav" in message
    assert "weight-like variable(s) ['TOTWGT_S'] instead" in message and "rename it back" in message


def test_achievement_file_alone_lacks_the_weighting_factors(
    tmp_path: Path, korea: pd.DataFrame, files: tuple[Path, Path]
) -> None:
    _, achievement = split(korea)
    with pytest.raises(ModelInputError, match=r"'WGTFAC1', 'WGTADJ1', 'WGTFAC2'") as error:
        read_timss_files(write(tmp_path / "BSAKORM1.sav", achievement), files[1])
    assert "BSAKORM1.sav" in str(error.value)


def test_without_the_sampling_design_on_request(
    tmp_path: Path, korea: pd.DataFrame, usa: pd.DataFrame
) -> None:
    bare = [
        write(tmp_path / f"BSG{code}M1.sav", frame.drop(columns=[*DESIGN_COLUMNS, "HOUWGT"]))
        for code, frame in (("KOR", korea), ("USA", usa))
    ]
    with pytest.raises(ModelInputError, match="sampling_design=False"):
        read_timss_files(*bare)
    timss = read_timss_files(*bare, sampling_design=False)
    assert list(timss["idstud"]) == [row[2] for row in EXPECTED]
    assert not {"total_weight", "school_weight", "jk_zone", "senate_weight"} & set(timss.columns)
    assert timss.attrs["design_variables"] == {}
    assert "Read without the sampling design" in timss.attrs["label"]
    with pytest.raises(ModelInputError, match="sampling_design"):
        read_timss_files(*bare, sampling_design="no")


@pytest.mark.parametrize("code", [999998.0, 999999.0])
def test_iea_missing_code_in_a_weight_is_an_error_naming_the_file(
    tmp_path: Path, korea: pd.DataFrame, files: tuple[Path, Path], code: float
) -> None:
    korea.loc[1, "TOTWGT"] = code
    odd = write(tmp_path / "bsgkorm1.xpt", korea)  # SAS: the code is a plain number
    with pytest.raises(ModelInputError, match=r"'totwgt' \(IEA TOTWGT\) is missing") as error:
        read_timss_files(odd, files[1])
    message = str(error.value)
    assert "bsgkorm1.xpt" in message and "IDSTUD 10101" in message


def test_missing_jackknife_zone_code_is_an_error(
    tmp_path: Path, usa: pd.DataFrame, files: tuple[Path, Path]
) -> None:
    usa.loc[0, "JKZONE"] = 98
    odd = write(tmp_path / "BSGUSAM1.sav", usa)
    with pytest.raises(ModelInputError, match=r"jackknife variable 'jkzone'") as error:
        read_timss_files(files[0], odd)
    assert "BSGUSAM1.sav" in str(error.value) and "IDSTUD 50101" in str(error.value)


@pytest.mark.parametrize("value", [0.0, -2.0])
def test_zero_or_negative_weight_is_an_error_naming_the_column(
    tmp_path: Path, usa: pd.DataFrame, files: tuple[Path, Path], value: float
) -> None:
    usa.loc[2, "WGTFAC3"] = value
    odd = write(tmp_path / "BSGUSAM1.sav", usa)
    with pytest.raises(ModelInputError, match=r"'wgtfac3' \(IEA WGTFAC3\)") as error:
        read_timss_files(files[0], odd)
    assert "BSGUSAM1.sav" in str(error.value) and "IDSTUD 30102" in str(error.value)


def test_school_weight_that_varies_within_a_school_names_the_school(
    tmp_path: Path, korea: pd.DataFrame, files: tuple[Path, Path]
) -> None:
    korea.loc[korea["IDSTUD"] == 20101, "WGTADJ1"] = 1.1  # school 2: 40 * 1.1 and 40 * 1
    odd = write(tmp_path / "BSGKORM1.sav", korea)
    with pytest.raises(
        ModelInputError, match=r"varies within 1 school\(s\): Korea IDSCHOOL 2"
    ) as error:
        read_timss_files(odd, files[1])
    assert "BSGKORM1.sav" in str(error.value)
