"""Raw log lines read from a source, as `LogRecord`s: the level, trace id, error type and
attributes taken from the line itself when it is a JSON object or logfmt, and from the
source's labels (fields) otherwise.

Shared by the log readers; nothing here speaks HTTP.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from oasis.signals import ERROR_LEVELS, Level
from oasis.signals.model import LEVEL_ALIASES

WARN_AND_WORSE: tuple[Level, ...] = (Level.WARN, *ERROR_LEVELS)
LEVEL_KEYS = ("level", "lvl", "severity", "loglevel", "log.level", "severity_text",
              "detected_level")
MESSAGE_KEYS = ("message", "msg", "error_message", "error.message", "body")
TRACE_KEYS = ("trace_id", "traceID", "traceId", "trace.id", "traceid")
SPAN_KEYS = ("span_id", "spanID", "spanId", "span.id")
ERROR_TYPE_KEYS = ("error_type", "error.type", "exception.type", "exception_type")
HOST_KEYS = ("host", "host.name", "hostname", "pod", "instance")
MAX_ATTRIBUTES = 32

_LOGFMT = re.compile(r'([\w.\-/@]+)=("(?:[^"\\]|\\.)*"|\S*)')
# A level word near the start of a plain-text line: upper case (`2024-... ERROR ...`,
# `WARNING:root:...`) or in brackets, any case (`[error] ...`).
_WORDS = (r"TRACE|DEBUG|INFO|NOTICE|WARN(?:ING)?|ERROR|ERR|SEVERE|FATAL|CRIT(?:ICAL)?|"
          r"PANIC|EMERG(?:ENCY)?")
_LEADING_LEVEL = re.compile(rf"(?<![\w-])({_WORDS})(?![\w-])|\[((?i:{_WORDS}))\]")
# The words the raw-line filter looks for; a line with no level anywhere is given the
# worst one it contains.
_LEVEL_WORDS = re.compile(r"(warn|error|exception|fatal|crit|panic)", re.IGNORECASE)
_WORD_LEVEL = {"warn": Level.WARN, "error": Level.ERROR, "exception": Level.ERROR,
               "fatal": Level.FATAL, "crit": Level.FATAL, "panic": Level.FATAL}
#: A line filter (RE2 and Python alike) that keeps lines naming a warning or worse.
WARN_LINE_REGEX = "(?i)(warn|error|exception|fatal|crit|panic)"
ERROR_LINE_REGEX = "(?i)(error|exception|fatal|crit|panic)"


def normalise_level(value: Any) -> Level | None:
    """A level spelled any of the usual ways (`warning`, `E`, `crit`: LEVEL_ALIASES), or
    None for anything else (Loki's `unknown` included)."""
    if not isinstance(value, str):
        return None
    return LEVEL_ALIASES.get(value.strip().upper())


def level_spellings(levels: Iterable[Level]) -> list[str]:
    """Every alias of `levels` in lower, upper and title case (for exact-match filters)."""
    wanted = set(levels)
    out: list[str] = []
    for alias, level in LEVEL_ALIASES.items():
        if level in wanted:
            for spelling in (alias.lower(), alias, alias.title()):
                if spelling not in out:
                    out.append(spelling)
    return out


def level_regex(levels: Iterable[Level]) -> str:
    """A case-insensitive, fully anchored-friendly alternation of `levels`' aliases."""
    wanted = set(levels)
    words = sorted((a.lower() for a, lv in LEVEL_ALIASES.items() if lv in wanted),
                   key=lambda w: (-len(w), w))
    return "(?i)(" + "|".join(words) + ")"


def line_fields(line: str) -> dict[str, Any]:
    """The fields of a JSON-object line or a logfmt line (flattened one level); {} for
    plain text."""
    text = line.strip()
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return flatten(value)
    if "=" not in text:
        return {}
    out: dict[str, Any] = {}
    for key, raw in _LOGFMT.findall(text):
        out.setdefault(key, _unquote(raw))
    return out


def level_of_line(line: str, fields: Mapping[str, Any]) -> Level | None:
    """The level a line states: a level field, else a leading level word."""
    for key in LEVEL_KEYS:
        level = normalise_level(fields.get(key))
        if level is not None:
            return level
    match = _LEADING_LEVEL.search(line[:120])
    return normalise_level(match.group(1) or match.group(2)) if match else None


def level_from_words(line: str) -> Level:
    """The worst level word a line contains (the raw-line filter matched one), else INFO."""
    found = [_WORD_LEVEL[w.lower()] for w in _LEVEL_WORDS.findall(line)]
    order = list(Level)
    return max(found, key=order.index) if found else Level.INFO


def first_str(mappings: Iterable[Mapping[str, Any]], keys: Iterable[str]) -> str | None:
    """The first non-empty string (or number) found under `keys`, in mapping order."""
    keys = tuple(keys)
    for mapping in mappings:
        for key in keys:
            value = mapping.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, int | float) and not isinstance(value, bool):
                return str(value)
    return None


def attributes_of(fields: Mapping[str, Any], skip: Iterable[str]) -> dict[str, Any]:
    """Scalar fields not already mapped to a record field (a `callee`, a status code)."""
    skipped = set(skip)
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key in skipped or not isinstance(value, str | int | float | bool):
            continue
        out[key] = value
        if len(out) >= MAX_ATTRIBUTES:
            break
    return out


def from_nanoseconds(value: str | int) -> datetime:
    """A Unix-epoch nanosecond timestamp (Loki's) as aware UTC, microsecond precision."""
    ns = int(value)
    seconds, rest = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=rest // 1000)


def to_nanoseconds(ts: datetime) -> int:
    delta = ts - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping) and not prefix:
            out.update(flatten(item, f"{name}."))
        else:
            out[name] = item
    return out


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        try:
            return json.loads(raw)
        except ValueError:
            return raw[1:-1]
    return raw
