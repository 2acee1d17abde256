"""The columnar fast path stores exactly what the per-record parser stores, and refuses the
same lines with the same reasons, on a file holding every kind of bad record."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pytest

from oasis.ingest import Ingestor
from oasis.ingest.columnar import ColumnarParser
from oasis.ingest.window import TimeWindow
from oasis.store import DuckDBSignalStore
from tests.helpers import T0, deployment, log, metric

NOW = T0 + timedelta(hours=1)


def _line(doc: Any) -> bytes:
    return orjson.dumps(doc)


GOOD: list[bytes] = [
    _line(log(0)),
    _line(log(0.1, level="warning", host="h1", trace_id="t", span_id="s", error_type="E")),
    _line(log(0.2, level=" err ", message="padded level")),
    _line(log(0.3, message="caf\u00e9 \u2713 emoji \U0001f600 nul \u0000 in a message")),
    _line(log(0.4, service="  padded  ")),
    _line(log(0.5, service="s\u00e9rvice")),
    _line(log(0.6, id="a1", attributes={"k": 1, "nested": {"x": [1, 2.5, None, True]}})),
    _line(log(0.7, id=42, pod="p-1", region="eu", attributes={"k": "v"})),
    _line(log(0.8, status_code=502, attributes={"status_code": 1})),  # clash: _status_code
    _line(log(0.9, attributes={}, host=None)),
    _line(log(1.0, host=7, error_type=1.5)),  # numbers as optional strings
    _line({**log(1.1), "timestamp": "2026-11-23T01:06:00.123456+02:00"}),
    _line({**log(1.2), "timestamp": "2026-11-23T00:01:12z"}),
    _line({**log(1.3), "timestamp": "2026-11-23 00:01:18Z"}),
    _line({**log(1.4), "timestamp": "2026-11-23T00:01:24.1234567Z"}),
    _line({k: v for k, v in log(1.5).items() if k != "type"}),  # kind inferred
    _line({k: v for k, v in log(1.6).items() if k != "message"} | {"error_message": "boom"}),
    _line(
        {
            "_index": "app-logs",
            "_id": "hit-1",
            "_source": {k: v for k, v in log(1.7).items() if k != "type"},
        }
    ),
    _line(metric(2, 1.5, unit="ms", host="h")),
    _line(metric(2.1, -3.0, name="temperature_delta")),  # a gauge may be negative
    _line(metric(2.2, 10, name="http_requests_total", unit="1")),
    _line(
        {
            "type": "metric",
            "timestamp": T0.isoformat(),
            "service": "s",
            "metric_name": "cpu",
            "metric_value": 3,
        }
    ),
    _line(metric(2.3, 18446744073709551615)),
    b'{"type":"metric","timestamp":"2026-11-23T00:02:24Z","service":"s","name":"n",'
    b'"value":1,"attributes":{"big":18446744073709551616,"tiny":1e-300,"e":1E5}}',
    _line(deployment(3, "2.0", previous_version="1.9", author="ci", description="d")),
    _line(deployment(3.1, 3)),  # versions arrive as numbers
    _line(log(3.2, id="a1")),  # a duplicate id: stored once
    _line(log(3.3, id="dup-in-line", message="first")),
    b'{"type":"log","timestamp":"2026-11-23T00:03:24Z","service":"s","level":"INFO",'
    b'"message":"x","message":"last wins"}',
    b'{"type":"log","timestamp":"2026-11-23T00:03:30Z","service":"s","level":"INFO",'
    b'"message":"x","pod":"a","pod":"b"}',
    b'  {"type": "log", "timestamp": "2026-11-23T00:03:36Z", "service": "s", '
    b'"level": "INFO", "message": "spaced"}  \r',
    b'{"type":"log","timestamp":"2026-11-23T00:03:42Z","service":"s","level":"INFO",'
    b'"message":"escaped \\" quote \\\\ and \\u00e9 and \\ud83d\\ude00"}',
]

BAD: list[bytes] = [
    b"{oops",
    b"[1, 2]",
    b'"a string"',
    b"42",
    _line({"type": "trace", "timestamp": T0.isoformat()}),
    _line({"type": 5}),
    _line({"timestamp": T0.isoformat()}),  # no type, no known shape
    _line({k: v for k, v in log(4).items() if k != "timestamp"}),
    _line({**log(4), "timestamp": 1700000000}),
    _line({**log(4), "timestamp": "2026-11-23T00:04:00"}),
    _line({**log(4), "timestamp": "yesterday"}),
    _line({**log(4), "timestamp": "1969-12-31T23:00:00Z"}),
    _line({**log(4), "timestamp": "2026-02-30T00:00:00Z"}),
    _line(log(4, service="")),
    _line(log(4, service="   ")),
    _line(log(4, service=True)),
    _line(log(4, service="x" * 300)),
    _line(log(4, service="svc\u0000x")),
    _line(log(4, service="svc\x1b[31m")),
    _line({k: v for k, v in log(4).items() if k != "service"}),
    _line(log(4, level="LOUD")),
    _line(log(4, level=3)),
    _line(log(4, message=12)),
    _line({k: v for k, v in log(4).items() if k != "message"}),
    _line(log(4, host=["a"])),
    _line(log(4, id=True)),
    _line(log(4, id="")),
    _line(log(4, id="i" * 300)),
    _line(log(4, id=1.5)),
    _line(log(4, attributes=[1])),
    _line(metric(4, "fast")),
    _line(metric(4, True)),
    _line(metric(4, -1, name="http_requests_total")),
    _line(metric(4, -0.5, name="jobs_count")),
    _line(metric(4, 1, name="")),
    _line({k: v for k, v in deployment(4, "1").items() if k != "version"}),
    _line(log(4, when="later", attributes={"a": 1})) + b"\xff\xfe",
    b'{"type":"log","timestamp":"2026-11-23T00:04:00Z","service":"s\xe9","level":"INFO",'
    b'"message":"latin-1, not UTF-8"}',
    b'{"type":"metric","timestamp":"2026-11-23T00:04:00Z","service":"s","name":"n","value":NaN}',
    b'{"type":"metric","timestamp":"2026-11-23T00:04:00Z","service":"s","name":"n","value":1e400}',
    b'{"type":"log","timestamp":"2026-11-23T00:04:00Z","service":"s","level":"INFO",'
    b'"message":"m","attributes":{"x":Infinity}}',
    b'{"type":"log","timestamp":"2026-11-23T00:04:00Z","service":"s","level":"INFO",'
    b'"message":"m",}',
    b'{"type":"log","timestamp":"2026-11-23T00:04:00Z","service":"s","level":"INFO",'
    b'"message":"lone \\ud800 surrogate"}',
    b'{"type":"log","timestamp":"2026-11-23T00:04:00Z","service":"s","level":"INFO",'
    b'"message":"m","attributes":{"deep":' + b"[" * 2000 + b"]" * 2000 + b"}}",
    _line(log(4, message="x" * 1_100_000)),
    _line({**log(4), "timestamp": "2199-01-01T00:00:00Z"}),  # the future
    _line({**log(4), "timestamp": (NOW + timedelta(minutes=11)).isoformat()}),
    _line({**log(4), "timestamp": (NOW - timedelta(days=15)).isoformat()}),  # past retention
]


def _file(tmp_path: Path) -> Path:
    lines: list[bytes] = []
    for i in range(max(len(GOOD), len(BAD))):
        lines.extend(GOOD[i : i + 1] + [b""] * (i % 3 == 0) + BAD[i : i + 1])
    path = tmp_path / "mixed.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _window() -> TimeWindow:
    return TimeWindow(
        clock=lambda: NOW, max_future=timedelta(minutes=10), max_age=timedelta(days=14)
    )


def _ingest(path: Path, db: Path, *, fast: bool, workers: int = 1) -> dict[str, Any]:
    store = DuckDBSignalStore(db, retention_days=14)
    ingestor = Ingestor(store, window=_window(), fast_path=fast, workers=workers)
    ingestor.fast_path_min_lines = 1  # the fast path however small the file
    with path.open("rb") as f:
        report = ingestor.ingest_file(f, source="mixed").as_dict()
    store.close()
    return report


def _fast(ingestor: Ingestor) -> Ingestor:
    ingestor.fast_path_min_lines = 1
    return ingestor


def _rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = duckdb.connect(str(db), read_only=True)
    out = {}
    for table in ("logs", "metrics", "deployments"):
        rel = con.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in rel.description]
        rows = []
        for row in rel.fetchall():
            values = dict(zip(names, row, strict=True))
            # Key order in the stored JSON may differ; what a reader gets may not.
            values["attributes"] = (
                orjson.loads(values["attributes"]) if values["attributes"] else None
            )
            rows.append(tuple(sorted(values.items(), key=lambda kv: kv[0])))
        out[table] = sorted(rows, key=repr)
    con.close()
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_fast_and_slow_paths_store_the_same_rows_and_refuse_the_same_lines(
    tmp_path: Path, workers: int
) -> None:
    path = _file(tmp_path)
    slow = _ingest(path, tmp_path / "slow.duckdb", fast=False)
    fast = _ingest(path, tmp_path / "fast.duckdb", fast=True, workers=workers)
    assert fast == slow
    assert slow["rejected"] == len(BAD)
    assert slow["duplicates"] == 1
    assert slow["accepted"] == len(GOOD) - 1
    assert _rows(tmp_path / "fast.duckdb") == _rows(tmp_path / "slow.duckdb")


def test_the_fast_path_takes_plain_records_and_leaves_the_rest(tmp_path: Path) -> None:
    plain = [_line(log(i / 10, id=f"p{i}", pod="x", attributes={"a": i})) for i in range(50)]
    plain += [_line(metric(i / 10, i * 1.5, unit="ms")) for i in range(50)]
    plain += [_line(deployment(1, "2.0", author="ci"))]
    earliest, latest = _window().bounds().naive()
    result = ColumnarParser().parse(
        b"\n".join(plain + BAD) + b"\n", 1, earliest=earliest, latest=latest
    )
    assert result.slow and all(n > len(plain) for n, _ in result.slow)
    assert len(result.batch) == len(plain)


def test_future_and_expired_records_are_refused_with_a_reason(tmp_path: Path) -> None:
    store = DuckDBSignalStore(tmp_path / "s.duckdb", retention_days=14)
    ingestor = Ingestor(store, window=_window())
    ingestor.fast_path_min_lines = 1
    body = b"\n".join(
        [
            _line({**log(0), "timestamp": "2199-01-01T00:00:00Z"}),
            _line({**log(0), "timestamp": (NOW - timedelta(days=20)).isoformat()}),
            _line({**log(0), "timestamp": (NOW + timedelta(minutes=9)).isoformat()}),
        ]
    )
    for report in (
        ingestor.ingest_ndjson(body).as_dict(),
        ingestor.ingest_values([orjson.loads(x) for x in body.split(b"\n")]).as_dict(),
    ):
        reasons = [e["reason"] for e in report["errors"]]
        assert report["accepted"] == 1
        assert (
            "2199-01-01T00:00:00.000Z is more than 10 minutes ahead of the ingest clock"
            in reasons[0]
        )
        assert "older than the retention period (14 days" in reasons[1]
        assert "it would be deleted" in reasons[1]
    # The newest stored record, which detection's clock follows, is not the 2199 one.
    assert store.latest_timestamp() == NOW + timedelta(minutes=9)
    store.close()


def test_an_unbounded_window_takes_history_and_generated_futures(tmp_path: Path) -> None:
    store = DuckDBSignalStore(tmp_path / "s.duckdb", retention_days=0)
    ingestor = Ingestor(store, window=TimeWindow.unbounded())
    old = datetime(2001, 1, 1, tzinfo=UTC).isoformat()
    report = ingestor.ingest_ndjson(
        _line({**log(0), "timestamp": old})
        + b"\n"
        + _line({**log(0), "timestamp": "2199-01-01T00:00:00Z"})
    )
    assert (report.accepted, report.rejected) == (2, 0)
    store.close()


def test_bad_values_are_named(tmp_path: Path) -> None:
    store = DuckDBSignalStore(None, retention_days=0)
    ingestor = Ingestor(store, window=TimeWindow.unbounded())
    body = b"\n".join(
        [
            _line(log(0, service="svc\u0000x")),
            _line(metric(0, -2, name="http_requests_total")),
            b'{"type":"log","timestamp":"2026-11-23T00:00:00Z","service":"a\xffb",'
            b'"level":"INFO","message":"m"}',
        ]
    )
    reasons = [e["reason"] for e in ingestor.ingest_body(body).as_dict()["errors"]]
    assert reasons[0] == "service contains a control character (U+0000 at 4)"
    assert reasons[1] == "counter 'http_requests_total' must not be negative, got -2"
    assert reasons[2].startswith("invalid UTF-8 at byte 62")
    assert "surrogates" not in reasons[2]


def test_gzip_and_ingest_lines_use_the_same_path(tmp_path: Path) -> None:
    path = _file(tmp_path)
    expected = _ingest(path, tmp_path / "plain.duckdb", fast=True)
    gz = tmp_path / "mixed.ndjson.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    store = DuckDBSignalStore(tmp_path / "gz.duckdb", retention_days=14)
    with gzip.open(gz, "rb") as f:
        got = _fast(Ingestor(store, window=_window())).ingest_file(f, source="mixed").as_dict()
    store.close()
    assert got == expected
    store = DuckDBSignalStore(tmp_path / "lines.duckdb", retention_days=14)
    with path.open("rb") as f:
        lines = _fast(Ingestor(store, window=_window())).ingest_lines(f, source="mixed")
    lines = lines.as_dict()
    store.close()
    assert lines == expected
