"""The knowledge base on disk: one SQLite file with sources, chunks, an FTS5 index and vectors.

SQLite rather than the state database (which may be PostgreSQL) because BM25 comes from
SQLite's FTS5 and the whole index is a file a person can copy. Every operation opens its
own connection, so threads and processes can share the file (WAL mode; writers queue).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from oasis.signals.model import utc_iso

SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY,
    uri TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    title TEXT NOT NULL,
    kind TEXT NOT NULL,
    memory INTEGER NOT NULL DEFAULT 0,
    hash TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    added_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    source_id INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    ord INTEGER NOT NULL,
    heading TEXT NOT NULL,
    text TEXT NOT NULL,
    vector BLOB
);
CREATE INDEX IF NOT EXISTS chunks_source ON chunks(source_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    title, heading, text, tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS vector_cache (
    text_hash TEXT NOT NULL,
    model TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (text_hash, model)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('generation', '0');
"""


@dataclass(slots=True)
class SourceInfo:
    uri: str
    label: str
    title: str
    kind: str
    memory: bool
    hash: str
    chunks: int
    added_at: str
    metadata: dict

    def to_dict(self) -> dict:
        return {"uri": self.uri, "label": self.label, "title": self.title, "kind": self.kind,
                "memory": self.memory, "chunks": self.chunks, "added_at": self.added_at,
                "metadata": self.metadata}


@dataclass(slots=True)
class StoredChunk:
    """A chunk with its source, as search returns it."""

    id: int
    uri: str
    label: str
    title: str
    kind: str
    memory: bool
    metadata: dict
    heading: str
    text: str


@dataclass(slots=True)
class NewChunk:
    heading: str
    text: str
    vector: np.ndarray | None


class KnowledgeStore:
    """Low-level reads and writes; `KnowledgeBase` decides what to write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as conn:
            conn.executescript(SCHEMA)
        self._matrix: tuple[int, np.ndarray, np.ndarray] | None = None

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=30)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            with conn:
                yield conn
        finally:
            conn.close()

    # -- sources --------------------------------------------------------------------------
    def source_hash(self, uri: str, *, embedded: bool = False) -> str | None:
        """The content hash the source was indexed with; with `embedded`, None also when
        some of its chunks have no vector (indexed while embeddings were off)."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT s.hash, COUNT(c.id) - COUNT(c.vector) FROM sources s LEFT JOIN chunks c"
                " ON c.source_id = s.id WHERE s.uri = ? GROUP BY s.id", (uri,)).fetchone()
        if row is None or (embedded and row[1]):
            return None
        return row[0]

    def replace_source(self, *, uri: str, label: str, title: str, kind: str, memory: bool,
                       content_hash: str, metadata: dict, chunks: Sequence[NewChunk]) -> None:
        """Drop the source's old chunks (if any) and write the new ones, atomically."""
        with self.connect() as conn:
            _delete_source(conn, uri)
            cur = conn.execute(
                "INSERT INTO sources (uri, label, title, kind, memory, hash, metadata, added_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (uri, label, title, kind, int(memory), content_hash,
                 json.dumps(metadata, default=str), utc_iso(datetime.now(UTC))))
            source_id = cur.lastrowid
            for ord_, chunk in enumerate(chunks):
                blob = None if chunk.vector is None else chunk.vector.astype("<f4").tobytes()
                cur = conn.execute(
                    "INSERT INTO chunks (source_id, ord, heading, text, vector)"
                    " VALUES (?, ?, ?, ?, ?)", (source_id, ord_, chunk.heading, chunk.text, blob))
                conn.execute("INSERT INTO chunks_fts (rowid, title, heading, text)"
                             " VALUES (?, ?, ?, ?)", (cur.lastrowid, title, chunk.heading,
                                                      chunk.text))
            _bump(conn)

    def remove_source(self, uri_or_label: str) -> bool:
        with self.connect() as conn:
            row = conn.execute("SELECT uri FROM sources WHERE uri = ? OR label = ?",
                               (uri_or_label, uri_or_label)).fetchone()
            if row is None:
                return False
            _delete_source(conn, row[0])
            _bump(conn)
        return True

    def sources(self) -> list[SourceInfo]:
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT s.uri, s.label, s.title, s.kind, s.memory, s.hash, COUNT(c.id),"
                " s.added_at, s.metadata FROM sources s LEFT JOIN chunks c"
                " ON c.source_id = s.id GROUP BY s.id ORDER BY s.memory, s.label").fetchall()
        return [SourceInfo(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7],
                           json.loads(r[8])) for r in rows]

    # -- search ---------------------------------------------------------------------------
    def bm25(self, match: str, limit: int) -> list[tuple[int, float]]:
        """(chunk id, score) best first; titles and headings weigh more than body text."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT rowid, bm25(chunks_fts, 2.0, 2.0, 1.0) AS s FROM chunks_fts"
                " WHERE chunks_fts MATCH ? ORDER BY s LIMIT ?", (match, limit)).fetchall()
        return [(r[0], -r[1]) for r in rows]

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(chunk ids, unit vectors) of every embedded chunk, cached until the next write."""
        with self.connect() as conn:
            generation = int(conn.execute(
                "SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
            if self._matrix is not None and self._matrix[0] == generation:
                return self._matrix[1], self._matrix[2]
            rows = conn.execute(
                "SELECT id, vector FROM chunks WHERE vector IS NOT NULL").fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        matrix = (np.vstack([np.frombuffer(r[1], dtype="<f4") for r in rows])
                  if rows else np.zeros((0, 0), dtype=np.float32))
        self._matrix = (generation, ids, matrix)
        return ids, matrix

    def chunks(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT c.id, s.uri, s.label, s.title, s.kind, s.memory, s.metadata,"
                f" c.heading, c.text FROM chunks c JOIN sources s ON s.id = c.source_id"
                f" WHERE c.id IN ({marks})", list(ids)).fetchall()
        return {r[0]: StoredChunk(r[0], r[1], r[2], r[3], r[4], bool(r[5]), json.loads(r[6]),
                                  r[7], r[8]) for r in rows}

    # -- embedding cache ------------------------------------------------------------------
    def cached_vectors(self, model: str, hashes: Sequence[str]) -> dict[str, np.ndarray]:
        if not hashes:
            return {}
        marks = ",".join("?" * len(hashes))
        with self.connect() as conn:
            rows = conn.execute(
                f"SELECT text_hash, vector FROM vector_cache WHERE model = ?"
                f" AND text_hash IN ({marks})", [model, *hashes]).fetchall()
        return {r[0]: np.frombuffer(r[1], dtype="<f4") for r in rows}

    def cache_vectors(self, model: str, vectors: dict[str, np.ndarray]) -> None:
        with self.connect() as conn:
            conn.executemany("INSERT OR REPLACE INTO vector_cache VALUES (?, ?, ?)",
                             [(h, model, v.astype("<f4").tobytes()) for h, v in vectors.items()])


def _delete_source(conn: sqlite3.Connection, uri: str) -> None:
    conn.execute("DELETE FROM chunks_fts WHERE rowid IN (SELECT c.id FROM chunks c JOIN"
                 " sources s ON s.id = c.source_id WHERE s.uri = ?)", (uri,))
    conn.execute("DELETE FROM chunks WHERE source_id IN (SELECT id FROM sources WHERE uri = ?)",
                 (uri,))
    conn.execute("DELETE FROM sources WHERE uri = ?", (uri,))


def _bump(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
