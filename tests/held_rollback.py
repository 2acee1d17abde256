"""A fleet's real control API whose first rollback is held until the same rollback is
re-issued (by a restarted or another OASIS), and the re-issued one is carried out after it.
So OASIS can be killed in the middle of a rollback, however slow the machine is."""

from __future__ import annotations

import asyncio
import threading

from oasis.simulate.control import create_control_app
from oasis.simulate.fleet import Fleet


class HeldRollback:
    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.app = create_control_app(fleet)
        self.started = threading.Event()
        self._reissued = threading.Event()
        self._first_done = threading.Event()
        self.calls = 0

        @self.app.middleware("http")
        async def hold(request, call_next):
            if request.method != "POST" or not request.url.path.endswith("/rollback"):
                return await call_next(request)
            self.calls += 1
            if self.calls > 1:
                self._reissued.set()
                await asyncio.to_thread(self._first_done.wait, 120)
                return await call_next(request)
            self.started.set()
            await asyncio.to_thread(self._reissued.wait, 120)
            try:
                return await call_next(request)
            finally:
                self._first_done.set()

    def release(self) -> None:
        """Let whatever is held go, so the servers can stop."""
        self._reissued.set()
        self._first_done.set()
