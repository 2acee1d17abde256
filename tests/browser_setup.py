"""Debian's Chromium for the browser tests, driven by Playwright's Python package.

The browser is the distribution's (/usr/bin/chromium), never one Playwright downloads: the
wheel carries only the driver. When it is missing we install it with apt (we run as root in
CI); when that is impossible the tests skip with the reason, or fail under
OASIS_REQUIRE_SERVICES=1 like every other test that needs something outside Python.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

from playwright.sync_api import Browser, Error, sync_playwright

from tests.debian import install
from tests.debian import unavailable as debian_unavailable

CHROMIUM = Path("/usr/bin/chromium")
# Containers have a small /dev/shm; Chromium then crashes tabs unless told to use /tmp.
LAUNCH_ARGS = ["--disable-dev-shm-usage"]


def install_chromium() -> str | None:
    """Install Debian's chromium if it is missing; None when it is there, else why not."""
    return install("chromium", CHROMIUM)


def unavailable(why: str) -> NoReturn:
    debian_unavailable("Chromium", why)


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Debian Chromium driven by Playwright; skips (or fails) when it cannot
    be had. Give it module scope: Playwright's sync driver keeps an event loop of its own,
    which must be gone before the rest of the suite runs its own loops."""
    why = install_chromium()
    if why is not None:
        unavailable(why)
    with sync_playwright() as driver:
        try:
            browser = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=LAUNCH_ARGS)
        except Error as exc:
            unavailable(f"{CHROMIUM} did not start: {str(exc).splitlines()[0]}")
        try:
            yield browser
        finally:
            browser.close()
