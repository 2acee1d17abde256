"""Group commit: appends that arrive while one is being written are written together.

Concurrent senders (many HTTP requests of a thousand records each) would otherwise queue
for the store one by one and pay its fixed cost per write (a transaction, a commit, the
handing over of each table) once per request. Here each caller queues its item; when no
write is under way, the caller writes everything queued so far in one go (at most
`max_group` items), and callers whose items went with it return as soon as it ends.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")

#: Items written together at most; the rest wait for the next write.
MAX_GROUP = 64


class WriteInterrupted(RuntimeError):
    """The write that held this item was interrupted (the process is stopping)."""


@dataclass(slots=True)
class _Entry(Generic[Item, Result]):
    item: Item
    result: Result | None = None
    error: BaseException | None = None
    finished: bool = False

    def finish(self, *, result: Result | None = None,
               error: BaseException | None = None) -> None:
        self.result, self.error, self.finished = result, error, True


class GroupCommit(Generic[Item, Result]):
    """One write at a time, each taking every item queued behind the one before.

    `write(items)` must store all of them or none and return one result per item, in
    order; when a group fails, each of its items is written again on its own, so one bad
    item fails only its own caller.
    """

    def __init__(self, write: Callable[[list[Item]], list[Result]], *,
                 max_group: int = MAX_GROUP) -> None:
        self._write = write
        self.max_group = max_group
        self._queue: list[_Entry[Item, Result]] = []
        self._writing = False
        self._changed = threading.Condition()

    def submit(self, item: Item) -> Result:
        entry: _Entry[Item, Result] = _Entry(item)
        with self._changed:
            self._queue.append(entry)
        while True:
            with self._changed:
                while self._writing and not entry.finished:
                    self._changed.wait()
                if entry.finished:
                    break
                # No write under way and this entry still queued: write the queue's head.
                self._writing = True
                group = self._queue[: self.max_group]
                del self._queue[: self.max_group]
            try:
                self._run(group)
            finally:
                with self._changed:
                    self._writing = False
                    self._changed.notify_all()
        if entry.error is not None:
            raise entry.error
        return entry.result  # type: ignore[return-value]

    def _run(self, group: list[_Entry[Item, Result]]) -> None:
        """Finish every entry of `group`: with its result, or its own error; entries left
        when the write is interrupted (the exception goes on in this thread) get
        WriteInterrupted."""
        try:
            try:
                results = self._write([e.item for e in group])
                if len(results) != len(group):
                    raise RuntimeError(f"{len(results)} results for {len(group)} items")
            except Exception as exc:
                if len(group) == 1:
                    group[0].finish(error=exc)
                    return
                log.warning("a group of %d store writes failed (%s); writing each on its own",
                            len(group), exc)
                for entry in group:  # find which one fails; the others are stored
                    try:
                        entry.finish(result=self._write([entry.item])[0])
                    except Exception as own:
                        entry.finish(error=own)
                return
            for entry, result in zip(group, results, strict=True):
                entry.finish(result=result)
        finally:
            for entry in group:
                if not entry.finished:
                    entry.finish(error=WriteInterrupted("the store write was interrupted"))
