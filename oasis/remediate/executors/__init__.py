"""Executors: carry out approved actions on one platform each, once per action id."""

from oasis.remediate.executors.base import (
    ExecutionResult,
    Executor,
    ExecutorError,
    Step,
    StepLog,
)
from oasis.remediate.executors.command import CommandExecutor
from oasis.remediate.executors.fleet import FleetExecutor
from oasis.remediate.executors.kubernetes import KubernetesExecutor
from oasis.remediate.executors.noop import NoopExecutor
from oasis.remediate.executors.webhook import WebhookExecutor

__all__ = ["CommandExecutor", "ExecutionResult", "Executor", "ExecutorError", "FleetExecutor",
           "KubernetesExecutor", "NoopExecutor", "Step", "StepLog", "WebhookExecutor"]
