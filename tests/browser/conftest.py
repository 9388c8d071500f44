"""Browser tests: Debian's chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support.apps import IN_CI


def _missing(what: str):
    if IN_CI:
        pytest.fail(f"CI needs {what} for the browser tests", pytrace=False)
    pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    binary = shutil.which("chromium")
    if binary is None:
        _missing("Debian's chromium (apt-get install chromium)")
    return binary


@pytest.fixture
def browser(chromium_path):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright's Python package (pip install playwright; no `playwright install`)")
    with sync_playwright() as playwright:
        found = playwright.chromium.launch(
            executable_path=chromium_path, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield found
        found.close()


@pytest.fixture
def screenshots(tmp_path) -> Path:
    """Where each run saves its pages: RELAYGATE_SCREENSHOT_DIR, else the test's tmp dir."""
    folder = Path(os.environ.get("RELAYGATE_SCREENSHOT_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
