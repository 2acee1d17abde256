"""Remembering which Slack events were already handled, so a re-delivery is not answered twice.

Slack re-sends an event (same `event_id`, `X-Slack-Retry-Num` 1..3) when it did not see a
timely 200 — sometimes because the first delivery never arrived, sometimes because it did
and the answer was slow. Keying on `event_id` handles both: the first delivery that gets
through is handled, every later copy is acknowledged and dropped. Slack gives up after
about an hour, so ids older than that can be forgotten.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

RETRY_WINDOW_SECONDS = 2 * 60 * 60
MAX_REMEMBERED = 10_000


class SeenEvents:
    """A bounded, time-limited set of event ids; `first_time` is atomic across threads."""

    def __init__(
        self,
        window_seconds: float = RETRY_WINDOW_SECONDS,
        max_size: int = MAX_REMEMBERED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window = window_seconds
        self._max_size = max_size
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_time(self, event_id: str) -> bool:
        """True the first time `event_id` is offered within the window, False after."""
        now = self._clock()
        with self._lock:
            self._forget_older_than(now - self._window)
            if event_id in self._seen:
                return False
            self._seen[event_id] = now
            while len(self._seen) > self._max_size:
                self._seen.popitem(last=False)
            return True

    def _forget_older_than(self, cutoff: float) -> None:
        while self._seen:
            oldest_id, seen_at = next(iter(self._seen.items()))
            if seen_at >= cutoff:
                return
            del self._seen[oldest_id]
