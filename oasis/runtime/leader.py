"""Which replica runs which loop: `Leadership.run(name, step)` takes (or renews) the lease
`name` and, only if this replica holds it, runs `step` fenced by it (`oasis.leases`), with
a heartbeat renewing the lease while the step runs.

A standby asks every `poll_seconds` (a third of the lease), so when the holder dies the
loop resumes elsewhere within `lease_seconds + poll_seconds`: 20 + 6.7 s with the default
`server.lease_seconds`, inside the 30 s bound docs/production.md promises.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from oasis.leases import Lease, LeaseStore, fenced

log = logging.getLogger(__name__)


def replica_holder() -> str:
    """Who holds a lease: this host, this process, and a nonce for this set of services."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class Leadership:
    leases: LeaseStore
    holder: str
    lease_seconds: float
    held: dict[str, Lease] = field(default_factory=dict)
    #: Leases this replica asked for last time and did not get: it is standby for them.
    standby: set[str] = field(default_factory=set)

    @property
    def poll_seconds(self) -> float:
        return self.lease_seconds / 3

    def run(self, name: str, step: Callable[[bool], object]) -> bool:
        """Run `step(fresh)` if this replica holds `name`; `fresh` when the lease was just
        taken (new token), so the step reloads what another holder may have changed.
        Whether it ran."""
        lease = self.leases.acquire(name, self.holder, self.lease_seconds)
        if lease is None:
            self.standby.add(name)
            if self.held.pop(name, None) is not None:
                log.warning("lease %s went to another replica", name)
            return False
        self.standby.discard(name)
        previous = self.held.get(name)
        fresh = previous is None or previous.token != lease.token
        if fresh:
            log.info(
                "this replica (%s) now runs %s (lease token %d)", self.holder, name, lease.token
            )
        self.held[name] = lease
        with self._heartbeat(name), fenced(lease):
            step(fresh)
        return True

    def release_all(self) -> None:
        """Give every held lease up (a clean shutdown: standbys take over at once)."""
        for name in list(self.held):
            self.release(name)

    def release(self, name: str) -> None:
        """Give `name` up (once the work under it has stopped)."""
        self.held.pop(name, None)
        try:
            self.leases.release(name, self.holder)
        except Exception:  # shutting down anyway; the lease then simply expires
            log.exception("releasing lease %s failed", name)

    @contextlib.contextmanager
    def _heartbeat(self, name: str) -> Iterator[None]:
        done = threading.Event()

        def renew() -> None:
            while not done.wait(self.poll_seconds):
                try:
                    if self.leases.acquire(name, self.holder, self.lease_seconds) is None:
                        log.warning("lease %s lost mid-pass; its writes are refused now", name)
                        return
                except Exception:
                    log.exception("renewing lease %s failed", name)

        beat = threading.Thread(target=renew, name=f"oasis-lease-{name}", daemon=True)
        beat.start()
        try:
            yield
        finally:
            done.set()
            beat.join(10)


__all__ = ["Leadership"]
