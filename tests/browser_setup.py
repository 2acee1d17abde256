"""Debian's Chromium for the browser tests, driven by Playwright's Python package.

The browser is the distribution's (/usr/bin/chromium), never one Playwright downloads: the
wheel carries only the driver. When it is missing we install it with apt (we run as root in
CI); when that is impossible the tests skip with the reason, or fail under
OASIS_REQUIRE_SERVICES=1 like every other test that needs something outside Python.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest
from playwright.sync_api import Browser, Error, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
APT_TIMEOUT_SECONDS = 600
# Containers have a small /dev/shm; Chromium then crashes tabs unless told to use /tmp.
LAUNCH_ARGS = ["--disable-dev-shm-usage"]


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["apt-get", *args], capture_output=True, text=True,
                          timeout=APT_TIMEOUT_SECONDS,
                          env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def install_chromium() -> str | None:
    """Install Debian's chromium if it is missing; None when it is there, else why not."""
    if CHROMIUM.exists():
        return None
    if shutil.which("apt-get") is None:
        return f"{CHROMIUM} is missing and there is no apt-get to install it"
    if os.geteuid() != 0:
        return f"{CHROMIUM} is missing; install it as root: apt-get install chromium"
    install = ("install", "-y", "--no-install-recommends", "chromium")
    try:
        done = _apt(*install)
        if done.returncode != 0:  # most often: no package lists yet on a fresh machine
            _apt("update")
            done = _apt(*install)
    except subprocess.TimeoutExpired:
        return f"apt-get did not finish within {APT_TIMEOUT_SECONDS} s"
    if done.returncode != 0 or not CHROMIUM.exists():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"apt-get install chromium failed: {tail[0]}"
    return None


def unavailable(why: str) -> NoReturn:
    message = f"Chromium is not available ({why}); see .ci/start-services"
    if os.environ.get("OASIS_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    print(message)
    pytest.skip(message)


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
