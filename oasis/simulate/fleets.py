"""Named fleets. `shop` is the default the detectors were developed on; `media` differs in
every way a detector could have over-fitted: names, size, topology depth, traffic, log
sampling and noise. `oasis eval --fleet media` scores detection on it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from oasis.simulate.fleet import ErrorKind, ServiceSpec, default_services
from oasis.simulate.generator import GeneratorConfig


@dataclass(frozen=True, slots=True)
class FleetProfile:
    name: str
    specs: tuple[ServiceSpec, ...]
    config: GeneratorConfig
    targets: dict[str, str]  # scenario -> service it hits by default


def media_services() -> tuple[ServiceSpec, ...]:
    """Nine services, four levels deep, noisier, on another naming scheme."""
    def noise(kind: str, text: str, status: int) -> ErrorKind:
        return ErrorKind(kind, text, status)

    return (
        ServiceSpec("edge", "7.0.2", calls=(("bff", 1.0),), latency_ms=5, replicas=6,
                    base_utilization=0.2, noise=0.006,
                    noise_error=noise("TLSHandshakeError", "handshake failed for {id}", 495)),
        ServiceSpec("bff", "12.4.0", calls=(("sessions", 1.0), ("catalogue", 0.7),
                                            ("playback", 0.25)),
                    latency_ms=10, replicas=4, base_utilization=0.3, noise=0.004,
                    noise_error=noise("BadRequest", "invalid query param {id}", 400),
                    endpoints=("GET /home", "GET /title/{id}", "POST /play")),
        ServiceSpec("sessions", "2.9.1", calls=(("kv-cache", 1.0),), latency_ms=6, replicas=3,
                    base_utilization=0.25, noise=0.03,
                    noise_error=noise("SessionExpired", "session {id} expired", 401)),
        ServiceSpec("catalogue", "5.3.0", calls=(("metadata", 1.0), ("kv-cache", 0.5)),
                    latency_ms=30, replicas=4, base_utilization=0.3, noise=0.005,
                    noise_error=noise("TitleUnavailable", "title {id} not in region", 451)),
        ServiceSpec("metadata", "1.12.7", calls=(("object-index", 0.8),), latency_ms=15,
                    replicas=3, base_utilization=0.3, noise=0.002),
        ServiceSpec("object-index", "0.9.4", latency_ms=9, replicas=2, base_utilization=0.3,
                    noise=0.001),
        ServiceSpec("playback", "3.3.3", calls=(("licenses", 1.0), ("metadata", 1.0)),
                    latency_ms=35, replicas=3, base_utilization=0.25, noise=0.01,
                    noise_error=noise("DeviceLimit", "device limit reached for {id}", 403)),
        ServiceSpec("licenses", "4.0.0", latency_ms=60, replicas=2, base_utilization=0.2,
                    noise=0.04,
                    noise_error=noise("LicenseDenied", "license denied for title {id}", 403)),
        ServiceSpec("kv-cache", "6.2.0", latency_ms=2, replicas=3, base_utilization=0.3,
                    noise=0.0005),
    )


FLEETS = {
    "shop": FleetProfile("shop", default_services(), GeneratorConfig(), {}),
    "media": FleetProfile(
        "media", media_services(),
        GeneratorConfig(rpm=2000, log_sample=0.02, daily_amplitude=0.3),
        {"bad_deploy": "catalogue", "memory_leak": "metadata",
         "dependency_failure": "object-index", "latency_degradation": "playback",
         "traffic_spike": "bff", "healthy_deploy": "sessions",
         "noisy_service": "licenses"}),
}
