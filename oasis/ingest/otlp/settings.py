"""Settings of the OTLP/HTTP receiver (`otlp:` in the YAML file, `OASIS_OTLP__...`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class OtlpSettings(BaseModel):
    """How the receiver turns cumulative metrics and spans into per-minute series."""

    model_config = ConfigDict(extra="forbid")

    first_interval_seconds: float = Field(300.0, ge=0, description=(
        "A cumulative series seen for the first time (a new process, or OASIS restarted) "
        "counts its value as the increase since its start time only when that start is at "
        "most this long before the point; an older start only sets the baseline (a "
        "lifetime average is not the current rate)."))
    max_series: int = Field(100_000, ge=1, description=(
        "Cumulative series remembered (for their previous value); the least recently "
        "seen are forgotten first."))
    span_settle_seconds: float = Field(10.0, ge=0, description=(
        "A minute's span counts are written once spans ending this long after the minute "
        "have arrived (and the minute has been quiet for `span_quiet_seconds`)... Keep "
        "the two well under the monitor's 30 s settle time, or detection may read the "
        "minute before its counts are written."))
    span_quiet_seconds: float = Field(2.0, ge=0, description=(
        "...seconds of wall-clock time without a new span for that minute."))
    span_idle_seconds: float = Field(60.0, gt=0, description=(
        "A minute without new spans for this long is written whatever the spans' clock "
        "says (traffic stopped)."))
    flush_interval_seconds: float = Field(5.0, gt=0, description=(
        "How often the server writes the minutes of span counts that are complete."))
    span_index_size: int = Field(200_000, ge=1, description=(
        "Recent spans remembered by id, to find the service of a parent span that came in "
        "another export (for call-graph edges) and to skip a re-sent span."))
    version_overlap_minutes: float = Field(10.0, ge=0, description=(
        "A `service.version` seen within this many minutes is still live (a rolling "
        "deployment runs both versions): only a version not seen that recently is a new "
        "deployment."))
