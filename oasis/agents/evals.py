"""Investigation evals: cases of recorded incidents and the facts a correct answer contains.

Each case regenerates its signals with the seeded simulator, replays them through detection,
and hands the incident to an analyst (the deterministic one, or a model through the same
checks and fallback the service uses). Scored per case and repeat: facts found, root cause
right, evidence cited, every proposed action in the catalog, first action as expected.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oasis.analyze.investigation import Analyst, Investigation, Outcome, problems
from oasis.incidents.model import Incident
from oasis.monitor.monitor import Monitor
from oasis.monitor.replay import replay
from oasis.remediate.catalog import ActionKind
from oasis.signals.times import parse_aware
from oasis.simulate import simulate

START = datetime.fromisoformat("2026-11-02T06:00:00+00:00")
INVESTIGATE_AFTER_MINUTES = 20  # signals after the onset the analyst gets (slow leaks need ~15)


def _time(record: dict[str, Any]) -> datetime:
    return parse_aware(record["timestamp"])


class Fact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    any_of: list[str] = Field(min_length=1)


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = ""
    scenario: str
    seed: int = 1
    fleet: str = "shop"
    hours: float = 3.0
    facts: list[Fact]
    expect_action: ActionKind | None = None


def load_cases(folder: Path) -> list[Case]:
    cases = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            case = Case.model_validate(yaml.safe_load(path.read_text()))
        except (ValidationError, yaml.YAMLError) as exc:
            raise ValueError(f"{path}: {exc}") from None
        case.name = case.name or path.stem
        cases.append(case)
    if not cases:
        raise ValueError(f"no *.yaml cases in {folder}")
    return cases


@dataclass
class CaseScore:
    case: str
    repeat: int
    detected: bool
    source: str = ""
    facts_found: list[str] = field(default_factory=list)
    facts_missing: list[str] = field(default_factory=list)
    root_right: bool = False
    evidence_cited: bool = False
    actions_in_catalog: bool = False
    action_right: bool | None = None
    fallback_reason: str | None = None
    usage: dict[str, Any] | None = None

    @property
    def fact_share(self) -> float:
        total = len(self.facts_found) + len(self.facts_missing)
        return len(self.facts_found) / total if total else 0.0


def _text(found: Investigation) -> str:
    parts = [found.summary, found.impact, found.root_cause.service,
             found.root_cause.explanation]
    for a in found.proposed_actions:
        parts += [a.kind.value, a.reason, " ".join(str(v) for v in a.params.values())]
    return "\n".join(parts)


def score_case(case: Case, repeat: int,
               analyst_for: Callable[[Monitor], Analyst]) -> CaseScore:
    start = START + timedelta(hours=case.seed * 7)
    sim = simulate(case.scenario, hours=case.hours, seed=case.seed, start=start,
                   fleet=case.fleet)
    truth = sim.truth

    def investigate(monitor: Monitor) -> tuple[Incident, Outcome, set[str]] | None:
        incidents = monitor.tracker.store.list(limit=100)
        hits = sorted((i for i in incidents if i.detected_at >= truth.onset
                       and set(i.services) & set(truth.affected_services)),
                      key=lambda i: i.detected_at)
        if not hits:
            return None
        incident: Incident = monitor.tracker.store.get(hits[0].id)
        return incident, analyst_for(monitor).investigate(incident), set(monitor.window.services)

    # Investigated as the service would soon after opening it, not with hindsight.
    cut = truth.onset + timedelta(minutes=INVESTIGATE_AFTER_MINUTES)
    records = [r for r in sim.records() if _time(r) < cut]
    result = replay(records, inspect=investigate)
    score = CaseScore(case.name, repeat, result.inspected is not None)
    if result.inspected is None:
        score.facts_missing = [f.name for f in case.facts]
        return score
    incident, outcome, known = result.inspected
    found = outcome.investigation
    change = truth.suspected_change or {}
    values = {"root": truth.root_cause_service or "", "version": change.get("version", ""),
              "previous_version": change.get("previous_version", "")}
    text = _text(found)
    for fact in case.facts:
        patterns = [p.format(**values) for p in fact.any_of]
        hit = any(p and re.search(re.escape(p) if "{" in f else p, text, re.I)
                  for p, f in zip(patterns, fact.any_of, strict=True))
        (score.facts_found if hit else score.facts_missing).append(fact.name)
    # Every action kind counts as runnable here: the eval judges the answer, not a setup.
    issues = problems(found, known_services=known, evidence=incident.evidence,
                      incident_id=incident.id, catalog_for=lambda _s: set(ActionKind))
    score.source = outcome.source
    score.root_right = found.root_cause.service == truth.root_cause_service
    score.evidence_cited = bool(found.root_cause.evidence) and not any(
        "evidence" in p for p in issues)
    score.actions_in_catalog = not any(p.startswith("action") for p in issues)
    if case.expect_action is not None:
        first = found.proposed_actions[0].kind if found.proposed_actions else None
        score.action_right = first is case.expect_action
    score.fallback_reason = outcome.fallback_reason
    score.usage = outcome.usage
    return score


def run_cases(cases: list[Case], analyst_for: Callable[[Monitor], Analyst],
              repeat: int = 1) -> dict[str, Any]:
    scores = [score_case(c, r, analyst_for) for c in cases for r in range(1, repeat + 1)]
    rights = [s.action_right for s in scores if s.action_right is not None]
    return {
        "cases": len(cases), "repeat": repeat,
        "source": sorted({s.source for s in scores if s.source}),
        "facts_found": round(statistics.mean(s.fact_share for s in scores), 3),
        "root_cause_right": round(statistics.mean(s.root_right for s in scores), 3),
        "evidence_cited": round(statistics.mean(s.evidence_cited for s in scores), 3),
        "actions_in_catalog": round(statistics.mean(s.actions_in_catalog for s in scores), 3),
        "first_action_right": round(statistics.mean(rights), 3) if rights else None,
        "fallbacks": sum(1 for s in scores if s.fallback_reason),
        "runs": [asdict(s) | {"fact_share": round(s.fact_share, 3)} for s in scores],
    }
