"""The fleet: a fictional payments and logistics company ("Quillpay").

Sixteen services. `edge-proxy` is the public edge; mid-tier services call
leaves; `pg-main` is a PostgreSQL primary that logs nothing and emits no
metrics, so it can only be seen through its callers. Every service has its
own log style, metric dialect, sampling interval, host naming and version
scheme.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Edge:
    """`caller` sends `fanout` calls per request to `callee`; a failed call fails the
    caller's request with probability `prop` (the rest is absorbed by retries/fallbacks)."""

    callee: str
    fanout: float
    prop: float


@dataclass
class Service:
    name: str
    tier: str                     # edge, mid, leaf, db, worker
    hosts: list[str]
    log_style: str                # json, logfmt, glog, syslog, plain ("" = logs nothing)
    dialect: str                  # metric dialect ("" = no metrics)
    interval: int                 # metric interval in minutes (1 or 5)
    lat_ms: float                 # own p95 latency contribution, ms
    lat_sigma: float              # lognormal jitter of p95 per minute
    base_err: float               # baseline own failure probability
    entry_rate: float = 0.0       # requests/min arriving from outside at daily mean
    amplitude: float = 0.15       # daily seasonality amplitude (fraction)
    peak_hour: float = 14.0       # UTC hour of the daily peak
    noisy: bool = False           # error rate wanders between 5 and 25 %
    mem_mb: float = 300.0
    version_style: str = "semver"  # semver, calver, sha
    routes: tuple[str, ...] = ("/",)
    calls: list[Edge] = field(default_factory=list)

    @property
    def logs(self) -> bool:
        return bool(self.log_style)

    @property
    def low_traffic(self) -> bool:
        return self.name in LOW_TRAFFIC


LOW_TRAFFIC = ("label-printer", "refund-desk", "sanctions-screen")
DB_NAME = "pg-main"


def _k8s(name: str, n: int, tag: str) -> list[str]:
    suffixes = ("x7kq2", "b9m4t", "r2d8w", "p5n1c", "h3j6z")
    return [f"{name}-{tag}-{suffixes[i]}" for i in range(n)]


def build_fleet() -> dict[str, Service]:
    """A fresh fleet (mutable copies, so a run may tweak them)."""
    s = [
        Service("edge-proxy", "edge", _k8s("edge-proxy", 4, "6d5f8"), "logfmt", "mixed", 1,
                lat_ms=9, lat_sigma=0.12, base_err=0.002, entry_rate=420, amplitude=0.45,
                peak_hour=14.5, mem_mb=180, version_style="semver",
                routes=("/v2/authorize", "/v1/payouts", "/v1/merchant", "/v1/track"),
                calls=[Edge("card-auth", 0.5, 0.95), Edge("merchant-portal", 0.15, 0.95),
                       Edge("shipment-tracker", 0.3, 0.95), Edge("payout-api", 0.12, 0.95)]),
        Service("card-auth", "mid", ["card-auth-a1", "card-auth-a2", "card-auth-b1"], "json",
                "otel", 1, lat_ms=38, lat_sigma=0.15, base_err=0.004, mem_mb=900,
                version_style="calver", routes=("/authorize", "/capture", "/void"),
                calls=[Edge("risk-score", 1.0, 0.3), Edge("token-vault", 0.9, 0.9),
                       Edge("ledger", 0.85, 0.9), Edge("fx-rates", 0.1, 0.5)]),
        Service("ledger", "mid", ["ip-10-4-2-17", "ip-10-4-3-41", "ip-10-4-1-9"], "glog",
                "legacy", 1, lat_ms=14, lat_sigma=0.1, base_err=0.002, mem_mb=1400,
                version_style="sha", routes=("/entries", "/balances", "/holds"),
                calls=[Edge(DB_NAME, 1.5, 0.95)]),
        Service("payout-api", "mid", ["payout-api-0", "payout-api-1"], "plain", "prom", 1,
                lat_ms=120, lat_sigma=0.18, base_err=0.005, mem_mb=520,
                version_style="semver", routes=("/payouts", "/payouts/{id}", "/batches"),
                calls=[Edge("ledger", 1.0, 0.9), Edge("fx-rates", 0.6, 0.8),
                       Edge("sanctions-screen", 0.05, 0.9)]),
        Service("merchant-portal", "mid", _k8s("merchant-portal", 2, "59c7b"), "json",
                "legacy", 5, lat_ms=85, lat_sigma=0.2, base_err=0.003, mem_mb=650,
                version_style="calver", routes=("/dashboard", "/reports", "/settings"),
                calls=[Edge("ledger", 0.5, 0.8), Edge(DB_NAME, 1.2, 0.9)]),
        Service("shipment-tracker", "mid", ["trk-use1-a", "trk-use1-b"], "logfmt", "prom", 1,
                lat_ms=160, lat_sigma=0.2, base_err=0.004, mem_mb=480,
                version_style="semver", routes=("/track/{id}", "/events", "/eta"),
                calls=[Edge("carrier-bridge", 0.7, 0.15), Edge(DB_NAME, 1.0, 0.9)]),
        Service("label-printer", "mid", ["lblprn-01"], "syslog", "otel", 1, lat_ms=900,
                lat_sigma=0.3, base_err=0.01, entry_rate=3.2, amplitude=0.4, peak_hour=9,
                mem_mb=120, version_style="sha", routes=("/labels",),
                calls=[Edge("carrier-bridge", 1.0, 0.5)]),
        Service("refund-desk", "mid", ["refund-desk-7"], "plain", "legacy", 1, lat_ms=240,
                lat_sigma=0.25, base_err=0.01, entry_rate=0.9, amplitude=0.6, peak_hour=11,
                mem_mb=260, version_style="calver", routes=("/refunds", "/refunds/{id}"),
                calls=[Edge("ledger", 1.0, 0.9), Edge("sanctions-screen", 1.0, 0.9)]),
        Service("risk-score", "mid", ["risk-score-g1", "risk-score-g2", "risk-score-g3"],
                "glog", "otel", 1, lat_ms=22, lat_sigma=0.14, base_err=0.003, mem_mb=2100,
                version_style="sha", routes=("/score",),
                calls=[Edge("feature-store", 2.0, 0.1)]),
        Service("fx-rates", "leaf", ["fxgw-eu-1", "fxgw-eu-2"], "syslog", "legacy", 5,
                lat_ms=45, lat_sigma=0.2, base_err=0.01, mem_mb=140, version_style="semver",
                routes=("/rates/{pair}",)),
        Service("token-vault", "leaf", ["vault-0", "vault-1"], "json", "otel", 5, lat_ms=6,
                lat_sigma=0.1, base_err=0.001, mem_mb=210, version_style="semver",
                routes=("/detokenize", "/tokenize")),
        Service("sanctions-screen", "leaf", ["sanc-1"], "logfmt", "prom", 5, lat_ms=300,
                lat_sigma=0.3, base_err=0.01, mem_mb=330, version_style="calver",
                routes=("/screen",)),
        Service("carrier-bridge", "leaf", ["cbr-01", "cbr-02"], "plain", "legacy", 1,
                lat_ms=420, lat_sigma=0.35, base_err=0.12, noisy=True, mem_mb=390,
                version_style="sha", routes=("/dhl", "/ups", "/postnl")),
        Service("feature-store", "leaf", ["fs-redis-a", "fs-redis-b"], "json", "prom", 5,
                lat_ms=3, lat_sigma=0.15, base_err=0.002, mem_mb=3000, version_style="semver",
                routes=("/get",)),
        Service("settlement-worker", "worker", ["settle-w-1", "settle-w-2"], "syslog", "worker",
                1, lat_ms=1800, lat_sigma=0.2, base_err=0.005, entry_rate=60, amplitude=0.2,
                peak_hour=2, mem_mb=750, version_style="calver", routes=("batch",),
                calls=[Edge("ledger", 0.5, 0.7), Edge(DB_NAME, 2.0, 0.9)]),
        Service(DB_NAME, "db", ["pg-main-primary"], "", "", 1, lat_ms=4, lat_sigma=0.1,
                base_err=0.0005, version_style="semver"),
    ]
    return {x.name: x for x in s}


def topo_order(fleet: dict[str, Service]) -> list[str]:
    """Callers before callees."""
    seen: set[str] = set()
    out: list[str] = []

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for e in fleet[name].calls:
            visit(e.callee)
        out.append(name)

    for name in fleet:
        visit(name)
    return out[::-1]


def callers_of(fleet: dict[str, Service], name: str) -> list[str]:
    return [s.name for s in fleet.values() if any(e.callee == name for e in s.calls)]


def blast_radius(fleet: dict[str, Service], root: str, threshold: float = 0.3) -> list[str]:
    """`root` plus every service whose requests fail noticeably when `root` fails
    (product of propagation probabilities along some path at least `threshold`)."""
    best = {root: 1.0}
    frontier = [root]
    while frontier:
        cur = frontier.pop()
        for caller in callers_of(fleet, cur):
            edge = next(e for e in fleet[caller].calls if e.callee == cur)
            p = best[cur] * edge.prop
            if p >= threshold and p > best.get(caller, 0.0):
                best[caller] = p
                frontier.append(caller)
    return sorted(best)
