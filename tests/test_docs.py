"""The README is a short front door whose links all resolve; the site's pages are all in the nav."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_readme_is_short_and_its_links_resolve():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 300
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if not re.match(r"[a-z]+://", link)]
    assert len(local) > 20
    missing = [link for link in local if not (REPO / link).exists()]
    assert not missing, missing
    for placeholder in ("SETUP_FIGURES", "TODO", "not built yet"):
        assert placeholder not in text


def test_every_docs_page_is_in_the_site_nav():
    nav = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    pages = {p.name for p in (REPO / "docs").glob("*.md")}
    listed = set(re.findall(r":\s*([\w-]+\.md)\s*$", nav, re.M))
    assert pages == listed, (pages - listed, listed - pages)


def test_every_docs_link_and_image_resolves_and_every_screenshot_is_shown():
    shown = set()
    for page in (REPO / "docs").glob("*.md"):
        for link in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+://|mailto:", link):
                continue
            target = (page.parent / link).resolve()
            assert target.exists(), f"{page.name}: {link}"
            shown.add(target)
    shots = {p.resolve() for p in (REPO / "docs" / "screenshots").glob("*.png")}
    assert shots and not shots - shown, sorted(p.name for p in shots - shown)  # each screenshot is on a page
