"""Screenshots of the console's main pages, taken by the browser tests.

Runs tests/test_browser.py (Debian's Chromium through Playwright, against a running
`oasis demo`) with OASIS_SCREENSHOTS=1, so the pages are captured as a person sees them
during the real flow: login, incident list (also at a phone's 390 px), incident detail with
its chart, the approval confirmation, the resolved incident, services, events, tickets,
knowledge, audit and the web chat. Fails rather than skips when Chromium cannot be had.

    python bench/screens.py

Writes bench/results/screens/*.png.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCREENS = ROOT / "bench" / "results" / "screens"


def main() -> int:
    env = {**os.environ, "OASIS_SCREENSHOTS": "1", "OASIS_REQUIRE_SERVICES": "1"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/test_browser.py"], cwd=ROOT, env=env, check=False)
    for png in sorted(SCREENS.glob("*.png")):
        print(f"{png.relative_to(ROOT)}  {png.stat().st_size / 1024:.0f} kB")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
