"""A model's second opinion on cost impact: it may raise what the rules decided, never lower.

Only asked when a model is configured and the rules found no cost impact. The event text
reaches the model redacted and wrapped as untrusted data; the answer is a yes/no with a
reason. Any failure (provider down, odd answer) leaves the rules' decision as it was.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, Field

from oasis.agents.safety import UNTRUSTED_NOTE, Redactor, untrusted
from oasis.agents.settings import ModelSettings
from oasis.triage.acknowledge import COST_RAISED_LABEL, cost_impact
from oasis.triage.model import OpsEvent

log = logging.getLogger(__name__)

PROMPT = """You are a FinOps reviewer. Decide whether this operational event could
significantly change what the organisation pays (new charges, price changes, extended
support fees, usage that will be billed, wasted spend). Answer false when unsure.
""" + UNTRUSTED_NOTE


class CostVerdict(BaseModel):
    potential_cost_impact: bool = Field(description="True only if a real cost change is likely")
    reason: str = Field(max_length=500, description="One sentence")


class CostJudge:
    def __init__(self, settings: ModelSettings, model: Any = None) -> None:
        self.settings = settings
        self._model = model

    def review(self, event: OpsEvent) -> OpsEvent:
        """`event`, labelled as cost-impacting if the model says so and the rules did not."""
        if cost_impact(event):
            return event
        try:
            from strands import Agent

            from oasis.agents.providers import build_model

            self._model = self._model or build_model(self.settings)
            redactor = Redactor(enabled=self.settings.redact)
            text = untrusted(redactor.redact(f"{event.title}\n{event.description}"),
                             f"event:{event.source}", limit=3000)
            agent = Agent(model=self._model, system_prompt=PROMPT, callback_handler=None,
                          retry_strategy=None)
            verdict = agent(f"Service {event.service}, type {event.event_type}.\n{text}",
                            structured_output_model=CostVerdict).structured_output
        except Exception as exc:  # the rules' decision stands
            log.warning("cost review of %s failed: %s", event.key, exc)
            return event
        if isinstance(verdict, CostVerdict) and verdict.potential_cost_impact:
            labels = {**event.labels, COST_RAISED_LABEL: f"model: {verdict.reason}"[:300]}
            return event.model_copy(update={"labels": labels})
        return event
