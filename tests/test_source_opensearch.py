"""The OpenSearch / Elasticsearch reader against a real local HTTP server speaking the
search API, its answers computed from a generated three-hour fleet (tests/logfleet.py)
held as ECS documents and as the prototype's (`app-logs-logs`, `app-logs-metrics`); and,
when OPENSEARCH_URL is set, against a real cluster."""

from __future__ import annotations

import json
import os
import secrets
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import httpx
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from oasis.cli import app
from oasis.monitor.backtest import backtest
from oasis.signals import Level
from oasis.sources import SourceUnavailable, open_source
from oasis.sources.opensearch import OpenSearchReader
from oasis.sources.settings import OpenSearchSource
from tests.fakes.opensearch import FakeSearch
from tests.logfleet import END, FAULTY, JUMP, SERVICES, START, Line, fleet
from tests.servers import free_port, serving

ECS_MAPPING = {"@timestamp": "date", "service.name": "keyword", "log.level": "keyword",
               "message": "text", "trace.id": "keyword", "error.type": "keyword",
               "callee": "keyword"}
PROTOTYPE_MAPPING = {"timestamp": "date", "service": "keyword", "level": "keyword",
                     "message": "text", "trace_id": "keyword", "error_type": "keyword",
                     "error_message": "text", "host": "keyword", "metric_name": "keyword",
                     "metric_value": "float", "unit": "keyword"}
PROTOTYPE = {"index": "app-logs-logs", "timestamp_field": "timestamp",
             "service_field": "service", "level_field": "level",
             "error_type_field": "error_type", "metrics_index": "app-logs-metrics"}
# Level spellings as different shippers write them.
SPELLING = {"search": {Level.INFO: "information", Level.WARN: "warning", Level.ERROR: "err"},
            "auth": {Level.INFO: "I", Level.WARN: "W", Level.ERROR: "E"}}


def iso(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def millis(ts: datetime) -> datetime:
    return ts.replace(microsecond=ts.microsecond // 1000 * 1000)


def spelled(x: Line) -> str:
    return SPELLING.get(x.service, {}).get(x.level, x.level.value.lower())


def ecs_doc(x: Line) -> dict[str, Any]:
    doc: dict[str, Any] = {"@timestamp": iso(x.ts), "service": {"name": x.service},
                           "log": {"level": spelled(x)}, "message": x.message,
                           "trace": {"id": x.trace_id}}
    if x.error_type:
        doc["error"] = {"type": x.error_type}
    if x.callee:
        doc["callee"] = x.callee
    return doc


def prototype_doc(x: Line) -> dict[str, Any]:
    doc = {"timestamp": iso(x.ts), "service": x.service, "level": x.level.value,
           "message": x.message, "trace_id": x.trace_id, "host": f"{x.service}-1"}
    if x.error_type:
        doc |= {"error_type": x.error_type, "error_message": x.message}
    return doc


def prototype_metrics(lines: list[Line], seed: int = 3) -> list[dict[str, Any]]:
    """The prototype's metric documents: every 10 s per service, CPU and memory use, the
    requests in those 10 s and their error rate in percent."""
    rng = np.random.default_rng(seed)
    slots: dict[tuple[str, int], list[Line]] = defaultdict(list)
    for x in lines:
        slots[(x.service, int((x.ts - START).total_seconds()) // 10)].append(x)
    docs = []
    for slot in range(int((END - START).total_seconds()) // 10):
        ts = iso(START + timedelta(seconds=10 * slot))
        for service in SERVICES:
            mine = slots.get((service, slot), [])
            errors = sum(x.level is Level.ERROR for x in mine)
            values = {"cpu_utilization": rng.uniform(10, 40),
                      "memory_utilization": rng.uniform(20, 60),
                      "request_count": len(mine),
                      "error_rate": 100 * errors / len(mine) if mine else 0.0}
            docs += [{"timestamp": ts, "service": service, "metric_name": name,
                      "metric_value": float(value), "unit": "percent"}
                     for name, value in values.items()]
    return docs


@pytest.fixture(scope="module")
def lines() -> list[Line]:
    return fleet()


@pytest.fixture(scope="module")
def served(lines: list[Line]) -> Iterator[tuple[FakeSearch, str]]:
    fake = FakeSearch({"logs-app-2026.03.02": [ecs_doc(x) for x in lines],
                       "app-logs-logs": [prototype_doc(x) for x in lines],
                       "app-logs-metrics": prototype_metrics(lines)},
                      {**ECS_MAPPING, **PROTOTYPE_MAPPING})
    with serving(fake.app()) as url:
        yield fake, url


@pytest.fixture
def search(served: tuple[FakeSearch, str]) -> Iterator[FakeSearch]:
    fake, _ = served
    fake.requests.clear()
    fake.violations.clear()
    fake.mode = "ok"
    yield fake
    assert fake.violations == [], "the reader sent a search that is not aggregated or bounded"


def reader_for(served: tuple[FakeSearch, str], **options: Any) -> OpenSearchReader:
    reader = open_source(OpenSearchSource(url=served[1], retries=0, **options))
    assert isinstance(reader, OpenSearchReader)
    return reader


def minute(ts: datetime) -> datetime:
    return ts.replace(second=0, microsecond=0)


def level_counts(lines: list[Line], start: datetime, end: datetime) -> dict:
    return dict(Counter((minute(x.ts), x.service, x.level.value)
                        for x in lines if start <= x.ts < end))


# -- counts ----------------------------------------------------------------------------------

def test_counts_per_minute_by_service_and_level(served, search, lines):
    start, end = START + timedelta(minutes=60), START + timedelta(minutes=70)
    counts = reader_for(served).log_counts(start, end)

    assert {(c.bucket, c.service, c.key): c.count for c in counts} == \
        level_counts(lines, start, end)
    assert all(c.bucket.tzinfo is UTC for c in counts)
    (request,) = search.requests
    assert request["index"] == "logs-*"
    body = request["body"]
    assert body["size"] == 0
    assert body["query"] == {"bool": {"filter": [{"range": {"@timestamp": {
        "gte": int(start.timestamp() * 1000), "lt": int(end.timestamp() * 1000),
        "format": "epoch_millis"}}}]}}
    assert body["aggs"]["series"]["composite"]["sources"] == [
        {"minute": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1m"}}},
        {"service": {"terms": {"field": "service.name"}}},
        {"key": {"terms": {"field": "log.level", "missing_bucket": True}}}]


def test_counts_are_paged_whatever_the_number_of_buckets(served, search, lines):
    start, end = START, START + timedelta(minutes=40)
    counts = reader_for(served, page_size=100).log_counts(start, end)
    assert {(c.bucket, c.service, c.key): c.count for c in counts} == \
        level_counts(lines, start, end)
    assert len(search.requests) >= 4
    afters = [r["body"]["aggs"]["series"]["composite"].get("after") for r in search.requests]
    assert afters[0] is None and all(afters[1:])


def test_a_long_window_is_read_in_slices_of_about_a_page(served, search, lines):
    counts = reader_for(served, page_size=1000).log_counts(START, END)  # a first check

    assert {(c.bucket, c.service, c.key): c.count for c in counts} == \
        level_counts(lines, START, END)
    ranges = []
    for request in search.requests:
        composite = request["body"]["aggs"]["series"]["composite"]
        window = request["body"]["query"]["bool"]["filter"][0]["range"]["@timestamp"]
        if composite.get("after") is None:
            ranges.append((window["gte"], window["lt"]))
    assert ranges[0] == (_ms(START), _ms(START + timedelta(hours=1)))
    assert ranges[-1][1] == _ms(END)
    assert all(a[1] == b[0] for a, b in pairwise(ranges))
    assert len(search.requests) < 2 * len(ranges)  # about a page per slice


def _ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def test_error_types_count_error_levels_only(served, search, lines):
    start, end = JUMP, JUMP + timedelta(minutes=5)
    counts = reader_for(served).log_counts(start, end, by="error_type", errors_only=True)
    expected = Counter((minute(x.ts), x.service, x.error_type) for x in lines
                       if start <= x.ts < end and x.level is Level.ERROR)
    assert {(c.bucket, c.service, c.key): c.count for c in counts} == dict(expected)
    levels = search.requests[0]["body"]["query"]["bool"]["filter"][1]["terms"]["log.level"]
    assert {"error", "ERROR", "err", "E", "fatal", "critical"} <= set(levels)
    assert "warn" not in levels


def test_text_fields_need_their_keyword_subfield(lines):
    docs = [{"ts": iso(x.ts), "svc": x.service, "lvl": x.level.value} for x in lines[:500]]
    fake = FakeSearch({"logs": docs}, {"ts": "date", "svc": "text", "lvl": "keyword"})
    window = (START, START + timedelta(minutes=5))
    options = {"index": "logs", "timestamp_field": "ts", "level_field": "lvl", "retries": 0}
    with serving(fake.app()) as url:
        with pytest.raises(SourceUnavailable, match="Please use a keyword field instead"):
            OpenSearchReader(OpenSearchSource(url=url, service_field="svc",
                                              **options)).log_counts(*window)
        counts = OpenSearchReader(OpenSearchSource(url=url, service_field="svc.keyword",
                                                   **options)).log_counts(*window)
        assert sum(c.count for c in counts) == sum(window[0] <= x.ts < window[1]
                                                   for x in lines[:500])
        (sample,) = OpenSearchReader(OpenSearchSource(
            url=url, service_field="svc.keyword", **options)).sample_logs(*window, limit=1)
        assert sample.service in SERVICES  # the `_source` path, not the subfield


# -- raw lines -------------------------------------------------------------------------------

def test_raw_lines_are_the_warnings_and_errors_mapped(served, search, lines):
    start, end = START + timedelta(minutes=100), START + timedelta(minutes=103)
    got = reader_for(served).read_logs(start, end, limit=200_000)

    expected = [x for x in lines if start <= x.ts < end and x.level is not Level.INFO]
    assert sorted((r.timestamp, r.service, r.level, r.trace_id, r.message) for r in got) == \
        sorted((millis(x.ts), x.service, x.level, x.trace_id, x.message) for x in expected)
    assert [r.timestamp for r in got] == sorted(r.timestamp for r in got)
    errors = [r for r in got if r.level is Level.ERROR]
    assert errors and all(r.error_type for r in errors)
    assert all(r.attributes.get("callee") for r in got if r.service == "gateway")
    assert all(r.id for r in got)
    body = search.requests[0]["body"]
    assert body["size"] == 500 and body["sort"] == [{"@timestamp": {"order": "desc"}}]
    assert {"warn", "warning", "W", "error", "fatal"} <= set(
        body["query"]["bool"]["filter"][1]["terms"]["log.level"])


def test_raw_lines_are_the_newest_when_there_are_more(served, search, lines):
    start, end = START + timedelta(minutes=100), START + timedelta(minutes=110)
    got = reader_for(served, sample_lines=5).read_logs(start, end)
    expected = [x for x in lines if start <= x.ts < end and x.level is not Level.INFO][-5:]
    assert [r.timestamp for r in got] == [millis(x.ts) for x in expected]


def test_samples_of_one_service_by_its_mapped_name(served, search, lines):
    start, end = JUMP, JUMP + timedelta(minutes=10)
    reader = reader_for(served, service_map={FAULTY: "checkout-api"})
    got = reader.sample_logs(start, end, service="checkout-api", errors_only=True, limit=3)
    expected = [x for x in lines if start <= x.ts < end and x.service == FAULTY
                and x.level is Level.ERROR][-3:][::-1]
    assert [(r.timestamp, r.service) for r in got] == [(millis(x.ts), "checkout-api")
                                                       for x in expected]
    filters = search.requests[0]["body"]["query"]["bool"]["filter"]
    assert {"terms": {"service.name": ["checkout-api", FAULTY]}} in filters


# -- the prototype's indices -----------------------------------------------------------------

def test_the_prototype_indices(served, search, lines):
    start, end = JUMP, JUMP + timedelta(minutes=3)
    reader = reader_for(served, **PROTOTYPE)
    counts = reader.log_counts(start, end)
    assert {(c.bucket, c.service, c.key): c.count for c in counts} == \
        level_counts(lines, start, end)
    types = reader.log_counts(start, end, by="error_type", errors_only=True)
    assert sum(c.count for c in types) == sum(
        start <= x.ts < end and x.level is Level.ERROR for x in lines)
    (line, *_) = reader.sample_logs(start, end, service=FAULTY, errors_only=True)
    assert line.error_type and line.host == "checkout-1" and line.trace_id

    stats = reader.metric_stats(start, end)
    assert {m.name for m in stats} == {"cpu_utilization", "memory_utilization",
                                       "request_count", "error_rate"}
    assert len(stats) == 3 * len(SERVICES) * 4
    requests = {(m.bucket, m.service): m.mean for m in stats if m.name == "request_count"}
    for (bucket, service), mean in requests.items():  # six 10 s documents a minute
        n = sum(x.service == service and minute(x.ts) == bucket for x in lines)
        assert mean == pytest.approx(n / 6)
    body = search.requests[-1]["body"]
    assert search.requests[-1]["index"] == "app-logs-metrics"
    assert body["aggs"]["series"]["aggs"] == {"value": {"avg": {"field": "metric_value"}}}


def test_no_metrics_index_no_metric_search(served, search):
    assert reader_for(served).metric_stats(START, END) == []
    assert search.requests == []


# -- the wire --------------------------------------------------------------------------------

def test_credentials_are_sent(served, search):
    reader_for(served, auth={"username": "oasis", "password": "pw"}).log_counts(
        START, START + timedelta(minutes=1))
    reader_for(served, auth={"token": "tok"}).read_logs(START, START + timedelta(minutes=1))
    first, second = (r["headers"]["authorization"] for r in search.requests)
    assert first == "Basic b2FzaXM6cHc=" and second == "Bearer tok"


@pytest.mark.parametrize(("mode", "reason"), [
    ("http_400", "HTTP 400 from /logs-*/_search"),
    ("not_json", "did not answer JSON"),
    ("shard_failure", "1 shards failed (a partial answer): node left"),
    ("timed_out", "timed out (a partial answer)"),
])
def test_a_bad_or_partial_answer_is_unavailable_never_empty(served, search, mode, reason):
    search.mode = mode
    with pytest.raises(SourceUnavailable) as caught:
        reader_for(served).log_counts(START, START + timedelta(minutes=5))
    assert reason in caught.value.reason


def test_an_unexpected_shape_is_unavailable(served, search):
    reader = reader_for(served)
    reader.client.post = lambda path, body: {"hits": {"hits": []}}  # no aggregations
    with pytest.raises(SourceUnavailable, match="no composite aggregation"):
        reader.log_counts(START, START + timedelta(minutes=5))


def test_an_unreachable_cluster_is_unavailable():
    reader = OpenSearchReader(OpenSearchSource(url=f"http://127.0.0.1:{free_port()}",
                                               retries=0))
    with pytest.raises(SourceUnavailable, match="source opensearch: Connect"):
        reader.sample_logs(START, START + timedelta(minutes=1))


def test_the_fake_refuses_searches_that_pull_every_document(served, search):
    for body in ({"size": 100_000, "query": {"bool": {"filter": [{"range": {
                 "@timestamp": {"gte": 0, "lt": 1, "format": "epoch_millis"}}}]}}},
                 {"query": {"match_all": {}}}):
        assert httpx.post(served[1] + "/logs-*/_search", json=body).status_code == 400
    assert len(search.violations) == 2
    search.violations.clear()


# -- acceptance ------------------------------------------------------------------------------

@pytest.mark.parametrize("preset", ["ecs", "prototype"])
def test_detection_over_the_history_finds_the_one_incident(served, search, preset):
    reader = reader_for(served, **(PROTOTYPE if preset == "prototype" else {}))
    result = backtest([reader], START, END)

    incidents = result.incidents
    assert len(incidents) == 1, [i.title for i in incidents]
    (incident,) = incidents
    assert incident.root_cause_service == FAULTY and incident.services == [FAULTY]
    assert JUMP <= incident.detected_at <= JUMP + timedelta(minutes=10)
    per_check = 4 if preset == "prototype" else 3
    assert result.checks == 180
    assert 180 * per_check <= len(search.requests) <= 180 * per_check + 10


def test_replay_source_takes_the_preset_from_the_config(served, search, tmp_path):
    """`oasis replay --source opensearch=URL` with the prototype preset in the config's
    `sources:` entry: the one incident, as JSON."""
    config = tmp_path / "oasis.yaml"
    config.write_text(yaml.safe_dump({"sources": [{"kind": "opensearch", "url": "http://x",
                                                   **PROTOTYPE}]}))
    result = CliRunner().invoke(app, [
        "replay", "--source", f"opensearch={served[1]}", "--start", iso(START),
        "--end", iso(END), "--json"],
        env={"OASIS_DATA_DIR": str(tmp_path / "data"), "OASIS_CONFIG": str(config)})
    assert result.exit_code == 0, result.output
    (incident,) = json.loads(result.stdout)
    assert incident["root_cause_service"] == FAULTY
    assert {r["index"] for r in search.requests} == {"app-logs-logs", "app-logs-metrics"}


# -- a real cluster --------------------------------------------------------------------------

def test_live_opensearch_bulk_and_read_back():
    url = os.environ.get("OPENSEARCH_URL")
    if not url:
        pytest.skip("OPENSEARCH_URL is not set: no cluster to index into (the fake covers "
                    "the API)")
    user, password = os.environ.get("OPENSEARCH_USERNAME"), os.environ.get("OPENSEARCH_PASSWORD")
    auth = {"username": user, "password": password} if user else {}
    verify = os.environ.get("OPENSEARCH_INSECURE") != "1"
    index = f"oasis-test-{secrets.token_hex(4)}"
    http = httpx.Client(base_url=url.rstrip("/"), auth=(user, password) if user else None,
                        verify=verify, timeout=30)
    mapping = {"mappings": {"properties": {
        "@timestamp": {"type": "date"}, "service": {"properties": {"name": {"type": "keyword"}}},
        "log": {"properties": {"level": {"type": "keyword"}}}, "message": {"type": "text"},
        "trace": {"properties": {"id": {"type": "keyword"}}}}}}
    http.put(f"/{index}", json=mapping).raise_for_status()
    try:
        now = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
        levels = ["info", "warn", "error", "ERROR"]
        bulk = "".join(
            f'{{"index":{{}}}}\n{{"@timestamp":"{iso(now + timedelta(seconds=i))}",'
            f'"service":{{"name":"live"}},"log":{{"level":"{lvl}"}},'
            f'"message":"call {i}","trace":{{"id":"t{i}"}}}}\n'
            for i, lvl in enumerate(levels))
        answer = http.post(f"/{index}/_bulk", params={"refresh": "wait_for"},
                           content=bulk, headers={"Content-Type": "application/x-ndjson"})
        answer.raise_for_status()
        assert not answer.json()["errors"]

        reader = OpenSearchReader(OpenSearchSource(url=url, index=index, auth=auth,
                                                   tls={"verify": verify}))
        window = (now, now + timedelta(minutes=1))
        assert {c.key: c.count for c in reader.log_counts(*window)} == {
            "INFO": 1, "WARN": 1, "ERROR": 2}
        raw = reader.read_logs(*window)
        assert [(r.level, r.trace_id, r.message) for r in raw] == [
            (Level.WARN, "t1", "call 1"), (Level.ERROR, "t2", "call 2"),
            (Level.ERROR, "t3", "call 3")]
    finally:
        http.delete(f"/{index}")
        http.close()
