"""The course website (make site): a page per notebook, its figures, no broken link, Chromium."""

from __future__ import annotations

import json
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from lab_server import ROOT, chromium_page

sys.path.insert(0, str(ROOT / "scripts"))
import build_site
from course_frame import binder_url

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


class _Links(HTMLParser):
    """Every href and src of a page, and its headings' text."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.images: list[str] = []
        self.h1: list[str] = []
        self._in_h1 = False

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        for name in ("href", "src"):
            if values.get(name):
                self.links.append(values[name])
        if tag == "img" and values.get("src"):
            self.images.append(values["src"])
        self._in_h1 = self._in_h1 or tag == "h1"

    def handle_endtag(self, tag):
        if tag == "h1":
            self._in_h1 = False

    def handle_data(self, data):
        if self._in_h1 and data.strip():
            self.h1.append(data.strip())


def _parse(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    front = build_site.build(tmp_path_factory.mktemp("site") / "_build")
    assert front.exists()
    return front.parent


def _png_outputs(path: Path) -> int:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return sum("image/png" in o.get("data", {}) for c in cells for o in c.get("outputs", []))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_has_its_page_with_its_figures_and_launch_button(site, path):
    page = site / "notebooks" / f"{path.stem}.html"
    assert page.exists(), f"no page for {path.name}"
    parsed = _parse(page)
    title = json.loads(path.read_text(encoding="utf-8"))["cells"][0]["source"]
    heading = next(line for line in title if line.startswith("# "))[2:].strip()
    assert any(heading.split(" · ")[0] in h for h in parsed.h1), (heading, parsed.h1)
    figures = [src for src in parsed.images if src.endswith(".png") and "_images/" in src]
    assert len(figures) >= _png_outputs(path), f"{path.name}: figures missing"
    for src in figures:
        assert (page.parent / src).stat().st_size > 1000, src
    assert binder_url(f"notebooks/{path.name}") in parsed.links, "no launch button to the tag"


def test_no_internal_link_is_broken(site):
    broken = []
    # _static/ holds the theme's own files (Jinja templates among them), not pages.
    pages = sorted(p for p in site.rglob("*.html") if "_static" not in p.parts)
    assert len(pages) >= len(NOTEBOOKS) + 1
    for page in pages:
        for link in _parse(page).links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or not parts.path:
                continue  # external, or a fragment of the same page
            target = (page.parent / unquote(parts.path)).resolve()
            if not target.exists():
                broken.append(f"{page.relative_to(site)} -> {link}")
    assert broken == []


def test_the_table_of_contents_follows_the_course(site):
    links = _parse(site / "intro.html").links
    pages = [link for link in links if link.startswith("notebooks/")]
    expected = [f"notebooks/{p.stem}.html" for p in NOTEBOOKS]
    assert [p for p in dict.fromkeys(pages) if p in expected] == expected


@pytest.mark.browser
def test_the_site_opens_in_chromium(site):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p, chromium_page(p) as page:
        page.goto((site / "notebooks" / "04_random_coefficients.html").as_uri())
        expect(page.locator("h1").first).to_contain_text("04")
        table = page.locator(".hlmteach-table table").first
        expect(table).to_be_visible()
        figures = page.locator("img[src*='_images/']")
        assert figures.count() >= 1
        figures.first.scroll_into_view_if_needed()
        loaded = figures.evaluate_all("imgs => imgs.map(i => i.complete && i.naturalWidth > 0)")
        assert all(loaded), loaded
        page.get_by_role("link", name="05 · School effects").first.click()
        expect(page.locator("h1").first).to_contain_text("05")
