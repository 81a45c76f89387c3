"""Repository-wide pytest set-up: how nbval compares the course notebooks.

Only the cells marked ``# NBVAL_CHECK_OUTPUT`` (the key tables) are compared
(``--nbval-lax``); every cell must still run without error. Output kinds that
cannot be stable are never compared: widget views (their model ids change on
every run), JavaScript, and stderr.
"""

from __future__ import annotations


def pytest_collectstart(collector):
    """Tell nbval which output kinds to skip for every notebook it collects."""
    if getattr(collector, "skip_compare", None) is not None:
        collector.skip_compare = (
            *collector.skip_compare,
            "application/vnd.jupyter.widget-view+json",
            "application/javascript",
            "stderr",
        )
