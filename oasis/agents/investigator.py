"""The monitoring agent: a model investigates with read-only tools and hands over a checked,
structured investigation; the deterministic analyst stands in whenever it cannot.

Everything the model reads from logs and events is redacted (when `redact` is on) and
wrapped as untrusted data; its answer is un-redacted for people only after it passed the
checks in `oasis.analyze.investigation.problems`. Usage is metered against a per-incident budget.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from oasis.agents.providers import build_model
from oasis.agents.safety import UNTRUSTED_NOTE, Redactor, untrusted
from oasis.agents.settings import ModelSettings
from oasis.agents.tools import ToolContext, build_tools
from oasis.agents.usage import Budget, Usage, usage_from_result
from oasis.analyze.analyst import DeterministicAnalyst
from oasis.analyze.investigation import Catalog, Investigation, Outcome, evidence_ids, problems
from oasis.incidents.model import Incident
from oasis.remediate.catalog import DESCRIPTIONS, ActionKind

log = logging.getLogger(__name__)

SYSTEM_PROMPT = """You are OASIS's monitoring agent: an experienced on-call engineer
investigating one incident that statistical detectors have already found.

How to work:
- Use the read-only tools to check the evidence: logs, error templates, metrics,
  deployments, the call graph and past incidents. Be brief; a few tool calls suffice.
- The root cause is the service where the problem starts (often the one others depend on
  whose anomaly began first), not the loudest caller.
- Cite evidence by id (E1, E2, ...) as listed in the incident or returned by get_evidence.
- Propose at most three actions, best first, only from this catalog, with its parameters:
{catalog}
  Prefer the least risky action that removes the cause (roll back a bad release to the
  previous version; restart for exhausted pools or leaks without a change; scale when
  saturated). Propose nothing rather than an action that does not fit.
- Nothing you propose runs without a person's approval.
""" + "\n" + UNTRUSTED_NOTE


def catalog_text(kinds: list[ActionKind]) -> str:
    return "\n".join(f"  - {k.value}: {DESCRIPTIONS[k]}" for k in kinds)


def incident_prompt(incident: Incident, redactor: Redactor) -> str:
    """The incident as the model first sees it: facts, then numbered evidence."""
    change = incident.suspected_change
    lines = [
        f"Incident {incident.id}: {incident.title}",
        f"Severity {incident.severity.value}; services {', '.join(incident.services)}; "
        f"estimated onset {incident.started_at:%Y-%m-%d %H:%M}Z; detected "
        f"{incident.detected_at:%H:%M}Z; root-cause ranking by the detectors: "
        + ", ".join(f"{c['service']} ({c.get('score', 0):.2f})"
                    for c in incident.root_cause_ranking[:4]),
        ("Suspected change: " + f"{change['service']} {change['version']} (previous "
         f"{change.get('previous_version')}) deployed {change.get('deployed_at')}")
        if change else "No deployment near the onset.",
        "Evidence:",
    ]
    for eid, item in zip(evidence_ids(incident.evidence), incident.evidence, strict=True):
        if item.get("kind") == "log_samples":
            samples = "\n".join(
                untrusted(redactor.redact(f"{s.get('timestamp')} {s.get('level')} "
                                          f"{s.get('message')}"),
                          f"log:{item.get('service')}", limit=400)
                for s in item.get("lines", []))
            lines.append(f"{eid} [{item.get('service')}] sample log lines:\n{samples}")
        else:
            lines.append(f"{eid} [{item.get('service')}] {item.get('detector')}: "
                         + untrusted(redactor.redact(str(item.get("summary", ""))),
                                     "detector", limit=300))
    lines.append("Investigate, then answer with the Investigation structure.")
    return "\n".join(lines)


class ModelAnalyst:
    """Investigations by a model, checked, with the deterministic analyst as the fallback."""

    def __init__(self, settings: ModelSettings, fallback: DeterministicAnalyst,
                 context_for: Callable[[Incident, Redactor], ToolContext], catalog_for: Catalog,
                 *, redact: bool = True, model: Any = None) -> None:
        self.settings = settings
        self.fallback = fallback
        self.context_for = context_for
        self.catalog_for = catalog_for
        self.redact = redact
        self._model = model  # tests hand one in; otherwise built on first use
        self.name = f"analyst:model:{settings.model_id or settings.provider}"

    def investigate(self, incident: Incident) -> Outcome:
        redactor = Redactor(enabled=self.redact)
        budget = Budget(self.settings.budget)
        usage = Usage()
        rejected: list[str] = []
        ctx = self.context_for(incident, redactor)
        known = ctx.known_services or set(incident.services)
        attempts = 0
        try:
            model = self._model or build_model(self.settings)
            self._model = model
            prompt = incident_prompt(incident, redactor)
            kinds = sorted({k for s in known for k in self.catalog_for(s)}
                           | {ActionKind.NOTIFY_ONLY})
            system = SYSTEM_PROMPT.format(catalog=catalog_text(kinds))
            for attempts in (1, 2):
                from strands import Agent

                agent = Agent(model=model, tools=build_tools(ctx), system_prompt=system,
                              callback_handler=None,
                              retry_strategy=None)
                result = agent(prompt, structured_output_model=Investigation)
                usage.add(usage_from_result(result))
                budget.check(usage)
                answer = result.structured_output
                if not isinstance(answer, Investigation):
                    rejected = ["no structured answer"]
                else:
                    rejected = problems(answer, known_services=known,
                                        evidence=incident.evidence, incident_id=incident.id,
                                        catalog_for=self.catalog_for)
                    if not rejected:
                        restored = Investigation.model_validate(
                            redactor.unredact_obj(answer.model_dump(mode="json")))
                        return Outcome(restored, self.name, attempts, [],
                                       usage.to_dict(), list(ctx.calls))
                prompt = ("Your previous answer was rejected: " + "; ".join(rejected)
                          + ". Answer again with the Investigation structure, fixing that.")
            reason = "answer rejected twice: " + "; ".join(rejected)
        except Exception as exc:  # unavailable, over budget, provider down: fall back
            log.warning("model investigation of %s failed: %s", incident.id, exc)
            reason = f"{type(exc).__name__}: {exc}"
        outcome = self.fallback.investigate(incident)
        outcome.attempts, outcome.rejected = attempts, rejected
        outcome.usage, outcome.tool_calls = usage.to_dict(), list(ctx.calls)
        outcome.fallback_reason = reason
        return outcome
