"""Configuration of the telemetry stores OASIS reads in place (the `sources:` list).

Each entry names a store the fleet already has; `oasis serve` reads it every check and
`oasis replay --source` backtests over its history. Nothing is copied into the embedded
store beyond the per-minute aggregates and the few sample lines detection needs.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceAuth(_Section):
    """Basic (`username` + `password`) or bearer (`token`) credentials; none by default."""

    username: str | None = Field(None, description="Basic auth user.")
    password: SecretStr | None = Field(None, description="Basic auth password.")
    token: SecretStr | None = Field(None, description="Bearer token.")

    @model_validator(mode="after")
    def _one_kind(self) -> SourceAuth:
        if self.token is not None and self.username is not None:
            raise ValueError("give either username/password or token, not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("basic auth needs both username and password")
        return self


class SourceTLS(_Section):
    verify: bool = Field(True, description="Check the server's certificate.")
    ca_file: str | None = Field(None, description="CA bundle for a private certificate.")
    cert_file: str | None = Field(None, description="Client certificate (mutual TLS).")
    key_file: str | None = Field(None, description="Client key (mutual TLS).")


class _SourceBase(_Section):
    name: str | None = Field(None, description="Shown in health and metrics [default: kind].")
    url: str = Field(..., description="Base URL, e.g. http://prometheus:9090.")
    auth: SourceAuth = Field(default_factory=SourceAuth)
    tls: SourceTLS = Field(default_factory=SourceTLS)
    timeout_seconds: float = Field(10.0, gt=0, description="Per query.")
    retries: int = Field(2, ge=0, description="Retries of a failed query, with backoff.")
    service_labels: list[str] = Field(
        default_factory=lambda: ["service", "service_name", "job"],
        description="Labels (fields) naming the service, first present wins.")
    service_map: dict[str, str] = Field(
        default_factory=dict,
        description="Rename services: label value -> OASIS service name.")
    history_hours: float = Field(
        24.0, gt=0, description="History read at start-up (the streaming detector "
        "wants a day; the level checks two hours).")
    max_wait_seconds: float = Field(
        300.0, ge=0, description="While the source is failing, detection waits this long "
        "for it (a gap is never read as zero traffic), then goes on without it.")

    @property
    def label(self) -> str:
        return self.name or self.kind  # type: ignore[attr-defined]

    def service_of(self, labels: dict[str, str]) -> str | None:
        for key in self.service_labels:
            value = labels.get(key)
            if value:
                return self.service_map.get(value, value)
        return None


class PrometheusSource(_SourceBase):
    kind: Literal["prometheus"] = "prometheus"
    rate_window: str = Field(
        "2m", description="Range of `rate()`/`increase()`: at least twice the scrape "
        "interval, or a series with one sample in the range has no rate.")
    requests: bool = Field(True, description="Request and 5xx counters by the usual names.")
    latency: bool = Field(True, description="p99 latency from the usual histograms.")
    process: bool = Field(True, description="Process memory and CPU.")
    queries: dict[str, str] = Field(
        default_factory=dict,
        description="More PromQL by metric name; each result series is one service's "
        "value of that metric (its service from `service_labels`).")


class LokiSource(_SourceBase):
    kind: Literal["loki"] = "loki"
    selector: str = Field('{service_name=~".+"}', description="LogQL stream selector.")
    level_labels: list[str] = Field(
        default_factory=lambda: ["level", "detected_level", "severity"],
        description="Labels holding the level, first present wins.")
    org_id: str | None = Field(None, description="X-Scope-OrgID for a multi-tenant Loki.")
    sample_lines: int = Field(500, ge=0, le=5000, description="Warning and error lines read "
                              "per check for templates and the call graph (Loki's "
                              "`max_entries_limit_per_query` is 5000 by default).")
    parser: Literal["logfmt", "json"] | None = Field(
        None, description="Parse each line server-side in the count queries, so a level "
        "(and `error_type_label`) inside the line becomes a label. For streams with no "
        "level label on a Loki without `detected_level`; Loki then parses every line.")
    error_type_label: str | None = Field(
        None, description="Label (or field extracted by `parser`) naming the error type; "
        "unset, counts by error type are not asked (the new-error-type check sees none).")
    raw_filter: Literal["line", "labels"] = Field(
        "line", description="How warning and error lines are picked: `line`, a regex on "
        "the text (warn|error|exception|fatal|crit|panic); `labels`, a filter on "
        "`level_labels` (for lines whose text names no level, as OTLP bodies).")


class OpenSearchSource(_SourceBase):
    kind: Literal["opensearch"] = "opensearch"
    index: str = Field("logs-*", description="Index pattern.")
    timestamp_field: str = Field("@timestamp")
    service_field: str = Field("service.name", description="ECS; the prototype's is "
                               "`service`.")
    level_field: str = Field("log.level", description="ECS; the prototype's is `level`.")
    message_field: str = Field("message")
    error_type_field: str | None = Field(
        "error.type", description="Keyword field of the error type (ECS); the prototype's "
        "is `error_type`; unset: no counts by error type.")
    sample_lines: int = Field(500, ge=0, le=10_000, description="Warning and error lines "
                              "read per check for templates and the call graph.")
    page_size: int = Field(5000, ge=100, le=10_000, description="Buckets per composite "
                           "aggregation page (below `search.max_buckets`).")
    metrics_index: str | None = Field(
        None, description="Index of metric documents, one value each (the prototype's "
        "`app-logs-metrics`); unset: no metrics from this source.")
    metric_name_field: str = Field("metric_name", description="Keyword field naming the "
                                   "metric.")
    metric_value_field: str = Field("metric_value", description="Numeric field of its value.")


SourceSettings = Annotated[PrometheusSource | LokiSource | OpenSearchSource,
                           Field(discriminator="kind")]
