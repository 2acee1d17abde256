"""The independent evaluation fleet (`oasis.independent_sim`)."""

from __future__ import annotations

import ast
import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import pairwise
from pathlib import Path

import pytest

from oasis.independent_sim import SCENARIOS, generate
from oasis.signals.model import ERROR_LEVELS, LEVEL_ALIASES
from oasis.signals.parse import parse_record

START = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
PKG = Path(__file__).resolve().parents[1] / "oasis" / "independent_sim"
INCIDENTS = ["bad_release", "silent_db_outage", "expired_certificate", "feature_flag_flip",
             "bad_host", "slow_leak", "low_traffic_outage", "latency_regression"]
LOOKALIKES = ["healthy", "low_traffic_noise", "load_test", "promotion_ends", "collector_restart",
              "late_records", "healthy_canary", "noisy_neighbour", "soak"]


#: Most checks use 1.5-hour runs (onset at 60 min) to stay fast; volume and
#: seasonality checks use the default 3 hours.
@cache
def records(scenario: str, seed: int = 1, hours: float = 1.5) -> tuple[dict, ...]:
    return tuple(generate(scenario, seed=seed, hours=hours, start=START).records())


def truth(scenario: str, seed: int = 1, hours: float = 1.5) -> dict:
    return generate(scenario, seed=seed, hours=hours, start=START).truth


def ts(rec: dict) -> datetime:
    return datetime.fromisoformat(rec["timestamp"]).astimezone(UTC)


def series(recs, service: str, name: str) -> list[tuple[datetime, float]]:
    return [(ts(r), r["value"]) for r in recs
            if r["type"] == "metric" and r["service"] == service and r["name"] == name]


def split(points, onset: datetime) -> tuple[list[float], list[float]]:
    return [v for t, v in points if t < onset], [v for t, v in points if t >= onset]


def is_error(rec: dict) -> bool:
    """ERROR or FATAL as OASIS reads the level (checked in full by the parse test)."""
    return rec["type"] == "log" and LEVEL_ALIASES[rec["level"].upper()] in ERROR_LEVELS


def error_rates(recs, onset: datetime, pred, hours: float = 1.5) -> tuple[float, float]:
    """Error lines per minute matching `pred`, before and after onset."""
    before = sum(1 for r in recs if is_error(r) and pred(r) and ts(r) < onset)
    after = sum(1 for r in recs if is_error(r) and pred(r) and ts(r) >= onset)
    pre = (onset - START).total_seconds() / 60
    return before / pre, after / (hours * 60 - pre)


def test_scenario_names() -> None:
    assert sorted(SCENARIOS) == sorted(INCIDENTS + LOOKALIKES)
    assert all(isinstance(d, str) and d for d in SCENARIOS.values())


def test_deterministic_per_seed() -> None:
    a = list(generate("bad_release", seed=5, hours=1, start=START).records())
    b = list(generate("bad_release", seed=5, hours=1, start=START).records())
    c = list(generate("bad_release", seed=6, hours=1, start=START).records())
    assert a == b
    assert a != c
    run = generate("bad_release", seed=5, hours=1, start=START)
    assert list(run.records()) == list(run.records())   # records() is repeatable
    assert run.truth == truth("bad_release", 5, 1)


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_scenario_parses_and_has_truth(scenario: str) -> None:
    recs = records(scenario, 2, 1.0)
    assert len(recs) > 3000
    for rec in recs:
        parse_record(rec)           # raises RecordError on a bad record
        assert rec["timestamp"].endswith(("Z", "+02:00"))
    t = truth(scenario, 2, 1.0)
    assert set(t) == {"scenario", "incident", "onset", "root_cause_service",
                      "affected_services", "suspected_change", "description"}
    assert t["scenario"] == scenario
    assert t["incident"] is (scenario in INCIDENTS)
    assert t["onset"] == START + timedelta(minutes=40)
    assert t["onset"].tzinfo is not None
    if t["incident"]:
        assert t["root_cause_service"] in t["affected_services"]
    else:
        assert t["root_cause_service"] is None and t["suspected_change"] is None


def test_suspected_changes() -> None:
    for scenario in ("bad_release", "latency_regression"):
        t = truth(scenario)
        deploys = [r for r in records(scenario) if r["type"] == "deployment"]
        change = t["suspected_change"]
        match = [d for d in deploys if d["service"] == change["service"]
                 and d["version"] == change["version"]]
        assert len(match) == 1 and match[0]["previous_version"]
        lead = (t["onset"] - ts(match[0])).total_seconds() / 60
        assert 0 < lead <= 5
        assert change["service"] == t["root_cause_service"]
    t = truth("feature_flag_flip")
    assert t["suspected_change"] is None
    recs = records("feature_flag_flip")
    near = [d for d in recs if d["type"] == "deployment"
            and 3 <= (t["onset"] - ts(d)).total_seconds() / 60 <= 11]
    assert near and all(d["service"] != t["root_cause_service"] for d in near)
    flips = [r for r in recs if r["type"] == "log" and "feature flag" in r["message"]
             and r["service"] == t["root_cause_service"]]
    assert len(flips) == 1 and parse_record(flips[0]).level == "INFO"


def test_logless_database_is_named_by_callers() -> None:
    t = truth("silent_db_outage")
    db = t["root_cause_service"]
    recs = records("silent_db_outage")
    assert not any(r["service"] == db for r in recs)
    assert db in t["affected_services"] and len(t["affected_services"]) >= 3
    naming = [r for r in recs if is_error(r) and db in r["message"]
              and r.get("attributes", {}).get("db.system") == "postgresql"
              and r["attributes"].get("peer.service") == db]
    assert {r["service"] for r in naming} <= set(t["affected_services"])
    before, after = error_rates(recs, t["onset"], lambda r: db in r["message"])
    assert after > 20 * max(before, 0.05)
    # healthy callers' access lines name the database too, so the graph is learnable
    healthy = records("healthy", 1, 3.0)
    assert not any(r["service"] == db for r in healthy)
    assert sum(1 for r in healthy if r.get("attributes", {}).get("db.instance") == db) > 1000


def test_traces_link_callers_and_callees() -> None:
    services_by_trace: dict[str, set[str]] = {}
    for r in records("healthy", 1, 3.0):
        if r.get("trace_id"):
            services_by_trace.setdefault(r["trace_id"], set()).add(r["service"])
    assert sum(1 for s in services_by_trace.values() if {"edge-proxy", "card-auth"} <= s) > 100


def test_fraction_percent_and_five_minute_series() -> None:
    recs = records("healthy", 1, 3.0)
    ratio = [v for _, v in series(recs, "edge-proxy", "http.server.errors.ratio")]
    pct = [v for _, v in series(recs, "carrier-bridge", "error_pct")]
    assert ratio and all(0 <= v <= 1 for v in ratio)
    assert pct and all(0 <= v <= 100 for v in pct) and statistics.mean(pct) > 3
    assert series(recs, "payout-api", "http_server_duration_p99_seconds")
    assert series(recs, "ledger", "latency_p95_ms")
    five = [t for t, _ in series(recs, "fx-rates", "requests_per_min")]
    one = [t for t, _ in series(recs, "ledger", "requests_per_min")]
    assert {b - a for a, b in pairwise(five)} == {timedelta(minutes=5)}
    assert {b - a for a, b in pairwise(one)} == {timedelta(minutes=1)}
    # low-traffic: zero-inflated, jumpy
    low = [v for _, v in series(recs, "refund-desk", "requests_per_min")]
    assert low.count(0) > 30 and max(low) <= 8


def test_level_spellings_vary() -> None:
    levels = {r["level"] for r in records("healthy", 1, 3.0) if r["type"] == "log"}
    assert {"ERROR", "error", "E", "err", "Warning", "WARN", "I", "Info", "INFO", "notice",
            "Debug", "debug"} <= levels
    assert truth("slow_leak", 5)["root_cause_service"] == "settlement-worker"   # syslog style
    fatal = {r["level"] for r in records("slow_leak", 5)
             if r["type"] == "log" and parse_record(r).level == "FATAL"}
    assert fatal == {"crit"}


@pytest.mark.parametrize("scenario", ["bad_release", "expired_certificate", "feature_flag_flip",
                                      "bad_host", "low_traffic_outage"])
def test_root_errors_start_at_onset(scenario: str) -> None:
    t = truth(scenario)
    root = t["root_cause_service"]
    before, after = error_rates(records(scenario), t["onset"],
                                lambda r: r["service"] == root)
    assert after > 5 * max(before, 0.3)


def test_bad_host_errors_carry_the_host() -> None:
    t = truth("bad_host")
    root, onset = t["root_cause_service"], t["onset"]
    hosts = Counter(r["host"] for r in records("bad_host")
                    if is_error(r) and r["service"] == root and ts(r) >= onset)
    (_, top), *rest = hosts.most_common()
    assert top > 4 * sum(c for _, c in rest)


def test_slow_leak_and_latency_regression() -> None:
    t = truth("slow_leak", 6)                   # ledger: one-minute heap_used_mb
    before, after = split(series(records("slow_leak", 6), t["root_cause_service"],
                                 "heap_used_mb"), t["onset"])
    assert after[-1] > 2.5 * statistics.mean(before)
    assert max(before) < 1.3 * min(before)
    t = truth("latency_regression")
    before, after = split(series(records("latency_regression"), t["root_cause_service"],
                                 "http_server_duration_p99_seconds"), t["onset"])
    assert statistics.median(after) > 3 * statistics.median(before)


def test_load_test_keeps_error_ratio() -> None:
    recs, onset = records("load_test"), truth("load_test")["onset"]
    window = onset + timedelta(minutes=30)
    rate = series(recs, "edge-proxy", "requests_per_min")
    ratio = series(recs, "edge-proxy", "http.server.errors.ratio")
    pre = [v for t, v in rate if onset - timedelta(minutes=30) <= t < onset]
    during = [v for t, v in rate if onset <= t < window]
    assert statistics.mean(during) > 2.5 * statistics.mean(pre)
    r_pre = statistics.mean(v for t, v in ratio if t < onset)
    r_during = statistics.mean(v for t, v in ratio if onset <= t < window)
    assert 0.6 * r_pre < r_during < 1.5 * r_pre


def test_collector_restart_gap_burst_and_reset() -> None:
    recs, onset = records("collector_restart"), truth("collector_restart")["onset"]
    points = series(recs, "ledger", "requests_per_min")
    stamps = [t for t, _ in points]
    gap = next(b - a for a, b in pairwise(stamps) if b - a > timedelta(minutes=1))
    assert timedelta(minutes=4) < gap <= timedelta(minutes=9)
    assert not any(onset <= t < onset + gap - timedelta(minutes=1) for t in stamps)
    counts = Counter(stamps)
    (burst_at, n), = [(t, n) for t, n in counts.items() if n > 1]
    assert n == 2
    burst = next(v for t, v in points if t == burst_at)
    assert burst > 3 * statistics.mean(v for t, v in points if t < onset)
    total = [v for _, v in series(recs, "edge-proxy", "http_requests_total")]
    assert any(b < a / 10 for a, b in pairwise(total))


def test_late_records_are_out_of_order_with_offsets() -> None:
    recs = records("late_records")
    times = [ts(r) for r in recs]
    assert sum(1 for a, b in pairwise(times) if b < a) > 50
    offset = [r for r in recs if r["timestamp"].endswith("+02:00")]
    assert len(offset) > 300
    assert all(parse_record(r).timestamp.tzinfo is UTC for r in offset[:50])
    assert sorted(times)[0] >= START


def test_canary_and_promotion() -> None:
    t = truth("healthy_canary")
    canary = [r for r in records("healthy_canary") if r["type"] == "deployment"
              and r.get("attributes", {}).get("canary") is True]
    assert len(canary) == 1 and ts(canary[0]).replace(second=0, microsecond=0) == t["onset"]
    assert canary[0]["attributes"]["host"]
    t = truth("promotion_ends")
    pts = series(records("promotion_ends"), "card-auth", "payments_authorized_per_min")
    pre = [v for tt, v in pts if t["onset"] - timedelta(minutes=20) <= tt < t["onset"]]
    post = [v for tt, v in pts if t["onset"] <= tt < t["onset"] + timedelta(minutes=20)]
    assert 0.45 < statistics.mean(post) / statistics.mean(pre) < 0.75


def test_record_volume() -> None:
    assert 30_000 <= len(records("healthy", 1, 3.0)) <= 60_000


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        generate("no_such", seed=1, start=START)
    with pytest.raises(ValueError):
        generate("healthy", seed=1, start=datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        generate("healthy", seed=1, hours=0, start=START)


def test_package_shares_no_code_with_oasis() -> None:
    sources = list(PKG.glob("*.py"))
    assert len(sources) >= 4
    for path in sources:
        text = path.read_text()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [] if node.level else [node.module or ""]
            else:
                continue
            assert not any(n == "oasis" or n.startswith("oasis.") for n in names), (path, names)
        assert "__import__" not in text and "importlib" not in text, path
