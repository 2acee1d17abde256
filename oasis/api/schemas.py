"""Response bodies of the HTTP API (request bodies are NDJSON, described in `signals.py`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class RejectionOut(BaseModel):
    line: int = Field(description="1-based line of the NDJSON body (position in a JSON array).")
    reason: str = Field(description="Why the record was refused.")


class IngestResponse(BaseModel):
    accepted: int = Field(description="Records stored.")
    duplicates: int = Field(description="Records skipped because their `id` was stored before.")
    rejected: int = Field(description="Records refused; see `errors`.")
    errors: list[RejectionOut] = Field(description="The first rejected records, in order.")
    errors_omitted: int = Field(description="Rejected records not listed in `errors`.")


class ServiceOut(BaseModel):
    service: str
    logs: int
    metrics: int
    deployments: int
    first_seen: datetime
    last_seen: datetime
    current_version: str | None = Field(description="Version of the latest deployment seen.")


class SourceStatus(BaseModel):
    name: str
    kind: str
    status: str = Field(description="waiting (detection holds back for it) or skipped "
                        "(detection goes on without it)")
    failing_since: datetime | None


class Health(BaseModel):
    status: str = Field(description="ok, or degraded while a source is failing")
    time: datetime
    store: str
    sources: list[SourceStatus] = Field(default_factory=list,
                                        description="Sources that are failing now.")


class Problem(BaseModel):
    detail: str
