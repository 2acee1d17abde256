"""An OpenSearch / Elasticsearch stand-in answering `POST /<index>/_search` over real HTTP,
from documents held in memory under a declared mapping.

It evaluates what OASIS sends: a `bool.filter` of `range` (epoch_millis) and `terms`
queries, `composite` aggregations (a `date_histogram` at `fixed_interval: 1m`, `terms`
sources with `missing_bucket`, an `avg` sub-aggregation, paging by `after`) and sorted
searches. Aggregating a `text` field fails as the real engines do (name its `.keyword`
subfield). Anything else — no time range, a search of more than 10 000 documents, a
scroll, an aggregation that is not per minute — is refused with 400 and listed in
`violations`, so a test fails if a reader would pull every document.
"""

from __future__ import annotations

import bisect
import fnmatch
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

MAX_SIZE = 10_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
Doc = dict[str, Any]


class SearchError(ValueError):
    pass


def _source_value(doc: Doc, path: str) -> Any:
    if path in doc:
        return doc[path]
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


@dataclass
class FakeSearch:
    indices: dict[str, list[Doc]]
    mapping: dict[str, str]  # field -> keyword | text | date | float
    requests: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    mode: str = "ok"  # ok | shard_failure | timed_out | http_400 | not_json
    _sorted: dict[tuple[str, str], list[tuple[int, int]]] = field(default_factory=dict)
    _dates: dict[str, int] = field(default_factory=dict)

    def app(self) -> FastAPI:
        app = FastAPI(title="fake OpenSearch")

        @app.get("/healthz")
        def healthz() -> dict[str, str]:
            return {"status": "green"}

        @app.post("/{index}/_search")
        async def search(index: str, request: Request) -> Response:
            body = await request.json()
            self.requests.append({"index": index, "body": body,
                                  "params": dict(request.query_params),
                                  "headers": dict(request.headers)})
            if self.mode == "http_400":
                return JSONResponse({"error": {"type": "parsing_exception",
                                               "reason": "unknown query [bool]"},
                                     "status": 400}, status_code=400)
            if self.mode == "not_json":
                return PlainTextResponse("<html>proxy error</html>")
            try:
                if request.query_params:
                    raise SearchError(f"unexpected parameters {dict(request.query_params)}")
                answer = self.answer(index, body)
            except SearchError as exc:
                self.violations.append(str(exc))
                return JSONResponse({"error": {"type": "illegal_argument_exception",
                                               "reason": str(exc)}, "status": 400},
                                    status_code=400)
            if self.mode == "shard_failure":
                answer["_shards"] = {"total": 3, "successful": 2, "skipped": 0, "failed": 1,
                                     "failures": [{"shard": 1, "reason": {
                                         "type": "node_disconnected_exception",
                                         "reason": "node left"}}]}
            if self.mode == "timed_out":
                answer["timed_out"] = True
            return JSONResponse(answer)

        return app

    # -- evaluation --------------------------------------------------------------------------
    def answer(self, pattern: str, body: dict[str, Any]) -> dict[str, Any]:
        names = [n for p in pattern.split(",") for n in self.indices if fnmatch.fnmatch(n, p)]
        filters = body.get("query", {}).get("bool", {}).get("filter")
        if not isinstance(filters, list) or not any("range" in f for f in filters):
            raise SearchError("a search without a time range")
        docs = [x for n in names for x in self._in_range(n, filters)
                if all(self._passes(x[2], f) for f in filters)]
        out: dict[str, Any] = {"took": 1, "timed_out": False,
                               "_shards": {"total": 1, "successful": 1, "skipped": 0,
                                           "failed": 0},
                               "hits": {"total": {"value": len(docs), "relation": "eq"},
                                        "max_score": None, "hits": []}}
        if "aggs" in body:
            if body.get("size") != 0:
                raise SearchError("an aggregation that also fetches documents")
            out["aggregations"] = {"series": self._composite(body["aggs"], docs)}
            return out
        size = body.get("size")
        if not isinstance(size, int) or not 0 < size <= MAX_SIZE:
            raise SearchError(f"a search of {size!r} documents")
        sort = body.get("sort")
        if not isinstance(sort, list) or len(sort) != 1:
            raise SearchError("a document search not sorted by time")
        (ts_field, order), = sort[0].items()
        if self.mapping.get(ts_field) != "date" or order.get("order") != "desc":
            raise SearchError(f"sorted by {sort!r}, not by time, newest first")
        docs.sort(key=lambda x: self._value(x[2], ts_field), reverse=True)
        out["hits"]["hits"] = [
            {"_index": n, "_id": f"{n}-{i}", "_score": None, "_source": d,
             "sort": [self._value(d, ts_field)]} for n, i, d in docs[:size]]
        return out

    def _in_range(self, index: str, filters: list[dict[str, Any]]
                  ) -> list[tuple[str, int, Doc]]:
        """The index's documents within the first range filter (by a sorted time index)."""
        (name, arg), = next(f["range"] for f in filters if "range" in f).items()
        if (index, name) not in self._sorted:
            docs = [(self._value(d, name), i) for i, d in enumerate(self.indices[index])]
            self._sorted[(index, name)] = sorted((t, i) for t, i in docs if t is not None)
        ordered = self._sorted[(index, name)]
        lo = bisect.bisect_left(ordered, (arg.get("gte", -2**63), -1))
        hi = bisect.bisect_left(ordered, (arg.get("lt", 2**63), -1))
        return [(index, i, self.indices[index][i]) for _, i in ordered[lo:hi]]

    def _value(self, doc: Doc, name: str, *, aggregate: bool = False) -> Any:
        kind = self.mapping.get(name)
        if kind is None and name.endswith(".keyword") and \
                self.mapping.get(name.removesuffix(".keyword")) == "text":
            return _source_value(doc, name.removesuffix(".keyword"))
        if kind == "text" and aggregate:
            raise SearchError(f"Text fields are not optimised for operations that require "
                              f"per-document field data like aggregations and sorting, so "
                              f"these operations are disabled by default. Please use a "
                              f"keyword field instead. [{name}]")
        value = _source_value(doc, name)
        if kind == "date" and isinstance(value, str):  # stored at millisecond precision
            if value not in self._dates:
                self._dates[value] = (datetime.fromisoformat(value) - EPOCH) // \
                    timedelta(milliseconds=1)
            return self._dates[value]
        return value if kind is not None else None

    def _passes(self, doc: Doc, clause: dict[str, Any]) -> bool:
        (kind, spec), = clause.items()
        (name, arg), = spec.items()
        if kind == "range":
            if arg.get("format") != "epoch_millis":
                raise SearchError(f"range format {arg.get('format')!r}")
            value = self._value(doc, name)
            return value is not None and arg["gte"] <= value < arg["lt"]
        if kind == "terms":
            value = self._value(doc, name)
            if self.mapping.get(name) == "text":  # analysed: lower-case tokens
                return isinstance(value, str) and value.lower() in arg
            return value in arg
        raise SearchError(f"unexpected query clause {kind!r}")

    def _composite(self, aggs: dict[str, Any], docs: list[tuple[str, int, Doc]]
                   ) -> dict[str, Any]:
        spec = aggs.get("series", {})
        composite = spec.get("composite")
        if set(aggs) != {"series"} or not isinstance(composite, dict):
            raise SearchError(f"unexpected aggregations {list(aggs)}")
        size, sources = composite.get("size", 10), composite.get("sources", [])
        if not 0 < size <= MAX_SIZE:
            raise SearchError(f"composite page of {size}")
        first = next(iter(sources[0].values())) if sources else {}
        histogram = first.get("date_histogram", {})
        if histogram.get("fixed_interval") != "1m":
            raise SearchError("a composite aggregation not per minute")
        names = [next(iter(s)) for s in sources]
        average = (spec.get("aggs") or {}).get("value", {}).get("avg", {}).get("field")
        groups: dict[tuple, list[float]] = defaultdict(list)
        for _, _, doc in docs:
            key = self._bucket_key(doc, sources)
            if key is not None:
                value = self._value(doc, average, aggregate=True) if average else None
                groups[key].append(value)
        ordered = sorted(groups, key=lambda k: tuple((v is not None, v) for v in k))
        after = composite.get("after")
        if after is not None:
            mark = tuple((after[n] is not None, after[n]) for n in names)
            ordered = [k for k in ordered if tuple((v is not None, v) for v in k) > mark]
        page = ordered[:size]
        buckets = []
        for key in page:
            bucket: dict[str, Any] = {"key": dict(zip(names, key, strict=True)),
                                      "doc_count": len(groups[key])}
            if average:
                values = [v for v in groups[key] if isinstance(v, int | float)]
                bucket["value"] = {"value": sum(values) / len(values) if values else None}
            buckets.append(bucket)
        out: dict[str, Any] = {"buckets": buckets}
        if buckets:
            out["after_key"] = buckets[-1]["key"]
        return out

    def _bucket_key(self, doc: Doc, sources: list[dict[str, Any]]) -> tuple | None:
        key = []
        for source in sources:
            (spec,) = source.values()
            if "date_histogram" in spec:
                ms = self._value(doc, spec["date_histogram"]["field"], aggregate=True)
                key.append(ms - ms % 60_000)
                continue
            terms = spec["terms"]
            value = self._value(doc, terms["field"], aggregate=True)
            if value is None and not terms.get("missing_bucket"):
                return None
            key.append(value)
        return tuple(key)
