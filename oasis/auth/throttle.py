"""Login throttling: after a few wrong passwords for one user or from one address, each
further try must wait, twice as long as the one before, up to a ceiling.

Both keys count on their own, so guessing one user's password from many addresses and
trying many users from one address are both slowed. A locked try is refused without
checking the password at all, so waiting is the only way on. A right password clears the
user's count (not the address's: one known account must not reset a guesser's address).
Counts live in this process (a restart forgets them); with several OASIS processes each
throttles on its own, which still bounds guessing to a few tries per lockout per process.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from oasis.signals.errors import TooManyRequests

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class _Failures:
    count: int
    locked_until: datetime | None
    last: datetime


class LoginLocked(TooManyRequests):
    """Too many wrong passwords lately; `retry_after` says how long to wait."""

    def __init__(self, message: str, retry_after: timedelta) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LoginThrottle:
    """Counts failed logins per user and per address; `check` refuses while locked.

    `free` failures are allowed; the next one locks for `first_delay`, each one after it
    doubles the lock, up to `max_delay`. A key with no failure for `forget_after` starts
    afresh. At most `max_keys` keys are remembered (the stalest are dropped), so a flood
    of made-up names cannot fill the memory.
    """

    def __init__(
        self,
        *,
        free: int = 5,
        first_delay: timedelta = timedelta(seconds=1),
        max_delay: timedelta = timedelta(minutes=15),
        forget_after: timedelta = timedelta(hours=1),
        max_keys: int = 10_000,
        clock: Clock = _utc_now,
    ) -> None:
        self.free, self.first_delay, self.max_delay = free, first_delay, max_delay
        self.forget_after, self.max_keys, self.clock = forget_after, max_keys, clock
        self._failures: OrderedDict[str, _Failures] = OrderedDict()

    def check(self, name: str, address: str) -> None:
        """LoginLocked if the user or the address must still wait."""
        now = self.clock()
        waits = [
            f.locked_until - now
            for f in map(self._current, _keys(name, address), [now] * 2)
            if f is not None and f.locked_until is not None and f.locked_until > now
        ]
        if waits:
            wait = max(waits)
            seconds = max(1, int(wait.total_seconds() + 0.999))
            raise LoginLocked(f"too many failed logins; try again in {seconds} s", wait)

    def failed(self, name: str, address: str) -> int:
        """Count a wrong password; returns the larger of the two counts."""
        now = self.clock()
        counts = []
        for key in _keys(name, address):
            current = self._current(key, now)
            count = (current.count if current is not None else 0) + 1
            locked = None
            if count > self.free:
                delay = min(self.max_delay, self.first_delay * 2 ** min(count - self.free - 1, 30))
                locked = now + delay
            self._failures[key] = _Failures(count, locked, now)
            self._failures.move_to_end(key)
            counts.append(count)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)
        return max(counts)

    def succeeded(self, name: str) -> None:
        self._failures.pop(f"user:{name.lower()}", None)

    def _current(self, key: str, now: datetime) -> _Failures | None:
        found = self._failures.get(key)
        if found is not None and now - found.last >= self.forget_after:
            del self._failures[key]
            return None
        return found


def _keys(name: str, address: str) -> tuple[str, str]:
    return f"user:{name.lower()}", f"addr:{address}"


__all__ = ["LoginLocked", "LoginThrottle"]
