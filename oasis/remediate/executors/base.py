"""What every executor promises, and the record of one execution.

An executor checks before it acts (the pre-condition), acts, then reads back what it
changed (the post-condition), and records each as a `Step`. Operational failures (a
service that is not there, a server that is down, a command that exits 1) come back as
`ok=False` with the failing step's detail; only a misconfigured executor raises.

Executors are idempotent by action id: OASIS persists the intent before acting and
re-issues the same id after a crash, so a second call must not change anything again. It
answers with the first outcome and `repeated=True`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from oasis.remediate.catalog import ActionKind, ActionSpec
from oasis.signals.model import utc_iso
from oasis.signals.times import parse_aware


class ExecutorError(RuntimeError):
    """The executor is misconfigured or asked for something it does not do."""


@dataclass(frozen=True, slots=True)
class Step:
    """One thing an executor checked or did, and how it went."""

    at: datetime
    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"at": utc_iso(self.at), "name": self.name, "ok": self.ok, "detail": self.detail}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Step:
        at = parse_aware(data["at"])
        return cls(at, data["name"], bool(data["ok"]), data["detail"])


@dataclass(slots=True)
class ExecutionResult:
    """The outcome of executing one action: its steps, and what the target reported."""

    ok: bool
    steps: list[Step]
    output: dict[str, Any] = field(default_factory=dict)
    repeated: bool = False

    @property
    def detail(self) -> str:
        """The failing step's detail, or the last step's when all went well."""
        failed = [s for s in self.steps if not s.ok]
        last = failed[0] if failed else (self.steps[-1] if self.steps else None)
        return last.detail if last else ""

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "repeated": self.repeated, "detail": self.detail,
                "steps": [s.to_dict() for s in self.steps], "output": self.output}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExecutionResult:
        return cls(bool(data["ok"]), [Step.from_dict(s) for s in data["steps"]],
                   dict(data.get("output") or {}), bool(data.get("repeated", False)))


@runtime_checkable
class Executor(Protocol):
    """Carries out actions of some kinds on one platform."""

    name: str
    kinds: frozenset[ActionKind]

    def execute(self, action: ActionSpec, *, dry_run: bool = False) -> ExecutionResult:
        """Check, act (unless `dry_run`), read back; never twice for one action id."""
        ...


class StepLog:
    """The steps of one execution, each stamped as it happens."""

    def __init__(self) -> None:
        self.steps: list[Step] = []

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.steps.append(Step(datetime.now(UTC), name, ok, detail))
        return ok

    def failed(self, name: str, detail: str,
               output: dict[str, Any] | None = None) -> ExecutionResult:
        self.add(name, False, detail)
        return ExecutionResult(False, list(self.steps), output or {})

    def finish(self, output: dict[str, Any] | None = None, *,
               repeated: bool = False) -> ExecutionResult:
        return ExecutionResult(all(s.ok for s in self.steps), list(self.steps), output or {},
                               repeated)


def require_kind(executor: Executor, action: ActionSpec) -> None:
    """Routing sent an action this executor does not do: a configuration bug, so raise."""
    if action.kind not in executor.kinds:
        raise ExecutorError(
            f"executor {executor.name!r} does not run {action.kind}; it runs "
            f"{', '.join(sorted(executor.kinds)) or 'nothing'}")


def check_kinds(name: str, kinds: frozenset[ActionKind],
                supported: frozenset[ActionKind]) -> frozenset[ActionKind]:
    """`kinds`, if this type of executor can run them all."""
    unsupported = kinds - supported
    if unsupported:
        raise ExecutorError(
            f"executor {name!r} cannot run {', '.join(sorted(unsupported))}; this type runs "
            f"{', '.join(sorted(supported))}")
    return kinds
