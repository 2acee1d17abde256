"""Backpressure for the ingest routes: a bounded number of bodies in flight at once.

Every ingest request (`POST /api/v1/signals`, `/v1/logs`, `/v1/metrics`, `/v1/traces`) holds
one slot from the moment it is admitted until its records are stored. When all
`ingest.max_concurrent_requests` slots are taken the next request is refused at once with
429 and `Retry-After`, before its body is read: nothing waits in an unbounded queue, so the
server's memory and its answer times stay bounded however many senders there are.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from oasis.signals.errors import TooManyRequests


class IngestBusy(TooManyRequests):
    """Every ingest slot is taken; the sender should retry after `retry_after_seconds`."""


class IngestAdmission:
    """At most `limit` ingest requests at once; `refused` counts those turned away and
    `max_held_bytes` is the most body bytes one request held at once (what a streamed body
    keeps small)."""

    def __init__(self, limit: int, retry_after_seconds: int) -> None:
        self.limit = limit
        self.retry_after_seconds = retry_after_seconds
        self.refused = 0
        self.max_held_bytes = 0
        self._active = 0
        self._lock = threading.Lock()

    @property
    def active(self) -> int:
        return self._active

    def note_held(self, size: int) -> None:
        with self._lock:
            self.max_held_bytes = max(self.max_held_bytes, size)

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Hold a slot for the body of the `with`; raise `IngestBusy` if none is free."""
        with self._lock:
            if self._active >= self.limit:
                self.refused += 1
                raise IngestBusy(
                    f"the server is ingesting {self.limit} requests already; retry after "
                    f"{self.retry_after_seconds} s",
                    retry_after_seconds=self.retry_after_seconds,
                )
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
