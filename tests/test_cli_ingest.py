"""`oasis ingest`: files, gzip, stdin, line numbers, exit codes, and --url to a live server."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from oasis.api import create_app
from oasis.cli import app
from oasis.config import Settings
from oasis.store import DuckDBSignalStore
from tests.helpers import deployment, log, metric, ndjson
from tests.servers import serving

runner = CliRunner()


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    # As the `settings` fixture: records on fixed days must not age out of a retention.
    return {"OASIS_DATA_DIR": str(settings.data_dir), "OASIS_STORE__RETENTION_DAYS": "0"}


def _count(settings: Settings, table: str) -> int:
    store = DuckDBSignalStore(settings.signal_store_path)
    try:
        return store.count(table)
    finally:
        store.close()


def test_ingest_file_reports_counts(tmp_path: Path, env, settings) -> None:
    path = tmp_path / "x.ndjson"
    path.write_bytes(ndjson(log(0), log(1, level="ERROR"), metric(0, 3.0), deployment(0, "1")))
    result = runner.invoke(app, ["ingest", str(path), "--json"], env=env)
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert (report["accepted"], report["rejected"]) == (4, 0)
    assert _count(settings, "logs") == 2


def test_gzip_and_stdin(tmp_path: Path, env, settings) -> None:
    gz = tmp_path / "x.ndjson.gz"
    gz.write_bytes(gzip.compress(ndjson(log(0), log(1))))
    assert runner.invoke(app, ["ingest", str(gz)], env=env).exit_code == 0
    result = runner.invoke(app, ["ingest", "-", "--json"], input=ndjson(log(2)), env=env)
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["accepted"] == 1
    assert _count(settings, "logs") == 3


def test_rejections_name_file_and_line_and_exit_1(tmp_path: Path, env, settings) -> None:
    path = tmp_path / "bad.ndjson"
    path.write_bytes(ndjson(log(0)) + b"\n" + b'{"type":"log"}\n' + ndjson(log(1)))
    result = runner.invoke(app, ["ingest", str(path)], env=env)
    assert result.exit_code == 1
    assert f"{path}:3: missing field 'timestamp'" in result.stdout
    assert _count(settings, "logs") == 2


def test_missing_file_is_a_clear_error(tmp_path: Path, env) -> None:
    result = runner.invoke(app, ["ingest", str(tmp_path / "nope.ndjson")], env=env)
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


def test_bad_config_file_is_a_clear_error(tmp_path: Path, env) -> None:
    cfg = tmp_path / "oasis.yaml"
    cfg.write_text("store:\n  retention_dayz: 3\n")
    result = runner.invoke(app, ["--config", str(cfg), "ingest", "-"], input=b"", env=env)
    assert result.exit_code == 2
    assert "store.retention_dayz" in result.stderr


def test_same_file_over_http_gives_same_counts(tmp_path: Path, env, settings) -> None:
    docs = [log(i / 60, id=f"l{i}") for i in range(3000)] + [{"type": "log"}, metric(0, 1.0)]
    path = tmp_path / "x.ndjson"
    path.write_bytes(ndjson(*docs))
    local = orjson.loads(runner.invoke(app, ["ingest", str(path), "--json"], env=env).stdout)

    remote_settings = Settings(data_dir=tmp_path / "remote")
    with serving(create_app(remote_settings)) as url:
        result = runner.invoke(app, ["ingest", str(path), "--url", url, "--json"], env=env)
        again = runner.invoke(app, ["ingest", str(path), "--url", url, "--json"], env=env)
    remote = orjson.loads(result.stdout)
    assert remote == local
    assert (remote["accepted"], remote["rejected"], remote["errors"][0]["line"]) == (3001, 1, 3001)
    assert orjson.loads(again.stdout)["duplicates"] == 3000


def test_parallel_file_ingest_keeps_line_numbers_and_ids(tmp_path: Path, settings) -> None:
    from oasis.ingest import Ingestor, TimeWindow

    docs: list = []
    for i in range(400):
        docs.append(log(i / 60, id=f"id-{i % 350}"))  # the last 50 repeat earlier ids
        if i % 97 == 0:
            docs.append({"type": "log", "timestamp": "2026-11-23T00:00:00"})
    path = tmp_path / "x.ndjson"
    path.write_bytes(ndjson(*docs) + b"\n\n" + ndjson(metric(0, 1.0)))
    store = DuckDBSignalStore(settings.signal_store_path)
    # The reference: one line at a time, no fast path, no threads.
    serial = Ingestor(DuckDBSignalStore(None), batch_size=64, fast_path=False,
                      window=TimeWindow.unbounded())
    parallel = Ingestor(store, batch_size=64, workers=2, window=TimeWindow.unbounded())
    parallel.block_bytes = 2000  # many blocks, lines cut at block edges
    with path.open("rb") as f:
        expected = serial.ingest_file(f)
    with path.open("rb") as f:
        got = parallel.ingest_file(f)
    store.close()
    assert got.as_dict() == expected.as_dict()
    assert (got.accepted, got.duplicates, got.rejected) == (351, 50, 5)
    assert [e.line for e in got.errors] == [2, 100, 198, 296, 394]
