"""Anchors: the signed head of the chain, kept where the database's writers cannot reach.

`anchor()` verifies the chain, then appends {seq, hash, count, at, key_id, signature} to an
anchors target: a file opened append-only (one JSON line per anchor), or a new object under
an `s3://bucket/prefix/` (S3 cannot append: with Object Lock each anchor is write-once).
`AnchorCheck` then holds the chain to every anchor: the anchored seq must still exist with the
anchored hash, the chain must be at least as long as the newest anchor, and each anchor's
signature must verify with the audit key it names. That catches what the chain alone cannot:
a tail deleted together with the head row, emptied tables, and a rewrite by someone holding
the key (up to the newest anchor).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oasis.audit import s3
from oasis.audit.chain import AuditError, KeyLookup, canonical_json
from oasis.audit.keys import AuditKeys, sign, signed_by
from oasis.audit.settings import AuditSettings
from oasis.signals.model import utc_iso

if TYPE_CHECKING:
    from oasis.audit.log import AuditLog

class ChainBroken(AuditError):
    """The chain does not verify, so `anchor()` refused to vouch for it."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"not anchoring: the audit log does not verify ({len(problems)} "
                         f"problem(s), first: {problems[0]})")
        self.problems = problems


class NoAnchors(AuditError):
    """The anchors file does not exist (yet)."""


_FIELDS = {"seq": int, "hash": str, "count": int, "at": str, "key_id": str, "signature": str}


@dataclass(frozen=True, slots=True)
class Anchor:
    """One signed head: at `at`, the chain ended at `seq` with `hash` (and held `count`)."""

    seq: int
    hash: str
    count: int
    at: datetime
    key_id: str
    signature: str = ""
    where: str = ""  # file line or object it was read from, for messages

    def body(self) -> bytes:
        """What the signature covers: every field but the signature, canonical JSON."""
        return canonical_json({"seq": self.seq, "hash": self.hash, "count": self.count,
                               "at": utc_iso(self.at), "key_id": self.key_id}).encode()

    def to_json(self) -> str:
        return canonical_json({"seq": self.seq, "hash": self.hash, "count": self.count,
                               "at": utc_iso(self.at), "key_id": self.key_id,
                               "signature": self.signature})

    @property
    def name(self) -> str:
        return f"the anchor of {utc_iso(self.at)}" + (f" ({self.where})" if self.where else "")


def signed_anchor(seq: int, hash_: str, count: int, keys: AuditKeys,
                  at: datetime | None = None) -> Anchor:
    """An anchor of this head, signed with the current audit key."""
    kid, key = keys.current()
    unsigned = Anchor(seq, hash_, count, (at or datetime.now(UTC)).astimezone(UTC), kid)
    return Anchor(seq, hash_, count, unsigned.at, kid, sign(key, unsigned.body()))


# -- where anchors go ----------------------------------------------------------------------
def _s3_target(target: str) -> tuple[str, str] | None:
    if not target.startswith("s3://"):
        return None
    bucket, _, prefix = target[len("s3://"):].partition("/")
    if not bucket:
        raise AuditError(f"invalid anchors target {target!r}: expected s3://bucket/prefix/")
    return bucket, prefix


def write_anchor(anchor: Anchor, target: str, settings: AuditSettings | None = None) -> str:
    """Append `anchor` to the file `target` or add it under an s3:// prefix; returns where.

    A file is opened with O_APPEND and never truncated or rewritten, and the line is synced
    before returning. On S3 each anchor is a new object, `anchor-<UTC time>-<seq>.json`.
    """
    if (where := _s3_target(target)) is not None:
        bucket, prefix = where
        stamp = anchor.at.strftime("%Y%m%dT%H%M%S%fZ")
        key = f"{prefix}{'' if not prefix or prefix.endswith('/') else '/'}" \
              f"anchor-{stamp}-{anchor.seq}.json"
        return s3.put_text(settings or AuditSettings(), bucket, key, anchor.to_json() + "\n")
    path = Path(target)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (anchor.to_json() + "\n").encode())  # one write: one whole line
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise AuditError(f"cannot append to the anchors file {path}: {exc.strerror}") from None
    return str(path)


def read_anchors(target: str, settings: AuditSettings | None = None
                 ) -> tuple[list[Anchor], list[str]]:
    """Every anchor at `target`, oldest first, and the lines that are not anchors."""
    if (where := _s3_target(target)) is not None:
        bucket, prefix = where
        texts = [(f"s3://{bucket}/{key}", text)
                 for key, text in s3.read_texts(settings or AuditSettings(), bucket, prefix)
                 if key.rsplit("/", 1)[-1].startswith("anchor-")]
    else:
        try:
            lines = Path(target).read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            raise NoAnchors(f"no anchors file at {target}") from None
        except OSError as exc:
            raise AuditError(f"cannot read the anchors file {target}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise AuditError(f"the anchors file {target} is not UTF-8 text") from None
        texts = [(f"line {n}", line) for n, line in enumerate(lines, start=1) if line.strip()]
    anchors, problems = [], []
    for where_, text in texts:
        anchor = _parse(text.strip(), where_)
        if isinstance(anchor, str):
            problems.append(anchor)
        else:
            anchors.append(anchor)
    return anchors, problems


def _parse(text: str, where: str) -> Anchor | str:
    try:
        value: Any = json.loads(text)
    except ValueError:
        return f"anchor at {where}: not valid JSON: the anchors were edited"
    wrong = [name for name, kind in _FIELDS.items()
             if not isinstance(value, dict) or not isinstance(value.get(name), kind)
             or isinstance(value.get(name), bool)]
    if wrong:
        return f"anchor at {where}: missing or wrong field(s): {', '.join(wrong)}"
    try:
        at = datetime.fromisoformat(value["at"])
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        return f"anchor at {where}: `at` is not a UTC time"
    return Anchor(value["seq"], value["hash"], value["count"], at, value["key_id"],
                  value["signature"], where)


# -- checking the chain against them -------------------------------------------------------
class AnchorCheck:
    """Anchors to hold a chain to; fed every record's seq and hash by `AuditLog.verify`."""

    def __init__(self, anchors: list[Anchor], keys: KeyLookup | None,
                 problems: list[str] | None = None) -> None:
        self.found = list(problems or [])
        self.pins: dict[int, list[Anchor]] = {}
        self.seen: set[int] = set()
        self.count = len(anchors)
        newest: Anchor | None = None
        for anchor in anchors:
            key = keys.secret(anchor.key_id) if keys is not None else None
            if key is None:
                self.found.append(f"{anchor.name}: signed with audit key {anchor.key_id}, "
                                  f"which is not in the keyring: it cannot be trusted")
                continue
            if not signed_by(key, anchor.body(), anchor.signature):
                self.found.append(f"{anchor.name}: its signature does not verify: the anchor "
                                  f"was altered or forged")
                continue
            if newest is not None and anchor.seq < newest.seq:
                self.found.append(f"{anchor.name} is at seq {anchor.seq}, behind "
                                  f"{newest.name} at seq {newest.seq}: records had been "
                                  f"deleted when it was taken")
            newest = anchor if newest is None or anchor.seq >= newest.seq else newest
            self.pins.setdefault(anchor.seq, []).append(anchor)
        self.newest = newest

    def record(self, seq: int, stored_hash: str) -> None:
        for anchor in self.pins.get(seq, ()):
            self.seen.add(seq)
            if anchor.hash != stored_hash:
                self.found.append(f"seq {seq}: its hash is not the one {anchor.name} kept: "
                                  f"this record or one before it was rewritten after it was "
                                  f"anchored")

    def problems(self, last_seq: int, checked: int) -> list[str]:
        found = list(self.found)
        newest = self.newest
        if newest is not None and newest.seq > last_seq:
            span = f"seq {last_seq + 1}" if newest.seq == last_seq + 1 else \
                f"seq {last_seq + 1}..{newest.seq}"
            found.append(f"the audit log holds no records, but {newest.name} saw seq "
                         f"1..{newest.seq}: every record was deleted" if not checked else
                         f"{span} missing at the end: {newest.name} saw the chain up to seq "
                         f"{newest.seq}: the newest records were deleted (tail truncated)")
        for seq in sorted(s for s in self.pins if s <= last_seq and s not in self.seen):
            found.append(f"seq {seq} is missing, though {self.pins[seq][0].name} anchored it")
        return found

    def summary(self) -> tuple[int, int]:
        return self.count, self.newest.seq if self.newest else 0


def load_check(target: str, keys: KeyLookup | None,
               settings: AuditSettings | None = None) -> AnchorCheck:
    """The anchors at `target`, ready to check a chain against."""
    anchors, problems = read_anchors(target, settings)
    return AnchorCheck(anchors, keys, problems)


def anchor(log: AuditLog, keys: AuditKeys, target: str, settings: AuditSettings | None = None,
           *, at: datetime | None = None) -> Anchor | None:
    """Verify the chain (against the anchors already at `target`, when there are any), then
    append a signed anchor of its head there. None when the log is still empty.

    This is what `oasis audit anchor` runs, and what the server calls every
    `audit.anchor_interval_seconds` (from a worker thread: it reads the whole chain).
    Raises ChainBroken, naming the first problem, instead of anchoring a broken chain.
    """
    try:
        existing: AnchorCheck | None = load_check(target, keys, settings)
    except NoAnchors:
        existing = None
    result = log.verify(anchors=existing)
    if not result.ok:
        raise ChainBroken(result.problems)
    if not result.checked or result.head_hash is None:
        return None
    signed = signed_anchor(result.last_seq, result.head_hash, result.checked, keys, at)
    where = write_anchor(signed, target, settings)
    return Anchor(signed.seq, signed.hash, signed.count, signed.at, signed.key_id,
                  signed.signature, where)


__all__ = ["Anchor", "AnchorCheck", "ChainBroken", "NoAnchors", "anchor", "load_check",
           "read_anchors", "signed_anchor", "write_anchor"]
