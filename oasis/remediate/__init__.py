"""Remediation: the action catalog, and executors that carry approved actions out.

    action = ActionSpec(id="act-1", incident_id="inc-...", kind="rollback",
                        params={"service": "checkout"}, reason="bad deploy 2.5.0")
    executors = Executors.from_settings(settings.remediate, state_dir)
    result = executors.execute(action)            # ExecutionResult: ok, steps, output

Actions come from an allow-list with typed parameters, never free-form commands; every
executor checks, acts, reads back, and never acts twice for one action id. See
docs/remediation.md.
"""

from oasis.remediate.catalog import (
    DEFAULT_RISK,
    DESCRIPTIONS,
    PARAMS,
    ActionError,
    ActionKind,
    ActionSpec,
    NotifyOnlyParams,
    RestartParams,
    Risk,
    RollbackParams,
    RunbookParams,
    ScaleParams,
    ToggleFlagParams,
    service_of,
    validate_params,
)
from oasis.remediate.executors import (
    CommandExecutor,
    ExecutionResult,
    Executor,
    ExecutorError,
    FleetExecutor,
    KubernetesExecutor,
    NoopExecutor,
    Step,
    WebhookExecutor,
)
from oasis.remediate.registry import Executors, Route
from oasis.remediate.runbooks import ParamSpec, RunbookSpec
from oasis.remediate.settings import (
    CommandExecutorConfig,
    ExecutorConfig,
    FleetExecutorConfig,
    KubernetesExecutorConfig,
    RemediateSettings,
    WebhookExecutorConfig,
)

__all__ = [
    "DEFAULT_RISK", "DESCRIPTIONS", "PARAMS", "ActionError", "ActionKind", "ActionSpec",
    "CommandExecutor", "CommandExecutorConfig", "ExecutionResult", "Executor",
    "ExecutorConfig", "ExecutorError", "Executors", "FleetExecutor", "FleetExecutorConfig",
    "KubernetesExecutor", "KubernetesExecutorConfig", "NoopExecutor", "NotifyOnlyParams",
    "ParamSpec", "RemediateSettings", "RestartParams", "Risk", "RollbackParams", "Route",
    "RunbookParams", "RunbookSpec", "ScaleParams", "Step", "ToggleFlagParams",
    "WebhookExecutor", "WebhookExecutorConfig", "service_of", "validate_params",
]
