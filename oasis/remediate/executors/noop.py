"""The executor of `notify_only`: nothing runs; telling people is the whole action."""

from __future__ import annotations

from oasis.remediate.catalog import ActionKind, ActionSpec, NotifyOnlyParams
from oasis.remediate.executors.base import ExecutionResult, StepLog, require_kind


class NoopExecutor:
    """Built in, always there: `notify_only` needs no configuration."""

    def __init__(self, name: str = "notify") -> None:
        self.name = name
        self.kinds = frozenset({ActionKind.NOTIFY_ONLY})

    def execute(self, action: ActionSpec, *, dry_run: bool = False) -> ExecutionResult:
        require_kind(self, action)
        params = action.typed_params()
        assert isinstance(params, NotifyOnlyParams)
        log = StepLog()
        log.add("change", True, "nothing to run; people were notified")
        return log.finish({"note": params.note} if params.note else {})
