"""Seeded, labelled streams of operational events, to score triage against its policy.

    stream = generate_ops_events(org, count=300, seed=7, now=now)
    for item in stream: item.payload, item.received_at, item.expected

Payloads are what AWS sends (EventBridge envelopes around AWS Health events, Security Hub
findings, CloudWatch alarm state changes and Cost Anomaly Detection; bare Health objects
as the OHERO prototype's mock-ups), for the accounts and teams of an `Organisation`.
Each carries the answer the documented policy gives (`Expected`, see `labels`), worked
out from what the generator chose to make, never by asking the triage code. Updates
(same key, newer time) and re-sent copies (same key, same time) ride along: they may
update tickets, never create them.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from oasis.simulate.opsevents.labels import Expected, LabelledEvent, OrgView
from oasis.simulate.opsevents.stream import Stream

__all__ = ["KINDS", "WINDOW", "Expected", "LabelledEvent", "generate_ops_events"]

#: The kinds of event made, and how often (weights).
KINDS = {"deprecation": 14, "issue": 12, "maintenance": 7, "notification": 5, "billing": 5,
         "public": 4, "unknown_account": 4, "no_account": 3, "finding": 12,
         "vulnerability": 7, "alarm": 8, "cost_anomaly": 5}
#: The stream arrives over this window, ending at `now`; first copies in its first three
#: quarters, so updates have time to follow.
WINDOW = timedelta(hours=48)


def generate_ops_events(org: Any, *, count: int = 300, seed: int = 1,
                        now: datetime | None = None, allow_interaction: bool = False,
                        kinds: dict[str, int] | None = None) -> list[LabelledEvent]:
    """`count` labelled payloads for `org`'s accounts and teams, in arrival order.

    The same organisation, `seed` and `now` give the same stream. `now` (default: this
    hour) is when the last payload may arrive. `kinds` overrides the weights of `KINDS`.
    Raises ValueError for a bad count, a naive `now`, unknown kinds or an organisation
    without both production and non-production accounts.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if now is None:
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    if now.tzinfo is None:
        raise ValueError("now must carry a timezone (e.g. 2026-03-02T09:00:00Z)")
    weights = dict(KINDS if kinds is None else kinds)
    unknown = sorted(set(weights) - set(KINDS))
    if unknown or not any(w > 0 for w in weights.values()):
        raise ValueError(f"kinds must weigh some of {', '.join(KINDS)}"
                         + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
    rng = random.Random(seed)
    stream = Stream(OrgView(org), rng, now.astimezone(UTC), allow_interaction)
    names, chances = list(weights), list(weights.values())
    start = stream.now - WINDOW
    made: list[LabelledEvent] = []
    while len(made) < count:
        kind = rng.choices(names, chances)[0]
        arrival = start + timedelta(seconds=rng.randint(0, int(WINDOW.total_seconds() * 0.75)))
        made.extend(getattr(stream, kind)(arrival)[:count - len(made)])
    order = sorted(range(len(made)), key=lambda i: (made[i].received_at, i))
    return [made[i] for i in order]
