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
    return frame.drop(columns="PV")


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
    """IEA's background (questionnaire) and achievement (plausible values) files."""
    ids = ["IDCNTRY", "IDSCHOOL", "IDSTUD"]
    background = frame.drop(columns=PVS)
    achievement = frame[[*ids, "ITSEX", *PVS]].sample(frac=1.0, random_state=1)
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
