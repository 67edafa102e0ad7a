"""Headless Chromium for the tests that look at a page as a person would, offline."""

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")


def sync_playwright():
    """Playwright's ``sync_playwright``; the test skips where Chromium or Playwright is missing."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright as start
    except ImportError:
        pytest.skip("playwright not installed (pip install playwright)")
    return start


def offline(page) -> tuple[list[str], list[str]]:
    """Abort every request of ``page`` that leaves local files and record its script errors.

    Returns ``(external, errors)``: lists that fill as the page loads (the URLs it tried to
    fetch, the errors it raised); both stay empty for a page that works offline."""
    external, errors = [], []
    page.on("pageerror", lambda err: errors.append(str(err)))

    def block(route):
        if not route.request.url.startswith(("file:", "data:")):
            external.append(route.request.url)
            return route.abort()
        return route.continue_()

    page.route("**/*", block)
    return external, errors
