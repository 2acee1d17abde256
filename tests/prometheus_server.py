"""A real Prometheus (Debian's package) serving a backfilled history, for source tests.

The history is written as OpenMetrics text and turned into TSDB blocks with `promtool tsdb
create-blocks-from openmetrics`, as an operator would backfill; Prometheus then serves it
on a free loopback port with no scrape targets and a retention long enough to keep it.
"""

from __future__ import annotations

import math
import subprocess
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.debian import install, unavailable
from tests.fleet_history import Minute
from tests.helpers import wait_until
from tests.servers import free_port

PROMETHEUS = Path("/usr/bin/prometheus")
PROMTOOL = Path("/usr/bin/promtool")
SCRAPES_PER_MINUTE = 4  # every 15 s
BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, math.inf)
RESTARTS = {("search", 90)}  # (service, minute): the process restarts, its counters reset


def _naming(service: str) -> tuple[str, str, str, str]:
    """(request counter, service label, status label, latency buckets) per client library."""
    if service == "auth":  # Micrometer (Spring Boot), service from the scrape job
        return ("http_server_requests_seconds_count", "job", "status",
                "http_server_requests_seconds_bucket")
    if service == "gateway":  # OpenTelemetry's Prometheus exporter
        return ("http_server_request_duration_seconds_count", "service_name",
                "http_response_status_code", "http_server_request_duration_seconds_bucket")
    return ("http_requests_total", "service", "code", "http_request_duration_seconds_bucket")


def _lognormal_cdf(x: float, median: float, sigma: float = 0.5) -> float:
    if math.isinf(x):
        return 1.0
    return 0.5 * (1 + math.erf(math.log(x / median) / (sigma * math.sqrt(2))))


def openmetrics(history: Iterable[Minute]) -> str:
    """Cumulative counters and histograms sampled every 15 s, one family after another."""
    families: dict[str, list[tuple[float, str, float]]] = defaultdict(list)
    totals: dict[str, float] = defaultdict(float)
    for m in history:
        counter, label, status, buckets = _naming(m.service)
        if (m.service, m.minute) in RESTARTS:
            for key in [k for k in totals if f'"{m.service}"' in k]:
                totals[key] = 0.0
        for scrape in range(SCRAPES_PER_MINUTE):
            ts = m.at.timestamp() + 15 * (scrape + 1)
            share = 1 / SCRAPES_PER_MINUTE
            for code, n in (("200", m.ok), ("500", m.failed)):
                key = f'{counter}{{{label}="{m.service}",{status}="{code}"}}'
                totals[key] += n * share
                families[counter].append((ts, key, totals[key]))
            for le in BUCKETS:
                bound = "+Inf" if math.isinf(le) else str(le)
                key = f'{buckets}{{{label}="{m.service}",le="{bound}"}}'
                totals[key] += (m.ok + m.failed) * share * _lognormal_cdf(le, m.latency_seconds)
                families[buckets].append((ts, key, totals[key]))
    lines = []
    for family, samples in families.items():
        lines.append(f"# TYPE {family} unknown")
        lines += [f"{key} {value:.3f} {ts:.3f}" for ts, key, value in sorted(samples)]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@contextmanager
def prometheus_with(history: Iterable[Minute], workdir: Path) -> Iterator[str]:
    """The URL of a Prometheus holding `history`; skips (or fails) when it cannot run."""
    why = install("prometheus", PROMETHEUS, PROMTOOL)
    if why is not None:
        unavailable("Prometheus", why)
    data = workdir / "tsdb"
    source = workdir / "history.om"
    source.write_text(openmetrics(history))
    done = subprocess.run([str(PROMTOOL), "tsdb", "create-blocks-from", "openmetrics",
                           str(source), str(data)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f"promtool failed: {done.stderr[-2000:]}"
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
    port = free_port()
    log = (workdir / "prometheus.log").open("w")
    server = subprocess.Popen(
        [str(PROMETHEUS), f"--config.file={config}", f"--storage.tsdb.path={data}",
         f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=100y"],
        stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if server.poll() is not None:
            raise RuntimeError(f"prometheus exited: {(workdir / 'prometheus.log').read_text()}")
        try:
            return httpx.get(f"{url}/-/ready", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, 120, what="Prometheus to start")
        yield url
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
