"""The Loki reader against a real local HTTP server speaking Loki's query API, its answers
computed from a generated three-hour fleet (tests/logfleet.py); and, when LOKI_URL is
set, against a real Loki."""

from __future__ import annotations

import json
import os
import secrets
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from oasis.monitor.backtest import backtest
from oasis.signals import Level
from oasis.sources import SourceUnavailable, open_source
from oasis.sources.lines import from_nanoseconds, level_of_line, line_fields, to_nanoseconds
from oasis.sources.loki import LokiReader, _evaluations
from oasis.sources.settings import LokiSource
from tests.fakes.loki import FakeLoki
from tests.helpers import wait_until
from tests.logfleet import END, FAULTY, JUMP, START, Line, fleet
from tests.servers import free_port, serving

# How each service's streams look: Loki 3 `detected_level`, a `level` label spelled
# the Python way, a `service` label beside `service_name`, and no level label at all.
LABEL_SPELLING = {Level.INFO: "info", Level.WARN: "warning", Level.ERROR: "ERR"}


def stream_labels(x: Line) -> dict[str, str]:
    if x.service == "search":
        return {"service_name": "search", "level": LABEL_SPELLING[x.level]}
    if x.service == "catalog":
        return {"service": "catalog", "service_name": "catalog-v2",
                "detected_level": x.level.value.lower()}
    if x.service == "auth":
        return {"service_name": "auth"}
    return {"service_name": x.service, "detected_level": x.level.value.lower()}


def line_text(x: Line) -> str:
    if x.service in ("checkout", "catalog"):
        error = f" error_type={x.error_type}" if x.error_type else ""
        return (f'ts={x.ts.isoformat()} level={x.level.value.lower()} msg="{x.message}" '
                f"trace_id={x.trace_id}{error}")
    if x.service in ("search", "auth"):
        doc = {"level": x.level.value.lower(), "message": x.message, "traceID": x.trace_id}
        if x.error_type:
            doc["error_type"] = x.error_type
        return json.dumps(doc)
    callee = f" callee={x.callee}" if x.callee else ""
    return f"{x.ts.isoformat()} {x.level.value} {x.message} trace_id={x.trace_id}{callee}"


def streams_of(lines: list[Line]) -> dict[tuple, list[tuple[int, str]]]:
    out: dict[tuple, list[tuple[int, str]]] = {}
    for x in lines:
        key = tuple(sorted(stream_labels(x).items()))
        out.setdefault(key, []).append((to_nanoseconds(x.ts), line_text(x)))
    return out


@pytest.fixture(scope="module")
def lines() -> list[Line]:
    return fleet()


@pytest.fixture(scope="module")
def served(lines: list[Line]) -> Iterator[tuple[FakeLoki, str]]:
    fake = FakeLoki(streams_of(lines))
    with serving(fake.app()) as url:
        yield fake, url


@pytest.fixture
def loki(served: tuple[FakeLoki, str]) -> Iterator[FakeLoki]:
    fake, _ = served
    fake.requests.clear()
    fake.violations.clear()
    fake.mode = "ok"
    yield fake
    assert fake.violations == [], "the reader sent a query that is not aggregated or bounded"


def reader_for(served: tuple[FakeLoki, str], **options) -> LokiReader:
    reader = open_source(LokiSource(url=served[1], retries=0, **options))
    assert isinstance(reader, LokiReader)
    return reader


def minute(ts: datetime) -> datetime:
    return ts.replace(second=0, microsecond=0)


# -- counts ----------------------------------------------------------------------------------

def test_counts_per_minute_by_service_and_level(served, loki, lines):
    start, end = START + timedelta(minutes=60), START + timedelta(minutes=70)
    counts = reader_for(served).log_counts(start, end, by="level")

    got = {(c.bucket, c.service, c.key): c.count for c in counts}
    expected = Counter((minute(x.ts), x.service,
                        "INFO" if x.service == "auth" else x.level.value)
                       for x in lines if start <= x.ts < end)
    assert got == dict(expected)
    assert {c.service for c in counts} >= {"checkout", "search", "catalog", "auth", "gateway"}
    assert {c.key for c in counts if c.service == "search"} <= {"INFO", "WARN", "ERROR"}
    assert all(c.bucket.tzinfo is UTC and start <= c.bucket < end for c in counts)

    (request,) = loki.requests
    params = request["params"]
    assert params["query"] == ('sum by (service, service_name, job, level, detected_level, '
                               'severity) (count_over_time({service_name=~".+"} [1m]))')
    assert params["step"] == "60"
    assert int(params["start"]) == to_nanoseconds(start + timedelta(minutes=1))
    assert int(params["end"]) == to_nanoseconds(end)


def test_a_service_map_renames_and_a_missing_service_label_drops(served, loki, lines):
    reader = reader_for(served, service_labels=["service"], service_map={"catalog": "shop"})
    counts = reader.log_counts(START, START + timedelta(minutes=5))
    assert {c.service for c in counts} == {"shop"}  # only catalog has a `service` label


def test_error_types_are_not_asked_unless_a_label_names_them(served, loki):
    assert reader_for(served).log_counts(START, END, by="error_type", errors_only=True) == []
    assert loki.requests == []


def test_error_types_from_a_parsed_label(served, loki, lines):
    start, end = JUMP, JUMP + timedelta(minutes=5)
    reader = reader_for(served, parser="logfmt", error_type_label="error_type")
    counts = reader.log_counts(start, end, by="error_type", errors_only=True)

    expected = Counter((minute(x.ts), x.service, x.error_type) for x in lines
                       if start <= x.ts < end and x.level is Level.ERROR
                       and x.service in ("checkout", "catalog"))  # the logfmt services
    assert {(c.bucket, c.service, c.key): c.count for c in counts} == dict(expected)
    query = loki.requests[0]["params"]["query"]
    assert '| logfmt | drop __error__, __error_details__ | error_type!=""' in query
    assert '| level=~"(?i)(' in query and " or detected_level=~" in query


def test_a_parser_reads_levels_from_lines_without_level_labels():
    t = START
    lines = [(to_nanoseconds(t + timedelta(seconds=i + 1)), f'level={lvl} msg="m{i}"')
             for i, lvl in enumerate(["info", "warn", "error", "error", "crit"])]
    fake = FakeLoki({(("service_name", "solo"),): lines})
    with serving(fake.app()) as url:
        plain = LokiReader(LokiSource(url=url, retries=0))
        parsed = LokiReader(LokiSource(url=url, retries=0, parser="logfmt"))
        window = (t, t + timedelta(minutes=1))
        # (a line at the minute's very start would count in the minute before: Loki's
        # range is (t - 1m, t])
        assert [(c.key, c.count) for c in plain.log_counts(*window)] == [("INFO", 5)]
        assert sorted((c.key, c.count) for c in parsed.log_counts(*window)) == [
            ("ERROR", 2), ("FATAL", 1), ("INFO", 1), ("WARN", 1)]
    assert fake.violations == []


def test_a_day_per_count_query_and_each_minute_once():
    chunks = list(_evaluations(START, START + timedelta(days=2, minutes=3)))
    assert len(chunks) == 3
    ends = []
    for first, last in chunks:
        t = first
        while t <= last:
            ends.append(t)
            t += timedelta(minutes=1)
    assert ends[0] == START + timedelta(minutes=1)
    assert ends[-1] == START + timedelta(days=2, minutes=3)
    assert len(ends) == len(set(ends)) == 2 * 1440 + 3
    assert list(_evaluations(START, START + timedelta(seconds=59))) == []


# -- raw lines -------------------------------------------------------------------------------

def test_raw_lines_are_the_warnings_and_errors_mapped(served, loki, lines):
    start, end = START + timedelta(minutes=100), START + timedelta(minutes=103)
    got = reader_for(served).read_logs(start, end, limit=200_000)

    expected = [x for x in lines if start <= x.ts < end and x.level is not Level.INFO]
    assert [(r.timestamp, r.service, r.level, r.trace_id) for r in got] == \
        [(x.ts, x.service, x.level, x.trace_id) for x in expected]
    by_service = {r.service: r for r in got}
    assert by_service["checkout"].message in {x.message for x in expected}  # logfmt msg=
    assert by_service["search"].message in {x.message for x in expected}  # JSON message
    errors = [r for r in got if r.service == "checkout" and r.level is Level.ERROR]
    assert errors and all(r.error_type in ("UpstreamTimeout", "WriteFailed") for r in errors)
    gateway = [r for r in got if r.service == "gateway"]
    assert gateway and all(r.attributes.get("callee") for r in gateway)

    (request,) = loki.requests
    params = request["params"]
    assert params["query"] == ('{service_name=~".+"} '
                               '|~ "(?i)(warn|error|exception|fatal|crit|panic)"')
    assert params["limit"] == "500" and params["direction"] == "backward"
    assert (int(params["start"]), int(params["end"])) == (to_nanoseconds(start),
                                                          to_nanoseconds(end))


def test_raw_lines_are_the_newest_of_the_window_when_there_are_more(served, loki, lines):
    start, end = START + timedelta(minutes=100), START + timedelta(minutes=110)
    got = reader_for(served, sample_lines=5).read_logs(start, end)
    expected = [x for x in lines if start <= x.ts < end and x.level is not Level.INFO][-5:]
    assert [r.timestamp for r in got] == [x.ts for x in expected]


def test_raw_lines_by_level_labels(served, loki, lines):
    start, end = START + timedelta(minutes=100), START + timedelta(minutes=103)
    got = reader_for(served, raw_filter="labels").read_logs(start, end, levels=[Level.ERROR])
    expected = [x for x in lines if start <= x.ts < end and x.level is Level.ERROR
                and x.service != "auth"]  # auth's streams have no level label
    assert [(r.timestamp, r.service) for r in got] == [(x.ts, x.service) for x in expected]
    query = loki.requests[0]["params"]["query"]
    assert "|~" not in query and '| level=~"(?i)(' in query


def test_samples_of_one_service(served, loki, lines):
    start, end = JUMP, JUMP + timedelta(minutes=10)
    got = reader_for(served).sample_logs(start, end, service=FAULTY, errors_only=True,
                                         limit=3)
    expected = [x for x in lines if start <= x.ts < end and x.service == FAULTY
                and x.level is Level.ERROR][-3:][::-1]
    assert [(r.timestamp, r.level) for r in got] == [(x.ts, Level.ERROR) for x in expected]
    query = loki.requests[0]["params"]["query"]
    assert query.endswith('| service="checkout" or service_name="checkout" or job="checkout"')
    assert loki.requests[0]["params"]["limit"] == "3"


def test_samples_by_a_mapped_name_ask_the_label_value(served, loki):
    reader = reader_for(served, service_map={"search": "search-api"})
    got = reader.sample_logs(JUMP, JUMP + timedelta(minutes=5), service="search-api",
                             limit=4)
    assert len(got) == 4 and {r.service for r in got} == {"search-api"}
    assert 'service_name="search"' in loki.requests[0]["params"]["query"]


# -- the wire --------------------------------------------------------------------------------

def test_org_id_and_bearer_token_are_sent(served, loki):
    reader = reader_for(served, org_id="tenant-a", auth={"token": "s3cret"})
    reader.log_counts(START, START + timedelta(minutes=1))
    headers = loki.requests[0]["headers"]
    assert headers["x-scope-orgid"] == "tenant-a"
    assert headers["authorization"] == "Bearer s3cret"


def test_basic_auth_is_sent_and_no_org_id_by_default(served, loki):
    reader = reader_for(served, auth={"username": "oasis", "password": "pw"})
    reader.read_logs(START, START + timedelta(minutes=1))
    headers = loki.requests[0]["headers"]
    assert headers["authorization"] == "Basic " + "b2FzaXM6cHc="
    assert "x-scope-orgid" not in headers


@pytest.mark.parametrize(("mode", "reason"), [
    ("http_400", "HTTP 400 from /loki/api/v1/query_range: parse error"),
    ("not_json", "did not answer JSON"),
    ("status_error", "query failed: too many outstanding requests"),
    ("bad_shape", "expected a matrix result, got 'vector'"),
])
def test_a_bad_answer_is_unavailable_never_empty(served, loki, mode, reason):
    loki.mode = mode
    with pytest.raises(SourceUnavailable) as caught:
        reader_for(served).log_counts(START, START + timedelta(minutes=5))
    assert reason in caught.value.reason
    assert caught.value.source == "loki"


def test_an_unreachable_loki_is_unavailable():
    reader = LokiReader(LokiSource(url=f"http://127.0.0.1:{free_port()}", retries=0,
                                   name="logs"))
    with pytest.raises(SourceUnavailable, match="source logs: Connect"):
        reader.read_logs(START, START + timedelta(minutes=1))


def test_the_fake_refuses_queries_that_pull_every_line(served, loki):
    for params in ({"query": '{service_name=~".+"}', "limit": "1000000"},
                   {"query": 'count_over_time({service_name=~".+"} [5m])', "step": "300"}):
        response = httpx.get(served[1] + "/loki/api/v1/query_range",
                             params={"start": "1", "end": "2", **params})
        assert response.status_code == 400
    assert len(loki.violations) == 2
    loki.violations.clear()


# -- acceptance ------------------------------------------------------------------------------

def test_detection_over_the_history_finds_the_one_incident(served, loki):
    result = backtest([reader_for(served)], START, END)

    incidents = result.incidents
    assert len(incidents) == 1, [i.title for i in incidents]
    (incident,) = incidents
    assert incident.root_cause_service == FAULTY and incident.services == [FAULTY]
    assert JUMP <= incident.detected_at <= JUMP + timedelta(minutes=10)
    kinds = Counter("count" if r["params"]["query"].startswith("sum by") else "lines"
                    for r in loki.requests)
    checks = result.checks
    assert checks == 180
    assert kinds["count"] == checks  # one aggregated query per check
    assert checks <= kinds["lines"] <= checks + 10  # raw lines, and a few samples


# -- a real Loki -----------------------------------------------------------------------------

def test_live_loki_push_and_read_back():
    url = os.environ.get("LOKI_URL")
    if not url:
        pytest.skip("LOKI_URL is not set: no Loki to push to (the fake covers the API)")
    service = f"oasis-test-{secrets.token_hex(4)}"
    now = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
    entries = [(now + timedelta(seconds=i), lvl, f"level={lvl} msg=\"call {i}\" trace_id=t{i}")
               for i, lvl in enumerate(["info", "warn", "error", "error"])]
    streams = [{"stream": {"service_name": service, "level": lvl},
                "values": [[str(to_nanoseconds(ts)), text]]} for ts, lvl, text in entries]
    org = os.environ.get("LOKI_ORG_ID")
    headers = {"X-Scope-OrgID": org} if org else {}
    httpx.post(url.rstrip("/") + "/loki/api/v1/push", json={"streams": streams},
               headers=headers, timeout=10).raise_for_status()

    reader = LokiReader(LokiSource(url=url, org_id=org,
                                   selector=f'{{service_name="{service}"}}'))
    window = (now, now + timedelta(minutes=1))

    def counted():
        counts = {c.key: c.count for c in reader.log_counts(*window)}
        return counts if sum(counts.values()) == 4 else None

    assert wait_until(counted, 30, what="Loki to answer the pushed lines") == {
        "INFO": 1, "WARN": 1, "ERROR": 2}
    raw = reader.read_logs(*window)
    assert [(r.level, r.trace_id) for r in raw] == [
        (Level.WARN, "t1"), (Level.ERROR, "t2"), (Level.ERROR, "t3")]
    assert [r.timestamp for r in raw] == [ts for ts, _, _ in entries[1:]]


# -- lines -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "level"), [
    ('level=warning msg="disk \\"almost\\" full"', Level.WARN),
    ('{"log": {"level": "crit"}, "message": "down"}', Level.FATAL),
    ('{"severity": "E", "msg": "x"}', Level.ERROR),
    ("2026-03-02 09:00:01,123 ERROR [main] boom", Level.ERROR),
    ("WARNING:root:low memory", Level.WARN),
    ("[error] upstream closed", Level.ERROR),
    ("request had 0 errors", None),  # a word in the text is not a level statement
])
def test_the_level_a_line_states(line, level):
    assert level_of_line(line, line_fields(line)) == level


def test_line_fields_and_nanoseconds():
    assert line_fields('level=info msg="a \\"b\\" c" trace_id=abc empty=') == {
        "level": "info", "msg": 'a "b" c', "trace_id": "abc", "empty": ""}
    assert line_fields('{"trace": {"id": "t1"}, "n": 3}') == {"trace.id": "t1", "n": 3}
    assert line_fields("plain text") == {}
    ts = from_nanoseconds("1772442000123456789")
    assert ts == datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=UTC)
    assert to_nanoseconds(ts) == 1772442000123456000
