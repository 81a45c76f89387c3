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


_SKIPPED: list[str] = []


def pytest_runtest_logreport(report):
    """Remember every skipped test: the course's suite must run all of its parts."""
    if report.skipped and not hasattr(report, "wasxfail"):
        _SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    """A run that skipped a test fails loudly: a skip hides a part that was not tested."""
    if _SKIPPED and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter):
    """Say why a run with skipped tests fails."""
    if _SKIPPED:
        terminalreporter.write_line(
            f"FAILED: {len(_SKIPPED)} test(s) were skipped, and this suite allows no skip: "
            + ", ".join(_SKIPPED[:10]),
            red=True,
        )
