"""Reading untrusted JSON objects field by field, with errors that name the field.

Every source parser reads through `Fields`, so a payload with `affectedAccount: 42` or
`resources: "x"` is refused as "detail.affectedAccount: expected a string, got a number"
instead of escaping as a TypeError three calls later.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from oasis.signals.parse import json_kind
from oasis.signals.times import (
    PLAUSIBLE_YEARS,
    NaiveTimeError,
    TimeError,
    TimeFormatError,
    parse_aware,
)
from oasis.triage.model import EventFormatError

_ACCOUNT_ID = re.compile(r"^\d{12}$")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
T = TypeVar("T")
R = TypeVar("R")


def format_error(exc: ValidationError) -> EventFormatError:
    """A value the field checks let through but the model refuses, as a named field."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return EventFormatError(f"{where}: {first['msg']}")


def each_kept(items: Sequence[T], parse: Callable[[int, T], list[R]],
              rejected: list[str] | None, *, label: Callable[[int], str] | None = None
              ) -> list[R]:
    """`parse` every item; with a `rejected` list, a bad item is written there (why, by
    `label(i)` when the error does not already name it) and the rest are kept: one bad
    alert must not lose its group. Without one, the first bad item raises."""
    out: list[R] = []
    for i, item in enumerate(items):
        try:
            out.extend(parse(i, item))
        except (EventFormatError, ValidationError) as exc:
            error = format_error(exc) if isinstance(exc, ValidationError) else exc
            if rejected is None:
                raise error from None
            message = str(error)
            if label is not None and not message.startswith(label(i)):
                message = f"{label(i)}: {message}"
            rejected.append(message)
    return out


def is_account_id(value: str) -> bool:
    return bool(_ACCOUNT_ID.match(value))


def parse_time(value: str, where: str) -> datetime:
    """RFC 1123 ("Fri, 10 Nov 2023 09:01:00 GMT", as AWS Health writes it in events),
    ISO 8601 with a zone, or a bare date (Cost Anomaly Detection), as aware UTC
    (`oasis.signals.times.parse_aware`)."""
    text = value.strip()
    if _DATE_ONLY.match(text):
        text += "T00:00:00Z"
    try:
        return parse_aware(text, years=PLAUSIBLE_YEARS, rfc2822=True)
    except TimeFormatError:
        raise EventFormatError(
            f"{where}: {value!r} is not a time (expected ISO 8601 such as "
            f"2023-11-10T09:01:00Z or 'Fri, 10 Nov 2023 09:01:00 GMT')") from None
    except NaiveTimeError:
        raise EventFormatError(f"{where}: {value!r} has no timezone") from None
    except TimeError:
        raise EventFormatError(f"{where}: {value!r} is outside {PLAUSIBLE_YEARS[0]}-"
                               f"{PLAUSIBLE_YEARS[1]}") from None


def decode_json(text: str, where: str) -> Any:
    """A JSON document carried as a string (SNS Message, PutEvents Detail)."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise EventFormatError(f"{where}: not valid JSON ({exc})") from None


class Fields:
    """Typed, checked access to one JSON object found at `path` in the payload."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise EventFormatError(
                f"{path or 'payload'}: expected an object, got {json_kind(data)}")
        self.data: dict[str, Any] = data
        self.path = path

    def where(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def has(self, name: str) -> bool:
        return self.data.get(name) not in (None, "")

    def _get(self, name: str, required: bool) -> Any:
        value = self.data.get(name)
        if value is None and required:
            raise EventFormatError(f"{self.where(name)}: required field is missing")
        return value

    def text(self, name: str, *, required: bool = False) -> str | None:
        """A string; "" counts as absent (AWS Health sends endTime "")."""
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise EventFormatError(f"{self.where(name)}: expected a string, got {json_kind(value)}")
        if value.strip() == "":
            if required:
                raise EventFormatError(f"{self.where(name)}: must not be empty")
            return None
        return value

    def req(self, name: str) -> str:
        value = self.text(name, required=True)
        assert value is not None
        return value

    def scalar(self, name: str) -> str | None:
        """A string or a number, as text (labels, ids some senders write as numbers)."""
        value = self._get(name, False)
        if value is None or isinstance(value, str):
            return value or None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise EventFormatError(f"{self.where(name)}: expected a string, got {json_kind(value)}")

    def number(self, name: str) -> float | None:
        value = self._get(name, False)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        elif isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise EventFormatError(f"{self.where(name)}: expected a number, got {json_kind(value)}")

    def time(self, name: str, *, required: bool = False) -> datetime | None:
        value = self.text(name, required=required)
        return None if value is None else parse_time(value, self.where(name))

    def obj(self, name: str, *, required: bool = False) -> Fields:
        """A nested object; an absent one reads as empty."""
        value = self._get(name, required)
        return Fields({} if value is None else value, self.where(name))

    def objects(self, name: str, *, required: bool = False) -> list[Fields]:
        return [Fields(item, f"{self.where(name)}[{i}]")
                for i, item in enumerate(self.items(name, required=required))]

    def items(self, name: str, *, required: bool = False) -> list[Any]:
        value = self._get(name, required)
        if value is None:
            return []
        if not isinstance(value, list):
            raise EventFormatError(f"{self.where(name)}: expected a list, got {json_kind(value)}")
        return value

    def strings(self, name: str) -> list[str]:
        out = []
        for i, item in enumerate(self.items(name)):
            if not isinstance(item, str):
                raise EventFormatError(
                    f"{self.where(name)}[{i}]: expected a string, got {json_kind(item)}")
            out.append(item)
        return out

    def string_map(self, name: str) -> dict[str, str]:
        """An object of strings (tags, labels); numbers and booleans are written as text."""
        value = self._get(name, False)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise EventFormatError(
                f"{self.where(name)}: expected an object, got {json_kind(value)}")
        out: dict[str, str] = {}
        for key, item in value.items():
            if isinstance(item, bool):
                out[str(key)] = str(item).lower()
            elif isinstance(item, str | int | float):
                out[str(key)] = str(item)
            else:
                raise EventFormatError(
                    f"{self.where(name)}.{key}: expected a string, got {json_kind(item)}")
        return out
