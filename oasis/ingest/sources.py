"""Open what `oasis ingest` reads: files, gzip files, or `-` for standard input."""

from __future__ import annotations

import gzip
import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_GZIP_MAGIC = b"\x1f\x8b"


@dataclass
class Source:
    """An opened input: its lines, its size on disk (if known) and how far we have read."""

    name: str
    lines: BinaryIO
    size: int | None
    _raw: BinaryIO

    def position(self) -> int:
        """Bytes of the underlying file consumed so far (compressed bytes for gzip)."""
        try:
            return self._raw.tell()
        except (OSError, ValueError):
            return 0


@contextmanager
def open_source(name: str) -> Iterator[Source]:
    """Open a path or `-`; gzip is recognised by its magic bytes, whatever the file is called."""
    if name == "-":
        stdin = sys.stdin.buffer
        head = stdin.peek(2)[:2] if hasattr(stdin, "peek") else b""
        lines: BinaryIO = gzip.GzipFile(fileobj=stdin) if head == _GZIP_MAGIC else stdin
        yield Source("<stdin>", lines, None, stdin)
        return
    path = Path(name)
    if path.is_dir():
        raise IsADirectoryError(f"{name} is a directory")
    raw = path.open("rb")
    try:
        magic = raw.read(2)
        raw.seek(0)
        if magic == _GZIP_MAGIC:
            lines = io.BufferedReader(gzip.GzipFile(fileobj=raw), buffer_size=1 << 20)
        else:
            lines = raw
        yield Source(name, lines, path.stat().st_size, raw)
    finally:
        raw.close()
