"""Backpressure for the ingest routes: a bounded number of bodies in flight at once, and a
short, bounded wait for a slot.

Every ingest request (`POST /api/v1/signals`, `/v1/logs`, `/v1/metrics`, `/v1/traces`) holds
one slot from the moment it is admitted until its records are stored. When all
`ingest.max_concurrent_requests` slots are taken, up to `ingest.max_queued_requests` more
wait at most `ingest.queue_seconds` for one, in arrival order, their bodies still unread
(so they cost no memory); past either bound the answer is 429 with `Retry-After`. A burst
is absorbed instead of refused, and still nothing waits without bound: memory and answer
times stay bounded however many senders there are.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from oasis.signals.errors import TooManyRequests


class IngestBusy(TooManyRequests):
    """Every ingest slot is taken; the sender should retry after `retry_after_seconds`."""


class IngestAdmission:
    """At most `limit` ingest requests at once, `max_waiting` more waiting up to
    `wait_seconds` for a slot. `refused` counts those turned away, `max_held_bytes` is the
    most body bytes one request held at once (what a streamed body keeps small).

    A freed slot is handed straight to the oldest waiter (it never becomes free in between),
    and a newcomer waits behind anyone already waiting, so the limit holds exactly and the
    queue is first come, first served. Used on the event loop only: no lock."""

    def __init__(self, limit: int, retry_after_seconds: int, *, max_waiting: int = 0,
                 wait_seconds: float = 0.0) -> None:
        self.limit = limit
        self.retry_after_seconds = retry_after_seconds
        self.max_waiting = max_waiting
        self.wait_seconds = wait_seconds
        self.refused = 0
        self.max_held_bytes = 0
        self._active = 0
        self._waiting = 0
        self._slots: deque[asyncio.Future[None]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def active(self) -> int:
        return self._active

    @property
    def waiting(self) -> int:
        return self._waiting

    def note_held(self, size: int) -> None:
        self.max_held_bytes = max(self.max_held_bytes, size)

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Hold a slot for the body of the `async with`, waiting for one within the bounds;
        raise `IngestBusy` past them."""
        self._follow_loop()
        if self._active < self.limit and self._waiting == 0:
            self._active += 1
        else:
            await self._wait_for_slot()
        try:
            yield
        finally:
            self._release()

    async def _wait_for_slot(self) -> None:
        if self._waiting >= self.max_waiting or self.wait_seconds <= 0:
            raise self._busy()
        slot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._slots.append(slot)
        self._waiting += 1
        try:
            await asyncio.wait_for(slot, self.wait_seconds)
        except TimeoutError:
            self._waiting -= 1
            raise self._busy() from None
        except BaseException:  # the sender went away while waiting
            self._waiting -= 1
            if slot.done() and not slot.cancelled():
                self._release()  # it was handed a slot it cannot use: pass it on
            raise
        self._waiting -= 1  # the slot was handed over: `_active` already counts it

    def _release(self) -> None:
        while self._slots:
            slot = self._slots.popleft()
            if not slot.done():  # a waiter that timed out or went away is skipped
                slot.set_result(None)
                return
        self._active -= 1

    def _follow_loop(self) -> None:
        # Futures belong to one event loop; an app may be served by another later (a
        # second test client), so the waiting line follows the running loop.
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._slots, self._loop = deque(), loop

    def _busy(self) -> IngestBusy:
        self.refused += 1
        return IngestBusy(
            f"the server is ingesting {self.limit} requests with {self._waiting} more "
            f"waiting already; retry after {self.retry_after_seconds} s",
            retry_after_seconds=self.retry_after_seconds,
        )
