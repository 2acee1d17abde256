"""Audit keys: the secret that links the chain, kept apart from the database.

Each record's link is an HMAC-SHA256 keyed with the current audit key, so someone who can
write the database but cannot read the key cannot recompute a valid chain after an edit.
Records name their key by id (a fingerprint, never the key); verification accepts the current
key and every retired one still in the keyring, so keys can be rotated.

The keyring is a text file, newest key first, one `id: key` line each (`#` comments allowed;
a bare `key` line works too, its id is computed), and a `keyed-from: <seq>` line the writer
adds after its first keyed record, so a trail rewritten as plain SHA-256 records shows. It is
created on first use with mode 0600; `rotate()` puts a new key on top. `OASIS_AUDIT__KEY`
(the `audit.key` setting) may instead give the current key directly; the file then only
supplies retired keys.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from oasis.audit.chain import AuditError
from oasis.audit.settings import AuditSettings
from oasis.signals.signing import sign_body, verify_body

MIN_KEY_LENGTH = 32
ID_LENGTH = 12
KEYED_FROM = "keyed-from"  # the key file's line naming the first seq written with a key
_LABEL = re.compile(r"[\w-]{1,32}")
_HEADER = ("# OASIS audit keys, newest first: `id: key`. Keep every retired key: records and\n"
           "# anchors signed with it verify only while it is here. Never store this file in\n"
           "# the database or next to its backups (docs/audit.md).\n")


def key_id(key: str) -> str:
    """A key's public name: the start of an HMAC of a fixed text keyed with it."""
    return sign_body(key, b"oasis audit key id").removeprefix("sha256=")[:ID_LENGTH]


def sign(key: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of `body` keyed with `key` (the project's one HMAC helper)."""
    return sign_body(key, body).removeprefix("sha256=")


def signed_by(key: str, body: bytes, signature: str) -> bool:
    """Whether `signature` (hex) is `sign(key, body)`, compared in constant time."""
    return verify_body(key, body, "sha256=" + signature)


def new_key() -> str:
    """A fresh random key: 32 bytes as 64 hex characters."""
    return secrets.token_hex(32)


def _checked(key: str, where: str) -> str:
    key = key.strip()
    if len(key) < MIN_KEY_LENGTH or any(c.isspace() for c in key):
        raise AuditError(f"{where}: an audit key must be at least {MIN_KEY_LENGTH} characters "
                         f"without spaces (make one with `openssl rand -hex 32`)")
    return key


class AuditKeys:
    """The current audit key and the retired ones, by id.

    `path` is the keyring file; `key`, when given, is the current key and the file only adds
    retired keys. With `create`, the file is made (mode 0600) the first time a key is needed;
    verification opens it with `create=False`, so checking never makes a key. The file is
    re-read when it changes, so a long-running writer picks up a rotation at its next append.
    """

    def __init__(self, path: Path | None, key: str | None = None, *, create: bool = True) -> None:
        self.path = path
        self.create = create
        self._env = _checked(key, "OASIS_AUDIT__KEY") if key is not None else None
        self._stamp: tuple[int, int, int] | None = None
        self._file_keys: list[tuple[str, str]] = []
        self._keyed_from: int | None = None
        self._marked = False
        self.warnings: list[str] = []

    @classmethod
    def from_settings(cls, settings: AuditSettings, data_dir: Path, *,
                      create: bool = True) -> AuditKeys:
        key = settings.key.get_secret_value() if settings.key is not None else None
        return cls(settings.key_path(data_dir), key, create=create)

    @classmethod
    def of(cls, *keys: str) -> AuditKeys:
        """An in-memory keyring, newest first (tests, offline checks)."""
        ring = cls(None, create=False)
        ring._file_keys = [(key_id(k), _checked(k, "audit key")) for k in keys]
        return ring

    # -- reading ---------------------------------------------------------------------------
    def _entries(self) -> list[tuple[str, str]]:
        """(id, key) pairs, newest first: the variable's key, then the file's."""
        self._reload()
        head = [(key_id(self._env), self._env)] if self._env else []
        return head + [entry for entry in self._file_keys if entry[1] != self._env]

    def _reload(self) -> None:
        if self.path is None:
            return
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._file_keys, self._keyed_from, self.warnings = None, [], None, []
            return
        except OSError as exc:
            raise AuditError(f"cannot read the audit key file {self.path}: {exc.strerror}") \
                from None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        ring = _parse(self.path)
        self._file_keys, self._keyed_from, self.warnings = ring.entries, ring.keyed_from, \
            ring.warnings
        if stat.S_IMODE(st.st_mode) & 0o077:
            self.warnings.append(f"the audit key file {self.path} is readable by others "
                                 f"(mode {stat.S_IMODE(st.st_mode):o}): chmod 600 it")
        self._stamp = stamp

    def secret(self, kid: str) -> str | None:
        """The key with id `kid`, current or retired; None when the keyring lacks it."""
        return next((key for i, key in self._entries() if i == kid), None)

    def ids(self) -> list[str]:
        """Every key id, newest (current) first."""
        return [i for i, _ in self._entries()]

    @property
    def keyed_from(self) -> int | None:
        """The seq from which every record is keyed, as the key file recorded it when the
        first keyed record was written: a plain SHA-256 record from there on is a rewrite."""
        self._reload()
        return self._keyed_from

    def current(self) -> tuple[str, str]:
        """(id, key) to sign with now; makes the key file on first use when allowed."""
        entries = self._entries()
        if entries:
            return entries[0]
        if not self.create or self.path is None:
            where = f"{self.path} does not exist" if self.path else "no key file is set"
            raise AuditError(f"no audit key: {where} and OASIS_AUDIT__KEY is unset")
        self._create()
        entries = self._entries()
        if not entries:  # someone emptied it between our write and read
            raise AuditError(f"the audit key file {self.path} holds no key")
        return entries[0]

    # -- writing ---------------------------------------------------------------------------
    def _create(self) -> None:
        """Write a first key unless the file appeared meanwhile (two processes starting)."""
        assert self.path is not None
        with _locked(self.path):
            if not self.path.exists():
                _write(self.path, _Ring([(key_id(k := new_key()), k)]))

    def mark_keyed_from(self, seq: int) -> None:
        """Note in the key file, once, that records are keyed from `seq` on (called by the
        writer after its first keyed append). Best effort: a read-only key file (a mounted
        secret) is left alone, and anchors still catch a rewrite."""
        if self._marked or self.path is None:
            return
        self._marked = True
        if self.keyed_from is not None:
            return
        try:
            with _locked(self.path):
                if not self.path.exists():
                    return
                ring = _parse(self.path)
                ring.keyed_from = min(seq, ring.keyed_from or seq)
                _write(self.path, ring)
        except (AuditError, OSError):
            return
        self._stamp = None

    def rotate(self) -> str:
        """Put a new key on top; later records and anchors use it. Returns its id."""
        if self._env is not None:
            raise AuditError("the current audit key comes from OASIS_AUDIT__KEY: set the new "
                             "key there, and add the old one as a line of the key file "
                             f"{self.path} so older records still verify")
        if self.path is None:
            raise AuditError("no audit key file is set")
        with _locked(self.path):
            ring = _parse(self.path) if self.path.exists() else _Ring([])
            fresh = new_key()
            ring.entries.insert(0, (key_id(fresh), fresh))
            _write(self.path, ring)
        self._stamp = None
        return key_id(fresh)


@dataclass
class _Ring:
    entries: list[tuple[str, str]]  # (id, key), newest first
    keyed_from: int | None = None
    warnings: list[str] = field(default_factory=list)


def _parse(path: Path) -> _Ring:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AuditError(f"cannot read the audit key file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise AuditError(f"the audit key file {path} is not UTF-8 text") from None
    ring = _Ring([])
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        label, sep, rest = line.partition(":")
        if label.strip() == KEYED_FROM:
            try:
                ring.keyed_from = int(rest)
            except ValueError:
                raise AuditError(f"{path} line {number}: {KEYED_FROM} must be a seq") from None
            continue
        label, key = (label.strip(), rest) if sep and _LABEL.fullmatch(label.strip()) \
            else ("", line)
        key = _checked(key, f"{path} line {number}")
        if label and label != key_id(key):
            ring.warnings.append(f"{path} line {number}: the id {label!r} is not this key's "
                                 f"id ({key_id(key)}); records name it {key_id(key)}")
        ring.entries.append((key_id(key), key))
    return ring


def _write(path: Path, ring: _Ring) -> None:
    """Replace the file at once, mode 0600 from the start: never half written, never open."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise AuditError(f"cannot write the audit key file {path}: {exc.strerror}") from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(_HEADER + "".join(f"{kid}: {key}\n" for kid, key in ring.entries))
            if ring.keyed_from is not None:
                f.write(f"{KEYED_FROM}: {ring.keyed_from}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _locked(path: Path):
    """One key-file writer at a time, across processes: a lock on the file's directory
    (flock on a directory works on Linux and the BSDs, and leaves no lock file behind)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError as exc:
        raise AuditError(f"cannot write the audit key file {path}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


__all__ = ["AuditKeys", "key_id", "new_key", "sign", "signed_by"]
