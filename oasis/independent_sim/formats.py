"""Log message styles, level spellings, versions and timestamps."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

#: Level spellings per log style (canonical name -> what the service writes).
LEVELS: dict[str, dict[str, str]] = {
    "json": {"debug": "debug", "info": "info", "warn": "warning", "error": "error",
             "fatal": "fatal"},
    "logfmt": {"debug": "DEBUG", "info": "INFO", "warn": "WARN", "error": "ERROR",
               "fatal": "FATAL"},
    "glog": {"debug": "D", "info": "I", "warn": "W", "error": "E", "fatal": "F"},
    "syslog": {"debug": "Debug", "info": "notice", "warn": "Warning", "error": "err",
               "fatal": "crit"},
    "plain": {"debug": "Debug", "info": "Info", "warn": "Warning", "error": "ERROR",
              "fatal": "FATAL"},
}

_GLOG_SRC = {"access": "handler.go:88", "error": "client.go:142", "warn": "retry.go:57",
             "info": "main.go:31", "debug": "cache.go:210"}


def render(style: str, service: str, kind: str, text: str, fields: dict[str, object]) -> str:
    """One message in the service's own style; `kind` is access/error/warn/info/debug."""
    if style == "json":
        return json.dumps({"msg": text, **fields}, separators=(",", ":"))
    if style == "logfmt":
        parts = [f'msg="{text}"']
        for k, v in fields.items():
            sv = str(v)
            parts.append(f'{k}="{sv}"' if " " in sv else f"{k}={sv}")
        return " ".join(parts)
    if style == "glog":
        tail = " ".join(f"{k}={v}" for k, v in fields.items())
        return f"{_GLOG_SRC[kind]}] {text}" + (f" {tail}" if tail else "")
    if style == "syslog":
        tail = "".join(f" {k}={v}" for k, v in fields.items())
        return f"{service}[{sum(map(ord, service)) * 7 % 30000 + 1000}]: {text}{tail}"
    tail = ", ".join(f"{k}: {v}" for k, v in fields.items())
    return text + (f" ({tail})" if tail else "")


def access_text(style: str, method: str, route: str, status: int, ms: float) -> tuple[str, dict]:
    """An access line's text and fields, worded per style."""
    if style == "json":
        return "request served", {"method": method, "route": route, "status": status,
                                  "took_ms": round(ms, 1)}
    if style == "logfmt":
        return "handled", {"method": method, "path": route, "status": status,
                           "dur": f"{ms / 1000:.3f}s"}
    if style == "glog":
        return f"{method} {route} -> {status} ({ms:.0f}ms)", {}
    if style == "syslog":
        return f"{method} {route} completed status={status} in {ms / 1000:.2f}s", {}
    return f"Completed {method} {route} in {ms / 1000:.3f}s with status {status}", {}


#: Error kinds: (error_type, text template). `{dep}` is the failing dependency.
ERRORS: dict[str, tuple[str, str]] = {
    "internal": ("InternalError", "unhandled exception while handling request"),
    "dep": ("UpstreamError", "call to {dep} failed: 503 Service Unavailable"),
    "dep_timeout": ("UpstreamTimeout", "call to {dep} timed out after 2000ms"),
    "pool_timeout": ("PoolTimeout",
                     "could not acquire connection to {dep} from pool within 5000ms"),
    "tls": ("TLSHandshakeError",
            "TLS handshake with {dep} failed: x509: certificate has expired"),
    "tls_server": ("TLSHandshakeError",
                   "http: TLS handshake error from 10.8.{n}.{m}: remote error: bad certificate"),
    "release": ("TypeError", "cannot read properties of undefined (reading 'amount')"),
    "flag": ("KeyError", "KeyError: 'merchant_segment' in scoring path"),
    "host": ("IOError", "write failed: input/output error on /var/lib/app/spool"),
    "oom": ("OutOfMemoryError", "java.lang.OutOfMemoryError: Java heap space"),
    "spool": ("SpoolUnavailable", "printer spool unavailable: connect ECONNREFUSED"),
    "carrier": ("CarrierApiError", "carrier API answered 502 Bad Gateway"),
    "carrier_rl": ("CarrierRateLimited", "carrier API answered 429 Too Many Requests"),
    "db": ("DatabaseError", "query on {dep} failed: canceling statement due to conflict"),
    "sparse": ("ValidationError", "request rejected: upstream payload failed validation"),
}


def error_text(kind: str, dep: str | None, rng: random.Random) -> tuple[str, str]:
    etype, text = ERRORS[kind]
    if kind == "carrier" and rng.random() < 0.35:
        etype, text = ERRORS["carrier_rl"]
    return etype, text.format(dep=dep, n=rng.randint(1, 254), m=rng.randint(1, 254))


# --- versions ----------------------------------------------------------------

def first_version(style: str, rng: random.Random) -> str:
    if style == "calver":
        return f"2024.{rng.randint(1, 11)}.{rng.randint(0, 9)}"
    if style == "sha":
        return f"{rng.getrandbits(28):07x}"
    return f"v{rng.randint(0, 4)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"


def next_version(style: str, current: str, rng: random.Random) -> str:
    if style == "sha":
        return f"{rng.getrandbits(28):07x}"
    head = current.lstrip("v")
    major, minor, patch = (int(p) for p in head.split("."))
    if style == "calver":
        minor, patch = (minor + 1, 0) if rng.random() < 0.3 else (minor, patch + 1)
        if minor > 12:
            major, minor = major + 1, 1
        return f"{major}.{minor}.{patch}"
    if rng.random() < 0.25:
        minor, patch = minor + 1, 0
    else:
        patch += 1
    return f"v{major}.{minor}.{patch}"


# --- timestamps --------------------------------------------------------------

class Clock:
    """Fast ISO 8601 (`...Z`) timestamps for minute `m` plus a millisecond offset."""

    def __init__(self, start: datetime) -> None:
        self.start = start.astimezone(UTC)
        self._aligned = self.start.second == 0 and self.start.microsecond == 0
        self._prefix_minute = -1
        self._prefix = ""

    def at(self, minute: int, ms: int = 0) -> str:
        if self._aligned:
            if minute != self._prefix_minute:
                t = self.start + timedelta(minutes=minute)
                self._prefix = t.strftime("%Y-%m-%dT%H:%M:")
                self._prefix_minute = minute
            return f"{self._prefix}{ms // 1000:02d}.{ms % 1000:03d}Z"
        t = self.start + timedelta(minutes=minute, milliseconds=ms)
        return iso_z(t)

    def dt(self, minute: int) -> datetime:
        return self.start + timedelta(minutes=minute)


def iso_z(t: datetime) -> str:
    t = t.astimezone(UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def iso_offset(ts: str, hours: int) -> str:
    """The same instant as `ts` (a `...Z` string), written with a `+HH:00` offset."""
    t = datetime.fromisoformat(ts).astimezone(UTC) + timedelta(hours=hours)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}+{hours:02d}:00"
