"""Named points where a crash test can make OASIS die exactly as `kill -9` would.

Set `OASIS_TEST_CRASH_AT` to a point's name (`action.after_execute`) to die the first time
the process reaches it, or to `name:N` to die the N-th time (`triage.after_event:3`); several
comma-separated. The process sends itself SIGKILL: no `finally`, no flush, no atexit, so the
crash tests see what a real power cut or OOM kill leaves behind, at a moment they choose
instead of one they have to hit with a timer. Unset (always, outside those tests), a point
costs one environment lookup.

The points, where the work they interrupt is said to be safe:
- `action.before_execute`, `action.after_execute` (oasis.respond.specialist): the action is
  claimed; it has not run yet / it ran but its outcome is not recorded.
- `respond.after_summary`, `respond.before_approval_request` (oasis.respond.responder): an
  incident's proposals are stored and its summary queued / it waits for approval, but the
  approval request is not queued yet.
- `outbox.before_send`, `outbox.after_send` (oasis.notify.outbox): a delivery is claimed;
  it has not gone out yet / it went out but is not marked sent.
- `triage.after_receive`, `triage.after_decide`, `triage.after_ticket`,
  `triage.after_event` (oasis.triage): one queued event is stored / decided / has one more
  ticket / is fully handled but still queued.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter

CRASH_ENV = "OASIS_TEST_CRASH_AT"

_reached: Counter[str] = Counter()
_lock = threading.Lock()


def crash_point(name: str) -> None:
    """Die here (SIGKILL to this process) if `OASIS_TEST_CRASH_AT` names this point."""
    wanted = os.environ.get(CRASH_ENV)
    if not wanted:
        return
    with _lock:
        _reached[name] += 1
        times = _reached[name]
    for spec in wanted.split(","):
        point, _, nth = spec.strip().partition(":")
        if point == name and times == (int(nth) if nth.isdigit() else 1):
            os.kill(os.getpid(), signal.SIGKILL)
