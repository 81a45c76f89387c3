"""build_design's fast route gives what the general one (patsy, pandas, QR) gives.

build_design reads each column once as a numpy array, proves the rank check with the
Gram matrix where it can, codes sorted school ids where they change and settles the
identifiability tests by counts where a count suffices. Each shortcut is checked here
against the slower, independent computation it replaces: patsy's matrices on the
complete rows, ``pd.factorize``, a pandas ``groupby``, the QR rank check, and the
full identifiability computations.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hlmteach.design import (
    ModelInputError,
    _gram_proves_independent,
    _group_codes,
    _rank_check,
    build_design,
    varies_within_groups,
)

# -- the design equals patsy's on the complete rows, with pandas' school codes ---------------


def _reference_design(
    data: pd.DataFrame, formula: str, random: list[str], used: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, pd.Index]:
    """y, X, Z, codes, ids and rows by patsy and pandas, without build_design's shortcuts.

    ``used`` names the model's columns, the grouping column ``school`` last.
    """
    import patsy

    complete = data.loc[data[used].notna().all(axis=1)]
    plain = complete.assign(
        **{
            c: complete[c].to_numpy(dtype=float, na_value=np.nan)
            for c in used
            if c != "school" and isinstance(complete[c].dtype, pd.api.extensions.ExtensionDtype)
        }
    )
    y_df, X_df = patsy.dmatrices(formula, plain, return_type="dataframe")
    Z_df = patsy.dmatrix(" + ".join(["1", *random]), plain, return_type="dataframe")
    codes, ids = pd.factorize(complete["school"], sort=True)
    return (
        y_df.iloc[:, 0].to_numpy(),
        X_df.to_numpy(),
        Z_df.to_numpy(),
        codes,
        np.asarray(ids),
        complete.index,
    )


def _frames() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(20261202)
    n = 240
    school = np.repeat(np.arange(30), 8)
    frame = pd.DataFrame(
        {
            "y": rng.normal(size=n) + school % 5,
            "x": rng.normal(size=n),
            "k": rng.integers(0, 4, n),
            "w": np.repeat(rng.normal(size=30), 8),
            "school": school,
        }
    )
    missing = frame.copy()
    missing.loc[::7, "x"] = np.nan
    missing.loc[::11, "y"] = np.nan
    missing.loc[::13, "school"] = np.nan
    nullable = missing.copy()
    nullable["k"] = nullable["k"].astype("Int64")
    nullable.loc[5, "k"] = pd.NA
    nullable["x"] = nullable["x"].astype("Float64")
    shuffled = frame.sample(frac=1.0, random_state=1)
    text_ids = frame.assign(school=frame["school"].map(lambda s: f"s{s:02d}"))
    labelled = frame.set_axis(pd.Index([f"r{i}" for i in range(n)], name="student"))
    labelled.attrs["label"] = "attrs are copied with each column"
    return {
        "plain": frame,
        "missing values": missing,
        "nullable dtypes": nullable,
        "schools unsorted": shuffled,
        "text ids": text_ids,
        "labelled rows": labelled,
    }


@pytest.mark.parametrize("name", list(_frames()))
@pytest.mark.parametrize(
    ("formula", "random", "used"),
    [
        ("y ~ x", ["x"], ["y", "x"]),
        ("y ~ x * w + k", ["x"], ["y", "x", "w", "k"]),
        ("y ~ x + k", ["k", "x:k"], ["y", "x", "k"]),
        ("y ~ C(k) + x", ["x"], ["y", "k", "x"]),  # patsy's route for the fixed part
        ("np.log(y + 10) ~ x", [], ["y", "x"]),
    ],
)
def test_design_is_patsys_on_the_complete_rows(
    name: str, formula: str, random: list[str], used: list[str]
):
    data = _frames()[name]
    design = build_design(data.copy(), formula, group="school", random=random)
    y, X, Z, codes, ids, rows = _reference_design(data, formula, random, [*used, "school"])
    np.testing.assert_array_equal(design.y, y)
    np.testing.assert_array_equal(design.X, X)
    np.testing.assert_array_equal(design.Z, Z)
    np.testing.assert_array_equal(design.group_codes, codes)
    np.testing.assert_array_equal(design.group_labels, ids)
    assert design.rows.equals(rows)
    assert design.n_dropped == data.shape[0] - rows.shape[0]
    np.testing.assert_array_equal(
        design.school_level, ~varies_within_groups(design.X, design.group_codes)
    )


def test_design_does_not_share_memory_with_the_data(small_panel: pd.DataFrame):
    design = build_design(small_panel, "y ~ x", group="school", random=["x"])
    y, X = design.y.copy(), design.X.copy()
    small_panel["y"] *= 2.0
    small_panel["x"] += 1.0
    np.testing.assert_array_equal(design.y, y)
    np.testing.assert_array_equal(design.X, X)


def test_numeric_formulas_do_not_go_through_patsy(small_panel, monkeypatch):
    import patsy

    def refuse(*args, **kwargs):
        raise AssertionError("patsy was called for a formula of numeric columns")

    monkeypatch.setattr(patsy, "dmatrices", refuse)
    monkeypatch.setattr(patsy, "dmatrix", refuse)
    design = build_design(small_panel, "y ~ x * w", group="school", random=["x"])
    assert design.fixed_names == ["Intercept", "x", "w", "x:w"]


def test_infinite_values_in_a_nullable_or_grouping_column_are_refused(small_panel):
    nullable = small_panel.assign(x=small_panel["x"].astype("Float64"))
    nullable.loc[3, "x"] = np.inf
    with pytest.raises(ModelInputError, match=r"Column\(s\) \['x'\] contain infinite values"):
        build_design(nullable, "y ~ x", group="school")
    grouping = small_panel.assign(school=small_panel["school"].astype(float))
    grouping.loc[3, "school"] = -np.inf
    with pytest.raises(ModelInputError, match=r"Column\(s\) \['school'\] contain infinite"):
        build_design(grouping, "y ~ x", group="school")


# -- school codes: pandas' factorize, by a shortcut for ids in order --------------------------

_IDS = st.one_of(
    st.lists(st.integers(-3, 6), min_size=1, max_size=40),
    st.lists(st.sampled_from([-1.5, 0.0, 2.25, 7.0]), min_size=1, max_size=40),
    st.lists(st.booleans(), min_size=1, max_size=40),
    st.lists(st.sampled_from(["a", "b", "c10", "c9"]), min_size=1, max_size=40),
)


@given(ids=_IDS, in_order=st.booleans(), drop=st.lists(st.booleans(), min_size=40, max_size=40))
def test_school_codes_are_pandas_factorize(ids: list, in_order: bool, drop: list[bool]):
    frame = pd.DataFrame({"g": sorted(ids) if in_order else ids})
    keep = np.array(drop[: len(ids)]) if any(drop[: len(ids)]) else None
    codes, labels = _group_codes(frame, "g", keep)
    expected_codes, expected_labels = pd.factorize(
        frame["g"] if keep is None else frame["g"][keep], sort=True
    )
    np.testing.assert_array_equal(codes, expected_codes)
    np.testing.assert_array_equal(np.asarray(labels), np.asarray(expected_labels))
    assert np.asarray(labels).dtype == np.asarray(expected_labels).dtype


# -- which columns vary within schools: as pandas' groupby counts them ------------------------


@given(
    codes=st.lists(st.integers(0, 5), min_size=1, max_size=30),
    values=st.lists(st.sampled_from([-1.0, 0.0, 0.5, 3.0]), min_size=60, max_size=60),
    in_order=st.booleans(),
)
def test_varies_within_groups_is_groupby_nunique(codes: list[int], values: list, in_order: bool):
    codes_array = np.sort(codes) if in_order else np.array(codes)
    n = codes_array.shape[0]
    matrix = np.c_[np.ones(n), np.array(values[:n]), np.array(values[n : 2 * n])]
    expected = (pd.DataFrame(matrix).groupby(codes_array).nunique() > 1).any().to_numpy()
    np.testing.assert_array_equal(varies_within_groups(matrix, codes_array), expected)


# -- the Gram matrix proves the rank check only where QR would pass -----------------------------


@st.composite
def _designs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Designs in any units, centred or not, some of them (nearly) collinear."""
    n = draw(st.integers(4, 60))
    p = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = rng.normal(size=(n, p)) * 10.0 ** rng.integers(-6, 7, p) + 10.0 ** rng.integers(-3, 7, p)
    X[:, 0] = 1.0
    if p > 2 and draw(st.booleans()):  # a combination of the others, exactly or nearly
        X[:, -1] = (
            2.0 * X[:, 1]
            - X[:, 0]
            + draw(st.sampled_from([0.0, 1e-12, 1e-8, 1e-4])) * (rng.normal(size=n))
        )
    y = rng.normal(size=n) * 10.0 ** rng.integers(-6, 7)
    if draw(st.booleans()):  # y reproduced, exactly or nearly, by the predictors
        y = X @ rng.normal(size=p) + draw(st.sampled_from([0.0, 1e-14, 1e-9])) * rng.normal(size=n)
    return X, y


def _proves(X: np.ndarray, y: np.ndarray | None = None) -> bool:
    """The Gram proof for the columns of X, and y as the last column.

    A first column of ones is given as None, as build_design gives the intercept.
    """
    columns: list[np.ndarray | None] = list(X.T)
    if np.all(X[:, 0] == 1.0):
        columns[0] = None
    return _gram_proves_independent([*columns, *([] if y is None else [y])], X.shape[0])


@settings(max_examples=300)
@given(design=_designs())
def test_gram_proves_only_what_qr_confirms(design: tuple[np.ndarray, np.ndarray]):
    X, y = design
    names = [f"x{k}" for k in range(X.shape[1])]
    if not _proves(X, y):
        return  # QR decides: build_design falls back to it, as before
    rss = _rank_check(X, names, y=y)  # raises if QR finds a dependent column
    assert rss > 1e-20 * float(np.sum((y - y.mean()) ** 2))
    assert _proves(X)  # the columns alone are independent too


def test_gram_proof_covers_the_usual_designs(hsb: pd.DataFrame):
    """Uncentred, badly scaled and large-mean columns are proved without QR."""
    ses, mathach = hsb["ses"].to_numpy(), hsb["mathach"].to_numpy()
    intercept = np.ones_like(ses)
    for X, y in [
        (np.c_[intercept, ses], mathach),
        (np.c_[intercept, ses + 1000.0], mathach),
        (np.c_[intercept, ses * 1e6, hsb["sector"]], mathach * 1e-3 + 100.0),
    ]:
        assert _proves(X, y)
    # Too close to collinear for the Gram matrix to tell: QR decides, and accepts it.
    uncentred = hsb.assign(ses=ses * 1e-3 + 1000.0)
    assert not _proves(np.c_[intercept, uncentred["ses"]], mathach)
    assert build_design(uncentred, "mathach ~ ses").fixed_names == ["Intercept", "ses"]
    collinear = np.c_[intercept, ses, 3.0 * ses - 1.0]
    assert not _proves(collinear, mathach)
    with pytest.raises(ModelInputError, match="exact linear combination"):
        build_design(hsb.assign(s3=3.0 * hsb["ses"] - 1.0), "mathach ~ ses + s3")


# -- identifiability: the counts that skip a test give its answer ---------------------------------


def test_identifiability_checks_beyond_the_counts():
    """Small schools (N <= qJ) and many school-level columns still get the full checks."""
    school = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 5])
    x = np.array([0.0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2])
    frame = pd.DataFrame({"y": np.arange(13.0) % 4 + x, "x": x, "school": school})
    # 13 rows, q = 2 and J = 6: 13 > 12, so the count settles it (one school has 3 rows).
    assert build_design(frame, "y ~ x", group="school", random=["x"]).n_groups == 6
    # Without the third row of school 5, every school has 2 rows for 2 random effects.
    with pytest.raises(ModelInputError, match="No school has more rows than random effects"):
        build_design(frame.iloc[:-1], "y ~ x", group="school", random=["x"])
    # As many school-level columns (the intercept and a) as schools: refused.
    two = pd.DataFrame(
        {"y": [1.0, 3, 2, 5, 4, 7], "x": [0.0, 1, 2] * 2, "school": np.repeat([0, 1], 3)}
    )
    with pytest.raises(ModelInputError, match="2 school-level parameters for 2 school units"):
        build_design(two.assign(a=two["school"]), "y ~ a + x", group="school")
    # The same count, but a column too small for the SVD's rank (as before the shortcut).
    assert build_design(two.assign(a=two["school"] * 1e-17), "y ~ a + x", group="school")
