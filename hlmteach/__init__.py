"""hlmteach: a course, and its helper package, on two-level hierarchical linear models.

Import it as ``import hlmteach as hlm``. The public functions load lazily, so
``import hlmteach`` stays cheap; each lives in one module per concept:

- :mod:`hlmteach.data`: ``load_timss``, ``load_hsb``, ``load_pisa``, ``codebook``;
- :mod:`hlmteach.timss_files`: ``read_timss_files`` for your own TIMSS 1995 files;
- :mod:`hlmteach.models`: ``fit_hlm``, ``fit_ols``;
- :mod:`hlmteach.results`: what they return, ``HLMResult``, ``OLSResult``, ``ByResults``;
- :mod:`hlmteach.degrees_of_freedom`, :mod:`hlmteach.fit_statistics`: df and AIC/BIC;
- :mod:`hlmteach.inference`: ``lr_test``;
- :mod:`hlmteach.exercises`: ``check``, the self-checks of the exercises;
- :mod:`hlmteach.engine`: the exact REML/ML estimation core;
- :mod:`hlmteach.tables`, :mod:`hlmteach.plots`: tables and figures of fitted models;
- :mod:`hlmteach.simulation`: teaching simulations (false positives, shrinkage);
- :mod:`hlmteach.widgets`: ``explorer`` and the teaching widgets;
- :mod:`hlmteach.plausible`: fits over the five plausible values, pooled by Rubin's rules;
- :mod:`hlmteach.centering`: grand- and group-mean centring, contextual effects;
- :mod:`hlmteach.variance_tests`: boundary and bootstrap LR tests, profile intervals;
- :mod:`hlmteach.display`: ``show``, result tables as HTML with a stable text view;
- :mod:`hlmteach.glossary`: the symbols' names in SAS, HLM 8, lme4 and statsmodels;
- :mod:`hlmteach.published`: the source analysis's published tables, ``compare_published``;
- :mod:`hlmteach.diagnostics`: residuals, EBLUP Q-Q data, heteroscedasticity, school deletion;
- :mod:`hlmteach.variance_explained`: R&B's proportional reduction, Snijders-Bosker,
  Nakagawa and Rights-Sterba R-squared;
- :mod:`hlmteach.within_between`: school dummies, between and random-effects estimators,
  the Mundlak model and the Hausman test;
- :mod:`hlmteach.reporting`: the facts and tables a paper reports;
- :mod:`hlmteach.power`: power and sample size of two-level designs;
- :mod:`hlmteach.pv_simulation`: the coverage simulation of plausible values;
- :mod:`hlmteach.validation`: the input checks every entry point runs first; each
  problem raises ``ModelInputError`` (a ``ValueError``) naming the column or argument.

Examples
--------
>>> import hlmteach as hlm
>>> m = hlm.fit_hlm(hlm.load_hsb(), "mathach ~ 1", group="school")
>>> round(m.icc, 3)
0.18
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.2.0"

_EXPORTS: dict[str, str] = {
    "load_timss": "data",
    "load_hsb": "data",
    "load_pisa": "data",
    "codebook": "data",
    "tidy_timss": "data",
    "read_timss_files": "timss_files",
    "make_synthetic_timss": "synthetic",
    "fit_hlm": "models",
    "fit_ols": "models",
    "HLMResult": "results",
    "OLSResult": "results",
    "ByResults": "results",
    "lr_test": "inference",
    "ModelInputError": "validation",
    "check": "exercises",
    "explorer": "widgets",
    "fit_plausible_values": "plausible",
    "rubin_pool": "plausible",
    "PooledResult": "plausible",
    "center": "centering",
    "school_mean": "centering",
    "describe_centering": "centering",
    "contextual_effect": "centering",
    "boundary_lr_test": "variance_tests",
    "bootstrap_lr_test": "variance_tests",
    "profile_ci": "variance_tests",
    "profile_intervals": "variance_tests",
    "glossary": "glossary",
    "show": "display",
    "Explorer": "widgets",
    "ExplorerSetting": "widgets",
    "compare_published": "published",
    "proportional_reduction": "variance_explained",
    "snijders_bosker_r2": "variance_explained",
    "nakagawa_r2": "variance_explained",
    "rights_sterba": "variance_explained",
    "fixed_effects_table": "reporting",
    "variance_components_table": "reporting",
    "sample_description": "reporting",
    "methods_facts": "reporting",
    "simulate_pv_coverage": "pv_simulation",
}

__all__ = sorted(_EXPORTS)


#: Modules reachable as attributes (``hlm.plots.caterpillar``), imported on first use.
_SUBMODULES = (
    "plots",
    "simulation",
    "tables",
    "widgets",
    "exercises",
    "syntax",
    "inference",
    "results",
    "published",
    "diagnostics",
    "variance_explained",
    "within_between",
    "reporting",
    "power",
    "pv_simulation",
)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return import_module(f".{name}", __name__)
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hlmteach' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
