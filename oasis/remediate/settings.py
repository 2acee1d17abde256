"""Remediation settings: which executors may act, on what, and the declared runbooks.

Set them under `remediate:` in the YAML file (see docs/remediation.md). Nothing can act
until an executor is configured; everything is checked at load, so a typo in a kind, a
duplicate executor name or a runbook placeholder without a declared param stops OASIS at
start instead of at 3 a.m. during an incident.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, model_validator

from oasis.remediate.catalog import NAME_PATTERN, RUNBOOK_PATTERN, ActionKind
from oasis.remediate.executors.fleet import FLEET_KINDS
from oasis.remediate.executors.kubernetes import K8S_KINDS
from oasis.remediate.runbooks import RunbookSpec

ExecutorName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
RunbookName = Annotated[str, StringConstraints(pattern=RUNBOOK_PATTERN)]
ServiceName = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
HttpUrl = Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+.*$")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _ExecutorConfig(_Section):
    name: ExecutorName = Field(description="Unique name, shown in steps and errors.")
    services: list[ServiceName] | None = Field(None, description=(
        "Services this executor acts on; unset: all of them."))


class FleetExecutorConfig(_ExecutorConfig):
    """The simulated fleet's control API (`oasis demo`, tests)."""

    type: Literal["fleet"]
    url: HttpUrl = Field(description="Base URL of the control API, e.g. http://127.0.0.1:8090")
    kinds: list[ActionKind] = Field(default_factory=lambda: sorted(FLEET_KINDS), description=(
        "Action kinds it runs: some of rollback, restart, scale."))
    timeout_seconds: float = Field(10, gt=0, description="Per HTTP request.")


class WebhookExecutorConfig(_ExecutorConfig):
    """An HTTP endpoint, e.g. a CI/CD pipeline trigger, that carries actions out."""

    type: Literal["webhook"]
    url: HttpUrl = Field(description="Where each action is POSTed as JSON.")
    headers: dict[str, SecretStr] = Field(default_factory=dict, description=(
        "Extra request headers, e.g. Authorization; kept out of logs."))
    secret: SecretStr | None = Field(None, description=(
        "Key of the X-OASIS-Signature HMAC-SHA256 of the body; unset: unsigned."))
    kinds: list[ActionKind] = Field(min_length=1, description="Action kinds it runs.")
    timeout_seconds: float = Field(10, gt=0, description="Per HTTP request.")
    send_dry_runs: bool = Field(False, description=(
        "POST dry runs too (with dry_run: true); only for receivers that honour it."))


class CommandExecutorConfig(_ExecutorConfig):
    """Runs the runbooks declared under `remediate.runbooks`, without a shell."""

    type: Literal["command"]
    kinds: list[ActionKind] = Field(default_factory=lambda: [ActionKind.RUN_RUNBOOK],
                                    description=(
        "Action kinds it runs: run_runbook, and kinds some runbook `handles`."))


class KubernetesExecutorConfig(_ExecutorConfig):
    """Deployments in one namespace (needs the `kubernetes` extra)."""

    type: Literal["kubernetes"]
    namespace: str = Field("default", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                           description="Namespace of the Deployments.")
    deployment_template: str = Field("{service}", description=(
        "Deployment name for a service; {service} is replaced by its name."))
    kubeconfig: Path | None = Field(None, description=(
        "Kubeconfig file; unset: $KUBECONFIG or ~/.kube/config, or the pod's service "
        "account when OASIS runs in the cluster."))
    context: str | None = Field(None, description="Kubeconfig context; unset: the current.")
    kinds: list[ActionKind] = Field(default_factory=lambda: sorted(K8S_KINDS), description=(
        "Action kinds it runs: some of rollback, restart, scale."))
    timeout_seconds: float = Field(10, gt=0, description="Per API request.")

    @model_validator(mode="after")
    def _template(self) -> KubernetesExecutorConfig:
        if "{" in self.deployment_template.replace("{service}", ""):
            raise ValueError("deployment_template may only use the placeholder {service}")
        return self


ExecutorConfig = Annotated[
    FleetExecutorConfig | WebhookExecutorConfig | CommandExecutorConfig
    | KubernetesExecutorConfig,
    Field(discriminator="type"),
]

_SUPPORTED: dict[str, frozenset[ActionKind]] = {
    "fleet": FLEET_KINDS, "kubernetes": K8S_KINDS,
    "webhook": frozenset(ActionKind), "command": frozenset(ActionKind) - {ActionKind.NOTIFY_ONLY},
}


class RemediateSettings(_Section):
    """How OASIS carries out approved actions."""

    dry_run: bool = Field(False, description=(
        "Every action only reports what it would do; nothing changes anywhere."))
    executors: list[ExecutorConfig] = Field(default_factory=list, description=(
        "Executors, in order: an action goes to the first one that runs its kind for its "
        "service. Default: none, so nothing can act until configured."))
    runbooks: dict[RunbookName, RunbookSpec] = Field(default_factory=dict, description=(
        "Commands the command executor may run, by name."))

    @model_validator(mode="after")
    def _consistent(self) -> RemediateSettings:
        seen: set[str] = set()
        for ex in self.executors:
            if ex.name in seen:
                raise ValueError(f"two executors are named {ex.name!r}; names must be unique")
            seen.add(ex.name)
            cannot = sorted(set(ex.kinds) - _SUPPORTED[ex.type])
            if cannot:
                raise ValueError(
                    f"executor {ex.name!r} ({ex.type}) cannot run {', '.join(cannot)}; it can "
                    f"run {', '.join(sorted(_SUPPORTED[ex.type]))}")
            if ex.type == "command":
                handled = {k for r in self.runbooks.values() for k in r.handles}
                missing = sorted(set(ex.kinds) - handled)
                if missing:
                    raise ValueError(
                        f"executor {ex.name!r} (command) lists {', '.join(missing)}, but no "
                        f"runbook under remediate.runbooks handles it")
        return self
