"""Debian packages the tests need (Chromium, Prometheus): installed with apt when missing
(we run as root in CI), else the test skips with the reason, or fails under
OASIS_REQUIRE_SERVICES=1 like every other test that needs something outside Python."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest

APT_TIMEOUT_SECONDS = 600
#: Test workers (pytest -n) taking turns at apt: dpkg's own lock does not cover
#: `apt-get update`'s package lists.
_APT_TURN = Path("/tmp/oasis-tests-apt.lock")


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    # Something other than the tests (unattended upgrades) may hold dpkg's lock: wait.
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
    with _APT_TURN.open("a") as turn:
        fcntl.flock(turn, fcntl.LOCK_EX)  # released when the file closes
        if all(b.exists() for b in binaries):
            return None  # another worker installed it meanwhile
        try:
            done = _apt(*command)
            if done.returncode != 0:  # most often: no package lists yet on a fresh machine
                updated = _apt("update")
                done = _apt(*command) if updated.returncode == 0 else updated
        except subprocess.TimeoutExpired:
            return f"apt-get did not finish within {APT_TIMEOUT_SECONDS} s (one step)"
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
