"""The glossary: one meaning per symbol, every name it lists exists, every course symbol in it."""

from __future__ import annotations

import importlib
import json
import re
from functools import cache
from pathlib import Path

import pytest

import hlmteach as hlm
from hlmteach.glossary import TOPICS, glossary
from hlmteach.validation import ModelInputError

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture(scope="module")
def fits():
    """A random-slope model fitted by hlmteach and by statsmodels (small data: fast)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(30), 12)
    x = rng.normal(size=groups.size)
    u = rng.normal(size=(30, 2)) * [0.8, 0.4]
    y = 1.0 + 0.5 * x + u[groups, 0] + u[groups, 1] * x + rng.normal(size=groups.size)
    data = pd.DataFrame({"y": y, "x": x, "school": groups})
    kwargs = {"group": "school", "random": ["x"]}
    return (
        hlm.fit_hlm(data, "y ~ x", **kwargs),
        hlm.fit_hlm(data, "y ~ x", **kwargs, engine="statsmodels"),
    )


def _tokens(symbol: str) -> list[str]:
    """The symbols of one glossary cell: "n_j, N, J" holds three."""
    return [t.strip() for t in symbol.split(",") if t.strip()]


# -- layout and one meaning per symbol ----------------------------------------------------------
def test_glossary_layout():
    table = glossary()
    assert list(table.columns) == [
        "symbol",
        "term",
        "meaning",
        "SAS PROC MIXED",
        "HLM 8",
        "lme4 (R)",
        "statsmodels",
        "hlmteach",
        "notebooks",
        "topic",
    ]
    assert table.notna().all().all()
    assert (table.drop(columns="symbol") != "").all().all()
    assert set(table["topic"]) == set(TOPICS)
    assert table["term"].is_unique
    for notebooks in table["notebooks"]:
        for number in notebooks.split(", "):
            assert list(NOTEBOOKS.glob(f"{number}_*.ipynb")) or int(number) >= 13, notebooks
    assert len(table) >= 70


def test_one_meaning_per_symbol():
    seen: dict[str, str] = {}
    for symbol, term in glossary()[["symbol", "term"]].itertuples(index=False):
        for token in _tokens(symbol):
            assert token not in seen, f"{token!r} means both {seen[token]!r} and {term!r}"
            seen[token] = term


def test_topic_and_search_filters():
    assert set(glossary(topic="plausible values")["topic"]) == {"plausible values"}
    assert "ω" in glossary(topic="plausible values")["symbol"].tolist()
    assert glossary(search="shrink")["term"].str.contains("shrinkage").any()
    with pytest.raises(ModelInputError, match="Unknown topic"):
        glossary(topic="nonsense")
    with pytest.raises(ModelInputError, match="non-empty"):
        glossary(search=" ")


# -- every name the glossary gives exists -------------------------------------------------------
def _resolve(root: object, chain: str) -> object:
    value = root
    for name in chain.split("."):
        value = getattr(value, name)
    return value


def test_every_hlmteach_name_exists(fits):
    from hlmteach.plausible import PooledResult

    fit, _ = fits
    checked = 0
    for entry in glossary()["hlmteach"]:
        for root, chain in re.findall(r"\b(hlmteach|hlm|fit|pooled)\.([A-Za-z_][\w.]*\w)", entry):
            if root == "hlmteach":
                module, _, name = chain.rpartition(".")
                value = getattr(importlib.import_module(f"hlmteach.{module}"), name)
            elif root == "hlm":
                value = _resolve(hlm, chain)
            elif root == "fit":
                value = _resolve(fit, chain)
            else:
                value = _resolve(PooledResult, chain)
            assert value is not None, entry
            checked += 1
    assert checked >= 60
    # The τ entries point at the right cells.
    assert fit.tau.iloc[1, 0] == pytest.approx(fit.covariance.loc["Cov(Intercept, x)", "estimate"])
    assert fit.tau.iloc[1, 1] == pytest.approx(fit.covariance.loc["Var(x)", "estimate"])


def test_statsmodels_names_exist_on_a_mixedlm_result(fits):
    _, res = fits
    checked = 0
    for entry in glossary()["statsmodels"]:
        for chain in re.findall(r"\bres\.([A-Za-z_][\w.]*\w)", entry):
            assert _resolve(res, chain) is not None, entry
            checked += 1
    assert checked >= 15
    # profile_re gives the profile likelihood of a variance (notebook 10 says so).
    assert callable(res.profile_re)


# -- every symbol and acronym of the course is in the glossary ----------------------------------
@cache
def _prose(path: Path) -> str:
    """Markdown of one notebook, without code blocks, inline code and web addresses."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    text = re.sub(r"`[^`]*`", " ", text)
    return re.sub(r"\(https?://[^)]*\)|https?://\S+", " ", text)


_LATEX_GREEK = {
    "alpha": "α",
    "beta": "β",
    "gamma": "γ",
    "delta": "δ",
    "eta": "η",
    "theta": "θ",
    "lambda": "λ",
    "nu": "ν",
    "rho": "ρ",
    "sigma": "σ",
    "tau": "τ",
    "chi": "χ",
    "omega": "ω",
    "phi": "φ",
    "mu": "μ",
    "psi": "ψ",
    "epsilon": "ε",
    "varepsilon": "ε",
    "kappa": "κ",
    "xi": "ξ",
    "zeta": "ζ",
    "Delta": "Δ",
    "Phi": "Φ",
    "Sigma": "Σ",
    "Lambda": "Λ",
    "Omega": "Ω",
    "Theta": "Θ",
    "Gamma": "Γ",
    "Psi": "Ψ",
}

#: Greek letters used for things that are not course symbols (φ: the normal density).
_GREEK_NOT_COURSE_SYMBOLS = {"φ"}

#: Capitalised words in the prose that are names of programs, data sets, organisations,
#: variables or file formats, not terms of the course.
_NOT_COURSE_TERMS = {
    "SAS",
    "PROC",
    "MIXED",
    "GLIMMIX",
    "MIANALYZE",
    "REG",
    "DATA",
    "FIXED",
    "RANDOM",
    "HLM",
    "HLM2",
    "HLM8",
    "SPSS",
    "GLLAMM",
    "UCLA",
    "HSB",
    "TIMSS",
    "PISA",
    "IEA",
    "OECD",
    "US",
    "USA",
    "GB",
    "MB",
    "README",
    "SES",
    "TOTWGT",
    "HOUWGT",
    "SENWGT",
    "JKZONE",
    "JKREP",
    "JKINDIC",
    "WGTFAC1",
    "WGTFAC2",
    "WGTFAC3",
    "WGTADJ1",
    "WGTADJ2",
    "WGTADJ3",
    "CD",
    "ROM",
    "BMC",
    "RE",
    "DF",
    "IQR",
    "CSV",
    "PDF",
    "HTML",
    "CRAN",
    "NCES",
    "MIT",
    "GPL",
    "IDB",
    "LEMMA",
    "CMM",
    "API",
    "IERI",
    "CPU",
    "RAM",
    "UTC",
    "II",
    "III",
    "IV",
    "ID",
    "OK",
    "NB",
    "MPLUS",
    "STATA",
    "NA",
    "CI",
    "QQ",
    "ML2",
    "UK",
    "EU",
    "JSON",
    "BY",
    "CLASS",
    "MODEL",
    "COVTEST",
    "TYPE",
    "ODS",
}


def _glossary_words() -> set[str]:
    table = glossary()
    words = {token for symbol in table["symbol"] for token in _tokens(symbol)}
    words |= {token.replace("_", "") for token in words}  # D_2 is also written D2
    for text in table["symbol"].tolist() + table["term"].tolist():
        words.update(re.findall(r"[A-Z][A-Z0-9²]+", text))
    return words


def _greek_in(text: str) -> set[str]:
    letters = set(re.findall(r"[α-ωΓ-Ω]", text))
    letters.update(
        _LATEX_GREEK[m] for m in re.findall(r"\\(" + "|".join(_LATEX_GREEK) + r")(?![a-z])", text)
    )
    return letters


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_every_course_symbol_of_the_notebook_is_in_the_glossary(path: Path):
    symbols = {t for s in glossary()["symbol"] for t in _tokens(s)}
    glossary_greek = {t[0] for t in symbols if re.match(r"[α-ωΓ-Ω]", t)} | {"χ"}
    prose = _prose(path)
    missing_greek = _greek_in(prose) - glossary_greek - _GREEK_NOT_COURSE_SYMBOLS
    assert not missing_greek, f"{path.name} uses {sorted(missing_greek)}, not in the glossary"
    acronyms = set(re.findall(r"(?<![\w\\])[A-Z][A-Z0-9²]{1,6}(?!\w)", prose))
    missing = acronyms - _glossary_words() - _NOT_COURSE_TERMS
    assert not missing, f"{path.name} uses {sorted(missing)}: add them to the glossary"


#: A symbol given a second meaning in a notebook: (pattern, the clash, the glossary's letter).
_CLASHES = [
    (r"\\lambda\s*=\s*\(1", "λ as Rubin's share of missing information", "ω"),
    (r"\\lambda\^2", "λ as Rubin's share of missing information", "ω"),
    (r"noncentrality[^.]{0,40}(λ|\\lambda)", "λ as a noncentrality", "write it in words"),
    (r"1\s*[−-]\s*(β|\\beta)\b", "1 − β as power", "write power in words"),
    (r"\$B\$ times|\(B\s*=\s*\d", "B as the number of bootstrap replicates", "count in words"),
    (r"I\^\{-1\}\\?,?\s*J\\?,?\s*I\^\{-1\}", "J as the sandwich's meat", "J is the schools"),
    (r"\\theta_j", "θ_j as the quasi-demeaning share", "θ is proficiency; a new letter"),
    (r"\\hat\\theta", "θ̂ as the parameter vector", "θ is proficiency; 'the parameters'"),
    (r"\\frac\{n\}\{n\s*-\s*1\}\\?,?\s*\\sum_\{j", "n as the number of schools", "J"),
    (r"\\hat\\beta_\{?\\text", "β̂ for a within/between/RE estimator", "b_W, b_B, b_RE"),
    (r"\(W \+ B\)", "B as a between-school information matrix", "B is Rubin's"),
    (r"T \\sim t", "T as the t statistic", "T is Rubin's total variance"),
    (r"\\text\{tr\}\(T", "plain T as the τ matrix", "bold 𝐓 or τ"),
    (
        r"\\rho\(1 - R\^2_2\)|variance \(\$R\^2_2",
        "R²₂ as a covariate's share",
        "R²₂ is Snijders–Bosker's",
    ),
    (r"\$H\s*=\s*\\sum", "H as R&B's homogeneity statistic", "H is Hausman's; H_σ"),
    (r"\|\s*\$m\$\s*\|", "m as the random-intercept variance part", "m is students per school"),
]


#: Clashes reported to the notebooks' authors (helper_briefs/terms_h5.md) and not fixed yet:
#: strict expected failures. A fix makes the test pass (XPASS, an error): delete the entry.
KNOWN_CLASHES: dict[str, set[str]] = {}


class KnownClashError(AssertionError):
    """Only the clashes listed in KNOWN_CLASHES (any other clash fails the test outright)."""


def _clash_params():
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        known = KNOWN_CLASHES.get(path.name)
        marks = (
            [
                pytest.mark.xfail(
                    raises=KnownClashError, strict=True, reason="; ".join(sorted(known))
                )
            ]
            if known
            else []
        )
        yield pytest.param(path, marks=marks, id=path.stem)


@pytest.mark.parametrize("path", list(_clash_params()))
def test_no_symbol_has_a_second_meaning(path: Path):
    prose = _prose(path)
    found = {clash for pattern, clash, _ in _CLASHES if re.search(pattern, prose)}
    known = KNOWN_CLASHES.get(path.name, set())
    new = found - known
    advice = {clash: instead for _, clash, instead in _CLASHES}
    assert not new, f"{path.name}: " + "; ".join(f"{c} (use {advice[c]})" for c in sorted(new))
    if found:
        raise KnownClashError(f"{path.name} still has {sorted(found)}")


def test_known_clashes_are_real_notebooks_and_patterns():
    clashes = {clash for _, clash, _ in _CLASHES}
    for name, listed in KNOWN_CLASHES.items():
        assert (NOTEBOOKS / name).exists(), name
        assert listed <= clashes, listed - clashes


# -- the R names exist (checked in R: tests/reference/glossary_r_names.R) ------------------------
R_NAMES = Path(__file__).parent / "fixtures" / "glossary_r_names.json"


def _r_names() -> list[str]:
    """pkg::fun and bare function calls named in the lme4 (R) column."""
    names: set[str] = set()
    for entry in glossary()["lme4 (R)"]:
        names.update(
            "::".join(m) for m in re.findall(r"\b([A-Za-z][\w.]*)::([A-Za-z][\w.]*)", entry)
        )
        names.update(re.findall(r"(?<![\w.:$])([A-Za-z][\w.]*)\(", entry))
    return sorted(names - {"c"})


def write_r_names() -> None:
    """Write the names for the R script to check (a development step, not a test)."""
    R_NAMES.write_text(json.dumps({"names": _r_names()}, indent=1) + "\n")


def test_every_r_name_was_checked_in_r_and_exists_where_installed():
    reference = json.loads(R_NAMES.read_text())
    assert reference["names"] == _r_names(), "rerun tests/reference/glossary_r_names.R"
    missing = [
        name
        for name, result in reference["results"].items()
        if result["installed"] and not result["exists"]
    ]
    assert not missing, f"not found in R: {missing}"
    installed = sum(result["installed"] for result in reference["results"].values())
    assert installed >= 40


#: Latin symbols of the course as the notebooks typeset them, and their glossary symbol.
_LATIN = {
    r"\\bar\s*Q": "Q̄",
    r"\\bar\s*U": "Ū",
    r"u_\{[01]j\}": "u_0j",
    r"r_\{ij\}": "r_ij",
    r"\bn_j\b": "n_j",
    r"w_\{i\s*(\\mid|\|)\s*j\}": "w_i|j",
    r"\bw_j\b": "w_j",
    r"\bw_\{ij\}": "w_ij",
    r"\bD_j\b": "D_j",
    r"\bd_j\b": "d_j",
    r"\bs_j\^2": "s_j²",
    r"\bf_j\b": "f_j",
    r"b_\{\\text\{OLS": "b_OLS",
    r"\\nu_\{\\text\{com": "ν_com",
    r"\\text\{FMI": "FMI",
    r"\\text\{deff": "deff",
    r"\\text\{PRV": "PRV",
    r"\\text\{ICC": "ICC",
    r"\\text\{PEV": "PEV",
    r"\bR\^2_1\b": "R²₁",
    r"\bR\^2_2\b": "R²₂",
}


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.stem)
def test_latin_symbols_of_the_notebook_are_in_the_glossary(path: Path):
    symbols = {t for s in glossary()["symbol"] for t in _tokens(s)}
    prose = _prose(path)
    used = {symbol for pattern, symbol in _LATIN.items() if re.search(pattern, prose)}
    assert used <= symbols, f"{path.name} uses {sorted(used - symbols)}"


def test_the_latin_symbol_table_finds_what_the_course_uses():
    used = set()
    for path in NOTEBOOKS.glob("*.ipynb"):
        used |= {symbol for pattern, symbol in _LATIN.items() if re.search(pattern, _prose(path))}
    assert {"Q̄", "Ū", "u_0j", "r_ij", "n_j", "w_j", "FMI", "ICC"} <= used


def test_hlm_glossary_stays_callable_after_importing_its_module():
    """Importing hlmteach.glossary rebinds the package's attribute to the module: still callable."""
    import hlmteach as hlm
    from hlmteach.glossary import TOPICS  # noqa: F401 (the import is the point)

    assert len(hlm.glossary()) == len(glossary()) > 100
    assert len(hlm.glossary(search="ICC")) >= 1
