"""A Grafana Loki stand-in answering `/loki/api/v1/query_range` over real HTTP, from log
streams held in memory.

It evaluates the LogQL subset OASIS sends: a stream selector (`=`, `!=`, `=~`, `!~`),
line filters (`|~`, `|=`), `| logfmt`, `| json`, `| drop ...`, label filters joined by
`or`, and `sum by (...) (count_over_time(<log query> [1m]))` at a step. Answers have
Loki's shapes (matrix; streams, newest first under `direction=backward`, the limit over
all streams). Any other query (a metric query not aggregated per minute, a log query
without a limit or with a large one) is refused with 400 and listed in `violations`, so
a test fails if a reader would pull every line.
"""

from __future__ import annotations

import bisect
import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

MAX_LIMIT = 5000
NS = 1_000_000_000
Labels = tuple[tuple[str, str], ...]
_METRIC = re.compile(r"^sum by \(([^)]*)\) \(count_over_time\((.*) \[1m\]\)\)$", re.S)
_MATCHER = re.compile(r'\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*")\s*,?')
_STAGE = re.compile(r"\s+(\|~|\|=|!~|!=|\|)\s+")
_PREDICATE = re.compile(r'^\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*")\s*$')
_LOGFMT = re.compile(r'([\w.]+)=("(?:[^"\\]|\\.)*"|\S*)')


class LogQLError(ValueError):
    pass


def _parse_time(value: str) -> int:
    """Loki's rule: a decimal point means seconds; 10 digits or fewer, seconds; else ns."""
    if "." in value:
        return round(float(value) * NS)
    number = int(value)
    return number * NS if len(value) <= 10 else number


def _match(op: str, actual: str, expected: str) -> bool:
    if op == "=":
        return actual == expected
    if op == "!=":
        return actual != expected
    found = re.fullmatch(expected, actual) is not None
    return found if op == "=~" else not found


@dataclass
class LogQuery:
    matchers: list[tuple[str, str, str]]
    stages: list[tuple[str, str]]

    @classmethod
    def parse(cls, text: str) -> LogQuery:
        text = text.strip()
        if not text.startswith("{") or "}" not in text:
            raise LogQLError(f"parse error: expected a stream selector in {text!r}")
        close = text.index("}")
        inside, rest = text[1:close], text[close + 1:]
        matchers = [(k, op, json.loads(v)) for k, op, v in _MATCHER.findall(inside)]
        if not matchers:
            raise LogQLError("parse error: a stream selector needs a matcher")
        parts = _STAGE.split(" " + rest) if rest.strip() else [""]
        if parts[0].strip():
            raise LogQLError(f"parse error near {parts[0]!r}")
        stages = list(zip(parts[1::2], parts[2::2], strict=True))
        return cls(matchers, stages)

    def selects(self, labels: dict[str, str]) -> bool:
        return all(_match(op, labels.get(k, ""), v) for k, op, v in self.matchers)

    def apply(self, labels: dict[str, str], line: str) -> dict[str, str] | None:
        """The entry's labels after the pipeline, or None if a stage drops it."""
        out = dict(labels)
        for op, arg in self.stages:
            if op in ("|~", "!~", "|=", "!="):
                pattern = json.loads(arg)
                hit = (re.search(pattern, line) is not None if "~" in op
                       else pattern in line)
                if hit != (op in ("|~", "|=")):
                    return None
            elif arg in ("logfmt", "json"):
                _extract(out, line, arg)
            elif arg.startswith("drop "):
                for name in arg[5:].split(","):
                    out.pop(name.strip(), None)
            elif not _label_filter(out, arg):
                return None
        return out


def _label_filter(labels: dict[str, str], expression: str) -> bool:
    for predicate in expression.split(" or "):
        match = _PREDICATE.match(predicate)
        if match is None:
            raise LogQLError(f"parse error: label filter {predicate!r}")
        key, op, value = match.groups()
        if _match(op, labels.get(key, ""), json.loads(value)):
            return True
    return False


def _extract(labels: dict[str, str], line: str, parser: str) -> None:
    fields: dict[str, Any] = {}
    if parser == "json":
        try:
            value = json.loads(line)
        except ValueError:
            labels["__error__"] = "JSONParserErr"
            return
        fields = value if isinstance(value, dict) else {}
    else:
        fields = {k: json.loads(v) if v.startswith('"') else v for k, v in _LOGFMT.findall(line)}
    for key, value in fields.items():
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            name = f"{key}_extracted" if key in labels else key
            labels[name] = str(value)


@dataclass
class FakeLoki:
    streams: dict[Labels, list[tuple[int, str]]]
    requests: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    mode: str = "ok"  # ok | status_error | not_json | bad_shape | http_400

    def __post_init__(self) -> None:
        self.streams = {k: sorted(v) for k, v in self.streams.items()}
        self._times = {k: [ts for ts, _ in v] for k, v in self.streams.items()}

    def app(self) -> FastAPI:
        app = FastAPI(title="fake Loki")

        @app.get("/healthz")
        def healthz() -> dict[str, str]:
            return {"status": "ok"}

        @app.get("/loki/api/v1/query_range")
        def query_range(request: Request) -> Response:
            params = dict(request.query_params)
            self.requests.append({"params": params, "headers": dict(request.headers)})
            if self.mode == "http_400":
                return PlainTextResponse("parse error at line 1, col 1", status_code=400)
            if self.mode == "not_json":
                return PlainTextResponse("<html>gateway</html>")
            if self.mode == "status_error":
                return JSONResponse({"status": "error", "errorType": "internal",
                                     "error": "too many outstanding requests"})
            try:
                data = self.answer(params)
            except LogQLError as exc:
                self.violations.append(str(exc))
                return PlainTextResponse(str(exc), status_code=400)
            if self.mode == "bad_shape":
                data = {"resultType": "vector", "result": []}
            return JSONResponse({"status": "success", "data": data})

        return app

    def answer(self, params: dict[str, str]) -> dict[str, Any]:
        query = params.get("query", "")
        start, end = _parse_time(params["start"]), _parse_time(params["end"])
        metric = _METRIC.match(query)
        if metric is not None:
            step = params.get("step")
            if step not in ("60", "60s", "1m", "60.0"):
                raise LogQLError(f"metric query at step {step!r}, not one minute: {query}")
            by = [x.strip() for x in metric.group(1).split(",") if x.strip()]
            return self._matrix(LogQuery.parse(metric.group(2)), by, start, end)
        if query.lstrip().startswith(("sum", "count", "rate", "topk")):
            raise LogQLError(f"a metric query not per minute by labels: {query}")
        limit = int(params.get("limit", "100"))
        if "limit" not in params or limit > MAX_LIMIT or \
                params.get("direction", "backward") != "backward":
            raise LogQLError(f"a log query without a small limit, newest first: {params}")
        return self._streams(LogQuery.parse(query), start, end, limit)

    def _entries(self, query: LogQuery, lo: int, hi: int, *, right_closed: bool):
        for labels, entries in self.streams.items():
            stream = dict(labels)
            if not query.selects(stream):
                continue
            times = self._times[labels]
            if right_closed:
                i, j = bisect.bisect_right(times, lo), bisect.bisect_right(times, hi)
            else:
                i, j = bisect.bisect_left(times, lo), bisect.bisect_left(times, hi)
            for ts, line in entries[i:j]:
                out = query.apply(stream, line)
                if out is not None:
                    yield out, ts, line

    def _matrix(self, query: LogQuery, by: list[str], start: int, end: int) -> dict[str, Any]:
        step = 60 * NS
        counts: dict[Labels, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for labels, ts, _ in self._entries(query, start - step, end, right_closed=True):
            if "__error__" in labels:
                raise LogQLError("pipeline error: JSONParserErr (add | drop __error__)")
            k = -((start - ts) // step)  # evaluation start + k*step counts (t - 1m, t]
            group = tuple((b, labels[b]) for b in by if labels.get(b))
            counts[group][start + k * step] += 1
        result = [{"metric": dict(group),
                   "values": [[t / NS, str(n)] for t, n in sorted(points.items())]}
                  for group, points in counts.items()]
        return {"resultType": "matrix", "result": result, "stats": {}}

    def _streams(self, query: LogQuery, start: int, end: int, limit: int) -> dict[str, Any]:
        found = sorted(self._entries(query, start, end, right_closed=False),
                       key=lambda e: e[1], reverse=True)[:limit]
        grouped: dict[Labels, list[list[str]]] = defaultdict(list)
        for labels, ts, line in found:
            grouped[tuple(sorted(labels.items()))].append([str(ts), line])
        result = [{"stream": dict(labels), "values": values}
                  for labels, values in grouped.items()]
        return {"resultType": "streams", "result": result, "stats": {}}
