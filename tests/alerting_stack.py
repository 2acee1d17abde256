"""A real Prometheus and Alertmanager (Debian's packages) alerting on a gauge the test sets.

The test serves one gauge on a loopback port; Prometheus scrapes it every second and
evaluates an alerting rule on it every second; Alertmanager groups and sends to a webhook
with one-second group intervals and `send_resolved`. Setting the gauge to 1 makes the alert
fire, to 0 resolve: the whole chain a user runs, only faster.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import yaml

from tests.debian import install, unavailable
from tests.helpers import wait_until
from tests.servers import free_port

PROMETHEUS = Path("/usr/bin/prometheus")
ALERTMANAGER = Path("/usr/bin/prometheus-alertmanager")


@dataclass
class Gauge:
    """The value the scraped target reports as `oasis_test_broken`."""

    value: float = 0.0


@contextmanager
def _target(gauge: Gauge) -> Iterator[str]:
    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"# TYPE oasis_test_broken gauge\noasis_test_broken {gauge.value}\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Metrics)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _process(command: list[str], log_path: Path, ready_url: str, what: str) -> Iterator[None]:
    log = log_path.open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited: {log_path.read_text()[-3000:]}")
        try:
            return httpx.get(ready_url, timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, 120, what=f"{what} to start")
        yield
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@contextmanager
def alerting_stack(workdir: Path, webhook_url: str, rule_labels: dict[str, str]) -> Iterator[Gauge]:
    """Prometheus → Alertmanager → `webhook_url`, alerting on the returned gauge."""
    for package, binary in (("prometheus", PROMETHEUS), ("prometheus-alertmanager", ALERTMANAGER)):
        why = install(package, binary)
        if why is not None:
            unavailable(package, why)
    workdir.mkdir(parents=True, exist_ok=True)
    gauge = Gauge()
    am_port, prom_port = free_port(), free_port()
    (workdir / "alertmanager.yml").write_text(
        yaml.safe_dump(
            {
                "route": {
                    "receiver": "oasis",
                    "group_by": ["alertname"],
                    "group_wait": "1s",
                    "group_interval": "1s",
                    "repeat_interval": "1h",
                },
                "receivers": [
                    {
                        "name": "oasis",
                        "webhook_configs": [{"url": webhook_url, "send_resolved": True}],
                    }
                ],
            }
        )
    )
    (workdir / "rules.yml").write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "oasis-test",
                        "interval": "1s",
                        "rules": [
                            {
                                "alert": "CheckoutBroken",
                                "expr": "oasis_test_broken > 0",
                                "for": "0s",
                                "labels": rule_labels,
                                "annotations": {
                                    "summary": "checkout is broken",
                                    "description": "oasis_test_broken is {{ $value }}",
                                },
                            }
                        ],
                    }
                ]
            }
        )
    )
    with ExitStack() as stack:
        target = stack.enter_context(_target(gauge))
        (workdir / "prometheus.yml").write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(workdir / "rules.yml")],
                    "alerting": {
                        "alertmanagers": [
                            {"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}
                        ]
                    },
                    "scrape_configs": [
                        {"job_name": "checkout", "static_configs": [{"targets": [target]}]}
                    ],
                }
            )
        )
        stack.enter_context(
            _process(
                [
                    str(ALERTMANAGER),
                    f"--config.file={workdir / 'alertmanager.yml'}",
                    f"--storage.path={workdir / 'am-data'}",
                    f"--web.listen-address=127.0.0.1:{am_port}",
                    "--cluster.listen-address=",
                ],
                workdir / "alertmanager.log",
                f"http://127.0.0.1:{am_port}/-/ready",
                "Alertmanager",
            )
        )
        stack.enter_context(
            _process(
                [
                    str(PROMETHEUS),
                    f"--config.file={workdir / 'prometheus.yml'}",
                    f"--storage.tsdb.path={workdir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                    "--rules.alert.resend-delay=1s",
                ],
                workdir / "prometheus.log",
                f"http://127.0.0.1:{prom_port}/-/ready",
                "Prometheus",
            )
        )
        yield gauge
