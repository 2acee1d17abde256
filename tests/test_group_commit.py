"""Group commit: appends queued behind a write are written together, each caller still
gets its own counts, and one failing item fails only its own caller."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from oasis.signals import parse_record
from oasis.store import DuckDBSignalStore, SignalBatch
from oasis.store.group_commit import GroupCommit, WriteInterrupted
from tests.helpers import log, metric, wait_until


def _batch(*docs) -> SignalBatch:
    return SignalBatch.from_records([parse_record(d) for d in docs])


class _HeldWriter:
    """A write function whose first call waits until released, recording every group."""

    def __init__(self, fail_on: object = None,
                 raise_on: dict[object, BaseException] | None = None) -> None:
        self.groups: list[list[object]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail_on = fail_on
        #: An exception to raise when a write holds exactly this item (or this set of them).
        self.raise_on = raise_on or {}

    def __call__(self, items: list[object]) -> list[object]:
        self.groups.append(list(items))
        if len(self.groups) == 1:
            self.entered.set()
            assert self.release.wait(60)
        key = items[0] if len(items) == 1 else frozenset(items)
        if key in self.raise_on:
            raise self.raise_on[key]
        if self.fail_on in items:
            raise ValueError(f"cannot store {self.fail_on}")
        return [f"stored {item}" for item in items]


def _submit_behind_a_held_write(writer: _HeldWriter, items: list[str]) -> list[object]:
    commit = GroupCommit(writer)
    with ThreadPoolExecutor(len(items) + 1) as pool:
        first = pool.submit(commit.submit, "first")
        assert writer.entered.wait(60)
        rest = [pool.submit(commit.submit, item) for item in items]
        wait_until(lambda: len(commit._queue) == len(items), 60, what="the queued callers")
        writer.release.set()
        outcomes = []
        for future in [first, *rest]:
            try:
                outcomes.append(future.result(60))
            except (Exception, KeyboardInterrupt, SystemExit) as exc:
                outcomes.append(exc)
    return outcomes


def test_callers_queued_behind_a_write_are_written_in_one_group() -> None:
    writer = _HeldWriter()
    outcomes = _submit_behind_a_held_write(writer, ["a", "b", "c"])
    assert outcomes == ["stored first", "stored a", "stored b", "stored c"]
    assert writer.groups[0] == ["first"]
    assert sorted(writer.groups[1]) == ["a", "b", "c"] and len(writer.groups) == 2


def test_a_failing_item_fails_only_its_own_caller() -> None:
    writer = _HeldWriter(fail_on="b")
    outcomes = _submit_behind_a_held_write(writer, ["a", "b", "c"])
    assert outcomes[0] == "stored first" and outcomes[1] == "stored a"
    assert isinstance(outcomes[2], ValueError) and "cannot store b" in str(outcomes[2])
    assert outcomes[3] == "stored c"


def test_a_group_is_bounded() -> None:
    writer = _HeldWriter()
    commit = GroupCommit(writer, max_group=2)
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(commit.submit, 0)
        assert writer.entered.wait(60)
        rest = [pool.submit(commit.submit, i) for i in range(1, 6)]
        wait_until(lambda: len(commit._queue) == 5, 60, what="the queued callers")
        writer.release.set()
        assert [f.result(60) for f in [first, *rest]] == [f"stored {i}" for i in range(6)]
    assert [len(g) for g in writer.groups] == [1, 2, 2, 1]


def test_a_group_of_store_batches_counts_each_batch_and_stores_ids_once() -> None:
    store = DuckDBSignalStore(None, retention_days=0)
    store.append([parse_record(log(0, id="old"))])
    results = store._append_group([
        _batch(log(0, id="old"), log(0, id="a"), metric(0, 1.0, id="m")),
        _batch(log(0, id="a"), log(0, id="b"), log(0)),
        _batch(metric(0, 2.0, id="m"), metric(0, 3.0)),
    ])
    assert [(r.accepted, r.duplicates) for r in results] == [(2, 1), (2, 1), (1, 1)]
    assert store.count("logs") == 4 and store.count("metrics") == 2


def test_an_id_shared_across_kinds_goes_to_the_earlier_batch() -> None:
    store = DuckDBSignalStore(None, retention_days=0)
    results = store._append_group([_batch(metric(0, 1.0, id="x")), _batch(log(0, id="x"))])
    assert [(r.accepted, r.duplicates) for r in results] == [(1, 0), (0, 1)]
    assert store.count("metrics") == 1 and store.count("logs") == 0


def test_appends_waiting_behind_a_write_land_together_with_their_own_counts() -> None:
    store = DuckDBSignalStore(None, retention_days=0)
    groups: list[int] = []
    write = store._group._write
    store._group._write = lambda items: groups.append(len(items)) or write(items)
    # Batches n and n + 10 carry the same ids: one of each pair is stored, one is not.
    batches = [_batch(*[log(0, id=f"{n % 10}-{i}") for i in range(50)]) for n in range(20)]
    store._lock.acquire()  # the first write waits for it while the others queue behind
    try:
        pool = ThreadPoolExecutor(20)
        futures = [pool.submit(store.append_batch, b) for b in batches]
        wait_until(lambda: len(store._group._queue) == 19, 60, what="the queued appends")
    finally:
        store._lock.release()
    results = [f.result(60) for f in futures]
    pool.shutdown()
    assert groups == [1, 19]
    for n in range(10):
        pair = sorted([(results[n].accepted, results[n].duplicates),
                       (results[n + 10].accepted, results[n + 10].duplicates)])
        assert pair == [(0, 50), (50, 0)]
    assert store.count("logs") == 500


def test_an_interrupted_group_write_leaves_no_caller_waiting() -> None:
    writer = _HeldWriter(raise_on={frozenset("abc"): KeyboardInterrupt()})
    outcomes = _submit_behind_a_held_write(writer, ["a", "b", "c"])
    assert outcomes[0] == "stored first"
    # The thread that was writing stops with the interrupt; the others are told.
    assert sum(isinstance(o, KeyboardInterrupt) for o in outcomes[1:]) == 1
    assert all(isinstance(o, KeyboardInterrupt | WriteInterrupted) for o in outcomes[1:])


def test_an_interrupt_while_writing_one_by_one_leaves_no_caller_waiting() -> None:
    writer = _HeldWriter(fail_on="b", raise_on={"b": SystemExit(3)})
    outcomes = _submit_behind_a_held_write(writer, ["a", "b", "c"])
    assert outcomes[0] == "stored first"
    assert sum(isinstance(o, SystemExit) for o in outcomes[1:]) == 1
    assert outcomes[1] == "stored a" or isinstance(outcomes[1], SystemExit)
    assert all(isinstance(o, SystemExit | WriteInterrupted) for o in outcomes[2:])
