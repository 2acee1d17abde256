"""Group commit: appends that arrive while one is being written are written together.

Concurrent senders (many HTTP requests of a thousand records each) would otherwise queue
for the store one by one and pay its fixed cost per write (a transaction, a commit, the
handing over of each table) once per request. Here each caller queues its item and waits
for the write lock; whoever holds it writes everything queued so far in one go, so callers
that arrived meanwhile find their result ready when their turn comes. A caller never
waits for more than the write under way and its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

#: Items written together at most; the rest wait for the next write.
MAX_GROUP = 64


@dataclass(slots=True)
class _Entry(Generic[Item, Result]):
    item: Item
    result: Result | None = None
    error: BaseException | None = None
    finished: bool = False


class GroupCommit(Generic[Item, Result]):
    """Serialises `write` and batches the items queued behind it.

    `write(items)` must return one result per item, in order, or raise; when a group
    fails, each of its items is written again on its own, so one bad item fails only its
    own caller.
    """

    def __init__(self, write: Callable[[list[Item]], list[Result]], *,
                 max_group: int = MAX_GROUP) -> None:
        self._write = write
        self.max_group = max_group
        self._queue: list[_Entry[Item, Result]] = []
        self._queue_lock = threading.Lock()
        self._write_lock = threading.Lock()

    def submit(self, item: Item) -> Result:
        entry: _Entry[Item, Result] = _Entry(item)
        with self._queue_lock:
            self._queue.append(entry)
        with self._write_lock:
            # Unless an earlier holder took this entry with its group, this thread writes
            # the queue's head, which holds this entry (queued before the lock was asked).
            while not entry.finished:
                with self._queue_lock:
                    group = self._queue[: self.max_group]
                    del self._queue[: self.max_group]
                self._run(group)
        if entry.error is not None:
            raise entry.error
        return entry.result  # type: ignore[return-value]

    def _run(self, group: list[_Entry[Item, Result]]) -> None:
        try:
            results = self._write([e.item for e in group])
        except Exception as exc:
            if len(group) == 1:
                _finish(group[0], error=exc)
                return
            for entry in group:  # find which one fails; the others are stored
                try:
                    _finish(entry, result=self._write([entry.item])[0])
                except Exception as own:
                    _finish(entry, error=own)
            return
        except BaseException as exc:  # interrupted: every waiter learns of it
            for entry in group:
                _finish(entry, error=exc)
            raise
        for entry, result in zip(group, results, strict=True):
            _finish(entry, result=result)


def _finish(entry: _Entry, *, result: object = None, error: BaseException | None = None) -> None:
    entry.result, entry.error, entry.finished = result, error, True
