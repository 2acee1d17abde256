"""A second benchmark file with the variety of a real fleet, made without the simulator.

Written from scratch (no `oasis.simulate`, no `oasis.independent_sim`) so the benchmark
does not only measure the shapes our own generator happens to write:
- several log formats in `message`: access lines, logfmt, JSON-in-a-string, Java stack
  traces (long, multi-line), syslog-style and free text with non-ASCII;
- level spellings as sent by different stacks (info, Information, WARNING, W, err, E,
  crit, notice, Severe, lower and mixed case);
- many attribute keys, both top level (kubernetes labels, request fields) and nested in
  `attributes`; ids on some records, trace ids on others;
- metrics with units (ms, bytes, percent, req/s, `1` for counters ending `_total`);
- timestamps with `Z`, with offsets and with 0, 3 or 6 decimals, and late records
  (stamped minutes before their neighbours), plus a few deployments.

    python bench/variety.py OUT.ndjson [--records 1000000] [--seed 11]
"""

from __future__ import annotations

import argparse
import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson

START = datetime(2026, 11, 1, tzinfo=UTC)
SERVICES = [
    f"{team}-{part}"
    for team in ("pay", "search", "ident", "ship", "media")
    for part in ("api", "worker", "db-proxy", "edge")
]
LEVELS = {
    "DEBUG": ["debug", "DEBUG", "Trace", "D", "fine"],
    "INFO": ["info", "INFO", "Information", "I", "notice", "Info"],
    "WARN": ["warn", "WARNING", "Warning", "W"],
    "ERROR": ["error", "ERR", "err", "E", "Severe", "Error"],
    "FATAL": ["fatal", "CRIT", "critical", "F", "panic", "Emergency"],
}
LEVEL_WEIGHTS = [("DEBUG", 5), ("INFO", 70), ("WARN", 12), ("ERROR", 11), ("FATAL", 2)]
METRICS = [
    ("latency_ms", "ms"),
    ("heap_bytes", "bytes"),
    ("cpu_util", "percent"),
    ("throughput", "req/s"),
    ("http_requests_total", "1"),
    ("gc_pause_count", "1"),
    ("queue_depth", None),
]
ZONES = [
    UTC,
    timezone(timedelta(hours=2)),
    timezone(timedelta(hours=-5)),
    timezone(timedelta(hours=5, minutes=30)),
]
WORDS = [
    "order",
    "cart",
    "user",
    "token",
    "cache",
    "shard",
    "replica",
    "lease",
    "quota",
    "invoice",
    "parcel",
    "image",
    "thumbnail",
    "session",
    "refund",
    "ledger",
    "café",
    "Zürich",
    "naïve",
    "データ",
]


def _stamp(rng: random.Random, t: datetime) -> str:
    zone = ZONES[0] if rng.random() < 0.7 else rng.choice(ZONES)
    local = t.astimezone(zone)
    digits = rng.choice((0, 3, 3, 6))
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += f".{local.microsecond:06d}"[: digits + 1]
    return text + (
        "Z" if zone is UTC else local.strftime("%z")[:3] + ":" + local.strftime("%z")[3:]
    )


def _stack(rng: random.Random, service: str) -> str:
    frames = "\n".join(
        f"\tat com.example.{service.replace('-', '.')}.{rng.choice(WORDS).title()}"
        f"Handler.handle{rng.choice(WORDS).title()}({rng.choice(WORDS).title()}.java:"
        f"{rng.randint(10, 900)})"
        for _ in range(rng.randint(15, 60))
    )
    return (
        f"java.lang.IllegalStateException: {rng.choice(WORDS)} not ready\n{frames}\n"
        f"Caused by: java.net.SocketTimeoutException: Read timed out\n{frames[:400]}"
    )


def _message(rng: random.Random, service: str, level: str) -> str:
    kind = rng.random()
    if level in ("ERROR", "FATAL") and kind < 0.4:
        return _stack(rng, service)
    if kind < 0.35:
        return (
            f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)} - - "
            f'"{rng.choice(("GET", "POST", "PUT"))} /v2/{rng.choice(WORDS)}/'
            f'{rng.randint(1, 99999)} HTTP/1.1" {rng.choice((200, 200, 201, 404, 503))} '
            f'{rng.randint(80, 90000)} "-" "okhttp/4.12"'
        )
    if kind < 0.6:
        return (
            f'msg="{rng.choice(WORDS)} {rng.choice(WORDS)}" component={service} '
            f"duration={rng.random() * 900:.1f}ms attempt={rng.randint(1, 4)} "
            f"tenant=t{rng.randint(1, 400)}"
        )
    if kind < 0.75:
        return orjson.dumps(
            {
                "event": rng.choice(WORDS),
                "took_ms": rng.randint(1, 900),
                "user": f"u{rng.randint(1, 10**6)}",
            }
        ).decode()
    if kind < 0.85:
        return (
            f"<{rng.randint(0, 191)}>1 {service}[{rng.randint(100, 9999)}]: "
            f"{rng.choice(WORDS)} {rng.choice(WORDS)} done"
        )
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 40)))


def _labels(rng: random.Random, service: str) -> dict[str, object]:
    labels: dict[str, object] = {
        "k8s.namespace": service.split("-")[0],
        "k8s.pod": f"{service}-{rng.randint(0, 9)}",
        "k8s.node": f"node-{rng.randint(1, 40)}",
        "region": rng.choice(("eu-1", "us-2")),
        "release": f"v{rng.randint(1, 9)}.{rng.randint(0, 30)}",
    }
    for i in range(rng.randint(0, 12)):
        labels[f"label_{i}"] = rng.choice(
            (rng.randint(0, 999), rng.random(), True, None, rng.choice(WORDS))
        )
    return labels


def _log(rng: random.Random, t: datetime, n: int) -> dict[str, object]:
    service = rng.choice(SERVICES)
    level = rng.choices([lv for lv, _ in LEVEL_WEIGHTS], [w for _, w in LEVEL_WEIGHTS])[0]
    doc: dict[str, object] = {
        "type": "log",
        "timestamp": _stamp(rng, t),
        "service": service,
        "level": rng.choice(LEVELS[level]),
        "message": _message(rng, service, level),
    }
    if rng.random() < 0.5:
        doc["trace_id"] = f"{rng.getrandbits(128):032x}"
        doc["span_id"] = f"{rng.getrandbits(64):016x}"
    if rng.random() < 0.3:
        doc["id"] = f"evt-{n}"
    if level in ("ERROR", "FATAL"):
        doc["error_type"] = rng.choice(("TimeoutError", "IllegalStateException", "EPIPE"))
    doc["host"] = f"ip-10-0-{rng.randint(0, 255)}-{rng.randint(0, 255)}"
    doc.update(_labels(rng, service))
    doc["attributes"] = {
        "http": {"status": rng.choice((200, 404, 503)), "path": f"/v2/{rng.choice(WORDS)}"},
        "user_agent": "okhttp/4.12",
        "bytes": rng.randint(0, 10**6),
    }
    return doc


def _metric(rng: random.Random, t: datetime, n: int) -> dict[str, object]:
    service = rng.choice(SERVICES)
    name, unit = rng.choice(METRICS)
    value = (
        float(rng.randint(0, 10**7))
        if name.endswith(("_total", "_count"))
        else round(rng.lognormvariate(3, 1), 3)
    )
    doc: dict[str, object] = {
        "type": "metric",
        "timestamp": _stamp(rng, t),
        "service": service,
        "name": name,
        "value": value,
    }
    if unit:
        doc["unit"] = unit
    if rng.random() < 0.5:
        doc["host"] = f"ip-10-0-{rng.randint(0, 255)}-{rng.randint(0, 255)}"
        doc["k8s.pod"] = f"{service}-{rng.randint(0, 9)}"
    if rng.random() < 0.2:
        doc["id"] = f"m-{n}"
    return doc


def write(path: Path, records: int, seed: int = 11) -> int:
    rng = random.Random(seed)
    step = timedelta(hours=8) / records
    with path.open("wb") as out:
        for n in range(records):
            t = START + step * n
            if rng.random() < 0.03:  # late: minutes behind its neighbours
                t -= timedelta(minutes=rng.randint(1, 30), seconds=rng.random() * 60)
            t = max(t, START)
            if n % 50_000 == 49_999:
                doc: dict[str, object] = {
                    "type": "deployment",
                    "timestamp": _stamp(rng, t),
                    "service": rng.choice(SERVICES),
                    "version": f"{n // 50_000}.0.{n % 7}",
                    "author": "release-bot",
                    "description": "rolling update",
                }
            elif rng.random() < 0.7:
                doc = _log(rng, t, n)
            else:
                doc = _metric(rng, t, n)
            out.write(orjson.dumps(doc) + b"\n")
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    write(args.out, args.records, args.seed)


if __name__ == "__main__":
    main()
