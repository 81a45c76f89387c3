"""The explorer in a real browser: JupyterLab, Playwright and Debian's Chromium.

nbval has no browser, so only this test proves that the widgets render and react
in JupyterLab with the environment built from binder/. It fails, never skips,
when Chromium is missing: ``make test`` installs it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lab_server import ROOT, running_lab

import hlmteach as hlm

CHROMIUM = Path(os.environ.get("HLMTEACH_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "artifacts"


def _intercept(country: str, random: list[str]) -> str:
    fit = hlm.fit_hlm(
        hlm.load_timss(country),
        "math ~ college + boy",
        group="school",
        random=random,
        covariance="vc",
    )
    return f"{fit.fixed.loc['Intercept', 'estimate']:.3f}"


@pytest.mark.browser
def test_explorer_renders_and_reacts_in_jupyterlab(tmp_path):
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is missing at {CHROMIUM}: run 'make browser' (apt-get install "
            "chromium). The browser test must run; it is never skipped."
        )
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect, sync_playwright

    korea, usa = _intercept("Korea", ["college"]), _intercept("USA", ["college"])
    assert korea != usa
    ARTIFACTS.mkdir(exist_ok=True)
    with running_lab(tmp_path, "notebooks/06_explorer.ipynb") as lab, sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.goto(lab.url("lab/tree/notebooks/06_explorer.ipynb"))
            page.locator(".jp-NotebookPanel").first.wait_for(timeout=60_000)
            # JupyterLab may ask which kernel to start (if it opened the notebook before it
            # had listed the kernels); accept its proposal, Python 3, then wait for it.
            select = page.locator(".jp-Dialog").get_by_role("button", name="Select")
            try:
                select.wait_for(timeout=10_000)
                select.click()
            except PlaywrightTimeout:
                pass
            expect(
                page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
            ).to_have_count(1, timeout=60_000)
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

            page.locator(".widget-checkbox", has_text="random slope: boy").locator("input").check()
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
        finally:
            browser.close()
