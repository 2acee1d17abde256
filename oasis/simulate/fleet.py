"""The simulated fleet: its services, their call graph, and the state remediation changes.

`ServiceSpec` is configuration (what a service is); `ServiceState` is what changes while
the simulation runs (version, replicas, restarts), and `Fleet` guards that state behind a
lock so the control API, a live generator and tests can share it. Every action carries an
`action_id`: repeating an id returns the first result instead of acting twice, which is
what lets a remediation executor retry safely after a crash.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from oasis.signals.errors import Conflict

ActionName = Literal["rollback", "restart", "scale"]


@dataclass(frozen=True, slots=True)
class ErrorKind:
    """One kind of error a service logs: its type, a message template and its HTTP status."""

    error_type: str
    template: str
    status: int = 500


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """What a service is. Defaults describe a small stateless HTTP service.

    `calls` lists (callee, probability a request makes that call). `base_utilization` is
    how busy its replicas are at nominal traffic; latency climbs as utilization nears 1.
    `noise` is the service's own background error rate, different for every service.
    """

    name: str
    version: str
    calls: tuple[tuple[str, float], ...] = ()
    latency_ms: float = 20.0
    replicas: int = 2
    base_utilization: float = 0.25
    memory_percent: float = 45.0
    noise: float = 0.002
    noise_error: ErrorKind = ErrorKind("ValidationError", "request rejected: {detail}", 400)
    endpoints: tuple[str, ...] = ("GET /",)


def default_services() -> tuple[ServiceSpec, ...]:
    """A 7-service shop: frontend -> gateway -> auth/catalog/checkout -> payment/inventory."""
    return (
        ServiceSpec(
            "web-frontend", "5.12.0", calls=(("api-gateway", 1.0),), latency_ms=15,
            replicas=4, base_utilization=0.25, noise=0.003,
            noise_error=ErrorKind("ClientAbortError", "client closed connection after {n} bytes",
                                  499),
            endpoints=("GET /", "GET /product/{id}", "GET /cart", "POST /checkout"),
        ),
        ServiceSpec(
            "api-gateway", "1.8.0",
            calls=(("auth-service", 1.0), ("catalog-service", 0.6), ("checkout-service", 0.3)),
            latency_ms=8, replicas=3, base_utilization=0.3, noise=0.001,
            noise_error=ErrorKind("RateLimitedError", "rate limit exceeded for client {id}", 429),
            endpoints=("GET /api/v1/products", "POST /api/v1/orders", "GET /api/v1/cart"),
        ),
        ServiceSpec(
            "auth-service", "3.0.4", latency_ms=12, replicas=2, base_utilization=0.2,
            noise=0.01,
            noise_error=ErrorKind("TokenExpiredError", "token for user {id} expired {n}s ago", 401),
            endpoints=("POST /token/verify",),
        ),
        ServiceSpec(
            "catalog-service", "2.2.3", calls=(("inventory-service", 0.5),), latency_ms=25,
            replicas=3, base_utilization=0.35, noise=0.003,
            noise_error=ErrorKind("ProductNotFoundError", "product {id} not found", 404),
            endpoints=("GET /products", "GET /products/{id}"),
        ),
        ServiceSpec(
            "checkout-service", "2.4.1",
            calls=(("payment-service", 0.9), ("inventory-service", 1.0)),
            latency_ms=40, replicas=3, base_utilization=0.25, noise=0.005,
            noise_error=ErrorKind("ValidationError", "order {id} rejected: empty cart", 400),
            endpoints=("POST /orders", "GET /orders/{id}"),
        ),
        ServiceSpec(
            "payment-service", "4.1.0", latency_ms=120, replicas=2, base_utilization=0.2,
            noise=0.02,
            noise_error=ErrorKind("CardDeclinedError", "card declined for order {id}: code {n}",
                                  402),
            endpoints=("POST /charges",),
        ),
        ServiceSpec(
            "inventory-service", "3.1.0", latency_ms=18, replicas=2, base_utilization=0.3,
            noise=0.004,
            noise_error=ErrorKind("OptimisticLockError", "stock row {id} changed, retry {n}", 409),
            endpoints=("GET /stock/{id}", "POST /reservations"),
        ),
    )


class FleetError(Conflict):
    """An action the fleet refuses; `status` is the HTTP status the control API answers."""

    def __init__(self, message: str, status: int = 409) -> None:
        super().__init__(message, status=status)


@dataclass(slots=True)
class ServiceState:
    """What changes about a service while the fleet runs."""

    version: str
    replicas: int
    history: list[str] = field(default_factory=list)  # earlier versions, newest last
    deployed_at: datetime | None = None
    restarted_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """An action the fleet has carried out, as the control API reports it."""

    action_id: str
    action: ActionName
    service: str
    params: dict[str, Any]
    at: datetime
    result: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"action_id": self.action_id, "action": self.action, "service": self.service,
                "params": self.params, "at": self.at.isoformat().replace("+00:00", "Z"),
                "result": self.result}


class Fleet:
    """The running fleet: specs, mutable state, the call graph, and remediation actions.

    `clock` gives the simulated time actions are stamped with; a generator reads
    `state()` every simulated minute so an action changes the data from then on.
    """

    def __init__(self, specs: tuple[ServiceSpec, ...] | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.specs = {s.name: s for s in (specs or default_services())}
        for spec in self.specs.values():
            for callee, _ in spec.calls:
                if callee not in self.specs:
                    raise ValueError(f"{spec.name} calls unknown service {callee!r}")
        self.clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.RLock()
        self._states = {s.name: ServiceState(s.version, s.replicas) for s in self.specs.values()}
        self._actions: dict[str, ActionRecord] = {}
        self._events: list[dict[str, Any]] = []  # deployments/restarts for the generator

    # -- reading ---------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return list(self.specs)

    def callers_of(self, service: str) -> set[str]:
        """Every service whose requests can reach `service` (its transitive callers)."""
        found: set[str] = set()
        frontier = {service}
        while frontier:
            frontier = {
                s.name for s in self.specs.values()
                if s.name not in found and any(c in frontier for c, _ in s.calls)
            }
            found |= frontier
        return found

    def state(self, service: str) -> ServiceState:
        with self._lock:
            return self._require(service)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "time": self.clock().isoformat().replace("+00:00", "Z"),
                "services": [self.service_status(name) for name in self.specs],
            }

    def service_status(self, service: str) -> dict[str, Any]:
        with self._lock:
            st = self._require(service)
            spec = self.specs[service]
            return {
                "name": service,
                "version": st.version,
                "previous_version": st.history[-1] if st.history else None,
                "replicas": st.replicas,
                "calls": [c for c, _ in spec.calls],
                "restarted_at": st.restarted_at.isoformat().replace("+00:00", "Z")
                if st.restarted_at else None,
            }

    def actions(self) -> list[ActionRecord]:
        with self._lock:
            return list(self._actions.values())

    def drain_events(self) -> list[dict[str, Any]]:
        """Deployments and restarts since the last call, for the generator to log."""
        with self._lock:
            events, self._events = self._events, []
            return events

    # -- changing --------------------------------------------------------------------------
    def deploy(self, service: str, version: str, at: datetime | None = None,
               description: str | None = None, author: str = "ci-bot") -> None:
        """A new version goes live (scenarios and background change use this)."""
        with self._lock:
            st = self._require(service)
            at = at or self.clock()
            self._events.append({"kind": "deployment", "service": service, "version": version,
                                 "previous_version": st.version, "at": at,
                                 "author": author, "description": description})
            st.history.append(st.version)
            st.version = version
            st.deployed_at = at

    def rollback(self, service: str, action_id: str, to_version: str | None = None) -> dict:
        """Go back to the previous version (or to `to_version`, if it ran here before)."""
        return self._act("rollback", service, action_id, {"to_version": to_version},
                         self._do_rollback)

    def restart(self, service: str, action_id: str) -> dict:
        """Restart every replica: memory and connection pools start fresh."""
        return self._act("restart", service, action_id, {}, self._do_restart)

    def scale(self, service: str, action_id: str, replicas: int) -> dict:
        """Set the replica count (1 to 100)."""
        if not 1 <= replicas <= 100:
            raise FleetError(f"replicas must be between 1 and 100, got {replicas}", 422)
        return self._act("scale", service, action_id, {"replicas": replicas}, self._do_scale)

    def _act(self, action: ActionName, service: str, action_id: str, params: dict[str, Any],
             do: Callable[[str, dict[str, Any], datetime], dict[str, Any]]) -> dict:
        if not action_id:
            raise FleetError("action_id is required", 422)
        with self._lock:
            done = self._actions.get(action_id)
            if done is not None:
                if (done.action, done.service, done.params) != (action, service, params):
                    raise FleetError(
                        f"action_id {action_id!r} was already used for {done.action} of "
                        f"{done.service} with {done.params}", 409)
                return {**done.to_dict(), "repeated": True}
            self._require(service)
            at = self.clock()
            result = do(service, params, at)
            record = ActionRecord(action_id, action, service, params, at, result)
            self._actions[action_id] = record
            return {**record.to_dict(), "repeated": False}

    def _do_rollback(self, service: str, params: dict[str, Any], at: datetime) -> dict:
        st = self._states[service]
        target = params["to_version"] or (st.history[-1] if st.history else None)
        if target is None:
            raise FleetError(f"{service} has no earlier version to roll back to")
        if target == st.version:
            raise FleetError(f"{service} already runs {target}")
        if target not in st.history:
            raise FleetError(f"{service} never ran version {target}; known: {st.history}")
        previous = st.version
        self._events.append({"kind": "deployment", "service": service, "version": target,
                             "previous_version": previous, "at": at, "author": "oasis",
                             "description": f"rollback from {previous}"})
        # Drop the rolled-back versions so a second rollback goes further back, as in k8s.
        del st.history[st.history.index(target):]
        st.version = target
        st.deployed_at = at
        return {"version": target, "previous_version": previous}

    def _do_restart(self, service: str, params: dict[str, Any], at: datetime) -> dict:
        st = self._states[service]
        st.restarted_at = at
        self._events.append({"kind": "restart", "service": service, "at": at})
        return {"version": st.version, "replicas": st.replicas}

    def _do_scale(self, service: str, params: dict[str, Any], at: datetime) -> dict:
        st = self._states[service]
        previous, st.replicas = st.replicas, params["replicas"]
        self._events.append({"kind": "scale", "service": service, "at": at,
                             "replicas": st.replicas, "previous": previous})
        return {"replicas": st.replicas, "previous_replicas": previous}

    def _require(self, service: str) -> ServiceState:
        try:
            return self._states[service]
        except KeyError:
            raise FleetError(f"unknown service {service!r}; known: {', '.join(self.specs)}",
                             404) from None
