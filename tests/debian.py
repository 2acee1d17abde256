"""Debian packages the tests need (Chromium, Prometheus): installed with apt when missing
(we run as root in CI), else the test skips with the reason, or fails under
OASIS_REQUIRE_SERVICES=1 like every other test that needs something outside Python."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest

APT_TIMEOUT_SECONDS = 600


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    # Test workers (pytest -n) may install at the same time: wait for dpkg's lock instead
    # of failing on it.
    lock_wait = f"DPkg::Lock::Timeout={APT_TIMEOUT_SECONDS // 2}"
    return subprocess.run(["apt-get", "-o", lock_wait, *args], capture_output=True, text=True,
                          timeout=APT_TIMEOUT_SECONDS,
                          env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def install(package: str, *binaries: Path) -> str | None:
    """Install `package` unless all `binaries` exist; None when they do, else why not."""
    if all(b.exists() for b in binaries):
        return None
    missing = ", ".join(str(b) for b in binaries if not b.exists())
    if shutil.which("apt-get") is None:
        return f"{missing} missing and there is no apt-get to install {package}"
    if os.geteuid() != 0:
        return f"{missing} missing; install it as root: apt-get install {package}"
    command = ("install", "-y", "--no-install-recommends", package)
    try:
        done = _apt(*command)
        if done.returncode != 0:  # most often: no package lists yet on a fresh machine
            _apt("update")
            done = _apt(*command)
    except subprocess.TimeoutExpired:
        return f"apt-get did not finish within {APT_TIMEOUT_SECONDS} s"
    if done.returncode != 0 or not all(b.exists() for b in binaries):
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"apt-get install {package} failed: {tail[0]}"
    return None


def unavailable(what: str, why: str) -> NoReturn:
    message = f"{what} is not available ({why}); see .ci/start-services"
    if os.environ.get("OASIS_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    print(message)
    pytest.skip(message)
