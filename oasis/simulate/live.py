"""Stream a simulation into a running OASIS server at N times real time.

History (`backfill_hours`) is sent at once so detection has a baseline; then each simulated
minute is sent as soon as the simulated clock has passed it. The fleet's control API can
run alongside, and actions taken through it change the data from the next minute on.
Records carry ids, so a batch re-sent after a timeout is not stored twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import orjson

from oasis.signals.retry import Backoff, retry_after_seconds, retryable_status, with_retries
from oasis.simulate import GeneratorConfig, Simulation, simulate
from oasis.simulate.generator import floor_minute

log = logging.getLogger(__name__)
BATCH_RECORDS = 5000


class WallClock:
    """Real seconds, as the live loop reads and waits for them. Tests pass one they drive."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """Wait `seconds` or until `stop` is set; whether it was set."""
        return stop.wait(seconds)


class SimClock:
    """Simulated time: starts at `origin` and runs `speed` times faster than the wall clock."""

    def __init__(self, origin: datetime, speed: float, wall: WallClock | None = None) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.origin, self.speed = origin, speed
        self.wall = wall or WallClock()
        self._wall0 = self.wall.monotonic()

    def __call__(self) -> datetime:
        return self.origin + timedelta(
            seconds=(self.wall.monotonic() - self._wall0) * self.speed)

    def wall_seconds_until(self, t: datetime) -> float:
        return max(0.0, (t - self()).total_seconds() / self.speed)


@dataclass
class LiveStats:
    minutes: int = 0
    records: int = 0
    failed_posts: int = 0
    last_error: str | None = None
    sim_time: datetime | None = None
    actions: list[str] = field(default_factory=list)


class SignalPoster:
    """POSTs NDJSON batches, retrying connection errors, 429 (after its Retry-After) and 5xx
    with backoff."""

    def __init__(self, url: str, retries: int = 5, timeout: float = 30.0,
                 api_key: str | None = None, sleep: Callable[[float], None] = time.sleep
                 ) -> None:
        self.endpoint = url.rstrip("/") + "/api/v1/signals"
        self.retries = retries
        self._sleep = sleep  # waits out the backoff between tries
        self.client = httpx.Client(timeout=timeout, headers=(
            {"authorization": f"Bearer {api_key}"} if api_key else {}))

    def post(self, records: list[dict]) -> None:
        body = b"\n".join(orjson.dumps(r) for r in records) + b"\n"
        tried = with_retries(
            lambda: self.client.post(self.endpoint, content=body,
                                     headers={"content-type": "application/x-ndjson"}),
            attempts=self.retries + 1, backoff=Backoff(0.5, 8.0), retry_on=(httpx.HTTPError,),
            retry_if=lambda resp: retryable_status(resp.status_code), sleep=self._sleep,
            wait_of=lambda resp: retry_after_seconds(resp.headers))
        if not tried.ok:
            raise ConnectionError(f"gave up sending to {self.endpoint}: "
                                  f"{tried.problem(lambda r: f'HTTP {r.status_code}')}")
        resp = tried.result
        assert resp is not None
        if resp.status_code >= 400:
            raise RuntimeError(f"server refused batch: {resp.status_code} {resp.text[:300]}")

    def close(self) -> None:
        self.client.close()


def start_live(scenario: str, url: str, *, speed: float = 1.0, backfill_hours: float = 2.0,
               onset_after_minutes: float = 10.0, seed: int = 1, service: str | None = None,
               config: GeneratorConfig | None = None,
               wall: WallClock | None = None) -> tuple[Simulation, SimClock]:
    """Build a simulation whose history ends now and whose scenario starts shortly after;
    its clock runs on `wall` (the real one unless given)."""
    now = floor_minute(datetime.now(UTC))
    start = now - timedelta(hours=backfill_hours)
    config = config or GeneratorConfig(ids=True)
    sim = simulate(scenario, hours=backfill_hours + 24, seed=seed, start=start,
                   onset=backfill_hours * 60 + onset_after_minutes, service=service,
                   config=config)
    clock = SimClock(now, speed, wall)
    sim.fleet.clock = clock
    return sim, clock


def run_live(sim: Simulation, clock: SimClock, url: str, *, duration: float | None = None,
             stop: threading.Event | None = None,
             on_minute: Callable[[LiveStats], None] | None = None,
             api_key: str | None = None) -> LiveStats:
    """Send history, then stream until `duration` wall seconds pass or `stop` is set.

    The duration counts from the end of the history: how long the history takes depends
    on the machine, and it must not eat the live part. Wall time is read and waited for
    on `clock.wall`.
    """
    wall = clock.wall
    stop = stop or threading.Event()
    poster = SignalPoster(url, api_key=api_key)
    stats = LiveStats()
    t = sim.truth.start
    try:
        batch: list[dict] = []
        while t < clock.origin:  # the history, as fast as the server takes it
            batch.extend(sim.generator.minute(t))
            t += timedelta(minutes=1)
            stats.minutes += 1
            if len(batch) >= BATCH_RECORDS:
                _send(poster, batch, stats)
                batch = []
        if batch:
            _send(poster, batch, stats)
        deadline = wall.monotonic() + duration if duration is not None else None
        while not stop.is_set() and (deadline is None or wall.monotonic() < deadline):
            wait = clock.wall_seconds_until(t + timedelta(minutes=1))
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - wall.monotonic()))
            if wait > 0 and wall.wait(stop, wait):
                break
            if clock() < t + timedelta(minutes=1):
                continue
            _send(poster, sim.generator.minute(t), stats)
            stats.minutes += 1
            stats.sim_time = t + timedelta(minutes=1)
            t += timedelta(minutes=1)
            if on_minute:
                on_minute(stats)
    finally:
        poster.close()
    return stats


def _send(poster: SignalPoster, records: list[dict], stats: LiveStats) -> None:
    try:
        poster.post(records)
        stats.records += len(records)
    except (ConnectionError, RuntimeError) as exc:
        # A streaming simulator keeps going; the gap is reported, not hidden.
        stats.failed_posts += 1
        stats.last_error = str(exc)
        log.warning("%s", exc)
