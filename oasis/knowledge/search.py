"""Hybrid retrieval: BM25 keywords and MiniLM cosine similarity, fused by reciprocal rank.

BM25 finds the runbook that uses the question's exact words (an error code, "gp3",
"1.27"); embeddings find it when the question paraphrases ("move the control plane to a
newer Kubernetes" for "EKS version upgrade"). Reciprocal rank fusion (Cormack, Clarke and
Buettcher, 2009) combines the two rankings without calibrating their scores against each
other: a chunk scores sum(1 / (k + rank)) over the rankings it appears in.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from oasis.knowledge.embed import Embedder
from oasis.knowledge.store import KnowledgeStore, StoredChunk

log = logging.getLogger(__name__)
Mode = Literal["hybrid", "bm25", "embedding"]

# Words that say nothing about which document answers; BM25 would still score them.
_STOPWORD_TEXT = """
a about after again all also am an and any are as at be been before being between both but
by can could did do does doing done for from had has have having he her here how i if in
into is it its just me more most my no nor not now of off on once only or other our out
over own same she should so some such than that the their them then there these they this
those through to too under until up very was we were what when where which while who whom
why will with would you your yours should shall may might must us get got need needs
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(slots=True)
class Hit:
    """One retrieved chunk: where it comes from, and why it ranked."""

    chunk: StoredChunk
    score: float  # fused score; higher is better
    bm25_rank: int | None
    cosine: float | None

    def to_dict(self) -> dict:
        c = self.chunk
        return {"source": c.label, "uri": c.uri, "title": c.title, "heading": c.heading,
                "memory": c.memory, "score": round(self.score, 6),
                "bm25_rank": self.bm25_rank,
                "cosine": None if self.cosine is None else round(self.cosine, 4),
                "text": c.text}


def query_terms(question: str) -> list[str]:
    """The question's distinctive words, in order, each once."""
    seen: dict[str, None] = {}
    for word in re.findall(r"\w+", question.lower()):
        if word not in STOPWORDS and (len(word) > 1 or word.isdigit()):
            seen.setdefault(word, None)
    return list(seen)


def fts_query(terms: list[str]) -> str:
    # Each term quoted, so FTS5 syntax in a question (AND, NEAR, *, :) is only text.
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


class Retriever:
    """Ranks a store's chunks for a question."""

    def __init__(self, store: KnowledgeStore, embedder: Embedder | None, *, rrf_k: float = 60.0,
                 candidates: int = 20, min_cosine: float = 0.2) -> None:
        self.store = store
        self.embedder = embedder
        self.rrf_k = rrf_k
        self.candidates = candidates
        self.min_cosine = min_cosine

    def search(self, question: str, k: int = 5, mode: Mode = "hybrid") -> list[Hit]:
        bm25 = self._bm25(question) if mode != "embedding" else []
        cosine = self._cosine(question) if mode != "bm25" and self.embedder else []
        bm25_rank = {cid: rank for rank, (cid, _) in enumerate(bm25, 1)}
        cosine_of = dict(cosine)
        scores: dict[int, float] = {}
        for rank, (cid, _) in enumerate(bm25, 1):
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (self.rrf_k + rank)
        for rank, (cid, sim) in enumerate(cosine, 1):
            if cid not in bm25_rank and sim < self.min_cosine:
                continue  # a weak neighbour with no shared word is noise
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (self.rrf_k + rank)
        best = sorted(scores, key=lambda cid: (-scores[cid], cid))[:k]
        chunks = self.store.chunks(best)
        return [Hit(chunks[cid], scores[cid], bm25_rank.get(cid), cosine_of.get(cid))
                for cid in best if cid in chunks]

    def _bm25(self, question: str) -> list[tuple[int, float]]:
        terms = query_terms(question)
        return self.store.bm25(fts_query(terms), self.candidates) if terms else []

    def _cosine(self, question: str) -> list[tuple[int, float]]:
        ids, matrix = self.store.vectors()
        if len(ids) == 0:
            return []
        query = self.embedder.embed([question])[0]
        if matrix.shape[1] != query.shape[0]:
            log.warning("knowledge base vectors have %d dimensions, the model %d: re-add the "
                        "sources to search by meaning", matrix.shape[1], query.shape[0])
            return []
        sims = matrix @ query
        top = np.argsort(-sims)[:self.candidates]
        return [(int(ids[i]), float(sims[i])) for i in top]
