"""Ingest: check each record, keep the good ones, report the bad ones with their line.

A bad record never costs the good ones around it: lines are checked in blocks (all at
once on the columnar fast path, one by one for the lines it leaves over), valid records
are appended in batches, and the report counts what was accepted, skipped as a
duplicate `id`, or rejected (and why).
"""

from __future__ import annotations

import gc
import io
import itertools
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, BinaryIO

import orjson

from oasis.ingest.columnar import LineBatch, merge_in_line_order, thread_parser
from oasis.ingest.window import Bounds, TimeWindow
from oasis.signals import RecordError, Signal, parse_line, parse_record
from oasis.signals.errors import InvalidInput
from oasis.store import AppendResult, SignalBatch, SignalStore

#: Bytes of NDJSON checked at a time (one block is one batch written to the store). Each
#: fast-path query has a fixed cost (tens of ms) that a block must outweigh, and holds
#: several times its block in memory while it runs: on 2 cores with 2 workers, 6 MiB
#: blocks took ~145 MB less peak RSS than 16 MiB ones for 4-10 % less throughput
#: (1 M-record files, bench/ingest.py).
BLOCK_BYTES = 6 * 1024 * 1024
#: Fewer lines than this go to the per-record parser: for them the fast path's fixed
#: cost is more than it saves (bench/ingest.py measures both). Not a size in bytes: one
#: sender's 4 MiB HTTP blocks of long variety lines (~7 k each) went at 0.6x the speed on
#: the fast path; it pays off on such lines only with several blocks checked at once.
FAST_PATH_MIN_LINES = 10_000


class BodyError(InvalidInput, ValueError):
    """A request body that cannot be split into records at all."""

    status = 400


@dataclass(frozen=True, slots=True)
class Rejection:
    """One record that was not stored: where it was and why."""

    line: int
    reason: str
    source: str | None = None


@dataclass(slots=True)
class IngestReport:
    """Counts for one ingest; `errors` lists the first rejections, `errors_omitted` the rest."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[Rejection] = field(default_factory=list)
    errors_omitted: int = 0

    def merge(self, other: IngestReport, *, max_errors: int) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        room = max(0, max_errors - len(self.errors))
        self.errors.extend(other.errors[:room])
        self.errors_omitted += other.errors_omitted + max(0, len(other.errors) - room)

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "errors": [
                {"line": e.line, "reason": e.reason, **({"source": e.source} if e.source else {})}
                for e in self.errors
            ],
            "errors_omitted": self.errors_omitted,
        }


class Ingestor:
    """Checks records and appends them to a store in batches.

    NDJSON (`ingest_file`, `ingest_ndjson`, `ingest_lines`, NDJSON bodies) goes through
    the columnar fast path (`oasis.ingest.columnar`) in blocks, `workers` blocks at a time
    in threads (DuckDB runs outside the GIL); lines it leaves over are parsed one by one,
    which words each rejection with its line number. Every record, on either path, must
    also fall in the time `window`: by default not more than 10 minutes ahead of the wall
    clock and not older than the store's retention.
    """

    def __init__(self, store: SignalStore, *, batch_size: int = 20_000,
                 max_errors: int = 1_000, workers: int = 1,
                 window: TimeWindow | None = None, fast_path: bool = True) -> None:
        self.store = store
        self.batch_size = batch_size
        self.max_errors = max_errors
        self.workers = workers
        self.block_bytes = BLOCK_BYTES
        if window is None:
            retention = getattr(store, "retention", None)
            window = TimeWindow(max_age=retention if isinstance(retention, timedelta) else None)
        self.window = window
        #: Off: every line goes through the per-record parser (the reference the fast path
        #: is tested against; the same outcome, slower).
        self.fast_path = fast_path
        self.fast_path_min_lines = FAST_PATH_MIN_LINES

    def ingest_lines(
        self,
        lines: Iterable[bytes | str],
        *,
        source: str | None = None,
        first_line: int = 1,
        on_batch: Callable[[IngestReport], None] | None = None,
    ) -> IngestReport:
        """Ingest NDJSON lines; blank lines are skipped but still counted for line numbers."""
        return self._ingest_blocks(_line_blocks(lines, first_line, self.block_bytes), source,
                                   on_batch)

    def ingest_ndjson(self, data: bytes, *, source: str | None = None,
                      first_line: int = 1) -> IngestReport:
        """Ingest NDJSON bytes (an HTTP body): the fast path, in blocks of whole lines."""
        return self._ingest_blocks(_blocks(io.BytesIO(data), self.block_bytes, first_line),
                                   source, None)

    def ingest_file(
        self,
        file: BinaryIO,
        *,
        source: str | None = None,
        on_batch: Callable[[IngestReport], None] | None = None,
    ) -> IngestReport:
        """Ingest an NDJSON file object (plain, gzip or a pipe), read in blocks."""
        return self._ingest_blocks(_blocks(file, self.block_bytes), source, on_batch)

    def ingest_values(self, values: Iterable[Any], *, source: str | None = None) -> IngestReport:
        """Ingest decoded JSON values; the reported `line` is the 1-based position."""
        chunks = _chunked(enumerate(values, start=1), self.batch_size)
        parsed = (self._parse_chunk(chunk, parse_record, source) for chunk in chunks)
        return self._write(parsed, None)

    def ingest_body(self, body: bytes, *, source: str | None = None) -> IngestReport:
        """An HTTP body: a JSON array of records, or NDJSON (one record per line)."""
        if body.lstrip()[:1] == b"[":
            try:
                values = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                problem = "invalid UTF-8" if "UTF-8" in str(exc) else str(exc)
                raise BodyError(f"body is not a valid JSON array: {problem}") from None
            return self.ingest_values(values, source=source)
        return self.ingest_ndjson(body, source=source)

    def _ingest_blocks(self, blocks: Iterator[tuple[int, bytes]], source: str | None,
                       on_batch: Callable[[IngestReport], None] | None) -> IngestReport:
        workers = self.workers if self.workers > 0 else default_workers()
        if workers == 1:
            parsed = (self._parse_block(first, block, source) for first, block in blocks)
            return self._write(parsed, on_batch)
        with ThreadPoolExecutor(workers, thread_name_prefix="oasis-parse") as pool:
            # As many blocks ahead as workers: each parsed block waiting to be written holds
            # its rows, and more ahead was no faster (bench/ingest.py).
            return self._write(_ahead(pool, self._parse_block, blocks, source, workers),
                               on_batch)

    def _parse_block(self, first_line: int, block: bytes,
                     source: str | None) -> tuple[SignalBatch | LineBatch, IngestReport]:
        bounds = self.window.bounds()
        if not self.fast_path or block.count(b"\n") < self.fast_path_min_lines:
            lines = block.split(b"\n")
            if lines and not lines[-1]:
                lines.pop()
            return self._parse_chunk(list(enumerate(lines, start=first_line)), parse_line,
                                     source, bounds)
        earliest, latest = bounds.naive()
        fast = thread_parser().parse(block, first_line, earliest=earliest, latest=latest)
        if not fast.slow:
            return fast.batch, IngestReport()
        slow, report = self._parse_chunk(fast.slow, parse_line, source, bounds)
        return merge_in_line_order(fast, slow), report

    def _parse_chunk(self, chunk: list[tuple[int, Any]], parse: Callable[[Any], Signal],
                     source: str | None, bounds: Bounds | None = None,
                     ) -> tuple[LineBatch, IngestReport]:
        """The per-record path: each item parsed and checked on its own, with its line."""
        records: list[tuple[int, Signal]] = []
        report = IngestReport()
        bounds = bounds or self.window.bounds()
        with _gc_paused():
            for number, item in chunk:
                if isinstance(item, bytes | str) and not item.strip():
                    continue  # blank line
                try:
                    record = parse(item)
                    reason = self.window.refusal(record.timestamp, bounds)
                    if reason is not None:
                        raise RecordError(reason)
                except RecordError as exc:
                    report.rejected += 1
                    if len(report.errors) < self.max_errors:
                        report.errors.append(Rejection(number, str(exc), source))
                    else:
                        report.errors_omitted += 1
                    continue
                records.append((number, record))
        return LineBatch(records), report

    def _write(
        self,
        parsed: Iterable[tuple[SignalBatch | LineBatch, IngestReport]],
        on_batch: Callable[[IngestReport], None] | None,
    ) -> IngestReport:
        total = IngestReport()
        parsed = iter(parsed)
        first = next(parsed, None)
        second = next(parsed, None) if first is not None else None
        if second is None:  # one block (an HTTP request's): no writer thread to start
            if first is not None:
                batch, report = first
                self._settle(report, self.store.append_batch(_store_ready(batch)), total,
                             on_batch)
            return total
        parsed = itertools.chain((first, second), parsed)
        # One batch is written while the next is parsed: the store's insert runs
        # outside the GIL, so parsing and writing share the cores.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="oasis-ingest") as writer:
            in_flight: tuple[Future[AppendResult], IngestReport] | None = None

            def settle() -> None:
                nonlocal in_flight
                if in_flight is None:
                    return
                future, report = in_flight
                in_flight = None
                self._settle(report, future.result(), total, on_batch)

            for batch, report in parsed:
                ready = _store_ready(batch)
                settle()
                in_flight = (writer.submit(self.store.append_batch, ready), report)
            settle()
        return total

    def _settle(self, report: IngestReport, stored: AppendResult, total: IngestReport,
                on_batch: Callable[[IngestReport], None] | None) -> None:
        """Count what the store kept of one batch into its report and the total."""
        report.accepted += stored.accepted
        report.duplicates += stored.duplicates
        total.merge(report, max_errors=self.max_errors)
        if on_batch is not None:
            on_batch(report)


def _store_ready(batch: SignalBatch | LineBatch) -> SignalBatch:
    return batch.to_batch() if isinstance(batch, LineBatch) else batch


def _chunked(items: Iterable[tuple[int, Any]], size: int) -> Iterator[list[tuple[int, Any]]]:
    chunk: list[tuple[int, Any]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Parsed records hold no reference cycles, so the cycle collector's passes over tens
    of thousands of fresh objects are pure cost (about 13 % of parsing); pause it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _blocks(file: BinaryIO, size: int, first_line: int = 1) -> Iterator[tuple[int, bytes]]:
    """Whole lines in blocks of about `size` bytes, each with the number of its first line."""
    carry = b""
    while chunk := file.read(size):
        chunk = carry + chunk
        cut = chunk.rfind(b"\n") + 1
        if cut == 0:
            carry = chunk
            continue
        block, carry = chunk[:cut], chunk[cut:]
        yield first_line, block
        first_line += block.count(b"\n")
    if carry:
        yield first_line, carry


def _line_blocks(lines: Iterable[bytes | str], first_line: int,
                 size: int) -> Iterator[tuple[int, bytes]]:
    """Lines (with or without their newline) joined into blocks for the fast path."""
    buffer: list[bytes] = []
    used = 0
    for line in lines:
        raw = line.encode("utf-8", "surrogatepass") if isinstance(line, str) else line
        if not raw.endswith(b"\n"):
            raw += b"\n"
        buffer.append(raw)
        used += len(raw)
        if used >= size:
            yield first_line, b"".join(buffer)
            first_line += len(buffer)
            buffer, used = [], 0
    if buffer:
        yield first_line, b"".join(buffer)


def _ahead(pool: ThreadPoolExecutor, parse: Callable[..., Any],
           blocks: Iterator[tuple[int, bytes]], source: str | None,
           depth: int) -> Iterator[Any]:
    """Parse blocks in the pool, yielding results in order; bounded read-ahead keeps memory
    flat however large the input is."""
    pending: deque[Future[Any]] = deque()
    for first_line, block in blocks:
        pending.append(pool.submit(parse, first_line, block, source))
        if len(pending) >= depth:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def default_workers() -> int:
    """Parse threads when none are configured: one per CPU (measured fastest, see
    bench/ingest.py), at least one."""
    return max(1, os.cpu_count() or 1)
