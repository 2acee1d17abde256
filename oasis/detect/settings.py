"""Detection settings, with the defaults every detector documents.

Set them under `detect:` in the YAML file or as `OASIS_DETECT__...` variables.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from oasis.detect.streaming import StreamingSettings


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorRateSettings(_Section):
    """Error-log spikes per service against that service's own baseline."""

    window_minutes: int = Field(3, ge=1, description="Minutes summed for each check.")
    min_errors: int = Field(6, ge=1, description="Fewest errors in the window that can alarm.")
    min_ratio: float = Field(2.5, gt=1, description="Observed / expected must reach this.")
    p_value: float = Field(1e-6, gt=0, lt=1, description=(
        "Chance of so many errors from the service's normal rate (Poisson, with its own "
        "over-dispersion) below which it alarms. Checked every minute for every service, "
        "so it has to be tiny."))
    min_bad_minutes: int = Field(2, ge=1, description=(
        "Minutes of the window that must each be above the service's normal band: a "
        "spike must hold (or repeat), one bad minute is not an incident..."))
    severe_ratio: float = Field(20.0, gt=1, description=(
        "...unless it is severe: this many times the expected count..."))
    severe_min_errors: int = Field(60, ge=1, description="...and at least this many errors.")


class ErrorTypeSettings(_Section):
    """Error types or log templates never seen in a service's history that become frequent."""

    window_minutes: int = Field(3, ge=1)
    min_count: int = Field(6, ge=1, description="Occurrences in the window to count as frequent.")
    min_share: float = Field(0.2, ge=0, le=1, description=(
        "A surging known type must also be this share of the window's errors."))
    surge_ratio: float = Field(4.0, gt=1, description="Growth that makes a known type surge.")


class MinimumChange(_Section):
    """The smallest change from expected that matters for a kind of signal: both the
    absolute and the relative part must be reached."""

    absolute: float = Field(0.0, ge=0, description="In the series' own unit (see below).")
    relative: float = Field(0.3, ge=0, description="Share of the expected value (0.3 = 30 %).")


class MetricSettings(_Section):
    """Level shifts and steady climbs of any metric, robust to noise and daily ramps; with a
    day of history, also what the streaming scorer finds against days of memory."""

    window_minutes: int = Field(3, ge=1, description="Latest minutes that must all deviate.")
    z: float = Field(6.0, gt=0, description="Robust z-score each of those minutes must reach.")
    min_relative_change: float = Field(0.3, ge=0, description=(
        "Smallest relative change from expected that counts (0.3 = 30 %), for metrics "
        "without a kind of their own below."))
    failure_ratio_change: MinimumChange = Field(
        default_factory=lambda: MinimumChange(absolute=0.02, relative=0.5), description=(
            "Error or failure ratios (names with error/fail and rate/ratio/pct/percent): "
            "the absolute part is a fraction (0.02 = 2 percentage points) and is scaled "
            "x100 for a series that is a percentage."))
    latency_change: MinimumChange = Field(
        default_factory=lambda: MinimumChange(absolute=5.0, relative=0.3), description=(
            "Latency and duration metrics: the absolute part is in milliseconds and is "
            "divided by 1000 for a series named in seconds."))
    sparse_confirm_points: int = Field(3, ge=1, description=(
        "Points a series sampled less often than every minute (a five-minute series) must "
        "all have beyond the band before a level shift counts: three five-minute points "
        "are 15 minutes. A single point of such a series is often one spike."))
    run_p_value: float = Field(1e-5, gt=0, lt=1, description=(
        "A level shift must also be improbable for the series' own history: the chance of "
        "each of the latest points (the smoothed share of history values at least as "
        "extreme), multiplied, must be below this. Zero-inflated and jumpy series need "
        "longer runs; a steady series is unaffected."))
    run_max_minutes: int = Field(15, ge=1, description=(
        "Longest run of latest minutes that the run test may look back over."))
    ratio_p_value: float = Field(1e-6, gt=0, lt=1, description=(
        "Where a failure ratio's service has a known volume (a request-rate metric, else "
        "its log lines), the failed count behind the ratio must be this improbable "
        "(binomial tail) at the service's own historical failure share."))
    volume_names: list[str] = Field(
        default_factory=lambda: ["request", "rps", "qps", "throughput", "calls", "hits",
                                 "tps", "rpm"],
        description="Metrics that count a service's requests, in order of preference. "
                    "Names that say per second (rps, per_s...) count x60 a minute.")
    trend_minutes: int = Field(30, ge=5, description="Window of the trend (leak) check.")
    trend_min_rise: float = Field(8.0, ge=0, description=(
        "Rise over the trend window, in the series' own noise units, that counts."))
    trend_min_tau: float = Field(0.6, ge=0, le=1, description=(
        "How steady the climb must be (Kendall's tau of value against time)."))
    worse_when_higher: list[str] = Field(
        default_factory=lambda: ["latency", "duration", "error", "fail", "cpu", "mem", "gc",
                                 "queue", "saturation", "restart", "timeout", "p99", "p95"],
        description="Metric names containing one of these are symptoms when they rise.")
    worse_when_lower: list[str] = Field(
        default_factory=lambda: ["success", "availability", "apdex", "hit_ratio", "uptime"],
        description="Metric names containing one of these are symptoms when they fall.")
    load_bound: list[str] = Field(
        default_factory=lambda: ["cpu", "queue", "saturation", "utilization", "load"],
        description="Resource metrics that follow traffic: a rise no steeper than the "
                    "service's traffic (its context metrics) is context, not a symptom.")
    context_only: list[str] = Field(
        default_factory=lambda: ["request", "rps", "qps", "throughput", "traffic", "count",
                                 "replica", "per_min", "per_sec", "per_s", "rpm", "tps",
                                 "calls", "hits", "_total", "sessions", "users"],
        description="Volume metrics: anomalies here explain, they do not open incidents.")
    streaming_min_history_minutes: int = Field(1440, ge=0, description=(
        "History a series needs before the streaming scorer's reports count (one day, so a "
        "daily cycle is known). Below it the level and trend checks work alone. The scorer "
        "learns from the first minute either way."))
    streaming_min_relative_change: float = Field(0.1, ge=0, description=(
        "Smallest relative change from the long-run mean a streaming flag must show (the "
        "scorer has already judged it against the series' own spread and history)."))
    streaming_confirm_z: float = Field(1.0, ge=0, description=(
        "After a streaming flag, every point in the latest `window_minutes` minutes must "
        "stay this many long-run standard deviations beyond the long-run mean (and half "
        "the relative change beyond it) before it is reported: a shift, not a blip. The "
        "window is time, not points: one point of a five-minute series fills it."))
    streaming: StreamingSettings = Field(default_factory=StreamingSettings, description=(
        "The NAB-tuned streaming scorer, one per series, fed each minute once; its counts "
        "are minutes here (8,000 points of history = 5.6 days)."))


class DetectSettings(_Section):
    """How and how often OASIS looks for trouble."""

    check_interval_seconds: float = Field(60.0, gt=0, description="Time between checks.")
    min_history_minutes: int = Field(60, ge=10, description=(
        "History a series needs before it can alarm; two hours is plenty."))
    baseline_minutes: int = Field(120, ge=10, description=(
        "Recent history the baseline is taken from (seasonal history is added when a day "
        "or a week of it exists)."))
    guard_minutes: int = Field(10, ge=0, description=(
        "Latest minutes left out of the baseline, so an anomaly does not teach itself."))
    change_window_minutes: int = Field(15, ge=0, description=(
        "A deployment of a service this long before its anomaly starts is the suspected "
        "change."))
    correlation_minutes: int = Field(15, ge=1, description=(
        "Anomalies starting this close to an open incident's onset join it (on a callee or "
        "an unconnected service; a caller joins however late, a service deployed after the "
        "onset never does)."))
    recovery_minutes: int = Field(15, ge=1, description=(
        "Quiet minutes after which an incident's symptoms count as cleared."))
    recurrence_hours: float = Field(24.0, ge=0, description=(
        "A new incident whose root cause is the same service as one that recovered this "
        "recently is marked as its recurrence on its timeline, naming the earlier one."))
    error_rate: ErrorRateSettings = Field(default_factory=ErrorRateSettings)
    error_types: ErrorTypeSettings = Field(default_factory=ErrorTypeSettings)
    metrics: MetricSettings = Field(default_factory=MetricSettings)
