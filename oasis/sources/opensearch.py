"""OpenSearch or Elasticsearch (7.2 and later) read in place over the search API.

Per check, three searches of the log index and one of the metrics index (if set), the
counts aggregated server-side (no document is fetched for them):
- per-minute log counts by service and level: `size: 0`, a range filter on the timestamp
  and a `composite` aggregation over `date_histogram` (`fixed_interval: 1m`), `terms` on
  the service field and `terms` on the level field, paged by `after_key` (so neither the
  number of services nor `search.max_buckets` truncates it);
- the same by error type, error levels only (when `error_type_field` is set);
- the newest `sample_lines` warning-and-worse documents (`terms` on the level field's
  spellings, sorted by the timestamp, newest first);
- per-minute `avg` of the metric value by service and metric name, when `metrics_index`
  is set (documents of one value each: the prototype's `app-logs-metrics`).
Aggregated fields must be keyword (or numeric) fields: for `text` with a keyword
subfield, name the subfield (`service.keyword`). A partial answer (timed out, failed
shards) is refused as unavailable: a partial count would read as a drop in traffic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from oasis.signals import ERROR_LEVELS, Level, LogRecord
from oasis.signals.times import parse_aware
from oasis.sources.base import SourceUnavailable, point
from oasis.sources.http import SourceClient
from oasis.sources.lines import (
    ERROR_TYPE_KEYS,
    HOST_KEYS,
    MESSAGE_KEYS,
    SPAN_KEYS,
    TRACE_KEYS,
    WARN_AND_WORSE,
    attributes_of,
    first_str,
    flatten,
    level_spellings,
    normalise_level,
)
from oasis.sources.settings import OpenSearchSource
from oasis.store.base import LogCount, LogGroup, MetricStats

MAX_PAGES = 1000  # a runaway pager is a bug, not a big fleet
FIRST_SLICE_MINUTES = 60
MAX_SLICE_MINUTES = 1440
Query = dict[str, Any]
Bucket = dict[str, Any]


class OpenSearchReader:
    """Logs (and optionally metrics) of one OpenSearch or Elasticsearch cluster."""

    kind = "opensearch"

    def __init__(self, settings: OpenSearchSource, client: SourceClient | None = None) -> None:
        self.settings = settings
        self.name = settings.label
        self.history_hours = settings.history_hours
        self.max_wait_seconds = settings.max_wait_seconds
        self.client = client or SourceClient(
            self.name, settings.url, auth=settings.auth, tls=settings.tls,
            timeout_seconds=settings.timeout_seconds, retries=settings.retries)

    # -- the searches asked ------------------------------------------------------------------
    def counts_body(self, start: datetime, end: datetime, *, key_field: str,
                    errors_only: bool = False, missing_key: bool = True,
                    after: Bucket | None = None) -> Query:
        s = self.settings
        filters = [self._range(start, end)]
        if errors_only:
            filters.append({"terms": {s.level_field: level_spellings(ERROR_LEVELS)}})
        sources = [
            {"minute": {"date_histogram": {"field": s.timestamp_field, "fixed_interval": "1m"}}},
            {"service": {"terms": {"field": s.service_field}}},
            {"key": {"terms": {"field": key_field, "missing_bucket": missing_key}}},
        ]
        return _composite(filters, sources, s.page_size, after)

    def metrics_body(self, start: datetime, end: datetime,
                     after: Bucket | None = None) -> Query:
        s = self.settings
        sources = [
            {"minute": {"date_histogram": {"field": s.timestamp_field, "fixed_interval": "1m"}}},
            {"service": {"terms": {"field": s.service_field}}},
            {"key": {"terms": {"field": s.metric_name_field}}},
        ]
        body = _composite([self._range(start, end)], sources, s.page_size, after)
        body["aggs"]["series"]["aggs"] = {"value": {"avg": {"field": s.metric_value_field}}}
        return body

    def lines_body(self, start: datetime, end: datetime, *, size: int,
                   levels: Sequence[Level] | None, service: str | None = None) -> Query:
        s = self.settings
        filters = [self._range(start, end)]
        if levels is not None:
            filters.append({"terms": {s.level_field: level_spellings(levels)}})
        if service is not None:
            names = list(dict.fromkeys(
                [service, *(k for k, v in s.service_map.items() if v == service)]))
            filters.append({"terms": {s.service_field: names}})
        return {"size": size, "track_total_hits": False,
                "query": {"bool": {"filter": filters}},
                "sort": [{s.timestamp_field: {"order": "desc"}}]}

    def _range(self, start: datetime, end: datetime) -> Query:
        return {"range": {self.settings.timestamp_field: {
            "gte": _millis(start), "lt": _millis(end), "format": "epoch_millis"}}}

    # -- the source interface ----------------------------------------------------------------
    def log_counts(self, start: datetime, end: datetime, *, by: LogGroup = "level",
                   errors_only: bool = False) -> list[LogCount]:
        s = self.settings
        if by == "error_type":
            if s.error_type_field is None:
                return []
            field, missing = s.error_type_field, False
        else:
            field, missing = s.level_field, True
        totals: dict[tuple[datetime, str, str], int] = {}
        for bucket in self._sliced(s.index, start, end, lambda a, b, after: self.counts_body(
                a, b, key_field=field, errors_only=errors_only, missing_key=missing,
                after=after)):
            minute, service, key = self._key(bucket)
            if service is None:
                continue
            if by == "level":
                key = (normalise_level(key) or Level.INFO).value
            elif not key:
                continue
            group = (minute, service, str(key))
            totals[group] = totals.get(group, 0) + int(bucket.get("doc_count", 0))
        return [LogCount(m, svc, k, n) for (m, svc, k), n in sorted(totals.items()) if n > 0]

    def metric_stats(self, start: datetime, end: datetime) -> list[MetricStats]:
        index = self.settings.metrics_index
        if index is None:
            return []
        out = []
        for bucket in self._sliced(index, start, end, self.metrics_body):
            minute, service, name = self._key(bucket)
            value = (bucket.get("value") or {}).get("value")
            if service is not None and name and isinstance(value, int | float):
                out.append(point(minute, service, str(name), float(value)))
        return out

    def read_logs(self, start: datetime, end: datetime, *,
                  levels: Sequence[Level] | None = None,
                  limit: int = 100_000) -> list[LogRecord]:
        """The newest `sample_lines` warning-and-worse lines of the window, oldest first
        (a source is not a bulk export: lower levels are counted, not read)."""
        wanted = [lv for lv in WARN_AND_WORSE if levels is None or lv in levels]
        size = min(limit, self.settings.sample_lines)
        if not wanted or size <= 0 or end <= start:
            return []
        body = self.lines_body(start, end, size=size, levels=wanted)
        records = [r for r in self._hits(body) if r.level in wanted]
        records.sort(key=lambda r: r.timestamp)
        return records

    def sample_logs(self, start: datetime, end: datetime, *, service: str | None = None,
                    errors_only: bool = False, limit: int = 20) -> list[LogRecord]:
        if limit <= 0 or end <= start:
            return []
        body = self.lines_body(start, end, size=limit, service=service,
                               levels=ERROR_LEVELS if errors_only else None)
        return [r for r in self._hits(body) if service is None or r.service == service]

    def close(self) -> None:
        self.client.close()

    # -- reading answers ---------------------------------------------------------------------
    def _search(self, index: str, body: Query) -> dict[str, Any]:
        path = f"/{index}/_search"
        answer = self.client.post(path, body)
        if not isinstance(answer, dict):
            raise self._bad(path, "not a JSON object")
        if answer.get("timed_out"):
            raise SourceUnavailable(self.name, f"{path} timed out (a partial answer)")
        shards = answer.get("_shards")
        if isinstance(shards, dict) and shards.get("failed"):
            raise SourceUnavailable(self.name, f"{path}: {shards['failed']} shards failed "
                                               f"(a partial answer): {_shard_reason(shards)}")
        return answer

    def _sliced(self, index: str, start: datetime, end: datetime,
                body_for: Callable[[datetime, datetime, Bucket | None], Query]
                ) -> Iterator[Bucket]:
        """Every bucket of [start, end), a time slice at a time: a long window (the first
        check's day of history) is cut into slices of about a page each, so the cluster
        scans each document once instead of once per page. A check's minute is one slice."""
        minutes = FIRST_SLICE_MINUTES
        a = start
        while a < end:
            b = min(end, a + timedelta(minutes=minutes))
            seen = 0
            for bucket in self._pages(index, lambda after: body_for(a, b, after)):  # noqa: B023
                seen += 1
                yield bucket
            per_minute = seen / max(1.0, (b - a).total_seconds() / 60)
            minutes = int(min(MAX_SLICE_MINUTES,
                              max(1, self.settings.page_size // max(1.0, per_minute))))
            a = b

    def _pages(self, index: str, body_for: Callable[[Bucket | None], Query]
               ) -> Iterator[Bucket]:
        """Every bucket of a composite aggregation, page after page."""
        after: Bucket | None = None
        for _ in range(MAX_PAGES):
            answer = self._search(index, body_for(after))
            series = (answer.get("aggregations") or {}).get("series")
            if not isinstance(series, dict) or not isinstance(series.get("buckets"), list):
                raise self._bad(f"/{index}/_search", "no composite aggregation in the answer")
            buckets = series["buckets"]
            yield from buckets
            after = series.get("after_key")
            if len(buckets) < self.settings.page_size or not isinstance(after, dict):
                return
        raise SourceUnavailable(self.name, f"more than {MAX_PAGES} pages of buckets")

    def _key(self, bucket: Bucket) -> tuple[datetime, str | None, Any]:
        key = bucket.get("key")
        if not isinstance(key, dict) or not isinstance(key.get("minute"), int | float):
            raise self._bad("_search", f"a bucket key {key!r:.80} without its minute")
        minute = datetime.fromtimestamp(key["minute"] / 1000, UTC)
        raw = key.get("service")
        service = self.settings.service_map.get(str(raw), str(raw)) if raw else None
        return minute, service, key.get("key")

    def _hits(self, body: Query) -> list[LogRecord]:
        answer = self._search(self.settings.index, body)
        hits = (answer.get("hits") or {}).get("hits")
        if not isinstance(hits, list):
            raise self._bad(f"/{self.settings.index}/_search", "no hits in the answer")
        return [r for r in map(self._record, hits) if r is not None]

    def _record(self, hit: Any) -> LogRecord | None:
        doc = hit.get("_source") if isinstance(hit, dict) else None
        if not isinstance(doc, dict):
            return None
        s = self.settings
        fields = flatten(doc)
        raw_service = _get(doc, s.service_field)
        if raw_service is None or raw_service == "":
            return None
        service = s.service_map.get(str(raw_service), str(raw_service))
        timestamp = _hit_time(hit, _get(doc, s.timestamp_field))
        if timestamp is None:
            return None
        error_keys = [s.error_type_field or "", *ERROR_TYPE_KEYS]
        known = {*MESSAGE_KEYS, *TRACE_KEYS, *SPAN_KEYS, *error_keys, *HOST_KEYS,
                 _bare(s.service_field), _bare(s.level_field), _bare(s.message_field),
                 _bare(s.timestamp_field)}
        message = _get(doc, s.message_field)
        return LogRecord(
            timestamp=timestamp, service=service,
            level=normalise_level(_get(doc, s.level_field)) or Level.INFO,
            message=message if isinstance(message, str) else
            first_str([fields], MESSAGE_KEYS) or "",
            error_type=first_str([fields], error_keys),
            host=first_str([fields], HOST_KEYS),
            trace_id=first_str([fields], TRACE_KEYS),
            span_id=first_str([fields], SPAN_KEYS),
            attributes=attributes_of(fields, known),
            id=str(hit["_id"]) if hit.get("_id") is not None else None)

    def _bad(self, path: str, what: str) -> SourceUnavailable:
        return SourceUnavailable(self.name, f"unexpected answer from {path}: {what}")


def _composite(filters: list[Query], sources: list[Query], size: int,
               after: Bucket | None) -> Query:
    composite: Query = {"size": size, "sources": sources}
    if after is not None:
        composite["after"] = after
    return {"size": 0, "track_total_hits": False, "query": {"bool": {"filter": filters}},
            "aggs": {"series": {"composite": composite}}}


def _millis(ts: datetime) -> int:
    return round(ts.timestamp() * 1000)


def _bare(field: str) -> str:
    """The `_source` path of an aggregation field (`service.keyword` -> `service`)."""
    return field.removesuffix(".keyword")


def _get(doc: dict[str, Any], field: str) -> Any:
    """A field of a document, by flat (`"service.name": ...`) or nested path."""
    path = _bare(field)
    if path in doc:
        return doc[path]
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _hit_time(hit: dict[str, Any], raw: Any) -> datetime | None:
    """The hit's timestamp: its sort value (the engine's own reading of the field, epoch
    milliseconds, or nanoseconds for `date_nanos`), else the stored text."""
    sort = hit.get("sort")
    if isinstance(sort, list) and sort and isinstance(sort[0], int):
        value = sort[0]
        seconds = value / 1e9 if value > 10**15 else value / 1000
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(raw, str):
        try:
            return parse_aware(raw)
        except ValueError:
            return None
    return None


def _shard_reason(shards: dict[str, Any]) -> str:
    failures = shards.get("failures")
    if isinstance(failures, list) and failures and isinstance(failures[0], dict):
        reason = failures[0].get("reason")
        return str(reason.get("reason") if isinstance(reason, dict) else reason)[:200]
    return "no reason given"
