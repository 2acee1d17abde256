"""Concurrent appends to the embedded store: group commit against one write per batch.

Several threads (as the server's request threads do) append 1,000-record batches of a
simulated fleet to a fresh on-disk DuckDB store; each run measures the store as shipped
(`GroupCommit`, up to 64 batches per transaction) and, as the same-run baseline, the same
store writing each batch in a transaction of its own (`max_group = 1`, how appends ran
before group commit). Medians of `--runs`.

    python bench/store_writes.py [--threads 4] [--runs 3]

Prints the figures and writes bench/results/store-writes.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import BATCH_RECORDS, batches, generate, machine  # noqa: E402
from oasis.config import StoreSettings  # noqa: E402
from oasis.signals import parse_line  # noqa: E402
from oasis.store import DuckDBSignalStore, SignalBatch  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def run(store_batches: list[SignalBatch], db: Path, threads: int, max_group: int) -> float:
    """Records per second appended by `threads` threads at once."""
    store = DuckDBSignalStore(db, retention_days=0,
                              memory_limit_mb=StoreSettings().memory_limit_mb)
    store._group.max_group = max_group
    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(store.append_batch, store_batches))
        seconds = time.perf_counter() - started
    finally:
        store.close()
        for leftover in db.parent.glob(db.name + "*"):
            leftover.unlink()
    return sum(r.accepted for r in results) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--hours", type=float, default=1.0)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="oasis-store-writes-"))
    try:
        path = workdir / "signals.ndjson"
        generate(path, args.hours)
        store_batches = [SignalBatch.from_records([parse_line(line) for line in body.splitlines()])
                         for body in batches(path, BATCH_RECORDS)]
        load_before = list(os.getloadavg())
        grouped, single = [], []
        for n in range(args.runs):
            grouped.append(run(store_batches, workdir / f"grouped-{n}.duckdb", args.threads, 64))
            single.append(run(store_batches, workdir / f"single-{n}.duckdb", args.threads, 1))
            print(f"run {n + 1}: group commit {grouped[-1]:,.0f}/s, "
                  f"one transaction per batch {single[-1]:,.0f}/s", flush=True)
        result = {
            "when": datetime.now(UTC).isoformat(),
            "machine": machine(load_before),
            "records": sum(len(b) for b in store_batches),
            "threads": args.threads, "batch_records": BATCH_RECORDS, "runs": args.runs,
            "medians": {
                "group_commit_records_per_s": round(statistics.median(grouped)),
                "one_transaction_per_batch_records_per_s": round(statistics.median(single)),
                "group_commit_vs_one_per_batch": round(
                    statistics.median(g / s for g, s in zip(grouped, single, strict=True)), 3),
            },
            "all_runs": {"group_commit": grouped, "one_transaction_per_batch": single},
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / "store-writes.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result["medians"], indent=2))
        print(f"wrote {out}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
