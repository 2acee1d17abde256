"""A metric chart as inline SVG, drawn on the server.

No chart library and no JavaScript: the incident page works on any phone and every
asset comes from OASIS. The chart shows one metric of one service around the onset,
with the onset and any deployment in the window marked, so a reader sees at a glance
whether the errors began with the change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

from oasis.incidents import Incident
from oasis.store import SignalStore

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 16, 28  # room for axis labels
LEAD = timedelta(minutes=30)  # how much calm before the onset the reader sees
MAX_BUCKETS = 120  # enough resolution for a phone screen; bounds the query
LANE_HEIGHT = 14  # one line of 11 px marker labels
# Wider than the average 11 px sans-serif character, so an estimate never underlaps.
CHAR_WIDTH = 7.0
LABEL_GAP = 6


@dataclass(frozen=True, slots=True)
class ChartData:
    """What to draw: one metric's mean per bucket, the onset and deployments in the window."""

    service: str
    metric: str
    start: datetime
    end: datetime
    points: list[tuple[datetime, float]]
    onset: datetime
    deployments: list[tuple[datetime, str]]
    recovered: datetime | None = None  # end of the anomaly window; open while it lasts


def chart_data(store: SignalStore, incident: Incident, now: datetime) -> ChartData | None:
    """The root-cause service's error_rate, else the first anomalous metric with data,
    from 30 minutes before the onset to `now` (30 minutes after the recovery once it has
    recovered); None when no metric has data. `now` is the signals' clock, which runs
    ahead of the wall clock in an accelerated simulation."""
    start = incident.started_at - LEAD
    end = now if incident.recovered_at is None else min(now, incident.recovered_at + LEAD)
    end = max(end, incident.started_at + timedelta(minutes=1))
    bucket = max(60, int((end - start).total_seconds() // MAX_BUCKETS))
    for service, metric in _candidates(incident):
        stats = store.metric_stats(start, end, bucket_seconds=bucket, service=service, name=metric)
        if stats:
            points = sorted((s.bucket, s.mean) for s in stats)
            deploys = [
                (d.timestamp, d.version) for d in store.deployments(start, end, service=service)
            ]
            return ChartData(
                service,
                metric,
                start,
                end,
                points,
                incident.started_at,
                deploys,
                incident.recovered_at,
            )
    return None


def _candidates(incident: Incident) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if incident.root_cause_service:
        found.append((incident.root_cause_service, "error_rate"))
    for item in incident.evidence:
        pair = (item.get("service"), item.get("signal"))
        if isinstance(pair[0], str) and isinstance(pair[1], str) and pair not in found:
            found.append((pair[0], pair[1]))
    return found


def render_svg(data: ChartData) -> str:
    """The chart as an `<svg>` element, scaled to its container's width."""
    span = max((data.end - data.start).total_seconds(), 1.0)
    top = max((v for _, v in data.points), default=1.0) or 1.0
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(at: datetime) -> float:
        share = (at - data.start).total_seconds() / span
        return round(LEFT + min(max(share, 0.0), 1.0) * inner_w, 1)

    def y(value: float) -> float:
        return round(TOP + inner_h - (value / top) * inner_h, 1)

    line = " ".join(f"{x(at)},{y(v)}" for at, v in data.points)
    label = f"{data.service} {data.metric}"
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
        f'<line class="axis" x1="{LEFT}" y1="{TOP + inner_h}" x2="{WIDTH - RIGHT}" '
        f'y2="{TOP + inner_h}"/>',
        f'<text class="tick" x="{LEFT - 4}" y="{TOP + 4}" text-anchor="end">{top:.3g}</text>',
        f'<text class="tick" x="{LEFT - 4}" y="{TOP + inner_h}" text-anchor="end">0</text>',
        f'<text class="tick" x="{LEFT}" y="{HEIGHT - 8}">{data.start:%H:%M}Z</text>',
        f'<text class="tick" x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" '
        f'text-anchor="end">{data.end:%H:%M}Z</text>',
    ]
    # The anomaly window under the line: from the onset to recovery, or to now.
    window_end = x(data.recovered or data.end)
    parts.append(
        f'<rect class="anomaly-window" x="{x(data.onset)}" y="{TOP}" '
        f'width="{max(window_end - x(data.onset), 1.0):.1f}" height="{inner_h}">'
        f"<title>anomaly window</title></rect>"
    )
    parts.append(f'<polyline class="series" points="{line}"/>')
    markers = [("marker-onset", x(data.onset), f"onset {data.onset:%H:%M}Z")]
    markers += [
        ("marker-deploy", x(at), f"deploy {version} {at:%H:%M}Z")
        for at, version in data.deployments
    ]
    for (kind, at_x, text), lane in zip(markers, label_lanes(markers), strict=True):
        parts += _marker(kind, at_x, inner_h, text, TOP + 10 + LANE_HEIGHT * lane)
    parts.append("</svg>")
    return "".join(parts)


def _label_span(at_x: float, text: str) -> tuple[str, float, float, float]:
    """Anchor, offset and the horizontal extent of a marker's label. Labels go right of
    the line, or left of it near the right edge, so none is clipped."""
    width = len(text) * CHAR_WIDTH
    if at_x > WIDTH * 0.75:
        return "end", -3, at_x - 3 - width, at_x - 3
    return "start", 3, at_x + 3, at_x + 3 + width


def label_lanes(markers: list[tuple[str, float, str]]) -> list[int]:
    """A text line for each marker label such that labels on one line never overlap:
    each takes the first line, from the top, where it clears every label already there
    (the onset, listed first, always gets the top one)."""
    lanes: list[list[tuple[float, float]]] = []
    chosen = []
    for _, at_x, text in markers:
        _, _, left, right = _label_span(at_x, text)
        for n, taken in enumerate(lanes):
            if all(right + LABEL_GAP <= a or left >= b + LABEL_GAP for a, b in taken):
                taken.append((left, right))
                chosen.append(n)
                break
        else:
            lanes.append([(left, right)])
            chosen.append(len(lanes) - 1)
    return chosen


def _marker(kind: str, at_x: float, inner_h: int, text: str, label_y: int) -> list[str]:
    anchor, dx, _, _ = _label_span(at_x, text)
    return [
        f'<g class="{kind}"><line x1="{at_x}" y1="{TOP}" x2="{at_x}" '
        f'y2="{TOP + inner_h}"/><text x="{at_x + dx}" y="{label_y}" '
        f'text-anchor="{anchor}">{escape(text)}</text></g>'
    ]
