"""Keyed audit trail and anchors (issue 18 item 7): links are HMACs with a key kept outside the
database, rotation keeps old records verifiable, legacy SHA-256 records still verify, and
verify against signed anchors catches what the chain alone cannot: every row rewritten and
re-hashed, the tail deleted with the head moved back, both tables emptied. SQLite and a real
PostgreSQL; the CLI; anchors in a real (moto) S3 server."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from oasis.audit import (
    GENESIS_HASH,
    AnchorCheck,
    AuditError,
    AuditKeys,
    AuditLog,
    AuditRecord,
    AuditSettings,
    anchor,
    key_id,
    load_check,
    read_anchors,
    record_hash,
    record_link,
    verify_jsonl,
)
from oasis.audit.anchors import ChainBroken, signed_anchor, write_anchor
from oasis.signals.model import utc_iso

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
ATTACKER_KEY = "f" * 64


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def keys(tmp_path: Path) -> AuditKeys:
    return AuditKeys(tmp_path / "keys" / "audit.keys")


@pytest.fixture
def log(db_url: str, keys: AuditKeys):
    opened = AuditLog(db_url, keys=keys)
    yield opened
    opened.close()


def fill(log: AuditLog, n: int = 6, start: int = 0) -> list[AuditRecord]:
    return [log.append("action.executed", "user:alice", f"act-{i}", {"i": i, "note": "naïve"},
                       at=T0 + timedelta(minutes=i, microseconds=123457))
            for i in range(start, start + n)]


def sql(log: AuditLog, statement: str, **params) -> None:
    with log.engine.begin() as conn:
        conn.execute(sa.text(statement), params)


def stored(log: AuditLog) -> list[AuditRecord]:
    return log.records()


def rewrite_all(log: AuditLog, link) -> None:
    """Edit record 1 and recompute every link and the head, as someone with write access to
    the whole database would: `link(record, data, prev_hash)` -> (hash, key_id)."""
    prev = GENESIS_HASH
    for r in stored(log):
        data = {**r.data, "note": "forged"} if r.seq == 1 else r.data
        new_hash, kid = link(r, data, prev)
        sql(log, "UPDATE audit_records SET data = :d, prev_hash = :p, hash = :h, key_id = :k "
                 "WHERE seq = :s", d=json.dumps(data), p=prev, h=new_hash, k=kid, s=r.seq)
        prev = new_hash
    sql(log, "UPDATE audit_head SET last_hash = :h", h=prev)


def plain_sha256(r: AuditRecord, data: dict, prev: str) -> tuple[str, str]:
    return record_hash(r.seq, utc_iso(r.at), r.kind, r.actor, r.subject, data, prev), ""


def sha256_keeping_key_ids(r: AuditRecord, data: dict, prev: str) -> tuple[str, str]:
    return plain_sha256(r, data, prev)[0], r.key_id


def attackers_own_key(r: AuditRecord, data: dict, prev: str) -> tuple[str, str]:
    kid = key_id(ATTACKER_KEY)
    return record_link(r.seq, utc_iso(r.at), r.kind, r.actor, r.subject, data, prev, kid,
                       ATTACKER_KEY), kid


def with_the_key(keys: AuditKeys):
    kid, key = keys.current()

    def link(r: AuditRecord, data: dict, prev: str) -> tuple[str, str]:
        return record_link(r.seq, utc_iso(r.at), r.kind, r.actor, r.subject, data, prev, kid,
                           key), kid
    return link


def anchors_file(tmp_path: Path) -> str:
    return str(tmp_path / "elsewhere" / "anchors.jsonl")


def caught(log: AuditLog, keys: AuditKeys, target: str, *phrases: str) -> list[str]:
    result = log.verify(anchors=load_check(target, keys))
    assert not result.ok
    text = "\n".join(result.problems)
    for phrase in phrases:
        assert phrase in text, text
    return result.problems


# -- keyed links ---------------------------------------------------------------------------
def test_links_are_hmacs_with_a_key_file_made_0600_on_first_use(log: AuditLog,
                                                                keys: AuditKeys) -> None:
    assert not keys.path.exists()
    written = fill(log)
    assert stat.S_IMODE(keys.path.stat().st_mode) == 0o600
    kid, key = keys.current()
    assert kid == key_id(key) and len(kid) == 12 and key not in kid
    r = written[3]
    assert r.key_id == kid
    assert r.hash == record_link(r.seq, utc_iso(r.at), r.kind, r.actor, r.subject, r.data,
                                 r.prev_hash, kid, key)
    assert r.hash != record_hash(r.seq, utc_iso(r.at), r.kind, r.actor, r.subject, r.data,
                                 r.prev_hash)
    assert stored(log) == written
    with log.engine.connect() as conn:  # the key is nowhere in the database
        dump = json.dumps([list(row) for row in conn.execute(
            sa.text("SELECT * FROM audit_records"))], default=str)
    assert key not in dump
    result = log.verify()
    assert result.ok and result.checked == 6 and result.unkeyed == 0, result.problems


def test_without_the_key_keyed_records_cannot_be_checked(log: AuditLog, db_url: str) -> None:
    fill(log, 3)
    blind = AuditLog(db_url, keys=AuditKeys.of(ATTACKER_KEY))
    try:
        problems = blind.verify().problems
    finally:
        blind.close()
    assert len(problems) == 1 and "seq 1: linked with audit key" in problems[0]
    assert "not in the keyring: 3 record(s)" in problems[0]


def test_an_attacker_without_the_key_cannot_forge_even_one_row(log: AuditLog) -> None:
    fill(log)
    rewrite_all(log, sha256_keeping_key_ids)  # plain SHA-256, key ids left as they were
    problems = log.verify().problems
    assert problems[0].startswith("seq 1: hash mismatch") and len(problems) == 6
    rewrite_all(log, attackers_own_key)  # a valid HMAC, with a key not in the keyring
    assert "seq 1: linked with audit key" in log.verify().problems[0]


def test_downgrading_keyed_records_to_plain_sha256_is_caught(log: AuditLog,
                                                             db_url: str) -> None:
    fill(log, 3)
    unkeyed = AuditLog(db_url)  # a writer without keys, appending after keyed records
    try:
        unkeyed.append("action.executed", "oasis", "act-9")
    finally:
        unkeyed.close()
    assert "seq 4: unkeyed (plain SHA-256) after keyed records from seq 1" in \
        log.verify().problems[0]


# -- the three attacks, against anchors ----------------------------------------------------
@pytest.mark.parametrize("forge", [plain_sha256, sha256_keeping_key_ids, attackers_own_key,
                                   "key holder"])
def test_rewriting_every_row_and_recomputing_fails_against_the_anchors(
        log: AuditLog, keys: AuditKeys, tmp_path: Path, forge) -> None:
    target = anchors_file(tmp_path)
    fill(log)
    assert anchor(log, keys, target).seq == 6
    rewrite_all(log, with_the_key(keys) if forge == "key holder" else forge)
    problems = caught(log, keys, target, "seq 6: its hash is not the one the anchor of")
    assert problems[-1].startswith("seq 6"), problems
    if forge == "key holder":  # a consistent chain: only the anchors know
        assert log.verify().ok
    elif forge == plain_sha256:  # a consistent unkeyed chain: the key file knows, too
        assert "seq 1: unkeyed (plain SHA-256), but the key file says records are keyed " \
            "from seq 1" in log.verify().problems[0]


def test_deleting_the_tail_and_moving_the_head_back_fails_against_the_anchors(
        log: AuditLog, keys: AuditKeys, tmp_path: Path) -> None:
    target = anchors_file(tmp_path)
    written = fill(log)
    anchor(log, keys, target)
    sql(log, "DELETE FROM audit_records WHERE seq = 6")
    sql(log, "UPDATE audit_head SET count = 5, last_seq = 5, last_hash = :h",
        h=written[4].hash)
    assert log.verify().ok  # the chain and the head agree: nothing inside the database tells
    problems = caught(log, keys, target, "seq 6 missing at the end", "tail truncated")
    assert len(problems) == 1
    sql(log, "DELETE FROM audit_records WHERE seq >= 4")
    sql(log, "UPDATE audit_head SET count = 3, last_seq = 3, last_hash = :h",
        h=written[2].hash)
    caught(log, keys, target, "seq 4..6 missing at the end")


def test_emptying_both_tables_fails_against_the_anchors(log: AuditLog, keys: AuditKeys,
                                                        tmp_path: Path) -> None:
    target = anchors_file(tmp_path)
    fill(log)
    anchor(log, keys, target)
    sql(log, "DELETE FROM audit_records")
    sql(log, "DELETE FROM audit_head")
    assert log.verify().ok and log.verify().checked == 0
    problems = caught(log, keys, target, "holds no records", "saw seq 1..6",
                      "every record was deleted")
    assert len(problems) == 1


def test_every_anchor_is_held_not_only_the_newest(log: AuditLog, keys: AuditKeys,
                                                  tmp_path: Path) -> None:
    target = anchors_file(tmp_path)
    fill(log, 3)
    anchor(log, keys, target)
    fill(log, 3, start=3)
    anchor(log, keys, target)
    sql(log, "DELETE FROM audit_records WHERE seq = 3")
    caught(log, keys, target, "seq 3 missing before seq 4",
           "seq 3 is missing, though the anchor of")
    result = log.verify(anchors=load_check(target, keys))
    assert (result.anchors, result.anchored_seq) == (2, 6)


# -- anchors -------------------------------------------------------------------------------
def test_anchoring_appends_a_signed_line_and_never_rewrites(log: AuditLog, keys: AuditKeys,
                                                            tmp_path: Path) -> None:
    target = anchors_file(tmp_path)
    assert anchor(log, keys, target) is None and not Path(target).exists()  # empty log
    written = fill(log, 4)
    first = anchor(log, keys, target, at=T0)
    before, inode = Path(target).read_bytes(), Path(target).stat().st_ino
    fill(log, 2, start=4)
    second = anchor(log, keys, target)
    after = Path(target).read_bytes()
    assert after.startswith(before) and Path(target).stat().st_ino == inode
    lines = after.decode().splitlines()
    assert len(lines) == 2
    line = json.loads(lines[0])
    assert line == {"seq": 4, "hash": written[3].hash, "count": 4,
                    "at": "2026-11-23T10:00:00.000Z", "key_id": keys.current()[0],
                    "signature": first.signature}
    assert second.seq == 6 and first.where == second.where == target
    assert [a.seq for a in read_anchors(target)[0]] == [4, 6]
    result = log.verify(anchors=load_check(target, keys))
    assert result.ok and result.anchors == 2 and result.anchored_seq == 6


def test_forged_altered_or_backward_anchors_are_problems(log: AuditLog, keys: AuditKeys,
                                                         tmp_path: Path) -> None:
    target = Path(anchors_file(tmp_path))
    written = fill(log)
    anchor(log, keys, str(target))
    good = target.read_text()
    altered = json.loads(good)
    altered["seq"], altered["hash"] = 2, written[1].hash
    forged = signed_anchor(6, "0" * 64, 6, AuditKeys.of(ATTACKER_KEY))
    behind = signed_anchor(3, written[2].hash, 3, keys)
    target.write_text(good + json.dumps(altered) + "\n" + forged.to_json() + "\n{oops\n"
                      + behind.to_json() + "\n")
    problems = caught(log, keys, str(target), "line 2): its signature does not verify",
                      "line 3): signed with audit key", "anchor at line 4: not valid JSON",
                      "line 5) is at seq 3, behind the anchor of")
    assert len(problems) == 4  # the rejected anchors are not held against the chain
    with pytest.raises(AuditError, match="no anchors file"):
        load_check(str(tmp_path / "missing.jsonl"), keys)


def test_anchor_refuses_a_chain_that_does_not_verify(log: AuditLog, keys: AuditKeys,
                                                     tmp_path: Path) -> None:
    target = anchors_file(tmp_path)
    written = fill(log)
    anchor(log, keys, target)
    sql(log, "DELETE FROM audit_records WHERE seq = 6")  # truncated, head moved back
    sql(log, "UPDATE audit_head SET count = 5, last_seq = 5, last_hash = :h",
        h=written[4].hash)
    with pytest.raises(ChainBroken, match="seq 6 missing at the end"):
        anchor(log, keys, target)  # the earlier anchor catches it: no new anchor vouches
    assert len(Path(target).read_text().splitlines()) == 1


# -- rotation and legacy records -----------------------------------------------------------
def test_rotation_keeps_old_records_and_anchors_verifiable(log: AuditLog, keys: AuditKeys,
                                                           tmp_path: Path) -> None:
    target = anchors_file(tmp_path)
    fill(log, 3)
    old = keys.current()[0]
    anchor(log, keys, target)
    new = AuditKeys(keys.path).rotate()  # another process (the CLI) rotates the file
    assert new != old and keys.ids() == [new, old]
    assert keys.keyed_from == 1  # rotation keeps the note of the first keyed seq
    fill(log, 3, start=3)  # the same long-lived log picks the new key up
    anchor(log, keys, target)
    assert [r.key_id for r in stored(log)] == [old] * 3 + [new] * 3
    assert [a.key_id for a in read_anchors(target)[0]] == [old, new]
    result = log.verify(anchors=load_check(target, keys))
    assert result.ok and result.checked == 6, result.problems
    assert stat.S_IMODE(keys.path.stat().st_mode) == 0o600
    # dropping the retired key makes its records and anchors uncheckable: keep it
    keys.path.write_text("\n".join(line for line in keys.path.read_text().splitlines()
                                   if not line.startswith(old)) + "\n")
    caught(log, keys, target, f"seq 1: linked with audit key {old}",
           f"signed with audit key {old}, which is not in the keyring")


def test_legacy_records_from_before_keys_still_verify(db_url: str, keys: AuditKeys,
                                                      tmp_path: Path) -> None:
    old = AuditLog(db_url)  # the trail as written before this change: no keys
    written = fill(old, 3)
    sql(old, "ALTER TABLE audit_records DROP COLUMN key_id")  # and the old schema
    old.close()
    assert written[0].key_id == "" and written[0].hash == record_hash(
        1, utc_iso(written[0].at), written[0].kind, written[0].actor, written[0].subject,
        written[0].data, GENESIS_HASH)
    upgraded = AuditLog(db_url, keys=keys)  # adds the column, empty for the old rows
    try:
        assert stored(upgraded) == written
        fill(upgraded, 2, start=3)
        result = upgraded.verify()
        assert result.ok and result.checked == 5 and result.unkeyed == 3, result.problems
        assert [r.key_id for r in stored(upgraded)][2:] == ["", keys.current()[0],
                                                            keys.current()[0]]
        target = anchors_file(tmp_path)
        anchor(upgraded, keys, target)
        assert keys.keyed_from == 4 and "keyed-from: 4" in keys.path.read_text()
        rewrite_all(upgraded, plain_sha256)  # legacy rows can be recomputed: anchors tell
        caught(upgraded, keys, target, "seq 5: its hash is not the one")
        # and so does the key file, for the records written after the upgrade
        assert "seq 4: unkeyed (plain SHA-256), but the key file says records are keyed " \
            "from seq 4" in upgraded.verify().problems[0]
    finally:
        upgraded.close()


def test_exports_of_keyed_records_verify_offline_with_the_key(log: AuditLog, keys: AuditKeys,
                                                              tmp_path: Path) -> None:
    written = fill(log, 4)
    path = tmp_path / "audit.jsonl"
    log.export_jsonl(path)
    assert json.loads(path.read_text().splitlines()[0])["key_id"] == keys.current()[0]
    assert verify_jsonl(path, keys=keys, head_hash=written[-1].hash).ok
    assert "not in the keyring" in verify_jsonl(path).problems[0]


def test_a_key_file_that_cannot_be_written_is_not_marked_and_nothing_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import oasis.audit.keys as keys_module

    path = tmp_path / "audit.keys"
    path.write_text("a" * 64 + "\n")  # e.g. a mounted secret, read-only

    def read_only(*_args) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(keys_module, "_write", read_only)
    log = AuditLog(f"sqlite:///{tmp_path / 'state.db'}", keys=AuditKeys(path))
    try:
        fill(log, 2)
        assert log.verify().ok and log.keys.keyed_from is None
    finally:
        log.close()


def test_key_file_and_variable(tmp_path: Path) -> None:
    path = tmp_path / "audit.keys"
    path.write_text("# comment\n\n" + "a" * 40 + "\nnot-its-id: " + "b" * 40 + "\n")
    path.chmod(0o644)
    ring = AuditKeys(path, create=False)
    assert ring.ids() == [key_id("a" * 40), key_id("b" * 40)]
    assert ring.secret(key_id("b" * 40)) == "b" * 40 and ring.secret("nope") is None
    assert any("not this key's id" in w for w in ring.warnings)
    assert any("readable by others" in w for w in ring.warnings)
    env = AuditKeys(path, "c" * 40, create=False)
    assert env.current() == (key_id("c" * 40), "c" * 40)
    assert env.ids()[1:] == ring.ids()  # the file still supplies the retired keys
    with pytest.raises(AuditError, match="OASIS_AUDIT__KEY"):
        env.rotate()
    with pytest.raises(AuditError, match="at least 32 characters"):
        AuditKeys(path, "short")
    with pytest.raises(AuditError, match="no audit key"):
        AuditKeys(tmp_path / "none.keys", create=False).current()
    assert not (tmp_path / "none.keys").exists()  # verifying never makes a key


# -- CLI -----------------------------------------------------------------------------------
@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from typer.testing import CliRunner

    import oasis.cli.audit  # noqa: F401  (registers `oasis audit`)
    from oasis.cli.app import app

    data_dir = tmp_path / "data"
    monkeypatch.setenv("OASIS_DATA_DIR", str(data_dir))
    for name in ("OASIS_AUDIT__KEY", "OASIS_AUDIT__KEY_FILE", "OASIS_AUDIT__ANCHORS",
                 "OASIS_STATE_URL", "OASIS_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()
    return data_dir, (lambda *args: runner.invoke(app, ["audit", *args]))


def open_log(data_dir: Path) -> AuditLog:
    data_dir.mkdir(exist_ok=True)
    return AuditLog(f"sqlite:///{data_dir / 'state.db'}",
                    keys=AuditKeys(data_dir / "audit.keys"))


def test_cli_on_a_fresh_data_dir_there_is_nothing_yet(cli) -> None:
    data_dir, run = cli
    for args, said in ((["verify"], "nothing to verify yet"),
                       (["anchor"], "nothing to anchor yet"),
                       (["list"], "no audit records")):
        result = run(*args)
        assert result.exit_code == 0 and said in result.output, result.output
    assert not data_dir.exists()  # reading made nothing, not even the directory
    open_log(data_dir).close()  # tables, no records
    empty = run("verify")
    assert empty.exit_code == 0 and "nothing to verify yet: the audit log is empty" in \
        empty.output


@pytest.mark.parametrize("attack", ["rewrite", "truncate", "empty"])
def test_cli_verify_fails_against_anchors_for_each_attack(cli, tmp_path: Path,
                                                          attack: str) -> None:
    data_dir, run = cli
    log = open_log(data_dir)
    try:
        written = fill(log)
        elsewhere = tmp_path / "other-volume" / "anchors.jsonl"
        for to in ([], ["--to", str(elsewhere)]):
            anchored = run("anchor", *to)
            assert anchored.exit_code == 0 and "anchored seq 6" in anchored.output
        ok = run("verify")  # the default anchors file is used when it exists
        assert ok.exit_code == 0 and "anchors: 1 checked, the newest at seq 6" in ok.output
        if attack == "rewrite":
            rewrite_all(log, with_the_key(log.keys))
        elif attack == "truncate":
            sql(log, "DELETE FROM audit_records WHERE seq = 6")
            sql(log, "UPDATE audit_head SET count = 5, last_seq = 5, last_hash = :h",
                h=written[4].hash)
        else:
            sql(log, "DELETE FROM audit_records")
            sql(log, "DELETE FROM audit_head")
    finally:
        log.close()
    expected = {"rewrite": "seq 6: its hash is not the one", "truncate":
                "seq 6 missing at the end", "empty": "every record was deleted"}[attack]
    for args in (["verify"], ["verify", "--anchors", str(elsewhere)]):
        result = run(*args)
        assert result.exit_code == 1 and expected in result.output, result.output
        assert "FAILED" in result.output
    refused = run("anchor")
    assert refused.exit_code == 1 and "NOT ANCHORED" in refused.output


def test_cli_rotate_key_and_key_from_the_environment(cli, monkeypatch) -> None:
    data_dir, run = cli
    log = open_log(data_dir)
    try:
        fill(log, 2)
        first = log.keys.current()[0]
        rotated = run("rotate-key")
        assert rotated.exit_code == 0 and "new audit key" in rotated.output
        assert f"retired (keep them, older records need them): {first}" in rotated.output
        secret = log.keys.current()[1]
        assert secret not in rotated.output
        fill(log, 2, start=2)
        assert run("anchor").exit_code == 0
        assert run("verify").exit_code == 0
        monkeypatch.setenv("OASIS_AUDIT__KEY", "e" * 64)
        refused = run("rotate-key")
        assert refused.exit_code == 2 and "OASIS_AUDIT__KEY" in refused.output
        assert run("verify").exit_code == 0  # the file's keys still check older records
        monkeypatch.setenv("OASIS_AUDIT__KEY", "short")
        assert run("verify").exit_code == 2
    finally:
        log.close()


def test_cli_missing_anchors_file_given_explicitly_exits_2(cli, tmp_path: Path) -> None:
    data_dir, run = cli
    log = open_log(data_dir)
    try:
        fill(log, 2)
    finally:
        log.close()
    result = run("verify", "--anchors", str(tmp_path / "nowhere.jsonl"))
    assert result.exit_code == 2 and "no anchors file" in result.output


# -- S3 (the `s3_endpoint` fixture is in conftest.py) ---------------------------------


def test_anchors_in_s3_are_one_object_each_and_catch_truncation(
        tmp_path: Path, keys: AuditKeys, s3_endpoint: str) -> None:
    import boto3

    settings = AuditSettings(s3_endpoint_url=s3_endpoint, s3_region="us-east-1")
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="anchors")
    target = "s3://anchors/oasis/prod"
    log = AuditLog(f"sqlite:///{tmp_path / 'state.db'}", keys=keys)
    try:
        written = fill(log, 3)
        first = anchor(log, keys, target, settings)
        assert first.where.startswith("s3://anchors/oasis/prod/anchor-")
        fill(log, 2, start=3)
        anchor(log, keys, target, settings)
        objects = client.list_objects_v2(Bucket="anchors")["Contents"]
        assert len(objects) == 2
        check = load_check(target, keys, settings)
        assert isinstance(check, AnchorCheck) and check.summary() == (2, 5)
        assert log.verify(anchors=check).ok
        sql(log, "DELETE FROM audit_records WHERE seq >= 4")
        sql(log, "UPDATE audit_head SET count = 3, last_seq = 3, last_hash = :h",
            h=written[2].hash)
        problems = log.verify(anchors=load_check(target, keys, settings)).problems
        assert problems and "seq 4..5 missing at the end" in problems[0]
        with pytest.raises(AuditError, match="NoSuchBucket"):
            write_anchor(first, "s3://no-such-bucket/x/", settings)
    finally:
        log.close()


def test_the_anchors_file_is_opened_append_only(tmp_path: Path, keys: AuditKeys) -> None:
    target = tmp_path / "a.jsonl"
    a = signed_anchor(1, "1" * 64, 1, keys, T0)
    write_anchor(a, str(target))
    target.chmod(0o444)  # made read-only (or `chattr +a`): appending must not truncate
    if os.geteuid() != 0:
        with pytest.raises(AuditError, match="cannot append"):
            write_anchor(a, str(target))
    target.chmod(0o644)
    write_anchor(a, str(target))
    assert target.read_text().count("\n") == 2
