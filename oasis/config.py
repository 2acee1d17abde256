"""Settings: defaults here, overridden by a YAML file, overridden by `OASIS_*` variables.

The YAML file is the one named by `--config` or `OASIS_CONFIG`; nested keys
map to variables with a double underscore, e.g. `store.retention_days` is
`OASIS_STORE__RETENTION_DAYS`. Unknown keys are an error, so a typo in a
config file is reported at start instead of silently ignored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from oasis.agents.settings import ModelSettings
from oasis.approve.settings import ApproveSettings
from oasis.audit.settings import AuditSettings
from oasis.auth.settings import AuthSettings
from oasis.detect.settings import DetectSettings
from oasis.ingest.otlp.settings import OtlpSettings
from oasis.knowledge.settings import KnowledgeSettings
from oasis.notify.settings import NotifySettings
from oasis.remediate.settings import RemediateSettings
from oasis.respond.settings import RespondSettings
from oasis.signals.errors import InvalidInput
from oasis.slack.settings import SlackSettings
from oasis.sources.settings import SourceSettings
from oasis.triage.settings import TriageSettings


def default_data_dir() -> Path:
    """`$XDG_DATA_HOME/oasis`, or `~/.local/share/oasis` when that is unset."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "oasis"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoreSettings(_Section):
    backend: Literal["duckdb", "postgres"] = Field(
        "duckdb", description="Signal store engine: `duckdb` (embedded, one process) or "
        "`postgres` (per-minute aggregates that several replicas share; docs/production.md).")
    url: str | None = Field(
        None, description="SQLAlchemy URL of the `postgres` signal store [default: state_url]")
    retention_days: float = Field(
        14.0, ge=0, description="Signals older than this are deleted; 0 keeps everything."
    )
    # 32 rather than 64: under 50 senders the server's peak RSS fell from 325 to ~300 MB,
    # and the error-count query over 10 M rows took 0.52 s instead of 0.46 s
    # (bench/load.py, bench/replay.py). 16 saved another ~13 MB, but that query ran out of
    # memory.
    memory_limit_mb: float = Field(
        32.0, ge=0, description="Memory DuckDB may use for the signal store (it spills to "
        "disk past it), so memory stays flat however much is ingested; 0: DuckDB's default, "
        "80 % of RAM. Raise it for large queries over many services."
    )


class IngestSettings(_Section):
    batch_size: int = Field(20_000, ge=1, description="Records written to the store at once.")
    max_errors: int = Field(
        1_000, ge=0, description="Rejected records listed in a report (the count stays exact)."
    )
    max_body_mb: float = Field(64.0, gt=0, description="Largest accepted HTTP ingest body.")
    max_concurrent_requests: int = Field(
        4, ge=1, description="HTTP ingest requests (signals and OTLP) handled at once; past "
        "it up to max_queued_requests wait, then the answer is 429 with Retry-After."
    )
    max_queued_requests: int = Field(
        64, ge=0, description="Ingest requests that may wait for a slot (bodies unread, so "
        "they hold no memory); past it the answer is 429 at once."
    )
    queue_seconds: float = Field(
        0.5, ge=0, le=30, description="How long a queued ingest request waits for a slot "
        "before it is answered 429; 0 refuses at once when every slot is busy."
    )
    retry_after_seconds: int = Field(
        1, ge=1, description="The Retry-After of a 429 from the ingest routes."
    )
    workers: int = Field(
        0, ge=0, description="Parse threads for `oasis ingest`; 0 picks one per CPU."
    )
    max_future_seconds: float = Field(
        600.0, ge=0, description="Records stamped further than this ahead of the ingest "
        "clock are refused (they would move detection's clock); 0 accepts any future time, "
        "e.g. for a simulation running faster than real time."
    )


class ServerSettings(_Section):
    host: str = Field("127.0.0.1", description="Address `oasis serve` listens on.")
    port: int = Field(8080, ge=1, le=65535, description="Port `oasis serve` listens on.")
    retention_interval_seconds: float = Field(
        3600.0, gt=0, description="How often the server applies the retention period."
    )
    lease_seconds: float = Field(
        20.0, ge=0.3, le=600, description="How long a replica's hold on a loop (monitor, "
        "responder, dispatcher, retention, triage queue) lasts unless renewed; when it "
        "dies, another replica takes the loop over within lease_seconds * 4/3 "
        "(docs/production.md).")
    # AnyIO's default. 12 cut peak RSS by ~13 MB under 50 ingest senders (each request's
    # authentication takes a thread; bench/load.py), but model calls (chat, /act, consult)
    # hold a thread for their whole length, and a dozen of them at once would stall every
    # authenticated request and /readyz.
    threads: int = Field(
        40, ge=2, le=256, description="Threads for the blocking work of requests (database "
        "calls, ingest, sync routes, model calls); past them requests wait for one. Fewer "
        "save memory under many concurrent senders; keep room for slow model calls.")


class Settings(BaseSettings):
    """All of OASIS's configuration; see docs/configuration.md."""

    model_config = SettingsConfigDict(
        env_prefix="OASIS_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Field(default_factory=default_data_dir,
                           description="Where every embedded database lives.")
    store: StoreSettings = Field(default_factory=StoreSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    otlp: OtlpSettings = Field(default_factory=OtlpSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    detect: DetectSettings = Field(default_factory=DetectSettings)
    remediate: RemediateSettings = Field(default_factory=RemediateSettings)
    approve: ApproveSettings = Field(default_factory=ApproveSettings)
    respond: RespondSettings = Field(default_factory=RespondSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    triage: TriageSettings = Field(default_factory=TriageSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    sources: list[SourceSettings] = Field(
        default_factory=list,
        description="Telemetry stores read in place (Prometheus, Loki, OpenSearch); "
        "see docs/sources.md.")
    state_url: str | None = Field(
        None, description="SQLAlchemy URL of the incident database, e.g. "
        "postgresql+psycopg://oasis@db/oasis [default: sqlite:///DATA_DIR/state.db]")

    @property
    def signal_store_path(self) -> Path:
        return self.data_dir / "signals.duckdb"

    @property
    def signal_store_url(self) -> str | None:
        """Where the `postgres` signal store lives: `store.url`, else the state database."""
        return self.store.url or self.state_url

    @property
    def incident_db_url(self) -> str:
        return self.state_url or f"sqlite:///{self.data_dir / 'state.db'}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Variables beat the file; the file is passed in as init values by `load_settings`.
        return env_settings, init_settings


class ConfigError(InvalidInput, ValueError):
    """The configuration file or variables are invalid; the message says where."""


def load_settings(config_file: Path | None = None) -> Settings:
    """Settings from `config_file` (or `$OASIS_CONFIG`) and the environment."""
    path = config_file or (Path(p) if (p := os.environ.get("OASIS_CONFIG")) else None)
    values: dict = {}
    if path is not None:
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if not isinstance(values, dict):
            raise ConfigError(f"config file {path} must hold a mapping at the top level")
    try:
        return Settings(**values)
    except ValidationError as exc:
        where = f"config file {path} or OASIS_* variables" if path else "OASIS_* variables"
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings in {where}: {problems}") from None


__all__ = ["ConfigError", "Settings", "default_data_dir", "load_settings"]
