"""Audit trail: the hash chain catches edits and deletions (SQLite and a real PostgreSQL),
concurrent appenders never fork it, exports verify offline and land in a real S3 server."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import re
import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from oasis.audit import (
    GENESIS_HASH,
    AuditError,
    AuditKind,
    AuditLog,
    AuditRecord,
    AuditSettings,
    record_hash,
    verify_jsonl,
)
from oasis.signals.model import utc_iso

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
KINDS = [AuditKind.INCIDENT_DETECTED, AuditKind.ANALYSIS_CONCLUDED,
         AuditKind.NOTIFICATION_SENT, AuditKind.APPROVAL_GRANTED, AuditKind.ACTION_EXECUTED]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def audit_log(db_url):
    log = AuditLog(db_url)
    yield log
    log.close()


@pytest.fixture
def sqlite_log(tmp_path):
    log = AuditLog(f"sqlite:///{tmp_path / 'state.db'}")
    yield log
    log.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill(log: AuditLog, n: int = 6) -> list[AuditRecord]:
    return [log.append(KINDS[i % len(KINDS)], "oasis" if i % 2 else "user:alice",
                       f"inc-{i % 2}", {"i": i, "score": 0.1 * i, "note": "naïve → ok",
                                        "when": T0 + timedelta(seconds=i), "tags": ("a", "b")},
                       at=T0 + timedelta(minutes=i, microseconds=123457))
            for i in range(n)]


def sql(log: AuditLog, statement: str, **params) -> None:
    with log.engine.begin() as conn:
        conn.execute(sa.text(statement), params)


def assert_caught(log: AuditLog, *phrases: str) -> list[str]:
    result = log.verify()
    assert not result.ok
    text = "\n".join(result.problems)
    for phrase in phrases:
        assert phrase in text, text
    return result.problems


# -- the chain -----------------------------------------------------------------------------
def test_appends_form_a_gapless_hash_chain_that_verifies(audit_log: AuditLog) -> None:
    written = fill(audit_log)
    assert [r.seq for r in written] == [1, 2, 3, 4, 5, 6]
    assert written[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(written):
        assert after.prev_hash == before.hash
    r = written[2]
    assert r.hash == record_hash(r.seq, utc_iso(r.at), r.kind, r.actor, r.subject, r.data,
                                 r.prev_hash)
    assert r.data["when"] == "2026-11-23T10:00:02.000Z" and r.data["tags"] == ["a", "b"]
    assert audit_log.records() == written  # read back exactly as hashed, times in UTC
    assert audit_log.records()[0].at.tzinfo is UTC
    result = audit_log.verify()
    assert result.ok and result.checked == 6 and result.problems == []
    assert result.head_hash == written[-1].hash == audit_log.head().last_hash


def test_records_filter_by_subject_kind_time_and_keep_the_newest(sqlite_log: AuditLog) -> None:
    fill(sqlite_log, 10)
    assert [r.seq for r in sqlite_log.records(subject="inc-1")] == [2, 4, 6, 8, 10]
    assert [r.seq for r in sqlite_log.records(kind="approval.granted")] == [4, 9]
    assert [r.seq for r in sqlite_log.records(kind="approval.*")] == [4, 9]
    assert [r.seq for r in sqlite_log.records(since=T0 + timedelta(minutes=7))] == [8, 9, 10]
    assert [r.seq for r in sqlite_log.records(limit=3)] == [8, 9, 10]
    assert [r.seq for r in sqlite_log.records(subject="inc-0", limit=2)] == [7, 9]


def test_bad_input_is_refused_with_a_reason_and_writes_nothing(sqlite_log: AuditLog) -> None:
    with pytest.raises(ValueError, match="kind"):
        sqlite_log.append("", "oasis", "inc-1")
    with pytest.raises(ValueError, match="time zone"):
        sqlite_log.append("incident.detected", "oasis", "inc-1", at=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="not JSON"):
        sqlite_log.append("incident.detected", "oasis", "inc-1", {"x": object()})
    with pytest.raises(ValueError, match="not JSON"):
        sqlite_log.append("incident.detected", "oasis", "inc-1", {"x": float("nan")})
    with pytest.raises(ValueError, match="limit"):
        sqlite_log.records(limit=0)
    with pytest.raises(AuditError, match="SQLite or PostgreSQL"):
        AuditLog.from_engine(sa.create_mock_engine("mysql://", executor=print))
    with pytest.raises(AuditError, match="invalid database URL"):
        AuditLog("nonsense://nowhere")
    assert sqlite_log.verify().checked == 0 and sqlite_log.head() is None


def test_from_engine_shares_the_incident_database(tmp_path: Path) -> None:
    from oasis.incidents import IncidentStore

    store = IncidentStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        AuditLog.from_engine(store.engine).append("incident.detected", "oasis", "inc-1")
        again = AuditLog(store.url)
        assert [r.subject for r in again.records()] == ["inc-1"]
        again.close()
    finally:
        store.close()


# -- tampering -----------------------------------------------------------------------------
def test_editing_a_record_names_its_seq(audit_log: AuditLog) -> None:
    fill(audit_log)
    sql(audit_log, "UPDATE audit_records SET data = :d WHERE seq = 3", d='{"i": 99}')
    problems = assert_caught(audit_log, "seq 3", "edited")
    assert len(problems) == 1


def test_editing_other_columns_or_breaking_the_json_is_caught(sqlite_log: AuditLog) -> None:
    fill(sqlite_log)
    sql(sqlite_log, "UPDATE audit_records SET actor = 'user:mallory' WHERE seq = 2")
    sql(sqlite_log, "UPDATE audit_records SET data = 'not json' WHERE seq = 5")
    assert_caught(sqlite_log, "seq 2: hash mismatch", "seq 5: data is not a JSON object")


def test_deleting_a_middle_record_is_caught(audit_log: AuditLog) -> None:
    fill(audit_log)
    sql(audit_log, "DELETE FROM audit_records WHERE seq IN (3, 4)")
    assert_caught(audit_log, "seq 3..4 missing")


def test_deleting_the_newest_records_is_caught_by_the_head(audit_log: AuditLog) -> None:
    fill(audit_log)
    sql(audit_log, "DELETE FROM audit_records WHERE seq = 6")
    assert_caught(audit_log, "seq 6 missing", "truncated")
    sql(audit_log, "DELETE FROM audit_records WHERE seq = 5")
    assert_caught(audit_log, "seq 5..6 missing")


def test_rewriting_one_record_with_a_matching_hash_breaks_the_next_link(
        audit_log: AuditLog) -> None:
    written = fill(audit_log)

    def rewrite(r: AuditRecord) -> None:
        data = {**r.data, "i": -1}
        forged = record_hash(r.seq, utc_iso(r.at), r.kind, r.actor, r.subject, data,
                             r.prev_hash)
        sql(audit_log, "UPDATE audit_records SET data = :d, hash = :h WHERE seq = :s",
            d=json.dumps(data), h=forged, s=r.seq)

    rewrite(written[2])
    problems = assert_caught(audit_log, "seq 4: prev_hash does not match")
    assert not any(p.startswith("seq 3") for p in problems)  # the forged row hashes fine
    rewrite(written[5])  # the newest has no next record: the head still knows its hash
    assert_caught(audit_log, "seq 6: its hash does not match the head")


def test_a_deleted_head_is_caught_and_appending_then_refuses(sqlite_log: AuditLog) -> None:
    fill(sqlite_log, 3)
    sql(sqlite_log, "DELETE FROM audit_head")
    assert_caught(sqlite_log, "head row is missing")
    with pytest.raises(AuditError, match="tampered"):
        sqlite_log.append("incident.detected", "oasis", "inc-9")


# -- concurrency ---------------------------------------------------------------------------
def test_concurrent_appends_from_threads_keep_one_chain(audit_log: AuditLog) -> None:
    def work(worker: int) -> None:
        for i in range(25):
            audit_log.append("action.executed", f"worker:{worker}", f"w{worker}", {"i": i})

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert_one_chain(audit_log, workers=4, each=25)


def _append_many(url: str, worker: int, count: int, barrier) -> None:
    log = AuditLog(url)
    try:
        barrier.wait(timeout=60)  # all processes start appending together
        for i in range(count):
            log.append("action.executed", f"worker:{worker}", f"w{worker}", {"i": i})
    finally:
        log.close()


def test_concurrent_appends_from_processes_keep_one_chain(db_url: str) -> None:
    AuditLog(db_url).close()  # tables exist before the race starts, as in production
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: no shared connections
    barrier = ctx.Barrier(3)
    procs = [ctx.Process(target=_append_many, args=(db_url, w, 40, barrier)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(90)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    log = AuditLog(db_url)
    try:
        assert_one_chain(log, workers=3, each=40)
    finally:
        log.close()


def assert_one_chain(log: AuditLog, workers: int, each: int) -> None:
    records = log.records()
    assert [r.seq for r in records] == list(range(1, workers * each + 1))
    for w in range(workers):  # every append landed once, in its writer's order
        assert [r.data["i"] for r in records if r.subject == f"w{w}"] == list(range(each))
    result = log.verify()
    assert result.ok, result.problems
    assert result.checked == workers * each


# -- export --------------------------------------------------------------------------------
def test_export_verifies_offline_and_tampered_files_are_caught(sqlite_log: AuditLog,
                                                               tmp_path: Path) -> None:
    written = fill(sqlite_log)
    path = tmp_path / "audit.jsonl"
    assert sqlite_log.export_jsonl(path) == 6
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["at"] == "2026-11-23T10:00:00.123457Z"
    result = verify_jsonl(path, head_hash=written[-1].hash)
    assert result.ok and result.checked == 6 and result.head_hash == written[-1].hash

    def tampered(new_lines: list[str]) -> list[str]:
        bad = tmp_path / "bad.jsonl"
        bad.write_text("\n".join(new_lines) + "\n", encoding="utf-8")
        found = verify_jsonl(bad, head_hash=written[-1].hash)
        assert not found.ok
        return found.problems

    edited = json.loads(lines[2])
    edited["data"]["i"] = 42
    assert "seq 3: hash mismatch" in tampered([*lines[:2], json.dumps(edited), *lines[3:]])[0]
    assert "seq 4 missing" in tampered(lines[:3] + lines[4:])[0]
    assert "cut off the end" in tampered(lines[:5])[0]
    assert "line 2: not valid JSON" in tampered([lines[0], "{oops", *lines[2:]])[0]


def test_incremental_export_links_to_the_previous_one(sqlite_log: AuditLog,
                                                      tmp_path: Path) -> None:
    written = fill(sqlite_log)
    part = tmp_path / "part.jsonl"
    assert sqlite_log.export_jsonl(part, since_seq=4) == 2
    assert verify_jsonl(part, prev_hash=written[3].hash).ok
    assert "seq 5: prev_hash" in verify_jsonl(part, prev_hash=written[2].hash).problems[0]
    with pytest.raises(AuditError, match="cannot write"):
        sqlite_log.export_jsonl(tmp_path / "no" / "such" / "dir.jsonl")


# -- CLI -----------------------------------------------------------------------------------
@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from typer.testing import CliRunner

    import oasis.cli.audit  # noqa: F401  (registers `oasis audit`)
    from oasis.cli.app import app

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    monkeypatch.setenv("OASIS_DATA_DIR", str(data_dir))
    log = AuditLog(f"sqlite:///{data_dir / 'state.db'}")
    runner = CliRunner()
    yield log, (lambda *args: runner.invoke(app, ["audit", *args]))
    log.close()


def test_cli_verify_reports_ok_then_each_problem(cli) -> None:
    log, run = cli
    written = fill(log, 4)
    ok = run("verify")
    assert ok.exit_code == 0 and "OK" in ok.output and "4 records" in ok.output
    assert written[-1].hash in ok.output
    sql(log, "UPDATE audit_records SET subject = 'inc-x' WHERE seq = 2")
    bad = run("verify")
    assert bad.exit_code == 1 and "seq 2: hash mismatch" in bad.output


def test_cli_export_and_verify_a_file(cli, tmp_path: Path) -> None:
    log, run = cli
    fill(log, 5)
    out = run("export", "--since", "2")
    assert out.exit_code == 0
    assert [json.loads(line)["seq"] for line in out.stdout.splitlines()] == [3, 4, 5]
    path = tmp_path / "export.jsonl"
    assert run("export", "--out", str(path)).exit_code == 0
    checked = run("verify", "--file", str(path))
    assert checked.exit_code == 0 and "5 records" in checked.output
    refused = run("export", "--s3")
    assert refused.exit_code == 2 and "s3_bucket" in refused.output


def test_cli_list_table_and_json(cli) -> None:
    log, run = cli
    fill(log, 6)
    table = run("list", "--subject", "inc-1", "--limit", "2")
    assert table.exit_code == 0
    assert "inc-1" in table.output and "inc-0" not in table.output
    as_json = run("list", "--kind", "approval.*", "--json")
    assert [r["seq"] for r in json.loads(as_json.stdout)] == [4]
    assert run("list").output.count("inc-") == 6
    assert "no audit records" in run("list", "--subject", "nobody").output


# -- S3 (the `s3_endpoint` fixture is in conftest.py) ---------------------------------


def test_export_to_s3_uploads_a_file_that_verifies(sqlite_log: AuditLog, s3_endpoint: str,
                                                   tmp_path: Path) -> None:
    import boto3

    settings = AuditSettings(s3_bucket="audit", s3_prefix="oasis-audit/",
                             s3_endpoint_url=s3_endpoint, s3_region="us-east-1")
    with pytest.raises(AuditError, match="nothing to export"):
        sqlite_log.export_s3(settings)
    written = fill(sqlite_log, 5)
    with pytest.raises(AuditError, match="NoSuchBucket"):
        sqlite_log.export_s3(settings)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="audit")

    uri = sqlite_log.export_s3(settings)
    match = re.fullmatch(r"s3://audit/(oasis-audit/audit-1-5-\d{8}T\d{6}Z\.jsonl)", uri)
    assert match, uri
    obj = client.get_object(Bucket="audit", Key=match.group(1))
    assert obj["Metadata"]["last-hash"] == written[-1].hash
    copy = tmp_path / "downloaded.jsonl"
    copy.write_bytes(obj["Body"].read())
    result = verify_jsonl(copy, head_hash=written[-1].hash)
    assert result.ok and result.checked == 5

    later = sqlite_log.export_s3(settings, since_seq=3)
    assert re.search(r"/audit-4-5-", later)


def test_cli_unreachable_database_exits_2_without_the_password(cli, monkeypatch) -> None:
    _, run = cli
    monkeypatch.setenv("OASIS_STATE_URL",
                       f"postgresql+psycopg://oasis:s3cret@127.0.0.1:{free_port()}/oasis")
    result = run("verify")
    assert result.exit_code == 2
    assert "cannot open the audit log" in result.output and "s3cret" not in result.output
