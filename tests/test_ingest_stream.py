"""HTTP ingest under load: bodies are stored as they stream in; past
`ingest.max_concurrent_requests` a few requests wait briefly for a slot, and past that
bound (or that wait) the ingest routes answer 429 with Retry-After."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator

import httpx
import orjson

from oasis.api import create_app
from oasis.api.body import STREAM_BLOCK_BYTES
from oasis.config import Settings
from oasis.store import DuckDBSignalStore
from tests.helpers import log, ndjson, wait_until
from tests.servers import serving

NDJSON = {"content-type": "application/x-ndjson"}


def _records(count: int, prefix: str = "r") -> list[dict]:
    return [log(i / 1000, message=f"request {i} served " + "x" * 200, id=f"{prefix}{i}")
            for i in range(count)]


def test_past_the_admission_bound_ingest_answers_429_with_retry_after(
    settings: Settings, store: DuckDBSignalStore
) -> None:
    settings.ingest.max_concurrent_requests = 1
    settings.ingest.max_queued_requests = 0  # no waiting room: refused at once
    settings.ingest.retry_after_seconds = 3
    release = threading.Event()

    def held_body() -> Iterator[bytes]:
        yield ndjson(log(0, id="held-1"))
        release.wait(60)  # the request keeps its slot until the test lets it finish
        yield ndjson(log(1, id="held-2"))

    app = create_app(settings, store=store)
    with serving(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        answers: list[httpx.Response] = []
        sender = threading.Thread(target=lambda: answers.append(
            client.post("/api/v1/signals", content=held_body(), headers=NDJSON)))
        sender.start()
        try:
            wait_until(lambda: app.state.admission.active == 1, 30,
                       what="the held request to be admitted")
            refused = client.post("/api/v1/signals", content=ndjson(log(2)), headers=NDJSON)
            assert refused.status_code == 429
            assert refused.headers["retry-after"] == "3"
            assert "retry after 3 s" in refused.json()["detail"]
            otlp = client.post("/v1/logs", json={"resourceLogs": []})
            assert otlp.status_code == 429 and otlp.headers["retry-after"] == "3"
            assert otlp.json()["code"] == 8  # google.rpc RESOURCE_EXHAUSTED
        finally:
            release.set()
            sender.join(60)
        assert answers[0].status_code == 200 and answers[0].json()["accepted"] == 2
        assert app.state.admission.refused == 2
        # The slot is free again: the next sender is served.
        again = client.post("/api/v1/signals", content=ndjson(log(2)), headers=NDJSON)
        assert again.status_code == 200 and again.json()["accepted"] == 1
    assert store.count("logs") == 3


def test_a_burst_waits_for_a_slot_within_its_bounds_instead_of_being_refused(
    settings: Settings, store: DuckDBSignalStore
) -> None:
    settings.ingest.max_concurrent_requests = 1
    settings.ingest.max_queued_requests = 1
    settings.ingest.queue_seconds = 30  # longer than the test needs: only the release frees it
    release = threading.Event()

    def held_body() -> Iterator[bytes]:
        yield ndjson(log(0, id="held-1"))
        release.wait(60)
        yield ndjson(log(1, id="held-2"))

    app = create_app(settings, store=store)
    admission = app.state.admission
    with serving(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        answers: dict[str, httpx.Response] = {}

        def send(name: str, body) -> threading.Thread:
            thread = threading.Thread(target=lambda: answers.__setitem__(
                name, client.post("/api/v1/signals", content=body, headers=NDJSON)))
            thread.start()
            return thread

        held = send("held", held_body())
        try:
            wait_until(lambda: admission.active == 1, 30, what="the held request admitted")
            queued = send("queued", ndjson(log(2, id="queued")))
            wait_until(lambda: admission.waiting == 1, 30, what="the next one to wait")
            # The waiting room (one place) is full: a third sender is refused at once.
            third = client.post("/api/v1/signals", content=ndjson(log(3)), headers=NDJSON)
            assert third.status_code == 429 and "1 more waiting" in third.json()["detail"]
        finally:
            release.set()
            held.join(60)
        queued.join(60)
    assert answers["held"].status_code == 200 and answers["held"].json()["accepted"] == 2
    assert answers["queued"].status_code == 200 and answers["queued"].json()["accepted"] == 1
    assert admission.refused == 1 and store.count("logs") == 3


def test_a_queued_request_is_refused_once_its_wait_is_over(
    settings: Settings, store: DuckDBSignalStore
) -> None:
    settings.ingest.max_concurrent_requests = 1
    settings.ingest.queue_seconds = 0.2
    release = threading.Event()

    def held_body() -> Iterator[bytes]:
        yield ndjson(log(0, id="held-1"))
        release.wait(60)

    app = create_app(settings, store=store)
    with serving(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        holder = threading.Thread(target=lambda: client.post(
            "/api/v1/signals", content=held_body(), headers=NDJSON))
        holder.start()
        try:
            wait_until(lambda: app.state.admission.active == 1, 30, what="the slot held")
            # The slot stays held until the release below, so the wait always runs out.
            late = client.post("/api/v1/signals", content=ndjson(log(2)), headers=NDJSON)
        finally:
            release.set()
            holder.join(60)
    assert late.status_code == 429 and late.headers["retry-after"] == "1"
    assert app.state.admission.waiting == 0


def test_a_large_body_is_stored_block_by_block_not_held_whole(
    settings: Settings, store: DuckDBSignalStore
) -> None:
    body = ndjson(*_records(40_000))
    assert len(body) > 3 * STREAM_BLOCK_BYTES
    app = create_app(settings, store=store)
    with serving(app) as url:
        r = httpx.post(url + "/api/v1/signals", content=body, headers=NDJSON, timeout=120)
    assert r.status_code == 200 and r.json()["accepted"] == 40_000
    assert store.count("logs") == 40_000
    held = app.state.admission.max_held_bytes
    assert 0 < held < 2 * STREAM_BLOCK_BYTES, held


def test_a_gzip_body_is_inflated_as_it_streams(
    settings: Settings, store: DuckDBSignalStore
) -> None:
    body = ndjson(*_records(30_000))
    # Two gzip members, as `cat a.gz b.gz` makes: both are read.
    cut = body.index(b"\n", len(body) // 2) + 1
    packed = gzip.compress(body[:cut]) + gzip.compress(body[cut:])
    gzipped = {**NDJSON, "content-encoding": "gzip"}
    app = create_app(settings, store=store)
    with serving(app) as url, httpx.Client(base_url=url, timeout=120) as client:
        r = client.post("/api/v1/signals", content=packed, headers=gzipped)
        assert r.status_code == 200 and r.json()["accepted"] == 30_000
        assert app.state.admission.max_held_bytes < 2 * STREAM_BLOCK_BYTES
        truncated = client.post("/api/v1/signals", content=gzip.compress(body)[:-100],
                                headers=gzipped)
    assert truncated.status_code == 400
    assert "ends in the middle" in truncated.json()["detail"]


def test_bad_records_anywhere_in_a_streamed_body_cost_only_themselves(
    settings: Settings, store: DuckDBSignalStore
) -> None:
    lines = [orjson.dumps(record) for record in _records(20_000)]
    bad = {3: b"{oops", 9_000: b'{"type": "log"}', 19_999: b"[]"}
    for number, text in bad.items():
        lines[number - 1] = text
    lines.insert(12_000, b"")  # a blank line is skipped but still counted: 19_999 -> 20_000
    body = b"\n".join(lines) + b"\n"

    def in_odd_pieces() -> Iterator[bytes]:  # the network cuts lines anywhere
        for start in range(0, len(body), 77_777):
            yield body[start:start + 77_777]

    with serving(create_app(settings, store=store)) as url:
        r = httpx.post(url + "/api/v1/signals", content=in_odd_pieces(), headers=NDJSON,
                       timeout=120)
    assert r.status_code == 200
    report = r.json()
    assert (report["accepted"], report["rejected"]) == (20_000 - 3, 3)
    assert [e["line"] for e in report["errors"]] == [3, 9_000, 20_000]
    assert report["errors"][0]["reason"].startswith("invalid JSON")
    assert report["errors"][1]["reason"] == "missing field 'timestamp'"
    assert store.count("logs") == 20_000 - 3


def test_oasis_ingest_url_waits_out_a_429_and_sends_the_chunk_again(
    settings: Settings, store: DuckDBSignalStore, tmp_path
) -> None:
    from typer.testing import CliRunner

    from oasis.cli import app as cli

    settings.ingest.max_concurrent_requests = 1
    release = threading.Event()

    def held_body() -> Iterator[bytes]:
        yield ndjson(log(0, id="held"))
        release.wait(60)

    path = tmp_path / "x.ndjson"
    path.write_bytes(ndjson(*_records(500)))
    app = create_app(settings, store=store)
    with serving(app) as url:
        holder = threading.Thread(target=lambda: httpx.post(
            url + "/api/v1/signals", content=held_body(), headers=NDJSON, timeout=60))
        holder.start()
        results = []
        try:
            wait_until(lambda: app.state.admission.active == 1, 30, what="the slot to be held")
            sender = threading.Thread(target=lambda: results.append(CliRunner().invoke(
                cli, ["ingest", str(path), "--url", url, "--json"])))
            sender.start()
            wait_until(lambda: app.state.admission.refused >= 1, 60,
                       what="the CLI's first chunk to be refused")
        finally:
            release.set()
            holder.join(60)
        sender.join(120)
    assert results[0].exit_code == 0, results[0].output
    assert orjson.loads(results[0].stdout)["accepted"] == 500
    assert store.count("logs") == 501
