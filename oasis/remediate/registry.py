"""Which executor carries out an action: the first configured one that runs its kind for
its service. `notify_only` needs none; a built-in executor answers it.

Proposals ask `catalog_for(service)` so they offer only what something can carry out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oasis.remediate.catalog import (
    DEFAULT_RISK,
    ActionError,
    ActionKind,
    ActionSpec,
    Risk,
    service_of,
)
from oasis.remediate.executors.base import ExecutionResult, Executor
from oasis.remediate.executors.command import CommandExecutor
from oasis.remediate.executors.fleet import FleetExecutor
from oasis.remediate.executors.kubernetes import KubernetesExecutor
from oasis.remediate.executors.noop import NoopExecutor
from oasis.remediate.executors.webhook import WebhookExecutor
from oasis.remediate.runbooks import RunbookSpec
from oasis.remediate.settings import ExecutorConfig, RemediateSettings


@dataclass(frozen=True, slots=True)
class Route:
    """An executor and the services it may act on (None: all)."""

    executor: Executor
    services: frozenset[str] | None = None

    def takes(self, kind: ActionKind, service: str | None) -> bool:
        # An action naming no service (a runbook without a `service` argument) is not
        # held back by a service list: the runbook itself is the allow-list.
        return kind in self.executor.kinds and (
            self.services is None or service is None or service in self.services)

    def describe(self) -> str:
        where = f"; services: {', '.join(sorted(self.services))}" if self.services else ""
        return f"{self.executor.name} ({', '.join(sorted(self.executor.kinds))}{where})"


class Executors:
    """The configured executors, in order, plus the built-in one for `notify_only`."""

    def __init__(self, routes: Sequence[Route], *, dry_run: bool = False,
                 runbooks: dict[str, RunbookSpec] | None = None) -> None:
        self.routes = list(routes)
        self.dry_run = dry_run
        self.runbooks = dict(runbooks or {})
        self._noop = NoopExecutor()

    @classmethod
    def from_settings(cls, settings: RemediateSettings, state_dir: Path) -> Executors:
        """Executors as configured; command executors keep their state under `state_dir`."""
        routes = [Route(_build(config, settings, Path(state_dir)),
                        frozenset(config.services) if config.services is not None else None)
                  for config in settings.executors]
        return cls(routes, dry_run=settings.dry_run, runbooks=settings.runbooks)

    def for_action(self, action: ActionSpec) -> Executor:
        """The executor that will carry out `action`, or ActionError saying why none."""
        service = service_of(action)
        for route in self.routes:
            if route.takes(action.kind, service):
                return route.executor
        if action.kind == ActionKind.NOTIFY_ONLY:
            return self._noop
        configured = "; ".join(r.describe() for r in self.routes) or "none"
        target = f" of {service}" if service else ""
        raise ActionError(f"no executor handles {action.kind}{target}; configured: "
                          f"{configured}")

    def validate(self, action: ActionSpec) -> Executor:
        """`for_action`, and for a runbook also its arguments: check before approval."""
        executor = self.for_action(action)
        if isinstance(executor, CommandExecutor):
            name, runbook, args = executor.resolve(action)
            runbook.bind(args, name)
        return executor

    def execute(self, action: ActionSpec, *, dry_run: bool = False) -> ExecutionResult:
        """Carry `action` out; a dry run when asked or when `remediate.dry_run` is set."""
        return self.for_action(action).execute(action, dry_run=dry_run or self.dry_run)

    def catalog_for(self, service: str | None) -> list[ActionKind]:
        """Kinds that something can carry out for `service` (None: for any service)."""
        kinds = {k for r in self.routes for k in ActionKind if r.takes(k, service)}
        return [k for k in ActionKind if k in kinds or k == ActionKind.NOTIFY_ONLY]

    def default_risk(self, kind: ActionKind, params: dict[str, Any] | None = None) -> Risk:
        """The risk to propose with: a runbook's declared risk, else DEFAULT_RISK."""
        runbook = self.runbooks.get((params or {}).get("runbook", ""))
        if kind == ActionKind.RUN_RUNBOOK and runbook is not None:
            return runbook.risk
        return DEFAULT_RISK[kind]

    def close(self) -> None:
        for route in self.routes:
            close = getattr(route.executor, "close", None)
            if close is not None:
                close()


def _build(config: ExecutorConfig, settings: RemediateSettings, state_dir: Path) -> Executor:
    kinds = [ActionKind(k) for k in config.kinds]
    if config.type == "fleet":
        return FleetExecutor(config.url, config.timeout_seconds, name=config.name, kinds=kinds)
    if config.type == "webhook":
        return WebhookExecutor(
            config.url, {k: v.get_secret_value() for k, v in config.headers.items()},
            config.secret.get_secret_value() if config.secret else None, kinds,
            config.timeout_seconds, name=config.name, send_dry_runs=config.send_dry_runs)
    if config.type == "command":
        return CommandExecutor(settings.runbooks, state_dir, name=config.name, kinds=kinds)
    return KubernetesExecutor(config.namespace, config.deployment_template, config.kubeconfig,
                              config.context, name=config.name, kinds=kinds,
                              timeout_seconds=config.timeout_seconds)
