"""What a detector reports: one series of one service behaving unlike itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from oasis.signals.model import utc_iso

Role = Literal["symptom", "context"]


@dataclass(slots=True)
class Anomaly:
    """`strength` is 0..1 (how far beyond normal, squashed); `started_at` the estimated onset.

    Context anomalies (traffic volume, say) explain an incident but never open one.
    """

    service: str
    detector: str
    signal: str
    started_at: datetime
    observed: float
    expected: float
    strength: float
    summary: str
    role: Role = "symptom"
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return self.service, self.signal

    def to_evidence(self) -> dict[str, Any]:
        return {
            "service": self.service, "detector": self.detector, "signal": self.signal,
            "role": self.role, "started_at": utc_iso(self.started_at),
            "observed": round(self.observed, 3), "expected": round(self.expected, 3),
            "strength": round(self.strength, 3), "summary": self.summary, **self.detail,
        }
