"""Prometheus read in place: a real Prometheus (Debian's) with a backfilled history, and
the reader's mapping of the query API's answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from typer.testing import CliRunner

from oasis.cli import app
from oasis.incidents.store import IncidentStore
from oasis.monitor.monitor import Monitor
from oasis.sources import FederatedSignals, SourceUnavailable
from oasis.sources.http import SourceClient
from oasis.sources.prometheus import PrometheusReader
from oasis.sources.settings import PrometheusSource
from oasis.store import DuckDBSignalStore
from tests.fleet_history import BROKEN, JUMP_MINUTE, MINUTES, START, minutes
from tests.prometheus_server import prometheus_with


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> str:
    with prometheus_with(minutes(), tmp_path_factory.mktemp("prometheus")) as url:
        yield url


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def test_backtest_finds_the_one_incident_on_the_right_service(prometheus, tmp_path):
    """The issue's acceptance: `oasis replay --source prometheus=URL --start --end --json`
    over 3 h where one service's 5xx share jumps, beside noisy, sparse, ramping, restarted
    and differently named healthy services: exactly that incident, within 10 minutes."""
    end = START + timedelta(minutes=MINUTES)
    result = CliRunner().invoke(app, [
        "replay", "--source", f"prometheus={prometheus}",
        "--start", _iso(START), "--end", _iso(end), "--json"],
        env={"OASIS_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    incidents = json.loads(result.stdout)
    assert len(incidents) == 1, incidents
    incident = incidents[0]
    assert incident["root_cause_service"] == BROKEN
    jump = START + timedelta(minutes=JUMP_MINUTE)
    detected = datetime.fromisoformat(incident["detected_at"])
    assert jump <= detected <= jump + timedelta(minutes=10)


def test_every_naming_convention_and_label_maps_to_its_service(prometheus):
    reader = PrometheusReader(PrometheusSource(url=prometheus))
    at = START + timedelta(minutes=60)
    points = reader.metric_stats(at, at + timedelta(minutes=3))
    requests = {p.service for p in points if p.name == "http_requests_per_minute"}
    assert requests == {"checkout", "search", "ledger", "catalog", "auth", "gateway"}
    latency = {p.service for p in points if p.name == "http_request_duration_p99_seconds"}
    assert latency == requests
    assert all(p.bucket.second == 0 and at <= p.bucket < at + timedelta(minutes=3)
               for p in points)
    gateway = [p.mean for p in points if p.service == "gateway"
               and p.name == "http_requests_per_minute"]
    assert all(800 < v < 1000 for v in gateway)  # 900 a minute in the history


def test_a_counter_reset_is_not_a_drop_or_a_spike(prometheus):
    """`search` restarts at minute 90: its per-minute rate stays in its usual range."""
    reader = PrometheusReader(PrometheusSource(url=prometheus))
    at = START + timedelta(minutes=85)
    rates = [p.mean for p in reader.metric_stats(at, at + timedelta(minutes=10))
             if p.service == "search" and p.name == "http_requests_per_minute"]
    assert len(rates) == 10
    assert all(50 < v < 1200 for v in rates), rates


def _reader(handler, **options) -> PrometheusReader:
    settings = PrometheusSource(url="http://prom.test", **options)
    sleeps: list[float] = []
    client = SourceClient("prometheus", settings.url, auth=settings.auth, tls=settings.tls,
                          timeout_seconds=1, retries=settings.retries,
                          transport=httpx.MockTransport(handler), sleep=sleeps.append)
    reader = PrometheusReader(settings, client)
    reader.sleeps = sleeps
    return reader


def _matrix(series: list[tuple[dict, list]]) -> dict:
    return {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": labels, "values": values} for labels, values in series]}}


T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


def test_values_are_keyed_by_the_minute_they_count_and_nan_is_a_gap():
    def handler(request: httpx.Request) -> httpx.Response:
        query = request.url.params["query"]
        if query.startswith("sum by (service, service_name, job, code"):
            end = T0.timestamp() + 120
            return httpx.Response(200, json=_matrix([
                ({"service_name": "pay", "code": "200"}, [[end - 60, "90"], [end, "NaN"]]),
                ({"service_name": "pay", "code": "503"}, [[end - 60, "10"]])]))
        return httpx.Response(200, json=_matrix([]))

    reader = _reader(handler, latency=False, process=False)
    points = reader.metric_stats(T0, T0 + timedelta(minutes=2))
    by_name = {(p.name, p.bucket): p.mean for p in points}
    assert by_name == {("http_requests_per_minute", T0): 100.0,
                       ("http_5xx_ratio", T0): 0.1}


def test_service_labels_and_renames_come_from_the_settings():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=_matrix([
            ({"app": "payments-v2", "job": "kubernetes-pods"}, [[T0.timestamp() + 60, "7"]])]))

    reader = _reader(handler, requests=False, latency=False, process=False,
                     queries={"queue_depth": "sum by (app) (queue_messages)"},
                     service_labels=["app", "job"], service_map={"payments-v2": "payments"})
    [p] = reader.metric_stats(T0, T0 + timedelta(minutes=1))
    assert (p.service, p.name, p.mean, p.bucket) == ("payments", "queue_depth", 7.0, T0)


def test_a_down_source_is_retried_with_backoff_then_unavailable():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, text="overloaded")

    reader = _reader(handler, retries=3)
    with pytest.raises(SourceUnavailable, match="HTTP 503"):
        reader.metric_stats(T0, T0 + timedelta(minutes=1))
    assert len(calls) == 4
    assert reader.sleeps == [0.5, 1.0, 2.0]


def test_a_bad_query_is_reported_with_prometheus_own_words():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"status": "error", "errorType": "bad_data",
                                         "error": "parse error at char 5"})

    reader = _reader(handler, requests=False, latency=False, process=False,
                     queries={"x": "sum(("})
    with pytest.raises(SourceUnavailable, match="parse error at char 5"):
        reader.metric_stats(T0, T0 + timedelta(minutes=1))


def test_bearer_and_basic_auth_are_sent():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json=_matrix([]))

    _reader(handler, auth={"token": "s3cret"}).metric_stats(T0, T0 + timedelta(minutes=1))
    assert set(seen) == {"Bearer s3cret"}
    seen.clear()
    _reader(handler, auth={"username": "u", "password": "p"}).metric_stats(
        T0, T0 + timedelta(minutes=1))
    assert set(seen) == {"Basic dTpw"}


class _Flaky:
    """A source that fails while `down`, on the wall clock the test drives."""

    name, kind, history_hours, max_wait_seconds = "flaky", "prometheus", 24.0, 300.0

    def __init__(self) -> None:
        self.down = False

    def metric_stats(self, start, end):
        if self.down:
            raise SourceUnavailable(self.name, "connection refused")
        return []

    def log_counts(self, start, end, *, by="level", errors_only=False):
        return self.metric_stats(start, end)

    def read_logs(self, start, end, *, levels=None, limit=100_000):
        return self.metric_stats(start, end)

    def sample_logs(self, start, end, *, service=None, errors_only=False, limit=20):
        return self.metric_stats(start, end)

    def close(self) -> None: ...


def test_a_failing_source_holds_detection_back_then_is_skipped(tmp_path):
    """Never read as a quiet fleet: while the source fails the monitor's cursor stays (the
    same minutes are read again), for up to max_wait_seconds; then detection goes on."""
    wall = [T0]
    source = _Flaky()
    store = DuckDBSignalStore(None, retention_days=0)
    signals = FederatedSignals(store, [source], wall=lambda: wall[0])
    incidents = IncidentStore(f"sqlite:///{tmp_path / 'state.db'}")
    monitor = Monitor(signals, incidents)
    monitor.cursor = T0
    monitor.check(T0 + timedelta(minutes=1))
    assert monitor.cursor == T0 + timedelta(minutes=1)
    source.down = True
    with pytest.raises(SourceUnavailable):
        monitor.check(T0 + timedelta(minutes=2))
    assert monitor.cursor == T0 + timedelta(minutes=1)
    assert signals.health["flaky"].status == "waiting"
    wall[0] = T0 + timedelta(seconds=301)
    monitor.check(T0 + timedelta(minutes=3))
    assert monitor.cursor == T0 + timedelta(minutes=3)
    assert signals.health["flaky"].status == "skipped"
    source.down = False
    monitor.check(T0 + timedelta(minutes=4))
    assert signals.health["flaky"].status == "ok"
    incidents.close()
    store.close()


@pytest.mark.parametrize(("args", "message"), [
    (["--source", "graphite=http://x"], "expected KIND=URL"),
    (["--source", "prometheus"], "expected KIND=URL"),
    (["--source", "prometheus=http://x"], "needs --start and --end"),
    (["--source", "prometheus=http://x", "--start", "2026-11-16T09:00:00",
      "--end", "2026-11-16T10:00:00Z"], "no timezone"),
    (["--source", "prometheus=http://x", "--start", "2026-11-16T10:00:00Z",
      "--end", "2026-11-16T09:00:00Z"], "after --start"),
    (["--source", "prometheus=http://127.0.0.1:9", "--start", "2026-11-16T09:00:00Z",
      "--end", "2026-11-16T09:05:00Z"], "source prometheus"),
])
def test_bad_backtest_arguments_get_a_clear_message(tmp_path, args, message):
    result = CliRunner().invoke(app, ["replay", *args], env={"OASIS_DATA_DIR": str(tmp_path)})
    assert result.exit_code != 0
    output = " ".join(result.output.split())
    assert message in output, output
    assert "Traceback" not in output


def test_deployments_given_alongside_name_the_suspected_change(prometheus, tmp_path):
    """`oasis replay --source ... FILE`: the file's deployments join the history, so the
    release two minutes before the jump is named, and an older unrelated one is not."""
    jump = START + timedelta(minutes=JUMP_MINUTE)
    deploys = tmp_path / "deploys.ndjson"
    deploys.write_text("\n".join(json.dumps(d) for d in [
        {"type": "deployment", "timestamp": _iso(START + timedelta(minutes=30)),
         "service": "search", "version": "7.1.0"},
        {"type": "deployment", "timestamp": _iso(jump - timedelta(minutes=2)),
         "service": BROKEN, "version": "3.4.0", "previous_version": "3.3.9"}]) + "\n")
    result = CliRunner().invoke(app, [
        "replay", "--source", f"prometheus={prometheus}", "--start", _iso(START),
        "--end", _iso(START + timedelta(minutes=MINUTES)), "--json", str(deploys)],
        env={"OASIS_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    [incident] = json.loads(result.stdout)
    change = incident["suspected_change"]
    assert change["service"] == BROKEN and change["version"] == "3.4.0"
