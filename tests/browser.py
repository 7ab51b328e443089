"""Headless Debian Chromium driven by Playwright, for the end-to-end tests and screenshots."""

from contextlib import contextmanager

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
]


@contextmanager
def chromium():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot_dir(tmp_path):
    """Where a test's screenshots go: docs/img/ when SCREENSHOTS=docs (to refresh the documentation's
    pictures), else the test's temporary folder."""
    import os
    from pathlib import Path

    if os.environ.get("SCREENSHOTS") == "docs":
        return Path(__file__).resolve().parent.parent / "docs" / "img"
    return tmp_path
