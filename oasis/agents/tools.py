"""The monitoring agent's tools: read-only views of signals, past incidents and the call graph.

Built per investigation over a `ToolContext`, so every tool sees one `now`, one redactor
(placeholders stay stable across calls) and one audit list of calls. Nothing here writes:
the agent can look, not touch; actions come only from the catalog, behind the approval gate.
Text that came from a service or a person is redacted, then wrapped as untrusted data, and
every result is compact JSON of at most `MAX_RESULT_CHARS`. Bad arguments and unknown
services come back as results the model can read and correct, never as exceptions.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import logging
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from oasis.agents.safety import (
    Redactor,
    capped_json,
    clean,
    label,
    to_json,
    untrusted,
    untrusted_lines,
)
from oasis.analyze.investigation import evidence_ids
from oasis.detect.graph import CallGraph
from oasis.detect.templates import TemplateMiner
from oasis.incidents.store import IncidentStore
from oasis.signals.errors import InvalidInput
from oasis.signals.model import LEVEL_ALIASES, Level, utc_iso
from oasis.store.base import SignalStore

log = logging.getLogger(__name__)

Payload = dict[str, Any]
MAX_RESULT_CHARS = 8000
MAX_MINUTES = 7 * 24 * 60
MAX_LIMIT = 100
SCAN_LIMIT = 20_000  # newest lines searched by `contains` and mined for templates
MAX_ROWS = 90  # time-series rows per result: long windows get coarser buckets
# Bucket sizes (minutes) that divide a day, so every backend aligns them alike.
BUCKET_MINUTES = (1, 2, 5, 10, 15, 30, 60, 120, 180, 240, 360, 720, 1440)
LINE_CHARS = 400
TOP_KEYS = 6
TOP_TEMPLATES = 10
SEVERITY = {level: rank for rank, level in enumerate(Level)}
TOOL_NAMES = ("query_logs", "log_counts", "log_templates", "query_metrics",
              "list_deployments", "call_graph", "search_incidents", "get_evidence")
STORY_EVENTS = ("investigation", "action_finished", "action_rejected", "acknowledged")


@dataclass
class ToolContext:
    """What one investigation's tools read, and where they record what they were asked."""

    signals: SignalStore
    incidents: IncidentStore
    graph: CallGraph | None
    redactor: Redactor
    now: datetime
    known_services: set[str]
    evidence: list[dict[str, Any]]
    calls: list[dict[str, Any]] = field(default_factory=list)
    incident_id: str | None = None  # left out of search_incidents: it is not "past"

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("ToolContext.now must be timezone-aware (UTC)")


class ToolError(InvalidInput, ValueError):
    """Bad arguments: the message (and `extra`) goes back to the model to correct them."""

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.extra = extra


def _tool(fn: Callable[..., Payload]) -> Callable[..., str]:
    """A method returning a payload as a tool returning capped JSON: the call goes on the
    audit list, and bad arguments or failures come back as an error, not an exception."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def run(self: MonitoringTools, *args: Any, **kwargs: Any) -> str:
        given: dict[str, Any] = {}
        try:
            given = dict(signature.bind(self, *args, **kwargs).arguments)
            given.pop("self")
        except TypeError as exc:  # a missing or unknown argument
            text = to_json({"error": f"bad arguments to {fn.__name__}: {exc}"})
        else:
            try:
                text = capped_json(fn(self, *args, **kwargs), MAX_RESULT_CHARS)
            except ToolError as exc:
                text = capped_json({"error": str(exc), **exc.extra}, MAX_RESULT_CHARS)
            except Exception as exc:  # a store failing must not end the investigation
                log.warning("tool %s failed: %s", fn.__name__, exc, exc_info=True)
                text = to_json({"error": f"{fn.__name__} failed: {type(exc).__name__}"})
        given = {k: clean(v, 200) if isinstance(v, str) else v for k, v in given.items()}
        self.ctx.calls.append({"name": fn.__name__, "args": given, "result_chars": len(text),
                               "ok": not text.startswith('{"error"'),
                               "at": utc_iso(datetime.now(UTC))})
        return text
    return run


class MonitoringTools:
    """The agent's read-only tools over one `ToolContext`: plain methods returning JSON."""

    def __init__(self, ctx: ToolContext) -> None:
        self.ctx = ctx

    def strands_tools(self) -> list[Any]:
        from strands import tool

        return [tool(getattr(self, name)) for name in TOOL_NAMES]

    # -- logs -------------------------------------------------------------------------------
    @_tool
    def query_logs(self, service: str, minutes: int = 30, level: str | None = None,
                   contains: str | None = None, limit: int = 20) -> Payload:
        """Sample log lines of one service, newest first, with the window's counts by level.

        Args:
            service: Service name, exactly as OASIS knows it.
            minutes: How far back from the incident's latest check to look (1 to 10080).
            level: Only lines at this level or worse: DEBUG, INFO, WARN, ERROR or FATAL.
            contains: Only lines containing this text (case-insensitive), e.g. an error type.
            limit: Most lines to return (1 to 100).
        """
        self._check_service(service)
        minutes, limit, floor = _minutes(minutes), _limit(limit), _level(level)
        start, end = self._window(minutes)
        counts: Counter[str] = Counter()
        for row in self.ctx.signals.log_counts(start, end, bucket_seconds=minutes * 60,
                                               service=service):
            counts[row.key or "?"] += row.count
        # The model sees placeholders; the store holds the originals.
        needle = self.ctx.redactor.unredact(contains).lower() if contains else None
        exact = needle is None and floor in (None, Level.ERROR)  # the store filters alone
        scanned = self.ctx.signals.sample_logs(
            start, end, service=service, limit=limit if exact else SCAN_LIMIT,
            errors_only=floor is not None and SEVERITY[floor] >= SEVERITY[Level.ERROR])
        found = [x for x in scanned if (floor is None or SEVERITY[x.level] >= SEVERITY[floor])
                 and (needle is None or needle in f"{x.error_type} {x.message}".lower())]
        payload: Payload = {"service": service, **self._span(start),
                            "counts_by_level": dict(counts), "matching": len(found)}
        if len(scanned) >= SCAN_LIMIT:
            payload["note"] = f"filtered only the newest {SCAN_LIMIT} lines of the window"
        budget = MAX_RESULT_CHARS - len(to_json(payload)) - 200
        payload["lines"], left_out = untrusted_lines(
            [self.ctx.redactor.redact(_line_text(utc_iso(x.timestamp), x.level.value, x.message,
                                                 x.error_type, x.host, x.trace_id))
             for x in found[:limit]],
            f"log:{service}", budget, LINE_CHARS)
        if left_out:
            payload["lines_left_out_for_size"] = left_out
        return payload

    @_tool
    def log_counts(self, service: str, minutes: int = 60,
                   by: Literal["level", "error_type"] = "level") -> Payload:
        """Log lines per minute of one service, by level or by error type (coarser buckets
        for long windows). Shows when errors started and how fast they grow.

        Args:
            service: Service name, exactly as OASIS knows it.
            minutes: How far back from the incident's latest check to look (1 to 10080).
            by: "level" or "error_type".
        """
        self._check_service(service)
        if by not in ("level", "error_type"):
            raise ToolError(f"by must be 'level' or 'error_type', got {clean(str(by), 40)!r}")
        minutes = _minutes(minutes)
        start, end = self._window(minutes)
        bucket = _bucket_minutes(minutes)
        rows = self.ctx.signals.log_counts(start, end, bucket_seconds=bucket * 60, by=by,
                                           service=service)
        totals: Counter[str | None] = Counter()
        for row in rows:
            totals[row.key] += row.count
        keys = [k for k, _ in totals.most_common(TOP_KEYS)]
        column = {k: i for i, k in enumerate(keys)}
        width = len(keys) + (len(totals) > len(keys))  # one more: "other"
        grid = {t: [0] * width for t in _buckets(start, end, bucket)}
        for row in rows:
            cells = grid.setdefault(_minute(row.bucket), [0] * width)
            cells[column.get(row.key, len(keys))] += row.count
        names = [self._label(k, f"{by}:{service}") or "(none)" for k in keys]
        sums = [totals[k] for k in keys]
        if width > len(keys):
            names, sums = [*names, "other"], [*sums, sum(totals.values()) - sum(sums)]
        return {"service": service, "by": by, **self._span(start), "bucket_minutes": bucket,
                "columns": ["time", *names], "totals": sums,
                "rows": [[t, *cells] for t, cells in sorted(grid.items())]}

    @_tool
    def log_templates(self, service: str, minutes: int = 60) -> Payload:
        """The most frequent WARN/ERROR/FATAL message templates of one service (variable
        parts such as ids and numbers masked), with counts and first/last seen.

        Args:
            service: Service name, exactly as OASIS knows it.
            minutes: How far back from the incident's latest check to look (1 to 10080).
        """
        self._check_service(service)
        start, end = self._window(_minutes(minutes))
        signals = self.ctx.signals
        errors = signals.sample_logs(start, end, service=service, errors_only=True,
                                     limit=SCAN_LIMIT)
        warns = [x for x in signals.sample_logs(start, end, service=service, limit=SCAN_LIMIT)
                 if x.level is Level.WARN]
        miner, found = TemplateMiner(), {}
        for line in sorted(errors + warns, key=lambda x: x.timestamp):
            tid, text = miner.add(line.message)
            seen = found.setdefault(tid, {"count": 0, "levels": Counter(), "types": Counter(),
                                          "first": line.timestamp})
            seen.update(text=text, last=line.timestamp, count=seen["count"] + 1)
            seen["levels"][line.level.value] += 1
            seen["types"][line.error_type] += 1
        source = f"log:{service}"
        top = sorted(found.values(), key=lambda t: -t["count"])[:TOP_TEMPLATES]
        payload: Payload = {"service": service, **self._span(start),
                            "warn_error_lines": len(errors) + len(warns),
                            "templates_found": len(found)}
        if len(errors) >= SCAN_LIMIT:
            payload["note"] = f"mined only the newest {SCAN_LIMIT} error lines"
        payload["templates"] = [{
            "count": t["count"], "levels": dict(t["levels"]),
            "error_type": self._label(t["types"].most_common(1)[0][0], source),
            "first": utc_iso(t["first"]), "last": utc_iso(t["last"]),
            "template": untrusted(self.ctx.redactor.redact(t["text"]), source, limit=300),
        } for t in top]
        return payload

    # -- metrics and changes ----------------------------------------------------------------
    @_tool
    def query_metrics(self, service: str, name: str | None = None, minutes: int = 60
                      ) -> Payload:
        """One service's metrics. Without `name`: every metric with its window mean, latest
        value and range. With `name`: that metric per minute (mean and p99).

        Args:
            service: Service name, exactly as OASIS knows it.
            name: Metric name as listed by a call without it, e.g. latency_p99_ms.
            minutes: How far back from the incident's latest check to look (1 to 10080).
        """
        self._check_service(service)
        minutes = _minutes(minutes)
        start, end = self._window(minutes)
        bucket = _bucket_minutes(minutes)
        by_name: dict[str, list[Any]] = {}
        for s in self.ctx.signals.metric_stats(start, end, bucket_seconds=bucket * 60,
                                               service=service):
            by_name.setdefault(s.name, []).append(s)
        if name is None:
            return {"service": service, **self._span(start), "metrics": [{
                "name": self._label(n, f"metric:{service}"),
                "mean": _round(sum(s.mean * s.count for s in rows) / sum(s.count for s in rows)),
                "latest": _round(rows[-1].mean), "min": _round(min(s.min for s in rows)),
                "max": _round(max(s.max for s in rows)),
            } for n, rows in sorted(by_name.items())],
                "hint": "call again with name=<metric> for values per minute"}
        if name not in by_name:
            raise ToolError(f"{service} has no metric {clean(str(name), 80)!r} in this window",
                            metrics=[self._label(n, f"metric:{service}") for n in by_name])
        return {"service": service, "name": name, **self._span(start),
                "bucket_minutes": bucket, "columns": ["time", "mean", "p99", "samples"],
                "rows": [[_minute(s.bucket), _round(s.mean), _round(s.p99), s.count]
                         for s in by_name[name]]}

    @_tool
    def list_deployments(self, service: str | None = None, hours: int = 24) -> Payload:
        """Deployments (new versions going live), newest first, of one service or all.

        Args:
            service: Service name; omit for every service.
            hours: How far back from the incident's latest check to look (1 to 168).
        """
        if service is not None:
            self._check_service(service)
        start, end = self._window(_number(hours, "hours", MAX_MINUTES // 60) * 60)
        found = self.ctx.signals.deployments(start, end, service=service)
        redact = self.ctx.redactor.redact
        return {**self._span(start), "deployments": [{
            "at": utc_iso(d.timestamp), "service": d.service,
            "version": self._label(d.version, f"deploy:{d.service}"),
            "previous_version": self._label(d.previous_version, f"deploy:{d.service}"),
            "author": self._label(d.author, f"deploy:{d.service}"),
            "description": (untrusted(redact(d.description), f"deploy:{d.service}", limit=300)
                            if d.description else None),
        } for d in reversed(found)]}

    @_tool
    def call_graph(self, service: str | None = None) -> Payload:
        """Who depends on whom, learned from shared traces and from errors naming another
        service. "A depends on B" means requests to A need B, directly or further down.

        Args:
            service: Service name; omit for every dependency OASIS has learned.
        """
        if service is not None:
            self._check_service(service)
        graph = self.ctx.graph
        if graph is None:
            return {"edges": [], "note": "no call graph learned yet (too little trace data)"}
        names = sorted(self.ctx.known_services)
        if service is None:
            return {"meaning": "[a, b]: a depends on b", "edges": graph.edges(names)}
        return {"service": service,
                "depends_on": [b for b in names if graph.depends_on(service, b)],
                "needed_by": [a for a in names if graph.depends_on(a, service)]}

    # -- incidents --------------------------------------------------------------------------
    @_tool
    def search_incidents(self, text: str | None = None, service: str | None = None,
                         limit: int = 5) -> Payload:
        """Past incidents, newest first: status, root cause, suspected change, what was
        done and how each ended. Shows whether this has happened before and what fixed it.

        Args:
            text: Words that must all appear (title, summary, evidence), e.g. an error type.
            service: Only incidents involving this service.
            limit: Most incidents to return (1 to 100).
        """
        if service is not None:
            self._check_service(service)
        limit = _limit(limit)
        words = self.ctx.redactor.unredact(text).lower().split() if text else []
        found = []
        for inc in self.ctx.incidents.list(service=service, limit=1000):
            if inc.id == self.ctx.incident_id or inc.detected_at >= self.ctx.now:
                continue
            haystack = " ".join([inc.title, inc.summary, inc.root_cause_service or "",
                                 to_json(inc.suspected_change), to_json(inc.evidence)]).lower()
            if all(w in haystack for w in words):
                found.append(inc.id)
            if len(found) >= limit:
                break
        return {"matching": len(found), "incidents": [self._past(i) for i in found]}

    @_tool
    def get_evidence(self) -> Payload:
        """This incident's evidence items with their ids (E1, E2, …); cite them by id."""
        items = []
        for eid, item in zip(evidence_ids(self.ctx.evidence), self.ctx.evidence, strict=True):
            out: dict[str, Any] = {"id": eid}
            for key, value in self.ctx.redactor.redact_obj(item).items():
                if key == "lines" and isinstance(value, list):  # sample log lines
                    value = "\n".join(_line_text(**s) if isinstance(s, dict) else str(s)
                                      for s in value)
                if isinstance(value, bool | int | float) or value is None:
                    out[key] = value
                elif isinstance(value, str) and key not in ("summary", "lines"):
                    out[key] = label(value, f"evidence:{eid}")
                else:  # detector summaries quote the data too
                    out[key] = untrusted(value if isinstance(value, str) else to_json(value),
                                         f"evidence:{eid}", limit=1500)
            items.append(out)
        return {"evidence": items}

    # -- helpers ----------------------------------------------------------------------------
    def _check_service(self, service: Any) -> None:
        known = self.ctx.known_services
        if isinstance(service, str) and service in known:
            return
        shown = clean(str(service), 80)
        near = difflib.get_close_matches(shown, list(known), n=3, cutoff=0.6)
        raise ToolError(f"unknown service {shown!r}", known_services=sorted(known),
                        **({"did_you_mean": near} if near else {}))

    def _window(self, minutes: int) -> tuple[datetime, datetime]:
        """The last `minutes` before the incident's latest check, half-open."""
        return self.ctx.now - timedelta(minutes=minutes), self.ctx.now

    def _span(self, start: datetime) -> dict[str, str]:
        return {"from": utc_iso(start), "to": utc_iso(self.ctx.now)}

    def _label(self, value: str | None, source: str) -> str | None:
        """A name or version from the data, redacted; wrapped unless it looks like one."""
        return label(self.ctx.redactor.redact(value), source) if value else None

    def _past(self, incident_id: str) -> dict[str, Any]:
        inc = self.ctx.incidents.get(incident_id)
        change = inc.suspected_change
        story = [inc.title, inc.summary[:300]] + [
            f"{utc_iso(e.at)} {e.kind} by {e.actor}: {e.message}" for e in inc.timeline
            if e.kind in STORY_EVENTS or e.kind.startswith("status:")]
        return {
            "id": inc.id, "status": inc.status.value, "severity": inc.severity.value,
            "detected_at": utc_iso(inc.detected_at), "services": inc.services,
            "root_cause_service": inc.root_cause_service,
            "suspected_change": (f"{change.get('service')} {change.get('version')} (was "
                                 f"{change.get('previous_version')})" if change else None),
            "recovered_at": utc_iso(inc.recovered_at) if inc.recovered_at else None,
            "actions": [self._label(e.message, f"incident:{inc.id}") for e in inc.timeline
                        if e.kind == "action_finished"],
            "story": untrusted(self.ctx.redactor.redact("\n".join(story)),
                               f"incident:{inc.id}", limit=1200),
        }


def build_tools(ctx: ToolContext) -> list[Any]:
    """The Strands tools of one investigation (`MonitoringTools(ctx)` has the plain ones)."""
    return MonitoringTools(ctx).strands_tools()


def _number(value: Any, name: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ToolError(f"{name} must be a number, got {clean(repr(value), 40)}")
    if not 0 < value <= maximum:
        raise ToolError(f"{name} must be between 1 and {maximum}, got {value}")
    return max(1, round(value))


def _minutes(value: Any) -> int:
    return _number(value, "minutes", MAX_MINUTES)


def _limit(value: Any) -> int:
    return _number(value, "limit", MAX_LIMIT)


def _level(value: str | None) -> Level | None:
    found = LEVEL_ALIASES.get(str(value).strip().upper()) if value is not None else None
    if value is not None and found is None:
        raise ToolError(f"unknown level {clean(str(value), 40)!r}; use one of "
                        + ", ".join(lvl.value for lvl in Level))
    return found


def _bucket_minutes(minutes: int) -> int:
    return next((b for b in BUCKET_MINUTES if minutes / b <= MAX_ROWS), BUCKET_MINUTES[-1])


def _buckets(start: datetime, end: datetime, minutes: int) -> list[str]:
    """Every bucket of the window, aligned to midnight UTC as the store aligns them."""
    step = timedelta(minutes=minutes)
    midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
    first = midnight + step * ((start - midnight) // step)
    return [_minute(first + step * i) for i in range(math.ceil((end - first) / step))]


def _minute(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def _round(value: float) -> float:
    return float(f"{value:.4g}")


def _line_text(timestamp: Any = None, level: Any = None, message: Any = "", error_type: Any = None,
               host: Any = None, trace_id: Any = None, **_: Any) -> str:
    """One log line as the model reads it: time, level, where, trace, type, message."""
    kind = f"[{error_type}] " if error_type and str(error_type) not in str(message) else ""
    where = "".join(f" {p}" for p in (host, trace_id and f"trace={trace_id}") if p)
    return f"{timestamp} {level}{where} {kind}{message}"
