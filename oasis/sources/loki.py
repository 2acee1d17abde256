"""Grafana Loki read in place over its HTTP API (`/loki/api/v1/query_range`).

Per check, at most three queries, the counts aggregated server-side so the cost does not
grow with the number of lines:
- per-minute line counts by service and level:
  `sum by (<service labels>, <level labels>) (count_over_time(<selector> [1m]))`, step 60 s
  (the value at t counts (t - 1m, t], so it is the minute starting at t - 60 s);
- per-minute error counts by error type, only when `error_type_label` is set;
- the newest `sample_lines` warning-and-worse lines (`<selector> |~ "(?i)(warn|error|...)"`,
  or a filter on the level labels), for the template miner and the call graph.
A line's level is its first level label present (Loki 3 sets `detected_level`), else one
stated in the line (logfmt `level=`, JSON `"level"`, a leading `ERROR`); a count with no
level label, or one spelled no known way (`unknown`), is INFO.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from oasis.signals import ERROR_LEVELS, Level, LogRecord
from oasis.signals.times import floor_minute
from oasis.sources.base import NoMetrics, SourceUnavailable
from oasis.sources.http import SourceClient
from oasis.sources.lines import (
    ERROR_LINE_REGEX,
    ERROR_TYPE_KEYS,
    HOST_KEYS,
    MESSAGE_KEYS,
    SPAN_KEYS,
    TRACE_KEYS,
    WARN_AND_WORSE,
    WARN_LINE_REGEX,
    attributes_of,
    first_str,
    from_nanoseconds,
    level_from_words,
    level_of_line,
    level_regex,
    line_fields,
    normalise_level,
    to_nanoseconds,
)
from oasis.sources.settings import LokiSource
from oasis.store.base import LogCount, LogGroup

STEP = 60
CHUNK_MINUTES = 1440  # a day of minutes per count query (Loki caps points per series)
QUERY_RANGE = "/loki/api/v1/query_range"
Labels = dict[str, str]
Series = list[tuple[Labels, list[tuple[datetime, float]]]]


def quote(value: str) -> str:
    """A LogQL double-quoted string (Go escapes, which JSON's are a subset of)."""
    return json.dumps(value)


class LokiReader(NoMetrics):
    """Logs of one Loki (or anything speaking its query API)."""

    kind = "loki"

    def __init__(self, settings: LokiSource, client: SourceClient | None = None) -> None:
        self.settings = settings
        self.name = settings.label
        self.history_hours = settings.history_hours
        self.max_wait_seconds = settings.max_wait_seconds
        headers = {"X-Scope-OrgID": settings.org_id} if settings.org_id else None
        self.client = client or SourceClient(
            self.name, settings.url, auth=settings.auth, tls=settings.tls,
            timeout_seconds=settings.timeout_seconds, retries=settings.retries,
            headers=headers)

    # -- the LogQL asked ---------------------------------------------------------------------
    def count_query(self, *, errors_only: bool = False) -> str:
        s = self.settings
        by = ", ".join(_unique([*s.service_labels, *s.level_labels]))
        pipeline = self._parser() + (self._level_filter(ERROR_LEVELS) if errors_only else "")
        return f"sum by ({by}) (count_over_time({s.selector}{pipeline} [1m]))"

    def error_type_query(self, *, errors_only: bool = True) -> str | None:
        s = self.settings
        if s.error_type_label is None:
            return None
        by = ", ".join(_unique([*s.service_labels, s.error_type_label]))
        pipeline = f"{self._parser()} | {s.error_type_label}!=\"\""
        if errors_only:
            pipeline += self._level_filter(ERROR_LEVELS)
        return f"sum by ({by}) (count_over_time({s.selector}{pipeline} [1m]))"

    def lines_query(self, *, errors_only: bool, service: str | None = None,
                    everything: bool = False) -> str:
        s = self.settings
        query = s.selector
        if not everything:
            if s.raw_filter == "line":
                query += f" |~ {quote(ERROR_LINE_REGEX if errors_only else WARN_LINE_REGEX)}"
            else:
                query += self._parser() + self._level_filter(
                    ERROR_LEVELS if errors_only else WARN_AND_WORSE)
        if service is not None:
            names = _unique([service, *(k for k, v in s.service_map.items() if v == service)])
            query += " | " + " or ".join(f"{label}={quote(name)}" for label in s.service_labels
                                         for name in names)
        return query

    def _parser(self) -> str:
        parser = self.settings.parser
        return f" | {parser} | drop __error__, __error_details__" if parser else ""

    def _level_filter(self, levels: Sequence[Level]) -> str:
        pattern = quote(level_regex(levels))
        return " | " + " or ".join(f"{label}=~{pattern}" for label in self.settings.level_labels)

    # -- the source interface ----------------------------------------------------------------
    def log_counts(self, start: datetime, end: datetime, *, by: LogGroup = "level",
                   errors_only: bool = False) -> list[LogCount]:
        if by == "error_type":
            query = self.error_type_query(errors_only=errors_only)
            if query is None:
                return []
            key_of = self._error_type_of
        else:
            query = self.count_query(errors_only=errors_only)
            key_of = self._level_key
        totals: dict[tuple[datetime, str, str], float] = defaultdict(float)
        for labels, values in self._matrix(query, start, end):
            service = self.settings.service_of(labels)
            key = key_of(labels)
            if service is None or key is None:
                continue
            for bucket, value in values:
                totals[(bucket, service, key)] += value
        return [LogCount(bucket, service, key, round(n))
                for (bucket, service, key), n in sorted(totals.items()) if n > 0]

    def read_logs(self, start: datetime, end: datetime, *,
                  levels: Sequence[Level] | None = None,
                  limit: int = 100_000) -> list[LogRecord]:
        """The newest `sample_lines` warning-and-worse lines of the window, oldest first
        (a source is not a bulk export: lower levels are counted, not read)."""
        wanted = set(WARN_AND_WORSE) if levels is None else set(levels) & set(WARN_AND_WORSE)
        limit = min(limit, self.settings.sample_lines)
        if not wanted or limit <= 0:
            return []
        query = self.lines_query(errors_only=wanted <= set(ERROR_LEVELS))
        records = [r for r in self._streams(query, start, end, limit) if r.level in wanted]
        records.sort(key=lambda r: r.timestamp)
        return records

    def sample_logs(self, start: datetime, end: datetime, *, service: str | None = None,
                    errors_only: bool = False, limit: int = 20) -> list[LogRecord]:
        if limit <= 0:
            return []
        query = self.lines_query(errors_only=errors_only, service=service,
                                 everything=not errors_only)
        records = [r for r in self._streams(query, start, end, limit)
                   if (service is None or r.service == service)
                   and (not errors_only or r.level in ERROR_LEVELS)]
        records.sort(key=lambda r: r.timestamp, reverse=True)
        return records[:limit]

    def close(self) -> None:
        self.client.close()

    # -- reading answers ---------------------------------------------------------------------
    def _matrix(self, query: str, start: datetime, end: datetime) -> Series:
        out: Series = []
        for first, last in _evaluations(start, end):
            body = self.client.get(QUERY_RANGE, {
                "query": query, "start": to_nanoseconds(first), "end": to_nanoseconds(last),
                "step": STEP})
            for item in self._result(body, "matrix"):
                labels, values = item.get("metric"), item.get("values")
                if not isinstance(labels, dict) or not isinstance(values, list):
                    raise self._bad("a matrix series without metric/values")
                out.append((labels, [self._sample(v) for v in values]))
        return out

    def _streams(self, query: str, start: datetime, end: datetime,
                 limit: int) -> list[LogRecord]:
        if end <= start:
            return []
        body = self.client.get(QUERY_RANGE, {
            "query": query, "start": to_nanoseconds(start), "end": to_nanoseconds(end),
            "limit": limit, "direction": "backward"})
        out: list[LogRecord] = []
        for item in self._result(body, "streams"):
            labels, values = item.get("stream"), item.get("values")
            if not isinstance(labels, dict) or not isinstance(values, list):
                raise self._bad("a stream without stream/values")
            for entry in values:
                record = self._record(labels, entry)
                if record is not None:
                    out.append(record)
        return out

    def _result(self, body: Any, kind: str) -> list[dict[str, Any]]:
        if not isinstance(body, dict):
            raise self._bad("not a JSON object")
        if body.get("status") != "success":
            raise SourceUnavailable(self.name, f"query failed: {body.get('error') or body}"[:300])
        data = body.get("data")
        if not isinstance(data, dict) or data.get("resultType") != kind:
            got = data.get("resultType") if isinstance(data, dict) else None
            raise self._bad(f"expected a {kind} result, got {got!r}")
        result = data.get("result")
        if not isinstance(result, list) or not all(isinstance(x, dict) for x in result):
            raise self._bad("result is not a list of objects")
        return result

    def _sample(self, value: Any) -> tuple[datetime, float]:
        try:
            ts, count = value
            return datetime.fromtimestamp(float(ts) - STEP, UTC), float(count)
        except (TypeError, ValueError):
            raise self._bad(f"a matrix value {value!r:.80} is not [time, count]") from None

    def _record(self, labels: Labels, entry: Any) -> LogRecord | None:
        if not isinstance(entry, list) or len(entry) < 2 or not isinstance(entry[1], str):
            raise self._bad(f"a stream value {entry!r:.80} is not [ns, line]")
        try:
            timestamp = from_nanoseconds(entry[0])
        except (TypeError, ValueError):
            raise self._bad(f"timestamp {entry[0]!r:.40} is not nanoseconds") from None
        if len(entry) > 2 and isinstance(entry[2], dict):  # categorised labels (Loki 3)
            labels = {**labels, **_metadata(entry[2])}
        service = self.settings.service_of(labels)
        if service is None:
            return None
        return self._build(timestamp, service, labels, entry[1])

    def _build(self, timestamp: datetime, service: str, labels: Labels,
               line: str) -> LogRecord:
        fields = line_fields(line)
        level = (self._label_level(labels) or level_of_line(line, fields)
                 or level_from_words(line))
        error_keys = [self.settings.error_type_label or "", *ERROR_TYPE_KEYS]
        known = {*MESSAGE_KEYS, *TRACE_KEYS, *SPAN_KEYS, *error_keys, *HOST_KEYS, "level",
                 "lvl", "severity", "ts", "time", "timestamp", "@timestamp"}
        return LogRecord(
            timestamp=timestamp, service=service, level=level,
            message=first_str([fields], MESSAGE_KEYS) or line,
            error_type=first_str([labels, fields], error_keys),
            host=first_str([labels, fields], HOST_KEYS),
            trace_id=first_str([fields, labels], TRACE_KEYS),
            span_id=first_str([fields, labels], SPAN_KEYS),
            attributes=attributes_of(fields, known))

    def _label_level(self, labels: Labels) -> Level | None:
        for key in self.settings.level_labels:
            level = normalise_level(labels.get(key))
            if level is not None:
                return level
        return None

    def _level_key(self, labels: Labels) -> str:
        return (self._label_level(labels) or Level.INFO).value

    def _error_type_of(self, labels: Labels) -> str | None:
        label = self.settings.error_type_label
        return labels.get(label) or None if label else None

    def _bad(self, what: str) -> SourceUnavailable:
        return SourceUnavailable(self.name, f"unexpected answer from {QUERY_RANGE}: {what}")


def _evaluations(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """(first, last) evaluation times, a day at most each, for the whole minutes of
    [start, end): each evaluation is a minute's end."""
    first = floor_minute(start)
    if first < start:
        first += timedelta(minutes=1)
    first += timedelta(seconds=STEP)
    end = floor_minute(end)
    while first <= end:
        last = min(end, first + timedelta(minutes=CHUNK_MINUTES - 1))
        yield first, last
        first = last + timedelta(seconds=STEP)


def _metadata(extra: dict[str, Any]) -> Labels:
    out: Labels = {}
    for part in ("structuredMetadata", "parsed"):
        value = extra.get(part)
        if isinstance(value, dict):
            out.update({k: v for k, v in value.items() if isinstance(v, str)})
    return out


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))
