"""Answers with their sources: what the knowledge base says, quoted and cited.

The default answerer uses no model: it quotes the most relevant sentences of each
retrieved passage and cites where they come from, so everything it says can be checked
and nothing is invented. A model-backed answerer can take its place later through the
`Answerer` protocol; it gets the same hits and must return the same shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from oasis.knowledge.search import Hit, query_terms

SNIPPET_WORDS = 60  # a quote long enough to act on, short enough to read in a terminal
_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(slots=True)
class Citation:
    source: str   # file path / URL as the source was added, e.g. runbooks/eks-upgrade.md
    title: str
    heading: str
    snippet: str
    score: float

    @property
    def ref(self) -> str:
        return f"{self.source}#{self.heading}" if self.heading else self.source

    def to_dict(self) -> dict:
        return {"source": self.source, "title": self.title, "heading": self.heading,
                "snippet": self.snippet, "score": round(self.score, 6), "ref": self.ref}


@dataclass(slots=True)
class MemoryItem:
    """A past event, ticket or incident that resembles the question."""

    kind: str
    id: str
    title: str
    snippet: str
    score: float
    metadata: dict = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"memory:{self.kind}/{self.id}"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "id": self.id, "title": self.title, "snippet": self.snippet,
                "score": round(self.score, 6), "metadata": self.metadata, "ref": self.ref}


@dataclass(slots=True)
class Answer:
    question: str
    text: str
    citations: list[Citation]
    memory: list[MemoryItem]
    answerer: str = "extractive"

    def to_dict(self) -> dict:
        return {"question": self.question, "text": self.text, "answerer": self.answerer,
                "citations": [c.to_dict() for c in self.citations],
                "memory": [m.to_dict() for m in self.memory]}


class Answerer(Protocol):
    """Turns a question and its retrieved passages into an answer that cites them."""

    def answer(self, question: str, hits: list[Hit]) -> Answer: ...


NOTHING_FOUND = ("The knowledge base has nothing on this question. Add the runbook or "
                 "policy that covers it with `oasis kb add`.")


class ExtractiveAnswerer:
    """Quotes the best passages, most relevant first, each with its numbered source."""

    def answer(self, question: str, hits: list[Hit]) -> Answer:
        terms = query_terms(question)
        citations: list[Citation] = []
        memory: list[MemoryItem] = []
        for hit in hits:
            c = hit.chunk
            snippet = best_snippet(c.text, terms)
            if c.memory:
                kind, _, id_ = c.uri.removeprefix("memory:").partition("/")
                memory.append(MemoryItem(kind, id_, c.title, snippet, hit.score, c.metadata))
            else:
                citations.append(Citation(c.label, c.title, c.heading, snippet, hit.score))
        return Answer(question, render(citations, memory), citations, memory)


def render(citations: list[Citation], memory: list[MemoryItem]) -> str:
    if not citations and not memory:
        return NOTHING_FOUND
    parts = []
    if citations:
        lead = ("The most relevant passage" if len(citations) == 1 else
                f"The {len(citations)} most relevant passages")
        parts.append(f"{lead} in the knowledge base, quoted with their sources:")
        parts += [f"[{i}] {c.ref}\n    \"{c.snippet}\"" for i, c in enumerate(citations, 1)]
    if memory:
        parts.append("Similar past events, tickets and incidents:" if citations else
                     "No runbook or policy matches; similar past events, tickets and "
                     "incidents:")
        start = len(citations) + 1
        parts += [f"[{i}] {m.ref} ({m.title})\n    \"{m.snippet}\""
                  for i, m in enumerate(memory, start)]
    return "\n\n".join(parts)


def best_snippet(text: str, terms: list[str], words: int = SNIPPET_WORDS) -> str:
    """The run of whole sentences, up to `words` words, that holds most of the question's
    terms; the chunk's start when none of them occurs (a match by meaning only)."""
    sentences = [s.strip() for s in _SENTENCES.split(text) if s and s.strip()]
    if not sentences:
        return ""
    stems = [t[:5] for t in terms]

    def hits(sentence: str) -> int:
        lowered = sentence.lower()
        return sum(1 for s in stems if s in lowered)

    best_start, best_score = 0, -1
    for start in range(len(sentences)):
        score = hits(" ".join(_take(sentences, start, words)))
        if score > best_score:
            best_start, best_score = start, score
    chosen = _take(sentences, best_start, words)
    snippet = " ".join(chosen)
    all_words = snippet.split()
    if len(all_words) > words:
        snippet = " ".join(all_words[:words]) + " …"
    prefix = "… " if best_start > 0 and not snippet.startswith("…") else ""
    suffix = " …" if best_start + len(chosen) < len(sentences) and not snippet.endswith("…") \
        else ""
    return prefix + snippet + suffix


def _take(sentences: list[str], start: int, words: int) -> list[str]:
    taken, count = [], 0
    for sentence in sentences[start:]:
        n = len(sentence.split())
        if taken and count + n > words:
            break
        taken.append(sentence)
        count += n
    return taken
