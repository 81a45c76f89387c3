"""The course in a real browser: JupyterLab from the Binder environment, Playwright, Chromium.

nbval has no browser, so only these tests prove that the notebooks run in
JupyterLab as a learner runs them, that the widgets render and react, that a
participant's kernels fit Binder's memory, and that the slides render. Chromium
is Debian's (``/usr/bin/chromium``) or the one ``HLMTEACH_CHROMIUM`` names; the
tests fail, never skip, when it is missing (``make test`` installs it).
"""

from __future__ import annotations

import json
import time
from contextlib import suppress
from pathlib import Path

import pytest
from lab_server import ARTIFACTS, ROOT, KernelMemory, chromium_page, running_lab

import hlmteach as hlm

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
#: DESIGN.md §8: a participant who works through the whole course stays under 1.5 GB.
MEMORY_BUDGET = int(1.5 * 1024**3)
MB = 1024**2
#: The text a widget's outputs show: tables (HTML widgets) and figures (Output widgets).
OUTPUTS_JS = (
    "cell => Array.from(cell.querySelectorAll('.widget-output, .widget-html-content'))"
    ".map(e => e.innerHTML).join('|')"
)


def _intercept(country: str, random: list[str]) -> str:
    fit = hlm.fit_hlm(
        hlm.load_timss(country),
        "math ~ college + boy",
        group="school",
        random=random,
        covariance="vc",
    )
    return f"{fit.fixed.loc['Intercept', 'estimate']:.3f}"


def _code_cells(path: Path) -> int:
    """Code cells whose execution count JupyterLab shows: a cell whose input is folded
    (``jupyter.source_hidden``) runs too, but its prompt is not drawn."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return sum(
        c["cell_type"] == "code"
        and "".join(c["source"]).strip() != ""
        and not c["metadata"].get("jupyter", {}).get("source_hidden", False)
        for c in cells
    )


def _open(page, lab, name: str) -> None:
    """Open one notebook alone (``?reset``: no tab of an earlier one comes back) and its kernel."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    page.goto(lab.url(f"lab/tree/notebooks/{name}?reset"))
    page.locator(".jp-NotebookPanel").first.wait_for(timeout=60_000)
    # JupyterLab may ask which kernel to start (if it opened the notebook before it
    # had listed the kernels); accept its proposal, Python 3, then wait for it.
    select = page.locator(".jp-Dialog").get_by_role("button", name="Select")
    try:
        select.wait_for(timeout=5_000)
        select.click()
    except PlaywrightTimeout:
        pass
    expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(
        1, timeout=60_000
    )


def _run_all(page, name: str, code_cells: int, timeout: float = 180.0) -> None:
    """Run ▸ Run All Cells, then wait until every code cell has its execution count.

    JupyterLab stops a Run All at the first error and leaves the later cells
    unnumbered: a run that goes quiet early fails with the error it shows.
    """
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    deadline, quiet_since = time.monotonic() + timeout, None
    idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
    while True:
        prompts = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
        done = [p for p in prompts if p.strip("[]: ").isdigit()]
        if len(done) == code_cells and not any("*" in p for p in prompts):
            break
        if not any("*" in p for p in prompts) and idle.count() == 1:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since > 5:
                _assert_no_errors(page, name)
                raise AssertionError(f"{name}: Run All stopped early: {prompts}")
        else:
            quiet_since = None
        assert time.monotonic() < deadline, f"{name}: Run All did not finish: {prompts}"
        time.sleep(0.25)
    idle.wait_for(timeout=60_000)


def _assert_no_errors(page, name: str) -> None:
    from playwright.sync_api import expect

    stderr = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert stderr.count() == 0, f"{name}: error output {stderr.first.inner_text()[:500]}"
    body = page.locator("body")
    for text in ("Error displaying widget", "model not found", "Traceback"):
        expect(body).not_to_contain_text(text)


def _responds(page, cell, action, what: str, timeout: float = 30.0) -> None:
    """Do ``action`` on a widget and wait until the widget's tables or figure change."""
    before = cell.evaluate(OUTPUTS_JS)
    action()
    deadline = time.monotonic() + timeout
    while cell.evaluate(OUTPUTS_JS) == before:
        assert time.monotonic() < deadline, f"the widget did not respond to {what}"
        time.sleep(0.1)


def _exercise_widgets(page, name: str) -> list[str]:
    """Click every control of every interactive widget; each click must change its outputs."""
    tried = []
    cells = page.locator(".jp-CodeCell:has(.widget-output, .widget-html-content)")
    for c in range(cells.count()):
        cell = cells.nth(c)
        cell.scroll_into_view_if_needed()
        for g, group in enumerate(cell.locator(".widget-toggle-buttons").all()):
            buttons = group.locator("button")
            for b in range(buttons.count()):
                button = buttons.nth(b)
                if "mod-active" not in (button.get_attribute("class") or ""):
                    label = f"{name}: toggle {g}.{button.inner_text()}"
                    _responds(page, cell, button.click, label)
                    tried.append(label)
        for box in cell.locator(".widget-checkbox").all():
            label = f"{name}: checkbox {box.inner_text()}"
            _responds(page, cell, box.locator("input").click, label)
            tried.append(label)
        for select in cell.locator(".widget-dropdown select").all():
            options = select.locator("option").all_inner_texts()
            # The option shown, by its label (an ipywidgets option's value is its index).
            current = select.evaluate("s => s.options[s.selectedIndex].text")
            other = next(o for o in options if o != current)
            label = f"{name}: dropdown {other}"
            _responds(page, cell, lambda s=select, o=other: s.select_option(label=o), label)
            tried.append(label)
        for s, slider in enumerate(cell.locator(".widget-slider .noUi-target").all()):
            box = slider.bounding_box()
            label = f"{name}: slider {s}"

            def click(target=slider, width=box["width"], height=box["height"]) -> None:
                target.click(position={"x": 0.8 * width, "y": height / 2})

            _responds(page, cell, click, label)
            tried.append(label)
    return tried


def _shut_down_kernel(page, memory: KernelMemory) -> None:
    """Kernel ▸ Shut Down Kernel, as the notebooks' last cell says; wait until it is gone."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.get_by_role("menuitem", name="Kernel", exact=True).click()
    page.get_by_role("menuitem", name="Shut Down Kernel", exact=True).click()
    confirm = page.locator(".jp-Dialog").get_by_role("button", name="Shut Down")
    with suppress(PlaywrightTimeout):  # some JupyterLab versions ask first
        confirm.click(timeout=2_000)
    deadline = time.monotonic() + 30
    while memory.kernels():
        assert time.monotonic() < deadline, "the kernel is still running after Shut Down Kernel"
        time.sleep(0.2)


def _assert_tables_legible_at_200_percent(page, name: str) -> None:
    """At 200% zoom (half the CSS width) the result tables keep one line per row."""
    page.set_viewport_size({"width": 700, "height": 500})
    try:
        cells = page.locator(".hlmteach-table td")
        assert cells.count() > 0, f"{name} shows no hlm.show table"
        # The number of line boxes of each cell's text: 1 unless the text wraps.
        lines = cells.evaluate_all(
            "tds => tds.map(td => { const r = document.createRange(); r.selectNodeContents(td);"
            " return new Set(Array.from(r.getClientRects()).map(b => Math.round(b.top))).size; })"
        )
        assert max(lines) == 1, f"{name}: table cells wrap at 200% zoom ({max(lines)} lines)"
    finally:
        page.set_viewport_size({"width": 1400, "height": 1000})


@pytest.mark.browser
def test_explorer_renders_and_reacts_in_jupyterlab(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    korea, usa = _intercept("Korea", ["college"]), _intercept("USA", ["college"])
    assert korea != usa
    with (
        running_lab(tmp_path, "notebooks/06_explorer.ipynb") as lab,
        sync_playwright() as p,
        chromium_page(p) as page,
    ):
        try:
            _open(page, lab, "06_explorer.ipynb")
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()

            tables = page.locator(".hlmteach-explorer").first
            expect(tables).to_contain_text(korea, timeout=90_000)
            body = page.locator("body")
            expect(body).not_to_contain_text("Error displaying widget")
            expect(body).not_to_contain_text("model not found")

            page.locator(".widget-toggle-button", has_text="USA").first.click()
            expect(tables).to_contain_text(usa, timeout=30_000)
            expect(tables).not_to_contain_text(korea)

            boy = page.locator(".widget-checkbox", has_text="random slope: boy")
            boy.locator("input").check()
            note = page.locator(".hlmteach-note").first
            expect(note).to_contain_text("estimated at zero", timeout=30_000)
            expect(note).to_contain_text("slopes of boy")
            # The figure renders as an image, not as a text placeholder.
            figure = page.locator(".hlmteach-figure img, .widget-output img").first
            expect(figure).to_be_visible(timeout=30_000)
            expect(body).not_to_contain_text("<Figure size")
            note.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "explorer.png"))
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "explorer-failure.png"), full_page=True)
            raise


@pytest.mark.browser
@pytest.mark.slow
def test_the_whole_course_runs_in_jupyterlab_within_binders_memory(tmp_path, capsys):
    """A participant's day: every notebook, Run All, every widget, then Shut Down Kernel."""
    from playwright.sync_api import expect, sync_playwright

    report, widgets = [], []
    with running_lab(tmp_path) as lab, sync_playwright() as p, chromium_page(p) as page:
        memory = KernelMemory(lab.pid)
        try:
            with memory.sampling():
                for path in NOTEBOOKS:
                    memory.phase(path.name)
                    start = time.monotonic()
                    _open(page, lab, path.name)
                    _run_all(page, path.name, _code_cells(path))
                    _assert_no_errors(page, path.name)
                    widgets += _exercise_widgets(page, path.name)
                    _assert_no_errors(page, path.name)
                    if path.name.startswith("04_"):
                        _assert_tables_legible_at_200_percent(page, path.name)
                    seconds = time.monotonic() - start
                    _shut_down_kernel(page, memory)
                    report.append((path.name, seconds, memory.peaks.get(path.name, 0)))

            # A slide of one notebook renders (RISE, from jupyterlab-rise).
            page.goto(lab.url("rise/notebooks/03_intercept_only.ipynb"))
            slide = page.locator(".reveal .slides section.present").first
            expect(slide).to_contain_text("The intercept-only model", timeout=60_000)
            expect(slide.locator("mjx-container").first).to_be_visible(timeout=30_000)  # maths
            assert page.locator(".reveal .slides section").count() > 5
            page.screenshot(path=str(ARTIFACTS / "slide-03.png"))
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "course-failure.png"), full_page=True)
            raise
        finally:
            _report(report, memory, widgets, capsys)

    assert [name for name, _, _ in report] == [p.name for p in NOTEBOOKS]
    assert memory.peak > 50 * MB, "the sampler saw no kernel"
    assert memory.peak < MEMORY_BUDGET
    for notebook in ("01_", "05_", "06_"):
        assert any(w.startswith(notebook) for w in widgets), f"no widget clicked in {notebook}"


def _report(report, memory: KernelMemory, widgets: list[str], capsys) -> None:
    """Print, and save in artifacts/, each notebook's time and kernel peak and the course's peak."""
    lines = [
        f"{name:28s} {seconds:6.1f} s  kernel peak {peak / MB:6.0f} MB"
        for name, seconds, peak in report
    ]
    lines.append(
        f"peak total kernel memory over {len(report)} notebooks: {memory.peak / MB:.0f} MB "
        f"(budget {MEMORY_BUDGET / MB:.0f} MB); {len(widgets)} widget controls clicked"
    )
    (ARTIFACTS / "course-memory.txt").write_text("\n".join(lines) + "\n")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
