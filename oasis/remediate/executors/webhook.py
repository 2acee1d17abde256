"""Executor that hands an action to another system over HTTP, e.g. a CI/CD pipeline.

The receiver gets `{action_id, incident_id, kind, params, dry_run}` with the action id as
`Idempotency-Key` and, when a secret is configured, `X-OASIS-Signature: sha256=<hex HMAC
of the body>`. It must treat a repeated key as already done: answer 409, or 2xx with
`"repeated": true`. That contract is what makes retrying after a timeout safe.

Dry runs are not sent unless `send_dry_runs` is set: a receiver that ignored `dry_run`
would act for real. A dry run that is sent uses the key `<action id>.dry-run`, so it can
never be mistaken for the real action later.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import httpx
import orjson

from oasis.remediate.catalog import ActionKind, ActionSpec
from oasis.remediate.executors.base import ExecutionResult, StepLog, require_kind
from oasis.remediate.executors.http import check_url, detail_of, json_of, send
from oasis.signals.signing import SIGNATURE_HEADER, sign_body


class WebhookExecutor:
    """POSTs each action as JSON to one URL."""

    def __init__(self, url: str, headers: Mapping[str, str] | None = None,
                 secret: str | None = None,
                 kinds: Iterable[ActionKind] = tuple(ActionKind),
                 timeout_seconds: float = 10, *, name: str = "webhook",
                 send_dry_runs: bool = False, attempts: int = 4,
                 backoff_seconds: float = 0.5) -> None:
        self.name = name
        self.kinds = frozenset(ActionKind(k) for k in kinds)
        self.url = check_url(name, url)
        self.headers = dict(headers or {})
        self.secret = secret
        self.send_dry_runs = send_dry_runs
        self.attempts = max(1, attempts)
        self.backoff_seconds = backoff_seconds
        self._client = httpx.Client(timeout=timeout_seconds)

    def close(self) -> None:
        self._client.close()

    def payload(self, action: ActionSpec, *, dry_run: bool = False) -> bytes:
        """The exact body sent (and signed) for `action`."""
        return orjson.dumps({"action_id": action.id, "incident_id": action.incident_id,
                             "kind": action.kind.value, "params": action.params,
                             "dry_run": dry_run}, option=orjson.OPT_SORT_KEYS)

    def execute(self, action: ActionSpec, *, dry_run: bool = False) -> ExecutionResult:
        require_kind(self, action)
        log = StepLog()
        body = self.payload(action, dry_run=dry_run)
        log.add("check", True, f"{action.kind} {action.params} goes to {self.url}")
        if dry_run and not self.send_dry_runs:
            log.add("dry-run", True, f"would POST {body.decode()} to {self.url}; nothing sent "
                                     "(dry run)")
            return log.finish({"dry_run": True, "would": {"url": self.url,
                                                          "body": orjson.loads(body)}})

        key = f"{action.id}.dry-run" if dry_run else action.id
        headers = {**self.headers, "Content-Type": "application/json", "Idempotency-Key": key}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign_body(self.secret, body)
        reply = send(self._client, "POST", self.url, content=body, headers=headers,
                     attempts=self.attempts, backoff_seconds=self.backoff_seconds)
        response = reply.response
        if reply.error or response is None:
            return log.failed("change", f"{reply.error} (after {reply.attempts} attempts to "
                                        f"{self.url})")
        output = json_of(response)
        if response.status_code == 409:
            log.add("change", True, f"already done: {self.url} answered 409 for action "
                                    f"{action.id} ({detail_of(response)})")
            return log.finish(output, repeated=True)
        if not response.is_success:
            return log.failed("change", f"{self.url} refused the action: HTTP "
                                        f"{response.status_code}: {detail_of(response)}",
                              output)
        repeated = output.get("repeated") is True
        log.add("change", True, f"{self.url} accepted it: HTTP {response.status_code}"
                + (" (already done earlier)" if repeated else ""))
        log.add("verify", True, _summary(output))
        return log.finish(output, repeated=repeated)


def _summary(output: dict[str, Any]) -> str:
    if not output:
        return "no response body"
    text = orjson.dumps(output).decode()
    return "response: " + (text if len(text) <= 300 else text[:297] + "...")
