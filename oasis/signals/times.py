"""The timestamp helpers every package shares: one parser for zoned time text, one minute
floor. Both refuse naive times: OASIS never guesses a zone, because a guess would silently
shift a service's timeline by the reader's offset.

`parse_aware` is the one parser. Its callers wrap its errors into their own words: the
signal parser (`oasis.signals.parse.parse_timestamp`, with the plausible-year check) and
the ops-event fields (`oasis.triage.sources.fields.parse_time`, which also reads RFC 1123
dates and bare dates) among them. Each error is a ValueError and carries the `text`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from oasis.signals.errors import InvalidInput

#: Years a real timestamp falls in; outside them it is a typo (and may overflow).
PLAUSIBLE_YEARS = (1970, 2200)


class TimeError(InvalidInput, ValueError):
    """Text that is not an acceptable time; `text` is what was given."""

    def __init__(self, message: str, text: object = None) -> None:
        super().__init__(message)
        self.text = text


class TimeFormatError(TimeError):
    """Not a time in any accepted format."""


class NaiveTimeError(TimeError):
    """A time without a zone where OASIS needs one."""


class TimeRangeError(TimeError):
    """A time outside the years asked for."""


def parse_aware(text: str, *, years: tuple[int, int] | None = None,
                rfc2822: bool = False) -> datetime:
    """ISO 8601 text with a zone (`Z` or an offset such as `+02:00`), as aware UTC.

    With `rfc2822`, also an e-mail date such as "Fri, 10 Nov 2023 09:01:00 GMT" (its
    "-0000", "zone unknown", read as UTC). With `years`, refuses years outside them.
    TimeFormatError when it is none of those; NaiveTimeError when it has no zone;
    TimeRangeError outside `years`. All are ValueErrors.
    """
    if type(text) is not str:
        raise TimeFormatError(f"{text!r} is not an ISO 8601 timestamp", text)
    try:
        parsed = datetime.fromisoformat(text)  # the common case, fast
    except ValueError:
        parsed = _lenient(text, rfc2822)
    if parsed.tzinfo is not UTC:
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise NaiveTimeError(
                f"{text!r} has no timezone; add 'Z' or an offset such as '+00:00'", text)
        _check_years(parsed, text, years)  # before converting: a typo may overflow
        try:
            parsed = parsed.astimezone(UTC)
        except OverflowError:
            raise TimeRangeError(f"{text!r} is out of range", text) from None
    _check_years(parsed, text, years)
    return parsed


def _check_years(parsed: datetime, text: str, years: tuple[int, int] | None) -> None:
    if years is not None and not years[0] <= parsed.year <= years[1]:
        raise TimeRangeError(f"{text!r} is outside {years[0]}-{years[1]}", text)


def _lenient(text: str, rfc2822: bool) -> datetime:
    """`text` with surrounding blanks or a lower-case `z`; else, if allowed, RFC 2822."""
    cleaned = text.strip()
    if cleaned.endswith("z"):
        cleaned = cleaned[:-1] + "Z"
    try:
        return datetime.fromisoformat(cleaned)
    except ValueError:
        pass
    if rfc2822:
        try:
            parsed = parsedate_to_datetime(cleaned)
        except (TypeError, ValueError, IndexError):
            pass
        else:
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    raise TimeFormatError(f"{text!r} is not an ISO 8601 timestamp", text)


def floor_minute(t: datetime) -> datetime:
    """The start of `t`'s minute, as aware UTC. A naive `t` is refused (NaiveTimeError)."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise NaiveTimeError(f"{t.isoformat()} has no timezone", t)
    return t.astimezone(UTC).replace(second=0, microsecond=0)


__all__ = ["PLAUSIBLE_YEARS", "NaiveTimeError", "TimeError", "TimeFormatError",
           "TimeRangeError", "floor_minute", "parse_aware"]
