"""The wire format: every record kind, every rejection reason, time zones."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from oasis.signals import (
    DeploymentRecord,
    Level,
    LogRecord,
    MetricRecord,
    RecordError,
    parse_line,
    parse_record,
    to_wire,
)

LOG = {"type": "log", "timestamp": "2026-11-23T04:00:01.234Z", "service": "checkout",
       "level": "ERROR", "message": "boom"}
METRIC = {"type": "metric", "timestamp": "2026-11-23T04:00:00Z", "service": "checkout",
          "name": "latency_p99_ms", "value": 412.5, "unit": "ms"}
DEPLOY = {"type": "deployment", "timestamp": "2026-11-23T04:00:00Z", "service": "checkout",
          "version": "2.5.0", "previous_version": "2.4.1", "author": "ci", "description": "x"}


def test_log_record_with_all_optional_fields() -> None:
    rec = parse_record({**LOG, "error_type": "NullPointerException", "host": "h1",
                        "trace_id": "t1", "span_id": "s1", "attributes": {"path": "/pay"},
                        "id": "abc"})
    assert isinstance(rec, LogRecord)
    assert rec.timestamp == datetime(2026, 11, 23, 4, 0, 1, 234000, tzinfo=UTC)
    assert (rec.service, rec.level, rec.message) == ("checkout", Level.ERROR, "boom")
    assert (rec.error_type, rec.host, rec.trace_id, rec.span_id, rec.id) == (
        "NullPointerException", "h1", "t1", "s1", "abc")
    assert rec.attributes == {"path": "/pay"}


def test_metric_and_deployment_records() -> None:
    metric = parse_record(METRIC)
    assert isinstance(metric, MetricRecord)
    assert (metric.name, metric.value, metric.unit) == ("latency_p99_ms", 412.5, "ms")
    deploy = parse_record(DEPLOY)
    assert isinstance(deploy, DeploymentRecord)
    assert (deploy.version, deploy.previous_version, deploy.author) == ("2.5.0", "2.4.1", "ci")


@pytest.mark.parametrize(
    ("raw", "level"),
    [("debug", Level.DEBUG), ("Info", Level.INFO), ("warn", Level.WARN),
     ("WARNING", Level.WARN), ("error", Level.ERROR), ("fatal", Level.FATAL),
     ("critical", Level.FATAL)],
)
def test_levels_are_case_insensitive_with_aliases(raw: str, level: Level) -> None:
    assert parse_record({**LOG, "level": raw}).level is level


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2026-11-23T04:00:00Z", datetime(2026, 11, 23, 4, tzinfo=UTC)),
        ("2026-11-23T06:00:00+02:00", datetime(2026, 11, 23, 4, tzinfo=UTC)),
        ("2026-11-22T23:00:00-05:00", datetime(2026, 11, 23, 4, tzinfo=UTC)),
        ("2026-11-23T04:00:00.123456+00:00", datetime(2026, 11, 23, 4, 0, 0, 123456, tzinfo=UTC)),
    ],
)
def test_timestamps_are_normalised_to_utc(stamp: str, expected: datetime) -> None:
    rec = parse_record({**LOG, "timestamp": stamp})
    assert rec.timestamp == expected
    assert rec.timestamp.utcoffset().total_seconds() == 0


def test_round_trip_through_wire_format() -> None:
    for doc in (LOG, METRIC, DEPLOY):
        rec = parse_record(doc)
        assert parse_record(to_wire(rec)) == rec
    assert to_wire(parse_record(LOG))["timestamp"] == "2026-11-23T04:00:01.234Z"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"{not json", "invalid JSON"),
        (b"[1, 2]", "expected a JSON object, got an array"),
        (b'"text"', "expected a JSON object, got a string"),
        (orjson.dumps({**LOG, "type": "trace"}), "unknown type 'trace'"),
        (orjson.dumps({"timestamp": "2026-11-23T04:00:00Z", "foo": 1}), "missing field 'type'"),
        (orjson.dumps({**LOG, "type": 7}), "type must be a string"),
        (orjson.dumps({k: v for k, v in LOG.items() if k != "timestamp"}),
         "missing field 'timestamp'"),
        (orjson.dumps({**LOG, "timestamp": "2026-11-23T04:00:00"}), "has no timezone"),
        (orjson.dumps({**LOG, "timestamp": "yesterday"}), "is not ISO 8601"),
        (orjson.dumps({**LOG, "timestamp": 1700000000}), "must be an ISO 8601 string"),
        (orjson.dumps({**LOG, "timestamp": "1900-01-01T00:00:00Z"}), "outside 1970..2200"),
        (orjson.dumps({k: v for k, v in LOG.items() if k != "service"}), "missing field 'service'"),
        (orjson.dumps({**LOG, "service": "  "}), "service must not be empty"),
        (orjson.dumps({**LOG, "service": ["a"]}), "service must be a string"),
        (orjson.dumps({**LOG, "service": "x" * 300}), "longer than 256"),
        (orjson.dumps({k: v for k, v in LOG.items() if k != "level"}), "missing field 'level'"),
        (orjson.dumps({**LOG, "level": "LOUD"}), "unknown level 'LOUD'"),
        (orjson.dumps({**LOG, "level": 3}), "level must be a string"),
        (orjson.dumps({k: v for k, v in LOG.items() if k != "message"}), "missing field 'message'"),
        (orjson.dumps({**LOG, "message": {"a": 1}}), "message must be a string"),
        (orjson.dumps({**LOG, "host": ["h"]}), "host must be a string"),
        (orjson.dumps({**LOG, "attributes": [1]}), "attributes must be an object"),
        (orjson.dumps({**LOG, "id": ""}), "id must be 1..256 characters"),
        (orjson.dumps({**LOG, "id": {"x": 1}}), "id must be a string or integer"),
        (orjson.dumps({k: v for k, v in METRIC.items() if k != "value"}), "missing field 'value'"),
        (orjson.dumps({**METRIC, "value": "12"}), "value must be a number"),
        (orjson.dumps({**METRIC, "value": True}), "value must be a number"),
        (b'{"type":"metric","timestamp":"2026-11-23T04:00:00Z","service":"a","name":"x",'
         b'"value":1e999}', "invalid JSON"),
        (orjson.dumps({k: v for k, v in METRIC.items() if k != "name"}), "missing field 'name'"),
        (orjson.dumps({k: v for k, v in DEPLOY.items() if k != "version"}),
         "missing field 'version'"),
        (b'{"type":"log","message":"' + b"x" * 1_100_000 + b'"}', "larger than"),
    ],
)
def test_every_rejection_reason_is_explained(line: bytes, reason: str) -> None:
    with pytest.raises(RecordError) as info:
        parse_line(line)
    assert reason in str(info.value)


def test_non_finite_metric_value_is_refused() -> None:
    with pytest.raises(RecordError, match="finite"):
        parse_record({**METRIC, "value": float("nan")})


def test_unknown_fields_go_to_attributes_and_nothing_is_dropped() -> None:
    rec = parse_record({**LOG, "status_code": 502, "attributes": {"a": 1, "status_code": 1}})
    assert rec.attributes == {"a": 1, "status_code": 1, "_status_code": 502}


def test_prototype_opensearch_log_document() -> None:
    # A document of the prototype's `app-logs-logs` index, exactly as its generator wrote it.
    doc = {
        "timestamp": "2025-06-01T10:00:00.123456+00:00", "service": "api-gateway",
        "level": "ERROR", "message": "Connection timeout to database", "host": "api-gateway-3",
        "container_id": "a1b2c3d4", "trace_id": "t-1", "request_id": "r-1", "method": "GET",
        "path": "/api/v1/users", "status_code": 500, "latency_ms": 812.4,
        "error_type": "ConnectionFailure", "error_message": "Connection timeout to database",
        "cpu_utilization": 35.1, "memory_utilization": 41.0,
    }
    rec = parse_record(doc)
    assert isinstance(rec, LogRecord)
    assert rec.error_type == "ConnectionFailure" and rec.host == "api-gateway-3"
    for key in ("container_id", "request_id", "method", "path", "status_code", "latency_ms",
                "error_message", "cpu_utilization", "memory_utilization"):
        assert rec.attributes[key] == doc[key]


def test_prototype_log_with_only_error_message() -> None:
    rec = parse_record({"timestamp": "2025-06-01T10:00:00Z", "service": "db", "level": "ERROR",
                        "error_message": "deadlock detected"})
    assert rec.message == "deadlock detected"


def test_prototype_opensearch_metric_document() -> None:
    doc = {"timestamp": "2025-06-01T10:00:00+00:00", "service": "user-db",
           "metric_name": "cpu_utilization", "metric_value": 73.2, "unit": "percent",
           "host": "user-db-2", "container_id": "deadbeef",
           "dimensions": {"service_type": "database", "region": "us-east-1"}}
    rec = parse_record(doc)
    assert isinstance(rec, MetricRecord)
    assert (rec.name, rec.value, rec.host) == ("cpu_utilization", 73.2, "user-db-2")
    assert rec.attributes == {"container_id": "deadbeef", "dimensions": doc["dimensions"]}


def test_opensearch_search_hit_uses_index_and_id() -> None:
    hit = {"_index": "app-logs-metrics", "_id": "xyz",
           "_source": {"timestamp": "2025-06-01T10:00:00Z", "service": "s",
                       "metric_name": "m", "metric_value": 1}}
    rec = parse_record(hit)
    assert isinstance(rec, MetricRecord) and rec.id == "xyz"


def test_one_zone_aware_parser_and_minute_floor() -> None:
    from datetime import timedelta, timezone

    from oasis.signals.times import NaiveTimeError, floor_minute, parse_aware

    at = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
    assert parse_aware("2026-11-23T04:00:00Z") == at
    assert parse_aware("2026-11-23T06:00:00+02:00") == at
    assert parse_aware("2026-11-23T06:00:00+02:00").tzinfo is UTC
    with pytest.raises(NaiveTimeError, match="no timezone"):
        parse_aware("2026-11-23T04:00:00")
    with pytest.raises(ValueError, match="not an ISO 8601"):
        parse_aware("yesterday")
    from oasis.signals.times import TimeFormatError, TimeRangeError

    assert parse_aware(" 2026-11-23t04:00:00z ") == at
    assert parse_aware("Mon, 23 Nov 2026 04:00:00 GMT", rfc2822=True) == at
    with pytest.raises(TimeFormatError):
        parse_aware("Mon, 23 Nov 2026 04:00:00 GMT")
    with pytest.raises(TimeRangeError, match="outside 1970-2200"):
        parse_aware("0001-01-01T00:00:00+01:00", years=(1970, 2200))
    plus_two = timezone(timedelta(hours=2))
    assert floor_minute(datetime(2026, 11, 23, 6, 0, 59, 999, tzinfo=plus_two)) == at
    assert floor_minute(datetime(2026, 11, 23, 6, 0, 59, tzinfo=plus_two)).tzinfo is UTC
    with pytest.raises(NaiveTimeError):
        floor_minute(datetime(2026, 11, 23, 4, 0, 30))


def test_one_webhook_signature() -> None:
    import hashlib
    import hmac

    from oasis.signals.signing import SIGNATURE_HEADER, sign_body, verify_body

    body = b'{"action_id": "act-1"}'
    expected = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert SIGNATURE_HEADER == "X-OASIS-Signature"
    assert sign_body("s3cret", body) == expected
    assert verify_body("s3cret", body, expected)
    assert not verify_body("other", body, expected)


def test_one_signed_token() -> None:
    from datetime import timedelta

    from oasis.signals.signing import TokenExpired, TokenForged, TokenMalformed, TokenSigner

    now = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
    signer = TokenSigner(b"k" * 32)
    token = signer.sign({"who": "ana"}, now + timedelta(minutes=5))
    assert signer.verify(token, now=now) == {"who": "ana", "e": int(now.timestamp()) + 300}
    with pytest.raises(TokenExpired) as expired:
        signer.verify(token, now=now + timedelta(minutes=5))
    assert expired.value.expires_at == now + timedelta(minutes=5)
    with pytest.raises(TokenForged):
        TokenSigner(b"x" * 32).verify(token, now=now)
    body, mac = token.split(".")
    other = signer.sign({"who": "root"}, now + timedelta(minutes=5)).split(".")[0]
    for forged in (f"{other}.{mac}", ".", "!!!.???"):
        with pytest.raises(TokenForged):
            signer.verify(forged, now=now)
    for junk in ("", "a.b.c", body):
        with pytest.raises(TokenMalformed):
            signer.verify(junk, now=now)
    with pytest.raises(ValueError, match="the link key must be at least 16 bytes"):
        TokenSigner(b"short", "link key")


def test_one_secret_store(tmp_path) -> None:
    from oasis.state import state_engine, stored_secret

    engine = state_engine(f"sqlite:///{tmp_path / 'state.db'}")
    first = stored_secret(engine, "a")
    assert len(first) >= 32 and stored_secret(engine, "a") == first
    assert stored_secret(engine, "b") != first
    engine.dispose()


def test_one_retry_policy() -> None:
    import random

    from oasis.signals.retry import Backoff, retryable_status, with_retries

    capped = Backoff(0.5, 2.0)
    assert [capped.delay(n) for n in (1, 2, 3, 4)] == [0.5, 1.0, 2.0, 2.0]
    jittered = Backoff(30, 3600, jitter=0.1)
    assert all(30 <= jittered.delay(1, random.Random(n)) <= 33 for n in range(20))

    slept: list[float] = []
    answers = iter([OSError("down"), 503, 200])

    def call() -> int:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    tried = with_retries(call, attempts=4, backoff=Backoff(0.5), retry_on=(OSError,),
                         retry_if=retryable_status, sleep=slept.append)
    assert (tried.ok, tried.result, tried.attempts, slept) == (True, 200, 3, [0.5, 1.0])

    slept.clear()
    failed = with_retries(lambda: 502, attempts=3, backoff=Backoff(1), retry_if=retryable_status,
                          sleep=slept.append)
    assert (failed.ok, failed.result, failed.attempts, slept) == (False, 502, 3, [1, 2])
    assert failed.problem(lambda status: f"HTTP {status}") == "HTTP 502"
    down = with_retries(lambda: 1 // 0, attempts=1, backoff=Backoff(1),
                        retry_on=(ZeroDivisionError,))
    assert down.problem(str) == "ZeroDivisionError: integer division or modulo by zero"
    with pytest.raises(KeyError):  # not retryable: at once
        with_retries(lambda: {}["x"], attempts=3, backoff=Backoff(1), retry_on=(OSError,),
                     sleep=slept.append)
    assert slept == [1, 2]
    assert [retryable_status(s) for s in (200, 404, 409, 429, 500, 503)] == [
        False, False, False, True, True, True]
