"""The simulator: determinism, valid output, each scenario's symptoms, and remediation."""

from __future__ import annotations

import statistics
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from oasis.api import create_app
from oasis.cli import app
from oasis.config import Settings
from oasis.ingest import Ingestor, TimeWindow
from oasis.signals.parse import parse_record
from oasis.simulate import GeneratorConfig, simulate
from oasis.simulate.control import create_control_app
from oasis.simulate.generator import floor_minute
from oasis.simulate.live import WallClock, run_live, start_live
from oasis.store import DuckDBSignalStore
from tests.servers import serving

START = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
runner = CliRunner()


class Minutes:
    """Per-service, per-minute view of simulated records, for asserting symptoms."""

    def __init__(self, records: list[dict], start: datetime) -> None:
        self.start = start
        self.errors: dict[tuple[str, int], int] = defaultdict(int)
        self.metrics: dict[tuple[str, str, int], float] = {}
        self.logs = [r for r in records if r["type"] == "log"]
        self.deployments = [r for r in records if r["type"] == "deployment"]
        for r in records:
            minute = int((parse_record(r).timestamp - start).total_seconds() // 60)
            if r["type"] == "log" and r["level"] in ("ERROR", "FATAL"):
                self.errors[(r["service"], minute)] += 1
            elif r["type"] == "metric":
                self.metrics[(r["service"], r["name"], minute)] = r["value"]

    def error_count(self, service: str, minutes: range) -> float:
        return statistics.mean(self.errors[(service, m)] for m in minutes)

    def metric(self, service: str, name: str, minutes: range) -> float:
        return statistics.mean(self.metrics[(service, name, m)] for m in minutes
                               if (service, name, m) in self.metrics)


def run(scenario: str, seed: int = 3, hours: float = 2.5, onset: float = 90, **kw) -> tuple:
    sim = simulate(scenario, hours=hours, seed=seed, start=START, onset=onset, **kw)
    records = list(sim.records())
    return sim, Minutes(records, START), records


BEFORE = range(30, 85)
AFTER = range(110, 150)


def test_same_seed_and_start_give_the_same_data_and_another_seed_does_not() -> None:
    a = list(simulate("bad_deploy", hours=0.5, seed=5, start=START, onset=10).records())
    b = list(simulate("bad_deploy", hours=0.5, seed=5, start=START, onset=10).records())
    c = list(simulate("bad_deploy", hours=0.5, seed=6, start=START, onset=10).records())
    assert a == b
    assert a != c


def test_output_is_valid_wire_format_for_a_realistic_fleet(tmp_path) -> None:
    sim = simulate("none", hours=1, seed=1, start=START)
    records = list(sim.records())
    store = DuckDBSignalStore(tmp_path / "s.duckdb")
    report = Ingestor(store, window=TimeWindow.unbounded()).ingest_values(records)  # history
    assert (report.accepted, report.rejected) == (len(records), 0)
    services = {r["service"] for r in records}
    assert len(services) >= 6
    metric_names = {r["name"] for r in records if r["type"] == "metric"}
    assert {"latency_p50_ms", "latency_p99_ms", "request_rate", "error_rate", "cpu_percent",
            "memory_percent"} <= metric_names
    # One request's trace id appears in the logs of several services along its call.
    by_trace: dict[str, set[str]] = defaultdict(set)
    for r in records:
        if r.get("trace_id"):
            by_trace[r["trace_id"]].add(r["service"])
    assert max(len(s) for s in by_trace.values()) >= 4
    # Background noise differs by service: each has its own error type and level of it.
    noise = Minutes(records, START)
    rates = {s: noise.error_count(s, range(0, 60)) for s in services}
    assert max(rates.values()) > 5 * min(rates.values())
    store.close()


@pytest.mark.parametrize("scenario", ["bad_deploy", "dependency_failure"])
def test_errors_start_at_the_root_and_weaken_hop_by_hop(scenario: str) -> None:
    sim, m, _ = run(scenario)
    root = sim.truth.root_cause_service
    assert m.error_count(root, AFTER) > 10 * max(1.0, m.error_count(root, BEFORE))
    rates = {s: m.metric(s, "error_rate", AFTER) for s in sim.truth.affected_services}
    assert rates[root] == max(rates.values())
    assert rates["web-frontend"] < rates[root]
    assert m.metric("web-frontend", "error_rate", AFTER) > \
        3 * m.metric("web-frontend", "error_rate", BEFORE)
    # Callers' errors name the callee that failed them.
    upstream = [r for r in m.logs if r.get("error_type") == "UpstreamServiceError"]
    assert any(root in r["message"] for r in upstream)
    # Services off the failing path are untouched.
    assert m.error_count("auth-service", AFTER) < 1.5 * m.error_count("auth-service", BEFORE) + 1


def test_bad_deploy_ships_the_version_that_breaks() -> None:
    sim, m, _ = run("bad_deploy")
    change = sim.truth.suspected_change
    deploys = [d for d in m.deployments if d["service"] == change["service"]]
    assert [(d["version"], d["previous_version"]) for d in deploys] == \
        [(change["version"], change["previous_version"])]
    assert parse_record(deploys[0]).timestamp == sim.truth.onset


def test_memory_leak_climbs_then_kills_the_container() -> None:
    sim, m, _ = run("memory_leak", hours=3.5, onset=60)
    root = sim.truth.root_cause_service
    before = m.metric(root, "memory_percent", range(0, 55))
    assert m.metric(root, "memory_percent", range(100, 110)) > before + 25
    fatal = [r for r in m.logs if r["level"] == "FATAL" and r["service"] == root]
    assert fatal and "OutOfMemoryError" in fatal[0]["message"]
    others = [s for s in sim.fleet.names if s != root]
    assert all(m.metric(s, "memory_percent", range(100, 110)) < before + 5 for s in others)


def test_latency_degradation_slows_the_service_and_its_callers_less() -> None:
    sim, m, _ = run("latency_degradation")
    root = sim.truth.root_cause_service
    ratio = m.metric(root, "latency_p99_ms", AFTER) / m.metric(root, "latency_p99_ms", BEFORE)
    caller = m.metric("api-gateway", "latency_p99_ms", AFTER) / \
        m.metric("api-gateway", "latency_p99_ms", BEFORE)
    assert ratio > 2
    assert 1.05 < caller < ratio
    assert any(r["level"] == "WARN" and "slow query" in r["message"] for r in m.logs)


def test_traffic_spike_saturates_the_tightest_service() -> None:
    sim, m, _ = run("traffic_spike")
    root = sim.truth.root_cause_service
    edge = m.metric("web-frontend", "request_rate", AFTER) / \
        m.metric("web-frontend", "request_rate", BEFORE)
    assert edge > 2
    assert m.metric(root, "cpu_percent", AFTER) > 85
    assert m.metric(root, "error_rate", AFTER) > 5 * max(0.1, m.metric(root, "error_rate", BEFORE))


@pytest.mark.parametrize("scenario", ["healthy_deploy", "noisy_service", "diurnal_ramp", "none"])
def test_healthy_controls_change_no_service_rate(scenario: str) -> None:
    sim, m, _records = run(scenario)
    assert not sim.truth.incident and sim.truth.root_cause_service is None
    for service in sim.fleet.names:
        for name in ("error_rate", "latency_p99_ms"):
            before, after = m.metric(service, name, BEFORE), m.metric(service, name, AFTER)
            assert after < 1.4 * before + 0.3, (service, name, before, after)
    if scenario == "healthy_deploy":
        assert any(d["service"] == "api-gateway" for d in m.deployments)
    if scenario == "diurnal_ramp":  # more than twice the traffic, same rates
        assert m.metric("web-frontend", "request_rate", range(140, 150)) > \
            2 * m.metric("web-frontend", "request_rate", BEFORE)
    if scenario == "noisy_service":  # loud all along: its normal is many errors
        loud = m.error_count("auth-service", BEFORE)
        assert loud > 5 * m.error_count("catalog-service", BEFORE)


# Remediation: (scenario, right action, a wrong action, metric that shows the symptom).
REMEDIES = [
    ("bad_deploy", ("rollback", {}), ("restart", {}), "error_rate"),
    ("dependency_failure", ("restart", {}), ("scale", {"replicas": 6}), "error_rate"),
    ("memory_leak", ("rollback", {}), ("scale", {"replicas": 6}), "memory_percent"),
    ("latency_degradation", ("scale", {"replicas": 9}), ("restart", {}), "latency_p99_ms"),
    ("traffic_spike", ("scale", {"replicas": 6}), ("restart", {}), "error_rate"),
]


def _after_action(scenario: str, action: tuple[str, dict]) -> tuple[float, float, float]:
    """Symptom level before onset, just before the action, and well after it."""
    sim = simulate(scenario, hours=3, seed=4, start=START, onset=60,
                   config=GeneratorConfig(rpm=400))
    root = sim.truth.root_cause_service
    acted_at = START + timedelta(minutes=110)
    first = list(sim.records(START, acted_at))
    name, params = action
    getattr(sim.fleet, name)(root, action_id="a1", **params)
    m = Minutes(first + list(sim.records(acted_at, sim.truth.end)), START)
    metric = next(r[3] for r in REMEDIES if r[0] == scenario)
    return (m.metric(root, metric, range(20, 55)), m.metric(root, metric, range(100, 110)),
            m.metric(root, metric, range(140, 180)))


@pytest.mark.parametrize(("scenario", "right", "wrong", "metric"), REMEDIES,
                         ids=[r[0] for r in REMEDIES])
def test_the_right_action_stops_the_symptoms_and_a_wrong_one_does_not(
        scenario, right, wrong, metric) -> None:
    baseline, sick, healed = _after_action(scenario, right)
    assert sick > 1.5 * baseline + 1, (baseline, sick)
    assert healed < baseline * 1.25 + 1, (baseline, sick, healed)
    _, sick_too, still_sick = _after_action(scenario, wrong)
    assert still_sick > 1.5 * baseline + 1, (baseline, sick_too, still_sick)


def test_control_api_acts_once_per_action_id_and_explains_refusals() -> None:
    sim = simulate("bad_deploy", hours=1, seed=1, start=START, onset=10)
    list(sim.records())
    client = TestClient(create_control_app(sim.fleet))
    fleet = client.get("/fleet").json()
    checkout = next(s for s in fleet["services"] if s["name"] == "checkout-service")
    assert (checkout["version"], checkout["previous_version"]) == ("2.5.0", "2.4.1")

    first = client.post("/fleet/services/checkout-service/rollback", json={"action_id": "x1"})
    again = client.post("/fleet/services/checkout-service/rollback", json={"action_id": "x1"})
    assert first.status_code == again.status_code == 200
    assert first.json()["result"] == {"version": "2.4.1", "previous_version": "2.5.0"}
    assert (first.json()["repeated"], again.json()["repeated"]) == (False, True)
    assert client.get("/fleet/services/checkout-service").json()["version"] == "2.4.1"
    assert len(client.get("/fleet/actions").json()) == 1

    reused = client.post("/fleet/services/checkout-service/restart", json={"action_id": "x1"})
    assert reused.status_code == 409 and "already used" in reused.json()["detail"]
    nothing_left = client.post("/fleet/services/checkout-service/rollback",
                               json={"action_id": "x2"})
    assert nothing_left.status_code == 409 and "no earlier version" in nothing_left.json()["detail"]
    unknown = client.post("/fleet/services/nope/restart", json={"action_id": "x3"})
    assert unknown.status_code == 404 and "checkout-service" in unknown.json()["detail"]
    assert client.post("/fleet/services/checkout-service/scale",
                       json={"action_id": "x4", "replicas": 0}).status_code == 422
    assert client.post("/fleet/services/checkout-service/restart", json={}).status_code == 422


def test_cli_writes_data_and_truth_and_refuses_bad_arguments(tmp_path) -> None:
    out, truth = tmp_path / "x.ndjson", tmp_path / "truth.json"
    result = runner.invoke(app, ["simulate", "--scenario", "dependency_failure", "--hours", "1",
                                 "--seed", "2", "--start", "2026-11-23T00:00:00Z",
                                 "--out", str(out), "--truth", str(truth)])
    assert result.exit_code == 0, result.output
    t = orjson.loads(truth.read_bytes())
    assert t["root_cause_service"] == "inventory-service"
    assert t["onset"] == "2026-11-23T00:40:00.000Z"
    assert t["remedies"][0]["action"] == "restart"
    assert out.stat().st_size > 100_000

    for args, message in [
        (["--scenario", "nope"], "unknown scenario"),
        (["--service", "nope"], "unknown service"),
        (["--start", "2026-11-23T00:00:00"], "timezone"),
        (["--onset", "999"], "outside the simulated window"),
        (["--log-sample", "2"], "between 0 and 1"),
    ]:
        bad = runner.invoke(app, ["simulate", "--hours", "1", "--out", str(out), *args])
        assert bad.exit_code == 2 and message in bad.output, (args, bad.output)
    both = runner.invoke(app, ["simulate", "--out", str(out), "--live"])
    assert both.exit_code == 2


def test_simulated_file_gives_same_counts_from_file_and_over_http(tmp_path) -> None:
    out = tmp_path / "x.ndjson"
    assert runner.invoke(app, ["simulate", "--hours", "3", "--seed", "1", "--out",
                               str(out)]).exit_code == 0
    local_env = {"OASIS_DATA_DIR": str(tmp_path / "local")}
    local = orjson.loads(runner.invoke(app, ["ingest", str(out), "--json"], env=local_env).stdout)
    with serving(create_app(Settings(data_dir=tmp_path / "remote"))) as url:
        remote = orjson.loads(runner.invoke(app, ["ingest", str(out), "--url", url, "--json"],
                                            env=local_env).stdout)
    assert local == remote
    assert local["accepted"] > 40_000 and local["rejected"] == 0


class DrivenWall(WallClock):
    """Wall time that moves only when the live loop waits: each wait is over at once, and
    `on_wait` looks at what has arrived so far."""

    def __init__(self, on_wait: Callable[[], None]) -> None:
        self.now, self.on_wait = 0.0, on_wait

    def monotonic(self) -> float:
        return self.now

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        self.on_wait()
        self.now += seconds
        return stop.is_set()


METRICS_PER_MINUTE = 7 * 6  # seven services, six metrics each


def test_live_mode_streams_history_then_minutes_into_a_server(tmp_path) -> None:
    # At 60x the simulation runs ahead of the wall clock: the server must take the future.
    settings = Settings(data_dir=tmp_path / "live", ingest={"max_future_seconds": 0})
    store = DuckDBSignalStore(settings.signal_store_path)
    seen: list[tuple[datetime | None, int]] = []  # (newest record, metrics) at each wait
    wall = DrivenWall(lambda: seen.append((store.latest_timestamp(), store.count("metrics"))))
    with serving(create_app(settings, store=store)) as url:
        sim, clock = start_live("none", url, speed=60, backfill_hours=0.25, wall=wall)
        # 25 driven seconds at 60x: 25 simulated minutes, one per wait.
        stats = run_live(sim, clock, url, duration=25)
        services = {s["service"] for s in httpx.get(url + "/api/v1/services").json()}
    assert len(services) == 7
    assert (stats.minutes, stats.failed_posts) == (15 + 25, 0)
    assert stats.sim_time == clock.origin + timedelta(minutes=25)
    assert len(seen) == 25
    # Before the first wait: the whole history (15 minutes, up to now) and nothing later.
    # Before each next wait: one more minute, the next one.
    for streamed, (newest, metrics) in enumerate(seen):
        assert newest is not None
        assert floor_minute(newest) == clock.origin + timedelta(minutes=streamed - 1), streamed
        assert metrics == (15 + streamed) * METRICS_PER_MINUTE, streamed
    assert store.count("metrics") == 40 * METRICS_PER_MINUTE
    assert store.count("logs") + store.count("metrics") + store.count("deployments") \
        == stats.records  # every record sent is stored, none twice
    store.close()


def test_live_mode_from_the_cli_sends_the_history_and_stops_after_its_duration(
        tmp_path) -> None:
    settings = Settings(data_dir=tmp_path / "live", ingest={"max_future_seconds": 0})
    store = DuckDBSignalStore(settings.signal_store_path)
    with serving(create_app(settings, store=store)) as url:
        result = runner.invoke(app, ["simulate", "--live", "--url", url, "--speed", "600",
                                     "--backfill-hours", "0.25", "--duration", "0",
                                     "--control-port", "0", "--scenario", "none"])
        assert result.exit_code == 0, result.output
        services = {s["service"] for s in httpx.get(url + "/api/v1/services").json()}
    assert len(services) == 7
    assert "over 15 simulated minutes" in result.output, result.output
    assert store.count("metrics") == 15 * METRICS_PER_MINUTE
    store.close()
