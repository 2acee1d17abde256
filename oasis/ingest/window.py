"""Which timestamps ingest accepts: not far in the future, not older than retention.

A record stamped in 2199 would become its service's newest signal and move detection's
clock (it runs on the newest record); a record older than retention would be acknowledged
and then deleted by the next retention pass. Both are refused at the door, with a reason.

"Now" is the ingest clock, injected: live ingest uses the wall clock, while paths that
load generated or historical data (a simulation at 20x, a backfill, a test) pass their
own clock or `TimeWindow.unbounded()`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from oasis.signals.model import utc_iso

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Bounds:
    """The accepted range for one batch, read from the clock once."""

    now: datetime
    earliest: datetime | None
    latest: datetime | None

    def naive(self) -> tuple[datetime | None, datetime | None]:
        """The bounds as naive UTC, as the store keeps timestamps."""
        return (_naive(self.earliest), _naive(self.latest))


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Accept timestamps in [now - max_age, now + max_future]; None leaves a side open."""

    clock: Clock = wall_clock
    max_future: timedelta | None = timedelta(minutes=10)
    max_age: timedelta | None = None

    @classmethod
    def unbounded(cls) -> TimeWindow:
        """No time check: for loading generated or historical data on purpose."""
        return cls(max_future=None, max_age=None)

    @classmethod
    def live(
        cls, *, max_future_seconds: float, retention_days: float, clock: Clock = wall_clock
    ) -> TimeWindow:
        """The server's and `oasis ingest`'s window; 0 turns either side off."""
        return cls(
            clock=clock,
            max_future=timedelta(seconds=max_future_seconds) if max_future_seconds > 0 else None,
            max_age=timedelta(days=retention_days) if retention_days > 0 else None,
        )

    def bounds(self) -> Bounds:
        if self.max_future is None and self.max_age is None:
            return Bounds(datetime.min.replace(tzinfo=UTC), None, None)
        now = self.clock()
        return Bounds(
            now,
            now - self.max_age if self.max_age is not None else None,
            now + self.max_future if self.max_future is not None else None,
        )

    def refusal(self, timestamp: datetime, bounds: Bounds) -> str | None:
        """Why a record stamped `timestamp` is refused, or None when it is accepted."""
        if bounds.latest is not None and timestamp > bounds.latest:
            return (
                f"timestamp {utc_iso(timestamp)} is more than {_span(self.max_future)} "
                f"ahead of the ingest clock ({utc_iso(bounds.now)}); check the sender's "
                "clock"
            )
        if bounds.earliest is not None and timestamp < bounds.earliest:
            return (
                f"timestamp {utc_iso(timestamp)} is older than the retention period "
                f"({_span(self.max_age)}, before {utc_iso(bounds.earliest)}): it would be "
                "deleted, so it is not stored"
            )
        return None


def _span(delta: timedelta | None) -> str:
    seconds = delta.total_seconds() if delta is not None else 0
    if seconds % 86_400 == 0:
        return f"{seconds / 86_400:g} days"
    if seconds % 60 == 0:
        return f"{seconds / 60:g} minutes"
    return f"{seconds:g} seconds"


def _naive(ts: datetime | None) -> datetime | None:
    return ts.astimezone(UTC).replace(tzinfo=None) if ts is not None else None
