"""The hash chain: how one audit record is linked and how a sequence of them is checked.

Each record's hash covers its own fields and the previous record's hash, so editing a record
changes its hash, and re-computing that hash breaks the next record's link. A record with a
`key_id` is linked with an HMAC-SHA256 keyed with that audit key (oasis.audit.keys), so only
someone holding the key can recompute it; records with an empty `key_id` were written before
audit keys existed and keep their plain SHA-256 link. The same checker verifies the database
and an exported JSONL file, so an export can be checked offline.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from oasis.signals.model import utc_iso
from oasis.signals.signing import sign_body, verify_body

GENESIS_HASH = "0" * 64
"""The `prev_hash` of record 1: nothing came before it."""
MAX_PROBLEMS = 100
"""Problems listed one by one; past that they are counted (a rewritten trail has millions)."""


class AuditError(RuntimeError):
    """The audit log cannot do what was asked; the message says why."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One entry of the audit trail, exactly as hashed."""

    seq: int
    at: datetime
    kind: str
    actor: str
    subject: str
    data: dict[str, Any]
    prev_hash: str
    hash: str
    key_id: str = ""  # the audit key its link is keyed with; "" = plain SHA-256 (legacy)

    def to_dict(self) -> dict[str, Any]:
        """The wire form, hashes included, so it can be verified without the database."""
        return {"seq": self.seq, "at": utc_iso(self.at), "kind": self.kind, "actor": self.actor,
                "subject": self.subject, "data": self.data, "prev_hash": self.prev_hash,
                "hash": self.hash, "key_id": self.key_id}


@dataclass(frozen=True, slots=True)
class AuditHead:
    """The newest record as of the last append: what tail truncation cannot fake."""

    count: int
    last_seq: int
    last_hash: str


class KeyLookup(Protocol):
    """What the checker needs of a keyring (`oasis.audit.keys.AuditKeys`)."""

    def secret(self, kid: str) -> str | None: ...

    @property
    def keyed_from(self) -> int | None: ...


@dataclass(slots=True)
class VerifyResult:
    """What a verification found. `ok` only when there are no problems."""

    ok: bool
    checked: int
    problems: list[str] = field(default_factory=list)
    last_seq: int = 0
    head_hash: str | None = None  # hash of the last record checked: the anchor to keep
    unkeyed: int = 0  # records with a plain SHA-256 link (written before audit keys)
    anchors: int = 0  # anchors the chain was checked against
    anchored_seq: int = 0  # the newest anchor's seq


def canonical_json(value: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 as is: one text for one value, on every machine."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def record_hash(seq: int, at: str, kind: str, actor: str, subject: str,
                data: dict[str, Any], prev_hash: str) -> str:
    """SHA-256 of the canonical JSON of a record's fields; `at` is its ISO 8601 Z text."""
    body = {"seq": seq, "at": at, "kind": kind, "actor": actor, "subject": subject,
            "data": data, "prev_hash": prev_hash}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def _keyed_body(seq: int, at: str, kind: str, actor: str, subject: str, data: dict[str, Any],
                prev_hash: str, key_id: str) -> bytes:
    return canonical_json({"seq": seq, "at": at, "kind": kind, "actor": actor,
                           "subject": subject, "data": data, "prev_hash": prev_hash,
                           "key_id": key_id}).encode("utf-8")


def record_link(seq: int, at: str, kind: str, actor: str, subject: str, data: dict[str, Any],
                prev_hash: str, key_id: str, key: str) -> str:
    """HMAC-SHA256 (hex), keyed with `key`, of the canonical JSON of a record's fields and
    `key_id`: what only the key's holder can compute."""
    body = _keyed_body(seq, at, kind, actor, subject, data, prev_hash, key_id)
    return sign_body(key, body).removeprefix("sha256=")


def normalize_data(data: dict[str, Any] | None) -> dict[str, Any]:
    """`data` as it reads back from JSON, so the hash written is the hash re-computed.

    Times become ISO 8601 Z text, enums their values, tuples lists, keys strings. Anything
    else that JSON cannot hold (objects, NaN, naive times) is a ValueError naming it.
    """
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"audit data must be a dict, not {type(data).__name__}")
    try:
        text = json.dumps(data, default=_jsonable, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"audit data is not JSON: {exc}") from None
    return json.loads(text)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} in audit data; use UTC")
        return utc_iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} value {value!r} cannot be stored")


class ChainChecker:
    """Fed records in order; collects every break in the chain, naming the seq.

    With `keys`, keyed links are re-computed with the key each record names; without the
    key a keyed record cannot be checked, which is itself a problem. A record with a plain
    SHA-256 link after a keyed one is a downgrade: someone without the key rewrote it.
    """

    def __init__(self, prev_hash: str | None = GENESIS_HASH, first_seq: int | None = 1,
                 keys: KeyLookup | None = None) -> None:
        # None: unknown (a partial export) - the first record is then taken as it is.
        self.expected_seq = first_seq
        self.last_hash = prev_hash
        self.last_seq = 0
        self.checked = 0
        self.unkeyed = 0
        self.keys = keys
        self.keyed_since: int | None = None
        self.keyed_from = keys.keyed_from if keys is not None else None
        self.unknown_keys: dict[str, list[int]] = {}  # key id -> [first seq, count]
        self._secrets: dict[str, str | None] = {}
        self.problems: list[str] = []
        self.more = 0

    def add(self, problem: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)
        else:
            self.more += 1

    def check(self, seq: int, at: str, kind: str, actor: str, subject: str,
              data: dict[str, Any] | None, prev_hash: str, stored_hash: str,
              key_id: str = "") -> None:
        """Check one record; `data` None means it could not be decoded (already reported)."""
        gap = self.expected_seq is not None and seq != self.expected_seq
        if gap:
            self.add(_gap(self.expected_seq, seq))
        if seq == 1 and prev_hash != GENESIS_HASH:
            self.add("seq 1: prev_hash is not the genesis hash (64 zeros)")
        elif not gap and self.last_hash is not None and prev_hash != self.last_hash:
            before = f"seq {seq - 1}'s hash" if self.checked else "the expected previous hash"
            self.add(f"seq {seq}: prev_hash does not match {before}: the record before it "
                     f"was replaced or the chain was re-linked")
        if data is not None:
            self._check_link(seq, at, kind, actor, subject, data, prev_hash, stored_hash,
                             key_id)
        self.expected_seq = seq + 1
        self.last_seq = seq
        self.last_hash = stored_hash
        self.checked += 1

    def _check_link(self, seq: int, at: str, kind: str, actor: str, subject: str,
                    data: dict[str, Any], prev_hash: str, stored: str, key_id: str) -> None:
        if not key_id:
            self.unkeyed += 1
            if self.keyed_since is not None:
                self.add(f"seq {seq}: unkeyed (plain SHA-256) after keyed records from seq "
                         f"{self.keyed_since}: it was rewritten by someone without the key")
            elif self.keyed_from is not None and seq >= self.keyed_from:
                self.add(f"seq {seq}: unkeyed (plain SHA-256), but the key file says records "
                         f"are keyed from seq {self.keyed_from}: it was rewritten by someone "
                         f"without the key")
            elif record_hash(seq, at, kind, actor, subject, data, prev_hash) != stored:
                self.add(f"seq {seq}: hash mismatch: the record was edited after it was "
                         f"written")
            return
        if self.keyed_since is None:
            self.keyed_since = seq
        if key_id not in self._secrets:  # one keyring look-up per key, not per record
            self._secrets[key_id] = self.keys.secret(key_id) if self.keys is not None else None
        key = self._secrets[key_id]
        if key is None:
            seen = self.unknown_keys.setdefault(key_id, [seq, 0])
            seen[1] += 1
            return
        body = _keyed_body(seq, at, kind, actor, subject, data, prev_hash, key_id)
        if not verify_body(key, body, "sha256=" + stored):
            self.add(f"seq {seq}: hash mismatch: the record was edited after it was written "
                     f"(its keyed link does not verify with key {key_id})")

    def result(self) -> VerifyResult:
        problems = list(self.problems)
        for kid, (first, count) in self.unknown_keys.items():
            problems.append(f"seq {first}: linked with audit key {kid}, which is not in the "
                            f"keyring: {count} record(s) cannot be checked (restore the "
                            f"retired key to the key file, or this id was made up)")
        if self.more:
            problems.append(f"... and {self.more} more problem(s)")
        return VerifyResult(ok=not problems, checked=self.checked, problems=problems,
                            last_seq=self.last_seq,
                            head_hash=self.last_hash if self.checked else None,
                            unkeyed=self.unkeyed)


def _gap(expected: int, seq: int) -> str:
    if seq < expected:
        return f"seq {seq}: out of order, expected seq {expected}: records were re-numbered"
    missing = f"seq {expected}" if seq == expected + 1 else f"seq {expected}..{seq - 1}"
    return f"{missing} missing before seq {seq}: record(s) deleted"


_FIELDS = {"seq": int, "at": str, "kind": str, "actor": str, "subject": str, "data": dict,
           "prev_hash": str, "hash": str}


def verify_jsonl(path: Path | str, *, prev_hash: str | None = None,
                 head_hash: str | None = None, keys: KeyLookup | None = None) -> VerifyResult:
    """Re-check an exported JSONL file without the database.

    `prev_hash` is the hash the first record must link to (the last hash of the previous
    export); without it a file starting at seq 1 must link to the genesis hash and one
    starting later is trusted at its first record. `head_hash`, a hash kept elsewhere, is the
    hash the last record must have: the only way to notice lines cut off the end. `keys`
    check keyed links (an export does not carry the key).
    """
    checker = ChainChecker(prev_hash=prev_hash, first_seq=None, keys=keys)
    try:
        with Path(path).open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                record = _parse_line(line, number, checker)
                if record is not None:
                    checker.check(record["seq"], record["at"], record["kind"], record["actor"],
                                  record["subject"], record["data"], record["prev_hash"],
                                  record["hash"], record.get("key_id", ""))
    except OSError as exc:
        raise AuditError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise AuditError(f"{path} is not UTF-8 text") from None
    if head_hash is not None and checker.last_hash != head_hash:
        at = f"seq {checker.last_seq}'s hash" if checker.checked else "an empty file"
        checker.add(f"end of file: {at} is not the expected head hash: records were cut off "
                    f"the end or replaced")
    return checker.result()


def _parse_line(line: str, number: int, checker: ChainChecker) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        checker.add(f"line {number}: not valid JSON")
        return None
    if not isinstance(record, dict):
        checker.add(f"line {number}: not a JSON object")
        return None
    wrong = [name for name, kind in _FIELDS.items()
             if not isinstance(record.get(name), kind) or isinstance(record.get(name), bool)]
    if not isinstance(record.get("key_id", ""), str):  # absent in exports before audit keys
        wrong.append("key_id")
    if wrong:
        checker.add(f"line {number}: missing or wrong field(s): {', '.join(wrong)}")
        return None
    return record
