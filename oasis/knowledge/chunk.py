"""Cutting sections into chunks of a few hundred words, at paragraph boundaries.

A chunk is what search ranks and what an answer quotes, so it should be about one thing
(never spans two headings) and big enough to carry its context. Consecutive chunks of one
section overlap by a few dozen words, so a sentence cut at a boundary is whole in one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from oasis.knowledge.extract import Section

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(slots=True)
class Chunk:
    heading: str
    text: str

    @property
    def words(self) -> int:
        return len(self.text.split())


def chunk_sections(sections: list[Section], *, target: int = 250, maximum: int = 400,
                   overlap: int = 40) -> list[Chunk]:
    """Chunks of about `target` words (never over `maximum`), section by section."""
    chunks: list[Chunk] = []
    for section in sections:
        # A long paragraph is cut to `target`, not `maximum`, leaving room for the overlap.
        pieces = [p for para in _paragraphs(section.text) for p in _fit(para, target)]
        current: list[str] = []
        for piece in pieces:
            size = sum(len(p.split()) for p in current)
            if current and (size >= target or size + len(piece.split()) > maximum):
                chunks.append(Chunk(section.heading, "\n\n".join(current)))
                current = [_tail(current, overlap)] if overlap else []
                if current and len(current[0].split()) + len(piece.split()) > maximum:
                    current = []
            current.append(piece)
        if current and any(p.strip() for p in current):
            chunks.append(Chunk(section.heading, "\n\n".join(current)))
    return chunks


def _paragraphs(text: str) -> list[str]:
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if lines:
            paragraphs.append("\n".join(lines))
    return paragraphs


def _fit(paragraph: str, maximum: int) -> list[str]:
    """A paragraph longer than `maximum` words, cut at sentence ends (or hard, if a single
    sentence is that long), into pieces of at most `maximum` words."""
    if len(paragraph.split()) <= maximum:
        return [paragraph]
    out: list[str] = []
    current: list[str] = []
    for sentence in _SENTENCE_END.split(paragraph):
        words = sentence.split()
        while len(words) > maximum:
            out.append(" ".join(words[:maximum]))
            words = words[maximum:]
        if current and len(current) + len(words) > maximum:
            out.append(" ".join(current))
            current = []
        current.extend(words)
    if current:
        out.append(" ".join(current))
    return out


def _tail(paragraphs: list[str], words: int) -> str:
    """The last `words` words of a chunk, starting at a sentence if one starts near."""
    tail = " ".join(paragraphs).split()[-words:]
    text = " ".join(tail)
    starts = [m.end() for m in _SENTENCE_END.finditer(text)]
    if starts and starts[0] < len(text) // 2:
        text = text[starts[0]:]
    return "… " + text
