"""The deployment specialist: runs an approved action through its executor, exactly once.

It runs the action's stored kind and parameters, the ones a person (or a policy) approved,
and nothing else: it cannot widen an approval. Its claim on the action is renewed while the
executor works, so a slow rollback is not mistaken for a dead process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from oasis.agents.specialist import run_with_agent
from oasis.remediate import ActionError, ExecutionResult, Executors, Step
from oasis.respond.actions import ActionRecord, ActionStore
from oasis.signals.crashpoints import crash_point

log = logging.getLogger(__name__)


class DeploymentSpecialist:
    def __init__(self, actions: ActionStore, executors: Executors, *, dry_run: bool,
                 lease_seconds: float, model: Callable[[], Any] | None = None) -> None:
        self.actions = actions
        self.executors = executors
        self.dry_run = dry_run
        self.lease_seconds = lease_seconds
        self.model = model  # when set, the specialist agent plans, runs and reports

    def run(self, action_id: str, data_clock: Callable[[], datetime]) -> ActionRecord | None:
        """Claim and run `action_id`; None if it is not runnable or another process has it."""
        record = self.actions.claim(action_id, lease_seconds=self.lease_seconds,
                                    dry_run=self.dry_run)
        if record is None:
            return None
        spec = record.spec()
        try:
            executor = self.executors.for_action(spec)
        except ActionError as exc:
            step = Step(datetime.now(UTC), "choose executor", False, str(exc))
            return self.actions.finish(action_id, ok=False, executor="none",
                                       result=ExecutionResult(False, [step], {}).to_dict(),
                                       data_time=data_clock())
        stop = threading.Event()
        keeper = threading.Thread(target=self._keep_claim, args=(action_id, stop), daemon=True)
        keeper.start()
        try:
            crash_point("action.before_execute")
            if self.model is not None:
                result = run_with_agent(self.model(), spec, executor, dry_run=self.dry_run)
            else:
                result = executor.execute(spec, dry_run=self.dry_run)
        except Exception as exc:  # a misconfigured executor must not leave it running
            log.exception("executor %s failed on %s", executor.name, action_id)
            result = ExecutionResult(False, [Step(datetime.now(UTC), "execute", False,
                                                  f"{type(exc).__name__}: {exc}")], {})
        finally:
            stop.set()
            keeper.join(5)
        crash_point("action.after_execute")
        return self.actions.finish(action_id, ok=result.ok, executor=executor.name,
                                   result=result.to_dict(), data_time=data_clock())

    def _keep_claim(self, action_id: str, stop: threading.Event) -> None:
        while not stop.wait(self.lease_seconds / 3):
            self.actions.extend_claim(action_id, self.lease_seconds)
