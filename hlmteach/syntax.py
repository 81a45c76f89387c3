"""The same model written three ways: equations, and SAS, R and Python code.

Learners arrive from SAS PROC MIXED, R's lme4 and Python's statsmodels; each
fitted model can show its level-1/level-2 equations (LaTeX) and the code that
fits it in each of those tools.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .survey_weights import SurveyWeights
from .validation import ModelInputError

__all__ = [
    "SASTerms",
    "model_code",
    "model_equations",
    "ols_code",
    "sas_model_terms",
    "weighted_model_code",
]


def _latex_name(name: str) -> str:
    return r"\text{" + name.replace("_", r"\_") + "}"


def model_equations(
    outcome: str,
    fixed_names: Sequence[str],
    random_names: Sequence[str],
    school_level: Sequence[str] = (),
    covariance: str = "un",
) -> str:
    """Level-1, level-2 and combined equations of a two-level model, in LaTeX.

    Fixed terms that vary within schools are level-1 predictors; school-level
    terms (``school_level``) predict the intercept; an interaction of a level-1
    predictor with a school-level one predicts that predictor's slope.

    Parameters
    ----------
    outcome : str
        The outcome's name.
    fixed_names, random_names : sequence of str
        Column names of the fixed and random designs ("Intercept" first).
    school_level : sequence of str
        Fixed terms that are constant within every school.
    covariance : {"un", "vc"}
        Whether the random effects are correlated (unstructured) or not.

    Returns
    -------
    str
        A LaTeX ``aligned`` block.

    Examples
    --------
    >>> tex = model_equations("math", ["Intercept", "college"], ["Intercept"])
    >>> print(tex.splitlines()[2])
    \\text{Level 2:}\\quad & \\beta_{0j} = \\gamma_{00} + u_{0j}\\\\
    """
    school = set(school_level)
    level1 = [n for n in fixed_names if n != "Intercept" and n not in school and ":" not in n]
    predictors: dict[str, list[str]] = {"Intercept": [n for n in fixed_names if n in school]}
    for name in fixed_names:
        parts = name.split(":")
        if len(parts) == 2 and sum(p in school for p in parts) == 1:
            slope, moderator = (parts[1], parts[0]) if parts[0] in school else parts
            predictors.setdefault(slope, []).append(moderator)
        elif ":" in name:
            level1.append(name)
    y = _latex_name(outcome)
    l1 = [r"\beta_{0j}"] + [
        rf"\beta_{{{k}j}}\,{_latex_name(n)}_{{ij}}" for k, n in enumerate(level1, start=1)
    ]
    lines = [r"\text{Level 1:}\quad & " + f"{y}_{{ij}} = " + " + ".join(l1) + r" + r_{ij}\\"]
    combined, random_parts = [], []
    for k, name in enumerate(["Intercept", *level1]):
        xij = "" if k == 0 else rf"\,{_latex_name(name)}_{{ij}}"
        rhs = [rf"\gamma_{{{k}0}}"]
        combined.append(rf"\gamma_{{{k}0}}{xij}")
        for i, w in enumerate(predictors.get(name, []), start=1):
            rhs.append(rf"\gamma_{{{k}{i}}}\,{_latex_name(w)}_{{j}}")
            combined.append(rf"\gamma_{{{k}{i}}}\,{_latex_name(w)}_{{j}}{xij}")
        if name in random_names:
            rhs.append(rf"u_{{{k}j}}")
            random_parts.append(rf"u_{{{k}j}}{xij}")
        prefix = r"\text{Level 2:}\quad & " if k == 0 else " & "
        lines.append(prefix + rf"\beta_{{{k}j}} = " + " + ".join(rhs) + r"\\")
    if len(random_names) == 1:
        lines.append(r" & r_{ij} \sim N(0, \sigma^2),\quad u_{0j} \sim N(0, \tau_{00})\\")
    else:
        shape = "unstructured" if covariance == "un" else "diagonal"
        lines.append(
            r" & r_{ij} \sim N(0, \sigma^2),\quad \mathbf{u}_j \sim N(\mathbf{0}, \mathbf{T})"
            rf"\ \text{{with {shape} }}\mathbf{{T}}\\"
        )
    lines.append(
        r"\text{Combined:}\quad & "
        + f"{y}_{{ij}} = "
        + " + ".join(combined + random_parts)
        + " + r_{ij}"
    )
    return "\\begin{aligned}\n" + "\n".join(lines) + "\n\\end{aligned}"


@dataclass(frozen=True)
class SASTerms:
    """The right-hand side of a formula as SAS writes it.

    Attributes
    ----------
    model : str
        The MODEL statement's effects, every term spelled out (``ses female ses*female``).
    classes : list of str
        Variables used as categories (``C(x)``), for the CLASS statement.
    derived : dict of str to str
        New SAS variables for transformed columns (``np.log(size)``), to compute first.
    intercept : bool
        Whether the model has an intercept (SAS's ``noint`` otherwise).
    references : dict of str to str
        The reference level of each category, as the Python fit uses it
        (``""``: the first level in sorted order).
    """

    model: str
    classes: list[str]
    derived: dict[str, str]
    intercept: bool
    references: dict[str, str] = field(default_factory=dict)

    def class_names(self, *first: str) -> str:
        """The CLASS statement's variables, each with the Python fit's reference level.

        SAS puts the last level last by default; ``REF=`` makes it the same baseline.
        """
        names = list(first)
        for name in self.classes:
            level = self.references.get(name, "")
            names.append(f"{name}(ref='{level}')" if level else f"{name}(ref=first)")
        return " ".join(names)

    def data_step(self, data_name: str) -> str:
        """A DATA step computing the derived variables, or an empty string."""
        if not self.derived:
            return ""
        lines = "".join(
            f"  {name} = {expression};  /* check the translation */\n"
            for name, expression in self.derived.items()
        )
        return f"data {data_name};\n  set {data_name};\n{lines}run;\n\n"


_SAS_FUNCTIONS = {"np.log": "log", "np.exp": "exp", "np.sqrt": "sqrt", "np.abs": "abs"}


_TREATMENT = re.compile(r"Treatment\((?:reference\s*=\s*)?['\"]([^'\"]*)['\"]\)")


def _sas_factor(
    code: str,
    classes: list[str],
    derived: dict[str, str],
    references: dict[str, str],
    categories: Mapping[str, str],
) -> str:
    categorical = re.fullmatch(r"C\(\s*(\w+)\s*(,.*)?\)", code)
    if categorical:
        name = categorical.group(1)
        classes.append(name)
        explicit = _TREATMENT.search(categorical.group(2) or "")
        references[name] = explicit.group(1) if explicit else categories.get(name, "")
        return name
    if re.fullmatch(r"\w+", code):
        if code in categories:  # a text or categorical column: patsy treats it as categories
            classes.append(code)
            references[code] = categories[code]
        return code
    name = re.sub(r"\W+", "_", code).strip("_")
    expression = code
    for python, sas in _SAS_FUNCTIONS.items():
        expression = expression.replace(python + "(", sas + "(")
    derived[name] = re.sub(r"^I\((.*)\)$", r"\1", expression)
    return name


def _r_formula(rhs: str, categories: Mapping[str, str] | None = None) -> str:
    """Patsy spellings that R writes otherwise.

    ``C(x)`` is ``factor(x)``, ``C(x, Treatment('a'))`` is
    ``relevel(factor(x), ref = 'a')`` and ``np.log`` is ``log``.

    Examples
    --------
    >>> _r_formula("C(g, Treatment('b')) + np.log(x) + C(h)")
    "relevel(factor(g), ref = 'b') + log(x) + factor(h)"
    """
    rhs = re.sub(
        r"\bC\(\s*(\w+)\s*,\s*Treatment\((?:reference\s*=\s*)?(['\"][^'\"]*['\"])\)\s*\)",
        r"relevel(factor(\1), ref = \2)",
        rhs,
    )
    for name, level in (categories or {}).items():
        # A text column is a factor in R too, but R orders its levels alphabetically.
        if level:
            rhs = re.sub(
                rf"(?<![\w.(]){re.escape(name)}(?![\w(])",
                f"relevel(factor({name}), ref = '{level}')",
                rhs,
            )
    return _r_functions(re.sub(r"\bnp\.", "", re.sub(r"\bC\(", "factor(", rhs)))


#: Patsy's stateful transforms in R: patsy's standardize divides by the SD with ddof=0,
#: R's scale() by the SD with n - 1, so it is written out.
_R_CALLS = {
    "center": "scale({0}, scale = FALSE)",
    "standardize": "I(({0} - mean({0})) / sqrt(mean(({0} - mean({0}))^2)))",
    "scale": "I(({0} - mean({0})) / sqrt(mean(({0} - mean({0}))^2)))",
}


def centres_in_formula(formula: str) -> bool:
    """Whether a formula centres or standardises a variable itself (patsy's stateful
    transforms ``center``, ``standardize`` and ``scale``, which other programs compute
    on their own rows).

    Examples
    --------
    >>> centres_in_formula("y ~ center(ses) + x"), centres_in_formula("y ~ np.log(x)")
    (True, False)
    """
    return re.search(rf"(?<![\w.])({'|'.join(map(re.escape, _R_CALLS))})\(", formula) is not None


def _r_functions(text: str) -> str:
    """Patsy-only spellings in R: ``Q('a b')`` is the backquoted name, ``x**2`` is ``x^2``,
    and ``center(x)`` and ``standardize(x)`` are written with R's functions.

    Examples
    --------
    >>> print(_r_functions("center(ses) + I(x**2) + Q('a b') + standardize(log(z))"))
    scale(ses, scale = FALSE) + I(x^2) + `a b` + I((log(z) - mean(log(z))) /
    sqrt(mean((log(z) - mean(log(z)))^2)))
    """
    text = re.sub(r"\bQ\(\s*(['\"])(.*?)\1\s*\)", r"`\2`", text).replace("**", "^")
    return _replace_calls(text, _R_CALLS)


def _replace_calls(text: str, templates: Mapping[str, str]) -> str:
    """Each call ``name(argument)`` in ``text`` of a function in ``templates`` as
    ``templates[name].format(argument)``, in one pass (a replacement is not replaced
    again); a call with unbalanced parentheses is left as it is.

    Examples
    --------
    >>> _replace_calls("center(f(x)) + y", {"center": "scale({0}, scale = FALSE)"})
    'scale(f(x), scale = FALSE) + y'
    """
    pattern = re.compile(rf"(?<![\w.])({'|'.join(map(re.escape, templates))})\(")
    start = 0
    while match := pattern.search(text, start):
        depth, end = 1, match.end()
        while end < len(text) and depth:
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            end += 1
        if depth:
            break
        argument = _replace_calls(text[match.end() : end - 1].strip(), templates)
        replacement = templates[match.group(1)].format(argument)
        text = text[: match.start()] + replacement + text[end:]
        start = match.start() + len(replacement)
    return text


def sas_model_terms(formula: str, categories: Mapping[str, str] | None = None) -> SASTerms:
    """Translate a formula's right-hand side into SAS MODEL-statement effects.

    Patsy's ``a*b`` means ``a + b + a:b``; in SAS ``a*b`` is the interaction
    alone. Every term is therefore written out, interactions as ``a*b``.

    Parameters
    ----------
    formula : str
        A patsy formula.
    categories : mapping of str to str, optional
        Columns of the data that hold categories (text or pandas categoricals), with
        the reference level the Python fit uses for each.

    Returns
    -------
    SASTerms

    Examples
    --------
    >>> sas_model_terms("mathach ~ ses*female + C(sector)").model
    'ses female ses*female sector'
    >>> sas_model_terms("y ~ np.log(x) - 1").derived, sas_model_terms("y ~ x - 1").intercept
    ({'np_log_x': 'log(x)'}, False)
    """
    import patsy

    desc = patsy.ModelDesc.from_formula(formula)
    classes: list[str] = []
    derived: dict[str, str] = {}
    references: dict[str, str] = {}
    categories = dict(categories or {})
    effects: list[str] = []
    intercept = False
    for term in desc.rhs_termlist:
        if not term.factors:
            intercept = True
            continue
        effects.append(
            "*".join(
                _sas_factor(f.name(), classes, derived, references, categories)
                for f in term.factors
            )
        )
    return SASTerms(" ".join(effects), list(dict.fromkeys(classes)), derived, intercept, references)


def _in_language(code: dict[str, str], language: str) -> str:
    """One language's code, or all of them under headings."""
    if language == "all":
        return "\n\n".join(f"# {k.upper()}\n{v}" for k, v in code.items())
    if language not in code:
        names = ", ".join(repr(k) for k in code)
        raise ModelInputError(f"Unknown language {language!r}; use {names} or 'all'.")
    return code[language]


def model_code(
    formula: str,
    group: str,
    random: Sequence[str],
    method: str = "REML",
    covariance: str = "un",
    language: str = "all",
    data_name: str = "data",
    categories: Mapping[str, str] | None = None,
    complete_cases: Sequence[str] = (),
) -> str:
    """The code that fits the same model in SAS PROC MIXED, R lme4 and Python.

    Parameters
    ----------
    formula : str
        Fixed part, ``"outcome ~ predictors"`` (simple terms and ``a:b`` interactions).
    group : str
        School id column.
    random : sequence of str
        Random slopes (the intercept is always random).
    method : {"REML", "ML"}
        Estimation method.
    covariance : {"un", "vc"}
        Unstructured or uncorrelated random effects.
    language : {"all", "sas", "r", "python"}
        Which code to return.
    data_name : str
        The name of the data set in the code.
    categories : mapping of str to str, optional
        Text or categorical columns of the data, with the reference level the Python
        fit uses; they go into SAS's CLASS statement with ``REF=`` and into R as factors
        with the same reference level.
    complete_cases : sequence of str, optional
        Columns whose missing values drop a row, for a model that centres or
        standardises a variable and loses rows: hlmteach centres on the rows it
        uses, but R's ``scale()`` and patsy's ``center()`` in statsmodels centre on
        every row where the variable itself is present, so the R and statsmodels
        code keep the complete rows first.

    Returns
    -------
    str

    Examples
    --------
    >>> print(model_code("math ~ college", "school", ["college"], language="r"))
    library(lmerTest)
    fit <- lmer(math ~ college + (1 + college | school), data = data, REML = TRUE)
    summary(fit)
    >>> print(model_code("math ~ center(ses)", "school", [], language="r",
    ...                  complete_cases=["math", "ses", "school"]))
    library(lmerTest)
    data <- data[complete.cases(data[, c("math", "ses", "school")]), ]  # the rows the fit uses
    fit <- lmer(math ~ scale(ses, scale = FALSE) + (1 | school), data = data, REML = TRUE)
    summary(fit)
    """
    outcome, rhs = (s.strip() for s in formula.split("~", 1))
    terms = [t.strip() for t in rhs.split("+") if t.strip() not in ("", "1")]
    random = list(random)
    sas_terms = sas_model_terms(formula, categories)
    sas_method = "" if method == "REML" else " method=ml"
    sas_type = (" type=un" if covariance == "un" else " type=vc") if random else ""
    sas_options = ["solution", "ddfm=bw", *([] if sas_terms.intercept else ["noint"])]
    sas = (
        sas_terms.data_step(data_name)
        + f"proc mixed data={data_name} covtest noclprint{sas_method};\n"
        f"  class {sas_terms.class_names(group)};\n"
        f"  model {outcome} = {sas_terms.model}{' ' if sas_terms.model else ''}"
        f"/ {' '.join(sas_options)};\n"
        f"  random {' '.join(['intercept', *random])} / subject={group}{sas_type} solution;\n"
        f"run;"
    )
    bar = "|" if covariance == "un" or not random else "||"
    r_terms = [_r_formula(t, categories) for t in random]
    r_random = f"(1 + {' + '.join(r_terms)} {bar} {group})" if random else f"(1 | {group})"
    r_fixed = _r_formula(" + ".join(terms), categories) if terms else "1"
    r_complete, sm_complete = _r_complete_rows(data_name, complete_cases), ""
    sm_data = data_name
    if complete_cases:
        sm_data = "complete"
        sm_complete = (
            f"complete = {data_name}.dropna(subset={list(complete_cases)!r})"
            "  # the rows the fit uses\n"
        )
    r = (
        "library(lmerTest)\n"
        f"{r_complete}"
        f"fit <- lmer({_r_formula(outcome)} ~ {r_fixed} + {r_random}, data = {data_name}, "
        f"REML = {'TRUE' if method == 'REML' else 'FALSE'})\n"
        "summary(fit)"
    )
    options = [f"group={group!r}"]
    if random:
        options.append(f"random={random!r}")
        if covariance != "un":
            options.append(f"covariance={covariance!r}")
    if method != "REML":
        options.append(f"method={method!r}")
    if covariance == "un" or not random:
        re_formula = "~" + " + ".join(random) if random else "~1"
        sm_random = f"re_formula={re_formula!r}"
    else:
        vc = ", ".join(f"{t!r}: {'0 + ' + t!r}" for t in random)
        sm_random = f"re_formula='~1', vc_formula={{{vc}}}"
    py = (
        "import hlmteach as hlm\n"
        f"fit = hlm.fit_hlm({data_name}, {formula!r}, {', '.join(options)})\n"
        "fit\n\n"
        "# statsmodels\n"
        "import statsmodels.formula.api as smf\n"
        f"{sm_complete}"
        f"smf.mixedlm({formula!r}, {sm_data}, groups={sm_data}[{group!r}], {sm_random})"
        f".fit(reml={method == 'REML'})"
    )
    chosen = {"sas": sas, "r": r, "python": py}
    return _in_language(chosen, language)


def ols_code(
    formula: str,
    language: str = "all",
    data_name: str = "data",
    categories: Mapping[str, str] | None = None,
) -> str:
    """The code that fits an OLS model in SAS PROC REG, R and Python.

    Parameters
    ----------
    formula : str
        ``"outcome ~ predictors"`` with simple terms.
    language : {"all", "sas", "r", "python"}
        Which code to return.
    data_name : str
        The name of the data set in the code.
    categories : mapping of str to str, optional
        Text or categorical columns with their reference levels, as in
        :func:`model_code`.

    Returns
    -------
    str

    Examples
    --------
    >>> print(ols_code("math ~ college + boy", language="sas"))
    proc reg data=data;
      model math = college boy;
    run;
    """
    outcome = formula.split("~", 1)[0].strip()
    sas_terms = sas_model_terms(formula, categories)
    if sas_terms.classes or "*" in sas_terms.model or not sas_terms.intercept:
        # PROC REG takes numeric columns only: categories and products need PROC GLM.
        options = " / solution" + ("" if sas_terms.intercept else " noint")
        classes = f"  class {sas_terms.class_names()};\n" if sas_terms.classes else ""
        sas = (
            f"{sas_terms.data_step(data_name)}proc glm data={data_name};\n{classes}"
            f"  model {outcome} = {sas_terms.model}{options};\nrun;"
        )
    else:
        sas = (
            f"{sas_terms.data_step(data_name)}proc reg data={data_name};\n"
            f"  model {outcome} = {sas_terms.model};\nrun;"
        )
    chosen = {
        "sas": sas,
        "r": f"fit <- lm({_r_formula(formula, categories)}, data = {data_name})\nsummary(fit)",
        "python": (
            "import hlmteach as hlm\n"
            f"fit = hlm.fit_ols({data_name}, {formula!r})\n"
            "fit\n\n"
            "# statsmodels\n"
            "import statsmodels.formula.api as smf\n"
            f"smf.ols({formula!r}, {data_name}).fit().summary()"
        ),
    }
    return _in_language(chosen, language)


def _r_complete_rows(data_name: str, columns: Sequence[str]) -> str:
    """R's line that keeps the rows with every one of ``columns`` present ("" for none).

    Examples
    --------
    >>> print(_r_complete_rows("data", ["y", "x"]), end="")
    data <- data[complete.cases(data[, c("y", "x")]), ]  # the rows the fit uses
    """
    if not columns:
        return ""
    listed = ", ".join(f'"{c}"' for c in columns)
    keep = f"{data_name}[complete.cases({data_name}[, c({listed})]), ]"
    return f"{data_name} <- {keep}  # the rows the fit uses\n"


def _conditional_weight_steps(survey: SurveyWeights, group: str) -> dict[str, str]:
    """Per language, the lines that make the conditional student weight ``w_within``."""
    steps = {"r": "", "sas": "", "stata": ""}
    if survey.weights is None:
        steps = {
            "r": "data$w_within <- 1\n",
            "sas": "  w_within = 1;\n",
            "stata": "generate w_within = 1\n",
        }
        return steps
    if survey.conditional or survey.group_weights is None:
        return {
            "r": f"data$w_within <- data${survey.weights}\n",
            "sas": f"  w_within = {survey.weights};\n",
            "stata": "",
        }
    ratio = f"{survey.weights} / {survey.group_weights}"
    r_ratio = f"data${survey.weights} / data${survey.group_weights}"
    return {
        "r": f"data$w_within <- {r_ratio}  # the conditional weight within the {group}\n",
        "sas": f"  w_within = {ratio};  /* the conditional weight within the {group} */\n",
        "stata": f"generate w_within = {ratio}  // the conditional weight within the {group}\n",
    }


def weighted_model_code(
    formula: str,
    group: str,
    random: Sequence[str],
    covariance: str,
    survey: SurveyWeights,
    language: str = "all",
    data_name: str = "data",
    categories: Mapping[str, str] | None = None,
    complete_cases: Sequence[str] = (),
) -> str:
    """The code that fits the same survey-weighted model in Stata, R WeMix, SAS and Python.

    The fit is pseudo-maximum likelihood with cluster-robust standard errors:
    Stata ``mixed`` with ``pweight``, WeMix's ``mix``, and SAS PROC GLIMMIX with
    ``OBSWEIGHT=`` and the RANDOM statement's ``WEIGHT=``, ``EMPIRICAL=CLASSICAL``.
    Stata and WeMix take the conditional student weight (made first when the
    column holds total weights); rescaled weights are computed in R and SAS and
    asked for with ``pwscale()`` in Stata.

    Parameters
    ----------
    formula : str
        Fixed part, ``"outcome ~ predictors"``.
    group : str
        School id column.
    random : sequence of str
        Random slopes (the intercept is always random).
    covariance : {"un", "vc"}
        Unstructured or uncorrelated random effects.
    survey : SurveyWeights
        The weight columns and their scaling.
    language : {"all", "stata", "r", "sas", "python"}
        Which code to return.
    data_name : str
        The name of the data set in the code.
    categories : mapping of str to str, optional
        Text or categorical columns with their reference levels, as in
        :func:`model_code`.
    complete_cases : sequence of str, optional
        Columns whose missing values drop a row, for a fit that rescales its weights
        and loses rows: the R code keeps the complete rows before it sums the weights
        school by school, as hlmteach does (WeMix itself drops the rows only later).

    Returns
    -------
    str

    Examples
    --------
    >>> from hlmteach.survey_weights import SurveyWeights
    >>> spec = SurveyWeights("w_fstuwt", "w_fschwt", conditional=False, scaling="none")
    >>> print(weighted_model_code("y ~ escs", "schoolid", [], "un", spec, language="stata"))
    generate w_within = w_fstuwt / w_fschwt  // the conditional weight within the schoolid
    mixed y escs [pweight = w_within] || schoolid:, pweight(w_fschwt) mle
    """
    outcome, rhs = (s.strip() for s in formula.split("~", 1))
    terms = [t.strip() for t in rhs.split("+") if t.strip() not in ("", "1")]
    random = list(random)
    sas_terms = sas_model_terms(formula, categories)
    steps = _conditional_weight_steps(survey, group)
    school = survey.group_weights or "w_school"
    ones = {"r": "", "sas": "", "stata": ""}
    if survey.group_weights is None:
        ones = {
            "r": "data$w_school <- 1\n",
            "sas": "  w_school = 1;\n",
            "stata": "generate w_school = 1\n",
        }

    # Stata: factor variables as i.x, products as c.a#c.b; pwscale() rescales.
    def stata_term(term: str) -> str:
        return "#".join(
            f"i.{t}" if t in sas_terms.classes else (f"c.{t}" if "*" in term else t)
            for t in term.split("*")
        )

    stata_fixed = " ".join(stata_term(t) for t in sas_terms.model.split())
    stata_options = [f"pweight({school})"]
    if random and covariance == "un":
        stata_options.append("covariance(unstructured)")
    if survey.scaling != "none":
        stata_options.append(f"pwscale({survey.scaling})")
    stata_w = "w_within" if steps["stata"] else survey.weights
    stata = (
        f"{ones['stata']}{steps['stata']}"
        f"mixed {outcome} {stata_fixed}{' ' if stata_fixed else ''}[pweight = {stata_w}] "
        f"|| {group}:{' ' + ' '.join(random) if random else ''}, "
        f"{' '.join(stata_options)} mle"
    )
    if sas_terms.classes:
        bases = ", ".join(
            f"{name} = '{sas_terms.references[name]}'"
            for name in sas_terms.classes
            if sas_terms.references.get(name)
        )
        stata = (
            "* Stata's factor variables need numeric codes: encode text first"
            + (f", and make these the base levels (ib#.): {bases}" if bases else "")
            + ".\n"
            + stata
        )

    # R and SAS compute a rescaled weight themselves.
    r_scale = sas_scale = ""
    if survey.scaling == "size":
        r_scale = (
            f"data$w_within <- data$w_within * ave(data$w_within, data${group}, FUN = length) /\n"
            f"  ave(data$w_within, data${group}, FUN = sum)  # scaled to the {group} size\n"
        )
        scaled = "w_within * count(*) / sum(w_within)"
    elif survey.scaling == "effective":
        r_scale = (
            f"data$w_within <- data$w_within * ave(data$w_within, data${group}, FUN = sum) /\n"
            f"  ave(data$w_within^2, data${group}, FUN = sum)  # scaled to the effective size\n"
        )
        scaled = "w_within * sum(w_within) / sum(w_within**2)"
    if survey.scaling != "none":
        sas_scale = (
            f"proc sql;\n  create table {data_name} as\n  select *, {scaled} as w_scaled\n"
            f"  from {data_name} group by {group};\nquit;\n\n"
        )
    bar = "|" if covariance == "un" or not random else "||"
    r_terms = [_r_formula(t, categories) for t in random]
    r_random = f"(1 + {' + '.join(r_terms)} {bar} {group})" if random else f"(1 | {group})"
    if bar == "||":  # WeMix reads uncorrelated slopes as separate terms
        r_random = f"(1 | {group}) + " + " + ".join(f"(0 + {t} | {group})" for t in r_terms)
    r_fixed = _r_formula(" + ".join(terms), categories) if terms else "1"
    r = (
        "library(WeMix)\n"
        f"{_r_complete_rows(data_name, complete_cases)}{ones['r']}{steps['r']}{r_scale}"
        f"fit <- mix({_r_formula(outcome)} ~ {r_fixed} + {r_random}, data = {data_name},\n"
        f'           weights = c("w_within", "{school}"), cWeights = TRUE)\n'
        "summary(fit)"
    )
    sas_w = "w_scaled" if survey.scaling != "none" else "w_within"
    sas_type = (" type=un" if covariance == "un" else " type=vc") if random else ""
    sas = (
        f"data {data_name};\n  set {data_name};\n{ones['sas']}{steps['sas']}run;\n\n"
        f"{sas_terms.data_step(data_name)}{sas_scale}"
        f"proc glimmix data={data_name} method=quadrature empirical=classical;\n"
        f"  class {sas_terms.class_names(group)};\n"
        f"  model {outcome} = {sas_terms.model} / solution obsweight={sas_w};\n"
        f"  random {' '.join(['intercept', *random])} / subject={group} weight={school}"
        f"{sas_type};\nrun;"
    )
    options = [f"group={group!r}", "method='ML'"]
    if random:
        options.append(f"random={random!r}")
        if covariance != "un":
            options.append(f"covariance={covariance!r}")
    if survey.weights is not None:
        options.append(f"weights={survey.weights!r}")
    if survey.group_weights is not None:
        options.append(f"group_weights={survey.group_weights!r}")
    options += [
        f"conditional_weights={survey.conditional}",
        f"weight_scaling={survey.scaling!r}",
    ]
    py = (
        "import hlmteach as hlm\n"
        f"fit = hlm.fit_hlm({data_name}, {formula!r}, {', '.join(options)})\n"
        "fit"
    )
    chosen = {"stata": stata, "r": r, "sas": sas, "python": py}
    return _in_language(chosen, language)
