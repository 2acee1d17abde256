"""`oasis serve` with `sources:`: the live monitor reads a real Prometheus every check and
raises the incident in it; a source that is down shows on /healthz, the console and
/metrics, and detection waits for it instead of reading a quiet fleet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient

from oasis.api import create_app
from oasis.config import Settings
from tests.fleet_history import BROKEN, minutes
from tests.helpers import wait_until
from tests.prometheus_server import prometheus_with
from tests.servers import free_port


def _settings(tmp_path: Path, sources: list[dict]) -> Settings:
    return Settings(data_dir=tmp_path / "data", knowledge={"embedder": "none"},
                    detect={"check_interval_seconds": 0.5}, sources=sources)


def test_serve_reads_prometheus_live_and_raises_its_incident(tmp_path: Path) -> None:
    """History up to the current minute, the 5xx jump 8 minutes ago: the first live check
    reads the last day from Prometheus and opens the incident on the right service."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(minutes=170)
    history = minutes(start=start, jump_minute=162, length=170)
    with prometheus_with(history, tmp_path / "prom") as url:
        settings = _settings(tmp_path, [{"kind": "prometheus", "url": url}])
        with TestClient(create_app(settings)) as client:
            incidents = wait_until(
                lambda: client.get("/api/v1/incidents").json(), 120,
                what="the incident from Prometheus")
            assert [i["root_cause_service"] for i in incidents] == [BROKEN]
            health = client.get("/healthz").json()
            assert health["status"] == "ok" and health["sources"] == []
            metrics = client.get("/metrics").text
            assert 'oasis_source_up{kind="prometheus",source="prometheus"} 1.0' in metrics
            assert "oasis_detection_cycle_seconds_count" in metrics
            assert 'oasis_incidents{status=' in metrics


def test_a_down_source_is_visible_and_detection_waits_for_it(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    settings = _settings(tmp_path, [{"kind": "prometheus", "url": dead, "retries": 0,
                                     "name": "metrics-eu"}])
    with TestClient(create_app(settings)) as client:
        health = wait_until(lambda: (h := client.get("/healthz").json())["sources"] and h,
                            60, what="the source to show as failing")
        assert health["status"] == "degraded"
        [source] = health["sources"]
        assert (source["name"], source["status"]) == ("metrics-eu", "waiting")
        services = client.app.state.services
        assert services.monitor.cursor is None  # nothing was read as a quiet minute
        page = client.get("/").text
        assert "Source <b>metrics-eu</b>" in page and "Detection is waiting for it" in page
        metrics = client.get("/metrics").text
        assert 'oasis_source_up{kind="prometheus",source="metrics-eu"} 0.0' in metrics
        assert "oasis_detection_cycle_failures_total" in metrics
