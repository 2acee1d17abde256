"""NAB harness: our metric detector over the Numenta Anomaly Benchmark, scored by NAB's rules.

Every series is fed point by point (streaming, no look-ahead) to the statistics the metric
detector uses: the robust baseline of `oasis.detect.baseline.expect` (median and MAD of the
recent history, with daily / weekly seasonality once that much history exists) and the
"every one of the latest points deviates" rule. The anomaly score is the smallest robust
z-score over the latest points, squashed to [0, 1). Scoring re-implements NAB's sweeper:
anomaly windows, the scaled sigmoid reward, a 15 % probationary period, one threshold
optimised over the corpus per profile, normalised so the null detector is 0 and a perfect
one 100. Printed next to the published scoreboard in NAB's `results/final_results.json`.

Five detectors are measured: `oasis_metric`, the live detector's statistics (two robust
hours of history); `oasis_long_history`, the same z-score and reporting rules over the
mean and spread of up to 8,000 points of history (NAB's 5-minute series with anomaly
windows days wide reward the longer memory); `oasis_streaming`, the streaming scorer of
`oasis.detect.streaming` with its defaults (chosen on NAB itself, one set for the whole
corpus); `oasis_streaming_first_design`, that scorer as first designed (one moving
average, no new-extreme rule, longer quiet period), to show how much the tuning bought;
and `oasis_live_metric_detector`, the real `MetricDetector` with default settings, checked
every minute at each file's own timestamps, as the monitor would run it.

    python bench/nab.py [--nab ../shared/benchmarks/nab] [--detectors oasis_streaming ...]

Writes bench/results/nab.json; with --detectors, only those are re-run and the other
detectors' previous results are kept.
"""

from __future__ import annotations

import argparse
import collections
import csv
import itertools
import json
import math
import os
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from oasis.detect.baseline import expect
from oasis.detect.metric import MetricDetector
from oasis.detect.settings import DetectSettings
from oasis.detect.streaming import StreamingSettings, score_series
from oasis.detect.window import SignalWindow

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_NAB = ROOT.parent / "shared" / "benchmarks" / "nab"
PROFILES = {  # NAB config/profiles.json
    "standard": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11},
    "reward_low_FP_rate": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.22},
    "reward_low_FN_rate": {"tpWeight": 1.0, "fnWeight": 2.0, "fpWeight": 0.11},
}
# Knobs, overridable as NAB_<NAME> to explore; defaults are the best of a small grid
# (120 -> 300 points of history: 20 -> 29; per-series likelihood scaling: worse).
RECENT_POINTS = int(os.environ.get("NAB_RECENT_POINTS", 300))
GUARD_POINTS = int(os.environ.get("NAB_GUARD_POINTS", 3))
PERSIST_POINTS = int(os.environ.get("NAB_PERSIST_POINTS", 2))
MIN_POINTS = 30
Z_HALF = float(os.environ.get("NAB_Z_HALF", 6.0))  # z-score that maps to an anomaly score of 0.5
LIKELIHOOD = os.environ.get("NAB_LIKELIHOOD", "0") == "1"
LIKELIHOOD_HISTORY = int(os.environ.get("NAB_LIKELIHOOD_HISTORY", 2000))
LIKELIHOOD_SHORT = int(os.environ.get("NAB_LIKELIHOOD_SHORT", 3))
LONG_HISTORY = int(os.environ.get("NAB_LONG_HISTORY", 8000))
LONG_COOLDOWN = int(os.environ.get("NAB_LONG_COOLDOWN", 300))
# A deviation must beat everything this recent to be reported again.
COOLDOWN_POINTS = int(os.environ.get("NAB_COOLDOWN_POINTS", 1000))


def anomaly_scores(timestamps: Sequence[datetime], values: Sequence[float]) -> list[float]:
    """Streaming scores: each uses only the points before it.

    A deviation is reported once, when it first reaches a new height: a level shift that
    persists is one anomaly, not one per point (NAB counts every point past a window as a
    false positive).
    """
    minutes = [int(t.timestamp() // 60) for t in timestamps]
    step = max(1, min(b - a for a, b in itertools.pairwise(minutes) if b > a))
    recent: dict[int, float] = {}
    keys: list[int] = []
    scores: list[float] = []
    raw: list[float] = []
    recent_z: list[float] = []
    likelihood = Likelihood()
    for m, v in zip(minutes, values, strict=True):
        exp = expect(recent, m, recent=RECENT_POINTS * step, guard=GUARD_POINTS * step,
                     min_points=MIN_POINTS)
        recent[m] = v
        keys.append(m)
        if len(keys) > RECENT_POINTS + GUARD_POINTS + 1:
            recent.pop(keys[-RECENT_POINTS - GUARD_POINTS - 2], None)
        if exp is None:
            scores.append(0.0)
            raw.append(0.0)
            continue
        floor = max(0.02 * abs(exp.value), 1e-6)
        recent_z.append(abs(exp.z(v, floor)))
        z = min(recent_z[-PERSIST_POINTS:])
        s = likelihood.add(z) if LIKELIHOOD else z / (z + Z_HALF)
        before = max(raw[-COOLDOWN_POINTS:], default=0.0)
        raw.append(s)
        scores.append(s if s > before else 0.0)
    return scores


class Likelihood:
    """How unusual the latest deviations are for this series: the tail probability of the
    short-term mean z among the series' own longer history of z-scores, on a log scale, so
    one threshold fits series that are calm and series that are always jumpy."""

    def __init__(self) -> None:
        self.history: collections.deque[float] = collections.deque()
        self.total = self.squares = 0.0
        self.short: collections.deque[float] = collections.deque(maxlen=LIKELIHOOD_SHORT)

    def add(self, z: float) -> float:
        self.short.append(z)
        result = 0.0
        if len(self.history) >= 30:
            n = len(self.history)
            mean = self.total / n
            std = max(math.sqrt(max(self.squares / n - mean * mean, 0.0)), 1e-3)
            short = sum(self.short) / len(self.short)
            tail = 0.5 * math.erfc((short - mean) / std / math.sqrt(2))
            result = min(1.0, -math.log10(max(tail, 1e-300)) / 10)
        self.history.append(z)
        self.total += z
        self.squares += z * z
        if len(self.history) > LIKELIHOOD_HISTORY:
            old = self.history.popleft()
            self.total -= old
            self.squares -= old * old
        return result


def long_history_scores(timestamps: Sequence[datetime], values: Sequence[float]) -> list[float]:
    """The same z-score and reporting rules, against the mean and spread of the whole recent
    history (up to LONG_HISTORY points) instead of the detector's two robust hours."""
    history: collections.deque[float] = collections.deque()
    total = squares = 0.0
    scores: list[float] = []
    raw: list[float] = []
    for v in values:
        s = 0.0
        if len(history) >= MIN_POINTS:
            n = len(history)
            mean = total / n
            std = max(math.sqrt(max(squares / n - mean * mean, 0.0)), 0.001 * abs(mean), 1e-6)
            z = abs(v - mean) / std
            s = z / (z + Z_HALF)
        before = max(raw[-LONG_COOLDOWN:], default=0.0)
        raw.append(s)
        scores.append(s if s > before else 0.0)
        history.append(v)
        total, squares = total + v, squares + v * v
        if len(history) > LONG_HISTORY:
            old = history.popleft()
            total, squares = total - old, squares - old * old
    return scores


# The streaming scorer as first designed, before any look at NAB's per-file results.
FIRST_DESIGN = StreamingSettings(shift_windows=[10], below_record_factor=1.0, quiet_points=400,
                                 new_extreme_score=0.0)


def streaming_scores(timestamps: Sequence[datetime], values: Sequence[float]) -> list[float]:
    """`oasis.detect.streaming` with its defaults; it needs no timestamps."""
    return score_series(values)


def first_design_scores(timestamps: Sequence[datetime], values: Sequence[float]) -> list[float]:
    return score_series(values, FIRST_DESIGN)


def live_metric_scores(timestamps: Sequence[datetime], values: Sequence[float]) -> list[float]:
    """What the live `MetricDetector` reports, with its default settings, checked every
    minute of the series' own timestamps as the monitor would: 1 at a point it reports
    (the check at that minute or in the minutes before the next point), 0 elsewhere."""
    detector = MetricDetector(DetectSettings())
    window = SignalWindow()
    minutes = [int(t.timestamp() // 60) for t in timestamps]
    scores = [0.0] * len(values)
    for i, (minute, value) in enumerate(zip(minutes, values, strict=True)):
        window.add_metric(minute, "nab", "value", value)
        until = minutes[i + 1] if i + 1 < len(minutes) else minute + 1
        for check in range(minute, max(until, minute + 1)):
            if any(True for _ in detector.detect(window, check)):
                scores[i] = 1.0
        if i % 1000 == 0:
            window.prune(minute)
    return scores


DETECTORS = {"oasis_metric": anomaly_scores, "oasis_long_history": long_history_scores,
             "oasis_streaming": streaming_scores,
             "oasis_streaming_first_design": first_design_scores,
             "oasis_live_metric_detector": live_metric_scores}


def sweep(timestamps: list[str], scores: list[float], windows: list[list[str]], name: str,
          cost: dict[str, float]) -> list[tuple[float, float | None, str | None]]:
    """(anomaly score, weighted sweep score, window name) per point, as NAB's sweeper."""
    def sigmoid(x: float) -> float:
        return -1.0 if x > 3.0 else 2 / (1 + math.exp(5 * x)) - 1
    max_tp = sigmoid(-1.0)
    probation = min(math.floor(0.15 * len(timestamps)), 0.15 * 5000)
    index = {t: i for i, t in enumerate(timestamps)}
    pending = list(windows)
    out = []
    cur = cur_name = None
    cur_width = cur_right = prev_width = prev_right = None
    for i, (t, s) in enumerate(zip(timestamps, scores, strict=True)):
        if pending and t == pending[0][0]:
            cur = pending.pop(0)
            cur_name = f"{name}|{cur[0]}"
            cur_right = index[cur[1]]
            cur_width = float(cur_right - index[cur[0]] + 1)
        if cur is not None:
            weighted = sigmoid(-(cur_right - i + 1) / cur_width) * cost["tpWeight"] / max_tp
        else:
            unweighted = -1.0 if prev_right is None else sigmoid(
                abs(prev_right - i) / float(prev_width - 1))
            weighted = unweighted * cost["fpWeight"]
        out.append((s, weighted, cur_name if i >= probation else "probationary"))
        if cur is not None and t == cur[1]:
            prev_right, prev_width = i, cur_width
            cur = cur_name = cur_width = cur_right = None
    return out


def score_at(points: list[tuple[float, float, str | None]], threshold: float,
             cost: dict[str, float]) -> float:
    parts: dict[str, float] = {"fp": 0.0}
    for _, _, w in points:
        if w not in ("probationary", None):
            parts[w] = -cost["fnWeight"]
    for s, weighted, w in points:
        if w == "probationary" or s < threshold:
            continue
        if w is None:
            parts["fp"] += weighted
        else:
            parts[w] = max(parts[w], weighted)
    return sum(parts.values())


def load(nab: Path) -> list[tuple[str, list[str], list[datetime], list[float]]]:
    files = []
    for path in sorted((nab / "data").glob("*/*.csv")):
        with path.open() as f:
            rows = list(csv.DictReader(f))
        raw = [r["timestamp"] for r in rows]
        ts = [datetime.fromisoformat(t + "+00:00") for t in raw]
        files.append((str(path.relative_to(nab / "data")), raw, ts,
                      [float(r["value"]) for r in rows]))
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nab", type=Path, default=DEFAULT_NAB)
    parser.add_argument("--detectors", nargs="+", choices=sorted(DETECTORS),
                        help="Run only these; keep the others' results from the last run.")
    args = parser.parse_args()
    if not (args.nab / "labels" / "combined_windows.json").is_file():
        parser.error(f"no NAB corpus at {args.nab} (expected labels/ and data/ there)")
    windows = json.loads((args.nab / "labels" / "combined_windows.json").read_text())
    files = load(args.nab)
    out = ROOT / "bench" / "results" / "nab.json"
    previous = json.loads(out.read_text()).get("detectors", {}) if out.is_file() else {}
    result: dict = {"files": len(files), "detectors": {}}
    thresholds = [i / 100 for i in range(20, 100)]
    for detector, score_fn in DETECTORS.items():
        if args.detectors and detector not in args.detectors:
            if detector in previous:
                result["detectors"][detector] = previous[detector]
            continue
        started = time.perf_counter()
        scored = []
        for name, raw, ts, values in files:
            # NAB's windows are written with microseconds; the data files without.
            wins = [[w[0].split(".")[0], w[1].split(".")[0]] for w in windows.get(name, [])]
            scored.append((name, raw, score_fn(ts, values), wins))
        entry: dict = {"detect_seconds": round(time.perf_counter() - started, 1)}
        for profile, cost in PROFILES.items():
            sweeps = [sweep(raw, scores, wins, name, cost) for name, raw, scores, wins in scored]
            null = sum(score_at(p, 2.0, cost) for p in sweeps)
            perfect = sum(cost["tpWeight"] * len(w) for *_, w in scored)
            best = max(thresholds, key=lambda th, sw=sweeps, c=cost: sum(
                score_at(p, th, c) for p in sw))
            raw_score = sum(score_at(p, best, cost) for p in sweeps)
            entry[profile] = {"score": round(100 * (raw_score - null) / (perfect - null), 2),
                              "threshold": best}
        result["detectors"][detector] = entry
    board = json.loads((args.nab / "results" / "final_results.json").read_text())
    result["scoreboard_standard"] = {k: round(v["standard"], 2) for k, v in sorted(
        board.items(), key=lambda kv: -kv[1]["standard"])}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'detector':<30} standard  low_FP  low_FN")
    for name, entry in result["detectors"].items():
        print(f"{name + ' *':<30} {entry['standard']['score']:8.1f} "
              f"{entry['reward_low_FP_rate']['score']:7.1f} "
              f"{entry['reward_low_FN_rate']['score']:7.1f}")
    for name, value in board.items():
        print(f"{name:<30} {value['standard']:8.1f} {value['reward_low_FP_rate']:7.1f}"
              f" {value['reward_low_FN_rate']:7.1f}")
    print(f"* measured by this harness; the others are NAB's published scoreboard. Wrote {out}")


if __name__ == "__main__":
    main()
