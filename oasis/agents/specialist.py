"""The deployment specialist as an agent: it reads the approved action, checks its
pre-conditions, runs it, and reports each step, through three tools and nothing else.

The tools take no parameters that could change the action: `run_approved_action` runs the
stored, approved kind and parameters, once (a second call returns the first outcome). So the
agent cannot widen an approval, whatever it is told; at most it can decline to run it, and
then the action fails and people are told. Without a model, or if the model fails before
running anything, the executor is called directly, as the deterministic specialist does.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from oasis.remediate import ActionSpec, ExecutionResult, Step
from oasis.remediate.executors.base import Executor

log = logging.getLogger(__name__)

SPECIALIST_PROMPT = """You are OASIS's deployment specialist. A person approved exactly one
remediation action. Your job: call approved_action to read it, call check_preconditions
(a dry run: it changes nothing) and, if the pre-conditions hold, call run_approved_action
once. Then report in a few lines what was checked, what was done and the outcome. You
cannot change the action, its target or its parameters, and you must not try: if the
pre-conditions fail, do not run it and say why."""


class SpecialistTools:
    """The only three things the specialist agent can do, bound to one approved action."""

    def __init__(self, spec: ActionSpec, executor: Executor, dry_run: bool) -> None:
        self.spec, self.executor, self.dry_run = spec, executor, dry_run
        self.result: ExecutionResult | None = None
        self.checked: ExecutionResult | None = None

    def approved_action(self) -> str:
        """The approved action: kind, parameters, risk and reason."""
        return json.dumps({"id": self.spec.id, "kind": self.spec.kind.value,
                           "params": self.spec.params, "risk": self.spec.risk.value,
                           "reason": self.spec.reason, "executor": self.executor.name})

    def check_preconditions(self) -> str:
        """Dry-run the approved action: reads the current state, changes nothing."""
        self.checked = self.executor.execute(self.spec, dry_run=True)
        return json.dumps(self.checked.to_dict())

    def run_approved_action(self) -> str:
        """Run the approved action, exactly as approved. Only the first call acts."""
        if self.result is None:
            self.result = self.executor.execute(self.spec, dry_run=self.dry_run)
        return json.dumps(self.result.to_dict())

    def strands_tools(self) -> list[Any]:
        from strands import tool

        return [tool(self.approved_action), tool(self.check_preconditions),
                tool(self.run_approved_action)]


def run_with_agent(model: Any, spec: ActionSpec, executor: Executor, *,
                   dry_run: bool) -> ExecutionResult:
    """Run `spec` through the specialist agent; fall back to the executor on model failure."""
    from strands import Agent

    tools = SpecialistTools(spec, executor, dry_run)
    try:
        agent = Agent(model=model, tools=tools.strands_tools(), system_prompt=SPECIALIST_PROMPT,
                      callback_handler=None,
                      retry_strategy=None)
        report = str(agent("Carry out the approved action and report.")).strip()
    except Exception as exc:  # the model failed: the approval still stands
        log.warning("specialist agent failed on %s: %s", spec.id, exc)
        if tools.result is None:
            result = executor.execute(spec, dry_run=dry_run)
            result.steps.append(_step("report", True, f"specialist agent unavailable "
                                      f"({type(exc).__name__}); ran by the executor directly"))
            return result
        report = f"(the agent failed after running the action: {type(exc).__name__})"
    if tools.result is None:
        why = report[:500] or "no reason given"
        steps = (tools.checked.steps if tools.checked else []) + [
            _step("declined", False, f"the specialist did not run the action: {why}")]
        return ExecutionResult(False, steps, {"report": report})
    result = tools.result
    result.steps.append(_step("report", result.ok, report[:2000]))
    return result


def _step(name: str, ok: bool, detail: str) -> Step:
    return Step(datetime.now(UTC), name, ok, detail)
