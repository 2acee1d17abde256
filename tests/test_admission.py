"""The ingest routes' admission: never more requests at once than the limit, and a freed
slot goes to the oldest waiter, not to whoever arrives next."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from oasis.api.admission import IngestAdmission, IngestBusy


def test_slots_are_handed_to_waiters_in_arrival_order_and_never_exceed_the_limit() -> None:
    async def scenario() -> tuple[list[int], int, int]:
        admission = IngestAdmission(2, 1, max_waiting=10, wait_seconds=60)
        inside, most, served = 0, 0, []
        go = asyncio.Event()

        async def request(number: int) -> None:
            nonlocal inside, most
            async with admission.admit():
                inside += 1
                most = max(most, inside)
                served.append(number)
                await go.wait()
                inside -= 1

        tasks = []
        for number in range(8):
            tasks.append(asyncio.create_task(request(number)))
            await asyncio.sleep(0)  # each one reaches the admission before the next starts
        go.set()
        await asyncio.gather(*tasks)
        return served, most, admission.active

    served, most, active = asyncio.run(scenario())
    assert served == list(range(8))  # first come, first served
    assert most == 2 and active == 0


def test_past_the_waiting_room_the_answer_is_busy_at_once() -> None:
    async def scenario() -> str:
        admission = IngestAdmission(1, 3, max_waiting=1, wait_seconds=60)
        hold = asyncio.Event()

        async def holder() -> None:
            async with admission.admit():
                await hold.wait()

        first = asyncio.create_task(holder())
        second = asyncio.create_task(holder())
        while admission.waiting < 1:
            await asyncio.sleep(0)
        try:
            with pytest.raises(IngestBusy) as refused:
                async with admission.admit():
                    pass
        finally:
            hold.set()
            await asyncio.gather(first, second)
        assert admission.active == 0 and admission.refused == 1
        return refused.value.message

    assert "with 1 more waiting already; retry after 3 s" in asyncio.run(scenario())


def test_the_blocking_work_pool_has_server_threads_threads(tmp_path: Path) -> None:
    from anyio import to_thread
    from fastapi.testclient import TestClient

    from oasis.api import create_app
    from oasis.config import Settings

    settings = Settings(data_dir=tmp_path / "data", server={"threads": 3},
                        knowledge={"embedder": "none"})
    with TestClient(create_app(settings, monitor=False)) as client:
        tokens = client.portal.call(lambda: to_thread.current_default_thread_limiter()
                                    .total_tokens)
    assert tokens == 3  # AnyIO's own default is 40
