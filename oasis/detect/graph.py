"""Who calls whom, learned from the signals themselves.

Three kinds of evidence: requests' shared `trace_id`s (a caller is present in every trace
its callee is, and logs after it, since a span is logged when it completes), error lines
that name another service (`call to inventory-service failed`), and calls seen in traces
(a span whose parent span is another service's, from OTLP: direct proof). The relation is
"depends on", transitive: the frontend depends on the database service behind the API.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable

from oasis.signals.model import CallEdge, LogRecord

# Attributes (OpenTelemetry's semantic conventions first) that name the dependency a log
# line is about; `db.system` (a kind, "postgresql") is the last resort.
DEPENDENCY_ATTRIBUTES = ("peer.service", "callee", "upstream", "db.instance", "db.name",
                         "server.address", "net.peer.name", "rpc.service", "db.system")
MIN_TRACES = 5
PRESENCE = 0.9  # share of the callee's traces the caller must also be in
ORDER = 0.9  # share of those in which the caller logs last


class CallGraph:
    def __init__(self) -> None:
        self.traces_with: Counter[str] = Counter()
        self.together: Counter[tuple[str, str]] = Counter()
        self.logs_after: Counter[tuple[str, str]] = Counter()
        self.named: Counter[tuple[str, str]] = Counter()
        self.calls: Counter[tuple[str, str]] = Counter()
        self._callees: dict[str, set[str]] = defaultdict(set)
        self._pattern: re.Pattern[str] | None = None
        self._pattern_for: frozenset[str] = frozenset()

    def learn(self, logs: Iterable[LogRecord], services: Iterable[str]) -> None:
        """Add the evidence in `logs` (any order) about the `services` known so far."""
        known = frozenset(services)
        last_seen: dict[str, dict[str, float]] = defaultdict(dict)
        for log in logs:
            if log.trace_id:
                seen = last_seen[log.trace_id]
                ts = log.timestamp.timestamp()
                if ts > seen.get(log.service, 0.0):
                    seen[log.service] = ts
            for other in self.services_named(log, known):
                self.named[(log.service, other)] += 1
        for seen in last_seen.values():
            if len(seen) < 2:
                continue
            items = list(seen.items())
            for svc, _ in items:
                self.traces_with[svc] += 1
            for a, ta in items:
                for b, tb in items:
                    if a != b:
                        self.together[(a, b)] += 1
                        if ta >= tb:
                            self.logs_after[(a, b)] += 1

    def learn_calls(self, edges: Iterable[CallEdge]) -> None:
        """Add calls seen in traces: each is a direct dependency of its caller."""
        for edge in edges:
            if edge.caller != edge.callee and edge.calls > 0:
                self.calls[(edge.caller, edge.callee)] += edge.calls
                self._callees[edge.caller].add(edge.callee)

    def traced_services(self) -> set[str]:
        """Services seen in traces, through logs' trace ids or calls."""
        return set(self.traces_with) | {s for pair in self.calls for s in pair}

    def calls_reach(self, caller: str, callee: str) -> bool:
        """Whether calls seen in traces lead from `caller` to `callee`, directly or not."""
        seen, todo = {caller}, [caller]
        while todo:
            for nxt in self._callees.get(todo.pop(), ()):
                if nxt == callee:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    def services_named(self, log: LogRecord, known: frozenset[str]) -> list[str]:
        callee = log.attributes.get("callee") if log.attributes else None
        if isinstance(callee, str) and callee in known and callee != log.service:
            return [callee]
        if log.level.value not in ("WARN", "ERROR", "FATAL") or len(known) < 2:
            return []
        if known != self._pattern_for:
            names = sorted(known, key=len, reverse=True)
            self._pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, names))
                                       + r")(?![\w-])")
            self._pattern_for = known
        assert self._pattern is not None
        return [m for m in set(self._pattern.findall(log.message)) if m != log.service]

    @staticmethod
    def dependency_named(log: LogRecord) -> str | None:
        """The dependency a log line's attributes name, if any (not the service itself)."""
        attributes = log.attributes
        if not attributes:
            return None
        for key in DEPENDENCY_ATTRIBUTES:
            value = attributes.get(key)
            if isinstance(value, str) and value and value != log.service and len(value) <= 256:
                host, _, port = value.rpartition(":")
                return host if host and port.isdigit() else value
        return None

    def depends_on(self, caller: str, callee: str) -> bool:
        """Whether requests to `caller` (directly or not) need `callee`."""
        if caller == callee:
            return False
        if self.calls and self.calls_reach(caller, callee):
            return True
        if self.named[(caller, callee)] >= 2 and \
                self.named[(caller, callee)] > 2 * self.named[(callee, caller)]:
            return True
        both = self.together[(caller, callee)]
        if both < MIN_TRACES or self.traces_with[callee] == 0:
            return False
        return (both / self.traces_with[callee] >= PRESENCE
                and self.logs_after[(caller, callee)] / both >= ORDER)

    def edges(self, services: Iterable[str]) -> list[tuple[str, str]]:
        names = sorted(services)
        return [(a, b) for a in names for b in names if self.depends_on(a, b)]
