"""Ingest: check each record, keep the good ones, report the bad ones with their line.

A bad record never costs the good ones around it: every line is parsed on
its own, valid records are appended in batches, and the report counts what
was accepted, skipped as a duplicate `id`, or rejected (and why).
"""

from __future__ import annotations

import gc
import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import orjson

from oasis.signals import RecordError, Signal, parse_line, parse_record
from oasis.signals.errors import InvalidInput
from oasis.store import AppendResult, SignalBatch, SignalStore

#: Bytes of NDJSON handed to a worker process at a time.
BLOCK_BYTES = 4 * 1024 * 1024


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
    """Parses records and appends them to a store in batches.

    With `workers > 1`, `ingest_lines` parses batches in that many worker
    processes (for large files: parsing is pure Python and holds the GIL),
    while this process only writes; order and line numbers are kept.
    """

    def __init__(self, store: SignalStore, *, batch_size: int = 20_000,
                 max_errors: int = 1_000, workers: int = 1) -> None:
        self.store = store
        self.batch_size = batch_size
        self.max_errors = max_errors
        self.workers = workers
        self.block_bytes = BLOCK_BYTES

    def ingest_lines(
        self,
        lines: Iterable[bytes | str],
        *,
        source: str | None = None,
        first_line: int = 1,
        on_batch: Callable[[IngestReport], None] | None = None,
    ) -> IngestReport:
        """Ingest NDJSON lines; blank lines are skipped but still counted for line numbers."""
        chunks = _chunked(enumerate(lines, start=first_line), self.batch_size)
        parsed = (_parse_chunk(chunk, parse_line, source, self.max_errors) for chunk in chunks)
        return self._write(parsed, on_batch)

    def ingest_file(
        self,
        file: BinaryIO,
        *,
        source: str | None = None,
        on_batch: Callable[[IngestReport], None] | None = None,
    ) -> IngestReport:
        """Ingest an NDJSON file object, in worker processes when `workers > 1`."""
        if self.workers <= 1:
            return self.ingest_lines(file, source=source, on_batch=on_batch)
        return self._write(
            self._parse_in_workers(_blocks(file, self.block_bytes), source), on_batch
        )

    def ingest_values(self, values: Iterable[Any], *, source: str | None = None) -> IngestReport:
        """Ingest decoded JSON values; the reported `line` is the 1-based position."""
        chunks = _chunked(enumerate(values, start=1), self.batch_size)
        parsed = (_parse_chunk(chunk, parse_record, source, self.max_errors) for chunk in chunks)
        return self._write(parsed, None)

    def ingest_body(self, body: bytes, *, source: str | None = None) -> IngestReport:
        """An HTTP body: a JSON array of records, or NDJSON (one record per line)."""
        if body.lstrip()[:1] == b"[":
            try:
                values = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise BodyError(f"body is not a valid JSON array: {exc}") from None
            return self.ingest_values(values, source=source)
        return self.ingest_lines(body.split(b"\n"), source=source)

    def _parse_in_workers(
        self, blocks: Iterator[tuple[int, bytes]], source: str | None
    ) -> Iterator[tuple[SignalBatch, IngestReport]]:
        # spawn, not fork: the parent may hold threads (a server, the writer) and a database.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(self.workers, mp_context=context) as pool:
            pending: deque[Future[tuple[dict[str, bytes], IngestReport]]] = deque()
            for first_line, block in blocks:
                pending.append(
                    pool.submit(_parse_block_ipc, block, first_line, source, self.max_errors)
                )
                # Bounded read-ahead keeps memory flat however large the file is.
                if len(pending) > 2 * self.workers:
                    yield _from_ipc(pending.popleft().result())
            while pending:
                yield _from_ipc(pending.popleft().result())

    def _write(
        self,
        parsed: Iterable[tuple[SignalBatch, IngestReport]],
        on_batch: Callable[[IngestReport], None] | None,
    ) -> IngestReport:
        total = IngestReport()
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
                stored = future.result()
                report.accepted += stored.accepted
                report.duplicates += stored.duplicates
                total.merge(report, max_errors=self.max_errors)
                if on_batch is not None:
                    on_batch(report)

            for batch, report in parsed:
                settle()
                in_flight = (writer.submit(self.store.append_batch, batch), report)
            settle()
        return total


def _chunked(items: Iterable[tuple[int, Any]], size: int) -> Iterator[list[tuple[int, Any]]]:
    chunk: list[tuple[int, Any]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _parse_chunk(
    chunk: list[tuple[int, Any]],
    parse: Callable[[Any], Signal],
    source: str | None,
    max_errors: int,
) -> tuple[SignalBatch, IngestReport]:
    records: list[Signal] = []
    report = IngestReport()
    with _gc_paused():
        _parse_into(chunk, parse, source, max_errors, records, report)
        return SignalBatch.from_records(records), report


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


def _parse_into(chunk: list[tuple[int, Any]], parse: Callable[[Any], Signal],
                source: str | None, max_errors: int, records: list[Signal],
                report: IngestReport) -> None:
    for number, item in chunk:
        if isinstance(item, bytes | str) and not item.strip():
            continue  # blank line
        try:
            records.append(parse(item))
        except RecordError as exc:
            report.rejected += 1
            if len(report.errors) < max_errors:
                report.errors.append(Rejection(number, str(exc), source))
            else:
                report.errors_omitted += 1


def _blocks(file: BinaryIO, size: int) -> Iterator[tuple[int, bytes]]:
    """Whole lines in blocks of about `size` bytes, each with the number of its first line.

    Blocks, not lines, go to the workers: one bytes object pickles for nearly
    free, where a list of lines costs more to ship than to parse.
    """
    first_line = 1
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


def _parse_block_ipc(
    block: bytes, first_line: int, source: str | None, max_errors: int
) -> tuple[dict[str, bytes], IngestReport]:
    """Worker-process entry: parse a block of NDJSON, ship the columns back as Arrow IPC."""
    lines = block.split(b"\n")
    if lines and not lines[-1]:
        lines.pop()
    batch, report = _parse_chunk(
        list(enumerate(lines, start=first_line)), parse_line, source, max_errors
    )
    return batch.to_ipc(), report


def _from_ipc(result: tuple[dict[str, bytes], IngestReport]) -> tuple[SignalBatch, IngestReport]:
    data, report = result
    return SignalBatch.from_ipc(data), report
