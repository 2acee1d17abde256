"""Executor for the simulated fleet's control API (oasis/simulate/control.py).

The control API remembers every action id it has carried out, so this executor asks it
first (`GET /fleet/actions`) and answers a repeat from there without posting again; the
POST itself is idempotent too, which is what makes retrying it after a timeout safe.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

import httpx

from oasis.remediate.catalog import (
    ActionKind,
    ActionSpec,
    RestartParams,
    RollbackParams,
    ScaleParams,
)
from oasis.remediate.executors.base import (
    ExecutionResult,
    StepLog,
    check_kinds,
    require_kind,
)
from oasis.remediate.executors.http import Reply, check_url, detail_of, send

FLEET_KINDS = frozenset({ActionKind.ROLLBACK, ActionKind.RESTART, ActionKind.SCALE})


class FleetExecutor:
    """Rollback, restart and scale through the simulated fleet's control API."""

    def __init__(self, base_url: str, timeout_seconds: float = 10, *, name: str = "fleet",
                 kinds: Iterable[ActionKind] = FLEET_KINDS, attempts: int = 4,
                 backoff_seconds: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.name = name
        self.kinds = check_kinds(name, frozenset(ActionKind(k) for k in kinds), FLEET_KINDS)
        self.base_url = check_url(name, base_url)
        self.attempts = max(1, attempts)
        self.backoff_seconds = backoff_seconds
        self._sleep = sleep  # waits out the backoff between tries
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout_seconds)

    def close(self) -> None:
        self._client.close()

    def execute(self, action: ActionSpec, *, dry_run: bool = False) -> ExecutionResult:
        require_kind(self, action)
        params = action.typed_params()
        assert isinstance(params, RollbackParams | RestartParams | ScaleParams)
        service = params.service
        path = f"/fleet/services/{quote(service, safe='')}"
        log = StepLog()

        reply = self._send("GET", "/fleet/actions")
        if reply.error or reply.response is None or reply.response.status_code != 200:
            return log.failed("check", f"cannot read the fleet's action history: "
                                       f"{self._why(reply)}")
        earlier = next((a for a in reply.response.json() if a["action_id"] == action.id), None)
        if earlier is not None:
            return self._repeat(action, service, earlier, log)

        reply = self._send("GET", path)
        if reply.error or reply.response is None or reply.response.status_code != 200:
            return log.failed("check", f"cannot act on {service}: {self._why(reply)}")
        before = reply.response.json()
        plan, refusal = _plan(params, before)
        if refusal:
            return log.failed("check", refusal, {"state": before})
        log.add("check", True, f"{service} runs {before['version']} on "
                               f"{before['replicas']} replicas")
        if dry_run:
            log.add("dry-run", True, f"would {plan}; nothing changed (dry run)")
            return log.finish({"dry_run": True, "would": plan, "state": before})

        body: dict[str, Any] = {"action_id": action.id}
        if isinstance(params, RollbackParams):
            body["to_version"] = params.to_version
        elif isinstance(params, ScaleParams):
            body["replicas"] = params.replicas
        reply = self._send("POST", f"{path}/{action.kind}", json=body)
        if reply.error or reply.response is None or reply.response.status_code != 200:
            return log.failed("change", f"{action.kind} of {service} failed: "
                                        f"{self._why(reply)}", {"state": before})
        record = reply.response.json()
        repeated = bool(record.pop("repeated", False))
        log.add("change", True, ("already done by an earlier call: " if repeated else "")
                + f"{plan} ({record['result']})")
        return self._verify(action, service, record, log, repeated)

    # -- helpers ---------------------------------------------------------------------------
    def _repeat(self, action: ActionSpec, service: str, earlier: dict[str, Any],
                log: StepLog) -> ExecutionResult:
        if (earlier["action"], earlier["service"]) != (action.kind.value, service):
            return log.failed("check", f"action id {action.id} was already used for "
                                       f"{earlier['action']} of {earlier['service']}")
        log.add("check", True, f"action {action.id} was already carried out at "
                               f"{earlier['at']}: {earlier['result']}; not repeating it")
        return self._verify(action, service, earlier, log, repeated=True)

    def _verify(self, action: ActionSpec, service: str, record: dict[str, Any],
                log: StepLog, repeated: bool) -> ExecutionResult:
        reply = self._send("GET", f"/fleet/services/{quote(service, safe='')}")
        output = {"action": record}
        if reply.error or reply.response is None or reply.response.status_code != 200:
            log.add("verify", False, f"cannot read {service} back: {self._why(reply)}")
            return log.finish(output, repeated=repeated)
        after = output["state"] = reply.response.json()
        result = record["result"]
        if action.kind == ActionKind.ROLLBACK:
            ok = after["version"] == result["version"]
            seen = f"{service} runs {after['version']}"
        elif action.kind == ActionKind.SCALE:
            ok = after["replicas"] == result["replicas"]
            seen = f"{service} has {after['replicas']} replicas"
        else:
            ok = after["restarted_at"] == record["at"]
            seen = f"{service} restarted at {after['restarted_at']}"
        if not ok and repeated:  # changed again since, by someone else; ours did happen
            log.add("verify", True, f"{seen} now (changed again after this action)")
        else:
            log.add("verify", ok, seen if ok else f"{seen}, not what {action.kind} set: "
                                                  f"{result}")
        return log.finish(output, repeated=repeated)

    def _send(self, method: str, path: str, **kwargs: Any) -> Reply:
        return send(self._client, method, path, attempts=self.attempts,
                    backoff_seconds=self.backoff_seconds, sleep=self._sleep, **kwargs)

    def _why(self, reply: Reply) -> str:
        if reply.response is not None and reply.response.status_code < 500:
            return detail_of(reply.response)
        return f"{reply.error} (after {reply.attempts} attempts to {self.base_url})"


def _plan(params: Any, state: dict[str, Any]) -> tuple[str, str | None]:
    """What the action would do to `state`, and why it cannot when it cannot."""
    service = state["name"]
    if isinstance(params, RollbackParams):
        target = params.to_version or state["previous_version"]
        if target is None:
            return "", f"{service} has no earlier version to roll back to"
        if target == state["version"]:
            return "", f"{service} already runs {target}"
        return f"roll {service} back from {state['version']} to {target}", None
    if isinstance(params, ScaleParams):
        return f"scale {service} from {state['replicas']} to {params.replicas} replicas", None
    return f"restart all {state['replicas']} replicas of {service}", None
