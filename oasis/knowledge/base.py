"""The knowledge base: what OASIS consults before it answers a question or triages an event.

Runbooks, policies and web pages are cut into chunks and indexed twice (BM25 and MiniLM
vectors); past events, tickets and incidents are remembered the same way and come back
marked as memory. A source is identified by its absolute path or URL: adding it again
replaces its chunks if its content changed and does nothing if it did not.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from oasis.knowledge.answer import Answer, Answerer, ExtractiveAnswerer
from oasis.knowledge.chunk import chunk_sections
from oasis.knowledge.embed import Embedder, EmbedderUnavailable, shared_minilm
from oasis.knowledge.extract import (
    SUFFIX_KINDS,
    Document,
    Section,
    SourceError,
    extract,
    kind_for_path,
)
from oasis.knowledge.fetch import fetch_url
from oasis.knowledge.memory import check_memory, incident_memory, ticket_memory
from oasis.knowledge.search import Hit, Mode, Retriever
from oasis.knowledge.settings import KnowledgeSettings
from oasis.knowledge.store import KnowledgeStore, NewChunk, SourceInfo
from oasis.signals.errors import InvalidInput

log = logging.getLogger(__name__)


class QuestionError(InvalidInput, ValueError):
    """A question that cannot be asked: empty or too long."""


@dataclass(slots=True)
class AddResult:
    source: str
    status: Literal["added", "updated", "unchanged"]
    chunks: int

    def to_dict(self) -> dict:
        return {"source": self.source, "status": self.status, "chunks": self.chunks}


class KnowledgeBase:
    """Add sources and memories; search them; answer questions with citations."""

    def __init__(self, path: Path, settings: KnowledgeSettings | None = None, *,
                 embedder: Embedder | Literal["auto"] | None = "auto",
                 answerer: Answerer | None = None) -> None:
        self.settings = settings or KnowledgeSettings()
        self.store = KnowledgeStore(path)
        self.embedder = _embedder(self.settings) if embedder == "auto" else embedder
        self.answerer = answerer or ExtractiveAnswerer()
        s = self.settings
        self.retriever = Retriever(self.store, self.embedder, rrf_k=s.rrf_k,
                                   candidates=s.candidates, min_cosine=s.min_cosine)

    @classmethod
    def open(cls, data_dir: Path, settings: KnowledgeSettings | None = None,
             **kwargs: Any) -> KnowledgeBase:
        """The knowledge base of a data dir (DATA_DIR/knowledge.db unless settings say)."""
        settings = settings or KnowledgeSettings()
        return cls(settings.db_path(data_dir), settings, **kwargs)

    # -- adding ---------------------------------------------------------------------------
    def add_path(self, path: Path, *, label: str | None = None) -> list[AddResult]:
        """A file, or every supported file under a directory (sorted, hidden ones skipped)."""
        path = Path(path)
        if not path.exists():
            raise SourceError(f"{path}: no such file or directory")
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file()
                           and p.suffix.lower() in SUFFIX_KINDS
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not files:
                raise SourceError(f"{path}: no {', '.join(sorted(SUFFIX_KINDS))} files in it")
            return [self._add_file(f, None) for f in files]
        return [self._add_file(path, label)]

    def _add_file(self, path: Path, label: str | None) -> AddResult:
        kind = kind_for_path(path)
        try:
            if path.stat().st_size > self._max_bytes:
                raise SourceError(f"{path}: {path.stat().st_size} bytes is over the "
                                  f"{self._max_bytes}-byte limit (knowledge.max_source_mb)")
            data = path.read_bytes()
        except OSError as exc:
            raise SourceError(f"{path}: cannot read it ({exc.strerror})") from None
        uri = str(path.resolve())
        return self._add_bytes(uri, label or _display(path), kind, data)

    def add_url(self, url: str, **kwargs: Any) -> AddResult:
        """A web page or file over HTTP(S): Markdown, HTML, text or PDF."""
        fetched = fetch_url(url, timeout=self.settings.url_timeout_seconds,
                            max_bytes=self._max_bytes, **kwargs)
        return self._add_bytes(url, url, fetched.kind, fetched.data)

    def add_text(self, uri: str, text: str, *, kind: str = "markdown", label: str | None = None
                 ) -> AddResult:
        """Text that is not a file (a pasted policy, a generated page)."""
        return self._add_bytes(uri, label or uri, kind, text.encode("utf-8"))

    def _add_bytes(self, uri: str, label: str, kind: str, data: bytes) -> AddResult:
        content_hash = hashlib.sha256(data).hexdigest()
        previous = self.store.source_hash(uri)
        if previous == content_hash and self._complete(uri):
            return AddResult(label, "unchanged", 0)
        title, sections = extract(data, kind, name=label)
        if not sections:
            raise SourceError(f"{label}: no text in it")
        doc = Document(uri, label, title or _title_from(label), kind, sections)
        count = self._write(doc, content_hash, memory=False)
        return AddResult(label, "added" if previous is None else "updated", count)

    # -- memory ---------------------------------------------------------------------------
    def remember(self, kind: str, id: str, text: str, metadata: dict | None = None
                 ) -> AddResult:
        """Index a past event, ticket or incident; searching returns it marked as memory.
        Remembering the same kind and id again replaces it."""
        check_memory(kind, id, text)
        metadata = dict(metadata or {})
        uri = f"memory:{kind}/{id}"
        content_hash = hashlib.sha256(repr((text, sorted(metadata.items(), key=str)))
                                      .encode()).hexdigest()
        previous = self.store.source_hash(uri)
        if previous == content_hash and self._complete(uri):
            return AddResult(uri, "unchanged", 0)
        title = str(metadata.get("title") or text.strip().splitlines()[0])[:200]
        doc = Document(uri, uri, title, kind, [Section(kind, text)], metadata)
        count = self._write(doc, content_hash, memory=True)
        return AddResult(uri, "added" if previous is None else "updated", count)

    def remember_incident(self, incident: dict[str, Any],
                          actions: list[dict[str, Any]] | None = None) -> AddResult:
        """An incident (its `to_dict()`) and the actions taken, as memory kind incident."""
        id_, text, metadata = incident_memory(incident, actions)
        return self.remember("incident", id_, text, metadata)

    def remember_ticket(self, ticket: dict[str, Any]) -> AddResult:
        """A triage ticket (its dict) with its history, as memory kind ticket."""
        id_, text, metadata = ticket_memory(ticket)
        return self.remember("ticket", id_, text, metadata)

    # -- reading --------------------------------------------------------------------------
    def sources(self) -> list[SourceInfo]:
        return self.store.sources()

    def remove(self, source: str) -> bool:
        """Forget a source by its label, path or URL (or memory:KIND/ID)."""
        if self.store.remove_source(source):
            return True
        resolved = Path(source).resolve()
        return self.store.remove_source(str(resolved))

    def search(self, question: str, k: int = 5, mode: Mode = "hybrid") -> list[Hit]:
        """The `k` chunks that best answer `question`, best first."""
        question = self.check_question(question)
        if not 1 <= k <= 100:
            raise QuestionError(f"k must be between 1 and 100, not {k}")
        return self.retriever.search(question, k, mode)

    def consult(self, question: str, *, k: int = 5) -> Answer:
        """What the knowledge base says about `question`, quoted and cited."""
        hits = self.search(question, k)
        return self.answerer.answer(question.strip(), hits)

    def check_question(self, question: str) -> str:
        if not isinstance(question, str) or not question.strip():
            raise QuestionError("the question is empty")
        limit = self.settings.max_question_chars
        if len(question) > limit:
            raise QuestionError(f"the question is {len(question)} characters; the limit is "
                                f"{limit} (knowledge.max_question_chars)")
        return question.strip()

    # -- internals ------------------------------------------------------------------------
    @property
    def _max_bytes(self) -> int:
        return int(self.settings.max_source_mb * 2**20)

    def _complete(self, uri: str) -> bool:
        """Nothing to redo: indexed, and embedded too if embeddings are on now."""
        return self.embedder is None or self.store.source_hash(uri, embedded=True) is not None

    def _write(self, doc: Document, content_hash: str, *, memory: bool) -> int:
        s = self.settings
        chunks = chunk_sections(doc.sections, target=s.chunk_words,
                                maximum=max(s.max_chunk_words, s.chunk_words),
                                overlap=s.overlap_words)
        if not chunks:
            raise SourceError(f"{doc.label}: no text in it")
        # What is embedded names the document and the heading: a passage saying "run the
        # script first" is only findable by meaning if it knows it is about EKS upgrades.
        contexts = [" — ".join(p for p in (doc.title, c.heading, c.text) if p) for c in chunks]
        vectors = self._embed(contexts)
        self.store.replace_source(
            uri=doc.uri, label=doc.label, title=doc.title, kind=doc.kind, memory=memory,
            content_hash=content_hash, metadata=doc.metadata,
            chunks=[NewChunk(c.heading, c.text, None if vectors is None else vectors[i])
                    for i, c in enumerate(chunks)])
        return len(chunks)

    def _embed(self, texts: list[str]) -> np.ndarray | None:
        if self.embedder is None:
            return None
        name = self.embedder.name
        hashes = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
        cached = self.store.cached_vectors(name, hashes)
        missing = sorted({h: t for h, t in zip(hashes, texts, strict=True)
                          if h not in cached}.items())
        if missing:
            fresh = self.embedder.embed([t for _, t in missing])
            new = {h: fresh[i] for i, (h, _) in enumerate(missing)}
            self.store.cache_vectors(name, new)
            cached.update(new)
        return np.vstack([cached[h] for h in hashes])


def _embedder(settings: KnowledgeSettings) -> Embedder | None:
    if settings.embedder == "none":
        return None
    try:
        return shared_minilm(settings.model_dir)
    except EmbedderUnavailable as exc:
        log.warning("knowledge base: keyword search only: %s", exc)
        return None


def _display(path: Path) -> str:
    """A path as citations show it: relative to the working directory when inside it."""
    try:
        return os.path.relpath(path.resolve(), Path.cwd()) if path.resolve().is_relative_to(
            Path.cwd()) else str(path.resolve())
    except (OSError, ValueError):
        return str(path)


def _title_from(label: str) -> str:
    stem = Path(label.rstrip("/").rsplit("/", 1)[-1]).stem
    return stem.replace("-", " ").replace("_", " ").strip().capitalize() or label
