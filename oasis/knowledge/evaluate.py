"""Recall@k of the knowledge base over a labelled question set.

A question counts as recalled when any of its expected sources (file names) is the
source of one of the top-k chunks. Used by bench/kb_recall.py and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml

from oasis.knowledge.base import KnowledgeBase
from oasis.knowledge.search import Mode


@dataclass(slots=True)
class LabelledQuestion:
    question: str
    sources: list[str]


@dataclass(slots=True)
class Recall:
    mode: str
    k: int
    recalled: int
    total: int
    misses: list[dict] = field(default_factory=list)

    @property
    def value(self) -> float:
        return self.recalled / self.total if self.total else 0.0

    def to_dict(self) -> dict:
        return {"mode": self.mode, "k": self.k, "recall": round(self.value, 4),
                "recalled": self.recalled, "total": self.total, "misses": self.misses}


def load_questions(path: Path) -> list[LabelledQuestion]:
    """`questions: [{question, sources: [file name, ...]}, ...]` from a YAML file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    items = data.get("questions") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise ValueError(f"{path}: expected a non-empty `questions:` list")
    out = []
    for i, item in enumerate(items):
        if not (isinstance(item, dict) and isinstance(item.get("question"), str)
                and isinstance(item.get("sources"), list) and item["sources"]):
            raise ValueError(f"{path}: questions[{i}] needs `question` and `sources`")
        out.append(LabelledQuestion(item["question"], [str(s) for s in item["sources"]]))
    return out


def source_name(uri: str) -> str:
    return PurePosixPath(uri.split("?", 1)[0].replace("\\", "/")).name


def recall_at_k(kb: KnowledgeBase, questions: list[LabelledQuestion], *, k: int = 5,
                mode: Mode = "hybrid") -> Recall:
    result = Recall(mode, k, 0, len(questions))
    for q in questions:
        found = [source_name(h.chunk.uri) for h in kb.search(q.question, k, mode)]
        if set(found) & set(q.sources):
            result.recalled += 1
        else:
            result.misses.append({"question": q.question, "expected": q.sources,
                                  "found": found})
    return result
