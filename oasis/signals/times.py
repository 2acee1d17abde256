"""The timestamp helpers every package shares: one parser for zoned ISO 8601 text, one
minute floor. Both refuse naive times: OASIS never guesses a zone, because a guess would
silently shift a service's timeline by the reader's offset.

`oasis.signals.parse.parse_timestamp` is the ingest variant of `parse_aware` (the same
rule, plus a plausible-year check and the ingest's `RecordError`).
"""

from __future__ import annotations

from datetime import UTC, datetime


class NaiveTimeError(ValueError):
    """A time without a zone where OASIS needs one."""


def parse_aware(text: str) -> datetime:
    """ISO 8601 text with a zone (`Z` or an offset such as `+02:00`), as aware UTC.

    ValueError when it is not ISO 8601; NaiveTimeError (a ValueError) when it has no zone.
    """
    if not isinstance(text, str):
        raise ValueError(f"{text!r} is not an ISO 8601 timestamp")
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise NaiveTimeError(f"{text!r} has no timezone; add 'Z' or an offset such as '+00:00'")
    return parsed.astimezone(UTC)


def floor_minute(t: datetime) -> datetime:
    """The start of `t`'s minute, as aware UTC. A naive `t` is refused (NaiveTimeError)."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise NaiveTimeError(f"{t.isoformat()} has no timezone")
    return t.astimezone(UTC).replace(second=0, microsecond=0)


__all__ = ["NaiveTimeError", "floor_minute", "parse_aware"]
