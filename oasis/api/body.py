"""Request bodies read as they arrive: gunzipped on the fly and capped in size.

An ingest body is never held whole unless its format needs it (a JSON array, an OTLP
message): NDJSON is cut into blocks of whole lines of about `STREAM_BLOCK_BYTES`, each stored
before the next is read, so the memory one request takes does not depend on its size.
`max_held_bytes` on a `BodyStream` records the most it ever held at once, for the tests.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

from fastapi import HTTPException, Request, status

#: Bytes of NDJSON (whole lines) handed to the ingestor at a time. Large enough for the
#: columnar fast path (about 14 k typical lines; it runs outside the GIL, so concurrent
#: uploads share the cores): bench/load.py measured 4 senders at 0.53x file ingest with
#: 1 MiB blocks and 1.1-1.26x with 4 MiB, for about 60 MB more peak RSS on a long upload.
STREAM_BLOCK_BYTES = 4 * 1024 * 1024
#: Most bytes one gzip chunk may inflate to before the rest waits for the next round.
_INFLATE_STEP = 256 * 1024


class BodyStream:
    """The body of `request`, at most `limit` bytes after decompression (413 past it)."""

    def __init__(self, request: Request, limit: int, block_bytes: int = STREAM_BLOCK_BYTES) -> None:
        self.request = request
        self.limit = limit
        self.block_bytes = block_bytes
        self.size = 0
        self.max_held_bytes = 0
        encoding = request.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("identity", "", "gzip"):
            raise HTTPException(
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                f"unsupported Content-Encoding {encoding!r}: use gzip or none",
            )
        self.gzip = encoding == "gzip"
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise self.too_large()

    def too_large(self) -> HTTPException:
        return HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE, f"body is larger than {self.limit} bytes"
        )

    async def chunks(self) -> AsyncIterator[bytes]:
        """The decoded body, piece by piece as the network delivers it."""
        pieces = _gunzip(self.request.stream()) if self.gzip else self.request.stream()
        async for piece in pieces:
            self.size += len(piece)
            if self.size > self.limit:
                raise self.too_large()
            if piece:
                yield piece

    async def read(self) -> bytes:
        """The whole body, for formats that cannot be read in parts."""
        parts = [piece async for piece in self.chunks()]
        self.max_held_bytes = self.size
        return b"".join(parts)

    async def line_blocks(self) -> AsyncIterator[bytes]:
        """Whole lines, about `block_bytes` at a time (a longer line is one block)."""
        held = bytearray()
        async for piece in self.chunks():
            held += piece
            self.max_held_bytes = max(self.max_held_bytes, len(held))
            if len(held) >= self.block_bytes:
                cut = held.rfind(b"\n") + 1
                if cut:
                    yield bytes(held[:cut])
                    del held[:cut]
        if held:
            yield bytes(held)


async def _gunzip(raw: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Inflate gzip (one or more members) a bounded step at a time, so a small bomb never
    expands in memory at once; the size cap of `BodyStream.chunks` stops it."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    started = False
    try:
        async for data in raw:
            while data:
                if inflater.eof:  # a further gzip member follows the last one
                    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                started = True
                out = inflater.decompress(data, _INFLATE_STEP)
                if out:
                    yield out
                data = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
        tail = inflater.flush()
        if tail:
            yield tail
    except zlib.error as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"body is not valid gzip: {exc}") from None
    if started and not inflater.eof:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "body is not valid gzip: it ends in the middle of the stream",
        )
