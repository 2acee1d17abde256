"""HTTP ingest: NDJSON and JSON arrays, partial acceptance, limits, and the read endpoints."""

from __future__ import annotations

import gzip

import orjson
from fastapi.testclient import TestClient

from oasis.store import DuckDBSignalStore
from tests.helpers import deployment, log, metric, ndjson

NDJSON = {"content-type": "application/x-ndjson"}


def test_ndjson_batch_keeps_good_records_and_reports_bad_lines(
    client: TestClient, store: DuckDBSignalStore
) -> None:
    body = ndjson(log(0), metric(0, 1.5)) + b"\n" + b"{oops\n" + ndjson(
        deployment(1, "2.0"), {**log(2), "timestamp": "2026-11-23T00:02:00"})
    r = client.post("/api/v1/signals", content=body, headers=NDJSON)
    assert r.status_code == 200
    data = r.json()
    assert (data["accepted"], data["rejected"], data["duplicates"]) == (3, 2, 0)
    assert [e["line"] for e in data["errors"]] == [4, 6]
    assert data["errors"][0]["reason"].startswith("invalid JSON")
    assert "has no timezone" in data["errors"][1]["reason"]
    assert store.count("logs") == 1 and store.count("metrics") == 1
    assert store.count("deployments") == 1


def test_json_array_body(client: TestClient) -> None:
    r = client.post("/api/v1/signals", json=[log(0), {"type": "log"}, metric(0, 2)])
    assert r.status_code == 200
    assert r.json()["accepted"] == 2
    assert r.json()["errors"] == [{"line": 2, "reason": "missing field 'timestamp'"}]


def test_idempotent_on_client_id(client: TestClient, store: DuckDBSignalStore) -> None:
    body = ndjson(log(0, id="1"), log(0, id="2"))
    first = client.post("/api/v1/signals", content=body, headers=NDJSON).json()
    second = client.post("/api/v1/signals", content=body, headers=NDJSON).json()
    assert (first["accepted"], first["duplicates"]) == (2, 0)
    assert (second["accepted"], second["duplicates"]) == (0, 2)
    assert store.count("logs") == 2


def test_gzip_body(client: TestClient, store: DuckDBSignalStore) -> None:
    body = gzip.compress(ndjson(*(log(i / 10) for i in range(50))))
    r = client.post("/api/v1/signals", content=body,
                    headers={**NDJSON, "content-encoding": "gzip"})
    assert r.status_code == 200 and r.json()["accepted"] == 50
    bad = client.post("/api/v1/signals", content=b"not gzip",
                      headers={**NDJSON, "content-encoding": "gzip"})
    assert bad.status_code == 400 and "gzip" in bad.json()["detail"]


def test_all_rejected_is_422_with_reasons(client: TestClient) -> None:
    r = client.post("/api/v1/signals", content=b"{}\n[]\n", headers=NDJSON)
    assert r.status_code == 422
    assert r.json()["rejected"] == 2 and len(r.json()["errors"]) == 2


def test_broken_json_array_is_400(client: TestClient) -> None:
    r = client.post("/api/v1/signals", content=b'[{"type": "log"', headers=NDJSON)
    assert r.status_code == 400 and "JSON array" in r.json()["detail"]


def test_unsupported_content_type_and_encoding(client: TestClient) -> None:
    r = client.post("/api/v1/signals", content=b"a=b",
                    headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415
    r = client.post("/api/v1/signals", content=ndjson(log(0)),
                    headers={**NDJSON, "content-encoding": "br"})
    assert r.status_code == 415


def test_body_over_the_limit_is_413(client: TestClient, settings) -> None:
    settings.ingest.max_body_mb = 0.001
    r = client.post("/api/v1/signals", content=ndjson(*(log(0) for _ in range(50))),
                    headers=NDJSON)
    assert r.status_code == 413
    bomb = gzip.compress(b"\n" * 5_000_000)
    r = client.post("/api/v1/signals", content=bomb,
                    headers={**NDJSON, "content-encoding": "gzip"})
    assert r.status_code == 413


def test_error_list_is_capped_but_count_is_exact(client: TestClient, settings) -> None:
    settings.ingest.max_errors = 3
    r = client.post("/api/v1/signals", content=b"{}\n" * 10 + ndjson(log(0)), headers=NDJSON)
    data = r.json()
    assert data["rejected"] == 10 and len(data["errors"]) == 3 and data["errors_omitted"] == 7


def test_services_and_health(client: TestClient) -> None:
    client.post("/api/v1/signals", content=ndjson(
        log(0, service="a"), deployment(1, "1.2.3", service="a"), metric(2, 1, service="b")),
        headers=NDJSON)
    services = client.get("/api/v1/services").json()
    assert [s["service"] for s in services] == ["a", "b"]
    assert services[0]["current_version"] == "1.2.3"
    assert services[0]["first_seen"] == "2026-11-23T00:00:00Z"
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["time"].endswith("Z")


def test_openapi_documents_the_ingest_body(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/api/v1/signals"]["post"]["requestBody"]["content"]
    assert "application/x-ndjson" in body
    schema = orjson.dumps(body["application/json"]["schema"]).decode()
    assert "previous_version" in schema and "$defs" not in schema
    assert "/api/v1/services" in spec["paths"] and "/healthz" in spec["paths"]
