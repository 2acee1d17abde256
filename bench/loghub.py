"""Loghub-2k harness: grouping accuracy of our Drain3 template mining, per system.

Each system's 2,000 labelled lines (`<System>_2k.log_structured.csv`, column `Content`) go
through `oasis.detect.templates.TemplateMiner` with the masks OASIS uses in production.
Grouping accuracy (Zhu et al., "Tools and Benchmarks for Automated Log Parsing"): a line is
right when the set of lines sharing its mined template is exactly the set sharing its true
template; the score is the share of lines that are right. A Drain3 run without our masks is
measured in the same run as the baseline.

    python bench/loghub.py [--loghub ../shared/benchmarks/loghub-2k]

Writes bench/results/loghub.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path

from drain3.template_miner_config import TemplateMinerConfig

from oasis.detect.templates import TemplateMiner, drain_config

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LOGHUB = ROOT.parent / "shared" / "benchmarks" / "loghub-2k"


def grouping_accuracy(truth: list[str], predicted: list[str]) -> float:
    true_groups: dict[str, set[int]] = defaultdict(set)
    pred_groups: dict[str, set[int]] = defaultdict(set)
    for i, (t, p) in enumerate(zip(truth, predicted, strict=True)):
        true_groups[t].add(i)
        pred_groups[p].add(i)
    right = sum(len(members) for members in pred_groups.values()
                if members == true_groups[truth[next(iter(members))]])
    return right / len(truth)


def mine(lines: list[str], config: TemplateMinerConfig) -> list[str]:
    miner = TemplateMiner(config)
    ids = [miner.add(line)[0] for line in lines]
    return ids


def plain_config() -> TemplateMinerConfig:
    config = TemplateMinerConfig()
    config.drain_sim_th, config.drain_depth = 0.4, 4
    config.masking_instructions = []
    config.profiling_enabled = False
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loghub", type=Path, default=DEFAULT_LOGHUB)
    args = parser.parse_args()
    systems = {}
    for path in sorted(args.loghub.glob("*/*_2k.log_structured.csv")):
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        lines = [r["Content"] for r in rows]
        truth = [r["EventId"] for r in rows]
        started = time.perf_counter()
        ours = grouping_accuracy(truth, mine(lines, drain_config()))
        seconds = time.perf_counter() - started
        plain = grouping_accuracy(truth, mine(lines, plain_config()))
        systems[path.parent.name] = {"grouping_accuracy": round(ours, 4),
                                     "baseline_drain3_no_masks": round(plain, 4),
                                     "lines_per_s": round(len(lines) / seconds)}
    result = {
        "systems": systems,
        "mean_grouping_accuracy": round(statistics.mean(
            s["grouping_accuracy"] for s in systems.values()), 4),
        "mean_baseline_drain3_no_masks": round(statistics.mean(
            s["baseline_drain3_no_masks"] for s in systems.values()), 4),
        "target_mean": 0.85,
    }
    out = ROOT / "bench" / "results" / "loghub.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'system':<12} {'oasis':>7} {'drain3':>7}")
    for name, s in systems.items():
        print(f"{name:<12} {s['grouping_accuracy']:7.3f} {s['baseline_drain3_no_masks']:7.3f}")
    print(f"{'mean':<12} {result['mean_grouping_accuracy']:7.3f} "
          f"{result['mean_baseline_drain3_no_masks']:7.3f}   (target >= 0.85); wrote {out}")


if __name__ == "__main__":
    main()
