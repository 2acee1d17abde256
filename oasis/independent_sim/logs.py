"""Log lines and deployment records for one simulated minute.

High-traffic services log a sample of their successful requests (at most
`ACCESS_CAP` a minute) and their failures (at most `ERROR_CAP`). A caller's
sampled request hands its trace id to the callees it called, so callee lines
share the caller's `trace_id`; caller lines name callees in `peer.service`
(and `db.system` for the database), and error lines name the failing
dependency in message and attributes.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from .fleet import DB_NAME, Service
from .formats import LEVELS, Clock, access_text, error_text, render

if TYPE_CHECKING:
    from .engine import Minute

ACCESS_CAP = 8
ERROR_CAP = 40
WARN_CAP = 4

_METHODS = ("GET", "GET", "POST", "POST", "PUT")
_STATUS = {"internal": 500, "dep": 502, "dep_timeout": 504, "pool_timeout": 503, "tls": 502,
           "tls_server": 495, "release": 500, "flag": 500, "host": 500, "oom": 500,
           "spool": 503, "carrier": 502, "db": 500, "sparse": 422}


class LogWriter:
    def __init__(self, fleet: dict[str, Service], order: list[str], clock: Clock,
                 rng: random.Random, versions: dict[str, str]) -> None:
        self.fleet, self.order, self.clock, self.rng = fleet, order, clock, rng
        self.versions = versions

    def _tid(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def _sid(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    def line(self, m: int, service: str, level: str, kind: str, text: str,
             fields: dict, *, host: str | None = None, trace: str | None = None,
             error_type: str | None = None, attributes: dict | None = None) -> dict:
        s = self.fleet[service]
        rec = {"type": "log", "timestamp": self.clock.at(m, self.rng.randint(0, 59_999)),
               "service": service, "level": LEVELS[s.log_style][level],
               "message": render(s.log_style, service, kind, text, fields),
               "host": host or self.rng.choice(s.hosts)}
        if error_type:
            rec["error_type"] = error_type
        if trace:
            rec["trace_id"] = trace
            rec["span_id"] = self._sid()
        if attributes:
            rec["attributes"] = attributes
        return rec

    def deployment(self, m: int, d: dict) -> list[dict]:
        svc = d["service"]
        rec = {"type": "deployment", "timestamp": self.clock.at(m, d["ms"]), "service": svc,
               "version": d["version"], "previous_version": d["previous_version"],
               "author": d["author"], "description": d["description"]}
        if d.get("attributes"):
            rec["attributes"] = d["attributes"]
        out = [rec]
        host = (d.get("attributes") or {}).get("host")
        if not d.get("canary"):
            self.versions[svc] = d["version"]
        if self.fleet[svc].logs:
            what = "canary started" if host else "service started"
            out.append(self.line(m, svc, "info", "info", f"{what}, version {d['version']}",
                                 {"previous": d["previous_version"]}, host=host))
        return out

    def minute(self, mi: Minute) -> list[dict]:
        out: list[dict] = []
        ok_q: dict[str, list[str]] = {n: [] for n in self.fleet}
        err_q: dict[str, list[str]] = {n: [] for n in self.fleet}
        for name in self.order:
            if self.fleet[name].logs and mi.n[name]:
                self._service(name, mi, ok_q, err_q, out)
        return out

    def _service(self, name: str, mi: Minute, ok_q: dict, err_q: dict, out: list) -> None:
        rng, s, m = self.rng, self.fleet[name], mi.m
        style = s.log_style
        total, failed = mi.n[name], mi.fail[name]
        lat = mi.lat[name]
        # sampled successes
        q = ok_q[name]
        for _ in range(min(total - failed, ACCESS_CAP)):
            tid = q.pop() if q else self._tid()
            chosen = [e.callee for e in s.calls if rng.random() < min(1.0, e.fanout)]
            for c in chosen:
                ok_q[c].append(tid)
            route = rng.choice(s.routes)
            method = "JOB" if s.tier == "worker" else rng.choice(_METHODS)
            text, fields = access_text(style, method, route, 200,
                                       lat * rng.uniform(0.15, 1.0))
            attrs = _peer_attrs(chosen)
            out.append(self.line(m, name, "info", "access", text, fields, trace=tid,
                                 attributes=attrs))
        # failures, own and propagated, scaled to the cap
        cats: list[tuple[str, str | None, int, str | None]] = [
            (k, None, c, h) for k, c, h in mi.own[name] if c]
        cats += [(_dep_kind(dep, mi.kind[dep], rng), dep, c, None)
                 for dep, c in mi.prop[name].items() if c]
        n_err = sum(c for _, _, c, _ in cats)
        scale = min(1.0, ERROR_CAP / n_err) if n_err else 0.0
        q = err_q[name]
        for kind, dep, count, host in cats:
            lines = max(1, round(count * scale))
            for _ in range(lines):
                tid = q.pop() if q else self._tid()
                if dep is not None and self.fleet[dep].logs:
                    err_q[dep].append(tid)
                etype, text = error_text(kind, dep, rng)
                level = "fatal" if kind == "oom" else "error"
                attrs = _peer_attrs([dep]) if dep else {}
                attrs["status"] = _STATUS[kind]
                attrs["route"] = rng.choice(s.routes)
                if kind == "release":
                    attrs["version"] = self.versions[name]
                fields = {"error": etype} if style in ("json", "logfmt") else {}
                if dep:
                    fields["peer"] = dep
                out.append(self.line(m, name, level, "error", text, fields,
                                     host=host, trace=tid, error_type=etype, attributes=attrs))
        # retries that hid a dependency's failure
        warned = 0
        for dep, c in mi.absorbed[name].items():
            for _ in range(min(c, WARN_CAP - warned)):
                warned += 1
                out.append(self.line(m, name, "warn", "warn",
                                     f"retrying call to {dep} after error (attempt 2/3)",
                                     {"peer": dep}, attributes=_peer_attrs([dep])))
        if name in mi.spiked:
            out.append(self.line(m, name, "warn", "warn", "slow request",
                                 {"took_ms": round(lat)}, attributes={"threshold_ms": 250}))
        if style in ("json", "syslog", "plain") and rng.random() < 0.25:
            out.append(self.line(m, name, "debug", "debug", "cache refresh done",
                                 {"entries": rng.randint(900, 1100)}))


def _peer_attrs(callees: list[str]) -> dict:
    if not callees:
        return {}
    attrs: dict = {"peer.service": callees[0]}
    if len(callees) > 1:
        attrs["downstream"] = callees
    if DB_NAME in callees:
        attrs["db.system"] = "postgresql"
        attrs["db.instance"] = DB_NAME
        if callees[0] != DB_NAME:
            attrs["db.peer.service"] = DB_NAME
    return attrs


def _dep_kind(dep: str, callee_kind: str, rng: random.Random) -> str:
    """How a caller words a failed call to `dep`, given how `dep` failed."""
    if callee_kind == "pool_timeout":
        return "pool_timeout"
    if callee_kind == "tls_server":
        return "tls"
    if dep == DB_NAME:
        return "db"
    return "dep_timeout" if rng.random() < 0.3 else "dep"
