"""Executor that runs declared runbooks as local commands, exactly once per action id.

Crash safety comes from two files per action in `state_dir`: `<id>.started.json`, written
(and synced) before the command starts, and `<id>.result.json`, written atomically when it
ends. A repeat that finds a result answers with it. A repeat that finds only `started`
means OASIS died while the command ran: whether it finished is unknown, so it is re-run
only when its runbook is declared idempotent; otherwise a person has to look.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import orjson

from oasis.remediate.catalog import ActionError, ActionKind, ActionSpec, RunbookParams
from oasis.remediate.executors.base import (
    ExecutionResult,
    ExecutorError,
    StepLog,
    check_kinds,
    require_kind,
)
from oasis.remediate.runbooks import RunbookSpec, Value
from oasis.signals.model import utc_iso

OUTPUT_LIMIT = 10_000  # bytes of stdout and of stderr kept per command
KILL_GRACE_SECONDS = 3.0  # between SIGTERM and SIGKILL on timeout
VERIFY_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class Completed:
    """How one command ended."""

    exit_code: int | None
    timed_out: bool
    stdout: str
    stderr: str
    seconds: float
    error: str | None = None  # it could not be started at all

    def to_dict(self) -> dict[str, Any]:
        return {"exit_code": self.exit_code, "timed_out": self.timed_out,
                "stdout": self.stdout, "stderr": self.stderr,
                "seconds": round(self.seconds, 3), "error": self.error}

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def describe(self) -> str:
        if self.error:
            return f"could not start: {self.error}"
        if self.timed_out:
            return f"timed out after {self.seconds:.1f} s and was killed"
        last = self.stderr.strip().splitlines()[-1:] or self.stdout.strip().splitlines()[-1:]
        return f"exit {self.exit_code} after {self.seconds:.1f} s" + (
            f": {last[0][:300]}" if last and self.exit_code != 0 else "")


class CommandExecutor:
    """Runs the runbooks declared in the configuration, and nothing else."""

    def __init__(self, runbooks: Mapping[str, RunbookSpec], state_dir: Path, *,
                 name: str = "command", kinds: Iterable[ActionKind] | None = None) -> None:
        self.name = name
        self.runbooks = dict(runbooks)
        handled = frozenset(k for r in self.runbooks.values() for k in r.handles)
        wanted = frozenset(ActionKind(k) for k in kinds) if kinds is not None else \
            handled | {ActionKind.RUN_RUNBOOK}
        self.kinds = check_kinds(name, wanted, handled | {ActionKind.RUN_RUNBOOK})
        self.state_dir = Path(state_dir)
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExecutorError(f"executor {name!r}: cannot create state dir "
                                f"{self.state_dir}: {exc.strerror}") from None

    def execute(self, action: ActionSpec, *, dry_run: bool = False) -> ExecutionResult:
        require_kind(self, action)
        log = StepLog()
        result_file, started_file = self._paths(action.id)
        try:
            done, started = _read_json(result_file), _read_json(started_file)
        except ValueError as exc:
            return log.failed("check", f"state of action {action.id} is unreadable ({exc}); "
                                       "check by hand")
        if done is not None:
            earlier = done.get("action") or {}
            if (earlier.get("kind"), earlier.get("params")) != (action.kind, action.params):
                return log.failed("check", f"action id {action.id} was already used for "
                                           f"{earlier.get('kind')} {earlier.get('params')}")
            first = ExecutionResult.from_dict(done["result"])
            first.repeated = True
            return first

        runbook_name, runbook, args = self.resolve(action)
        bound = runbook.bind(args, runbook_name)
        argv = runbook.render(runbook.argv, bound)
        env = self._env(runbook, action, dry_run)
        if started is not None:
            if not runbook.idempotent:
                return log.failed("check", (
                    f"interrupted: action {action.id} started at {started.get('at')} but "
                    f"OASIS stopped before it finished; not re-run because runbook "
                    f"{runbook_name} is not declared idempotent; check by hand"),
                    {"runbook": runbook_name, "argv": argv})
            log.add("check", True, f"interrupted run from {started.get('at')} is re-run: "
                                   f"runbook {runbook_name} is declared idempotent")
        if shutil.which(argv[0], path=env.get("PATH")) is None:
            return log.failed("check", f"runbook {runbook_name}: program {argv[0]!r} not "
                                       "found or not executable")
        log.add("check", True, f"runbook {runbook_name}: {shlex.join(argv)}")
        output: dict[str, Any] = {"runbook": runbook_name, "argv": argv}
        if dry_run:
            log.add("dry-run", True, f"would run {shlex.join(argv)} (timeout "
                                     f"{runbook.timeout_seconds:g} s); nothing run (dry run)")
            return log.finish({**output, "dry_run": True})

        try:
            claimed = started is not None or self._claim(started_file, action, runbook_name,
                                                         argv)
        except OSError as exc:
            return log.failed("check", f"cannot record the start in {self.state_dir}, so not "
                                       f"running: {exc}")
        if not claimed:
            return log.failed("check", f"action {action.id} was started at the same moment "
                                       "by another caller; not running it twice")
        run = run_command(argv, env, runbook.timeout_seconds)
        output.update(run.to_dict())
        log.add("change", run.ok, run.describe())
        if run.ok:
            self._verify(runbook, bound, env, log, output)
        result = log.finish(output)
        try:
            _write_json(result_file, {"action": action.model_dump(mode="json"),
                                      "result": result.to_dict()})
        except OSError as exc:
            log.add("record", False, f"could not record the result ({exc}); a repeat will "
                                     "find the run interrupted")
            return log.finish(output)
        return result

    def resolve(self, action: ActionSpec) -> tuple[str, RunbookSpec, dict[str, Any]]:
        """The runbook that implements `action`, and its arguments (still unchecked)."""
        if action.kind == ActionKind.RUN_RUNBOOK:
            params = action.typed_params()
            assert isinstance(params, RunbookParams)
            runbook = self.runbooks.get(params.runbook)
            if runbook is None or ActionKind.RUN_RUNBOOK not in runbook.handles:
                offered = [n for n, r in self.runbooks.items()
                           if ActionKind.RUN_RUNBOOK in r.handles]
                raise ActionError(f"unknown runbook {params.runbook}; declared: "
                                  f"{', '.join(offered) or 'none'}")
            return params.runbook, runbook, dict(params.args)
        for name, runbook in self.runbooks.items():
            if action.kind in runbook.handles:
                return name, runbook, action.typed_params().model_dump(exclude_none=True)
        raise ActionError(f"no runbook handles {action.kind}")

    # -- helpers ---------------------------------------------------------------------------
    def _paths(self, action_id: str) -> tuple[Path, Path]:
        return (self.state_dir / f"{action_id}.result.json",
                self.state_dir / f"{action_id}.started.json")

    def _env(self, runbook: RunbookSpec, action: ActionSpec, dry_run: bool) -> dict[str, str]:
        # OASIS's own OASIS_* variables may hold its secrets; a runbook gets its own env.
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("OASIS_")}
        return {**inherited, **runbook.env, "OASIS_ACTION_ID": action.id,
                "OASIS_INCIDENT_ID": action.incident_id,
                "OASIS_DRY_RUN": "1" if dry_run else "0"}

    def _claim(self, path: Path, action: ActionSpec, runbook: str, argv: list[str]) -> bool:
        """Write `started` before acting; False if another caller wrote it first."""
        record = {"action": action.model_dump(mode="json"), "runbook": runbook,
                  "argv": argv, "at": utc_iso(datetime.now(UTC)), "pid": os.getpid(),
                  "host": socket.gethostname()}
        tmp = _write_tmp(path, record)
        try:
            os.link(tmp, path)  # atomic and exclusive: fails if the file exists
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
            _sync_dir(path.parent)

    def _verify(self, runbook: RunbookSpec, bound: Mapping[str, Value], env: dict[str, str],
                log: StepLog, output: dict[str, Any]) -> None:
        if not runbook.verify:
            log.add("verify", True, "exit status 0; the runbook declares no verify command")
            return
        argv = runbook.render(runbook.verify, bound)
        check = run_command(argv, env, min(VERIFY_TIMEOUT_SECONDS, runbook.timeout_seconds))
        output["verify"] = {"argv": argv, **check.to_dict()}
        log.add("verify", check.ok, f"{shlex.join(argv)}: {check.describe()}")


def run_command(argv: list[str], env: Mapping[str, str], timeout: float) -> Completed:
    """Run `argv` without a shell; kill its whole process group when it overstays."""
    start = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    env=dict(env), start_new_session=True)
        except (OSError, ValueError) as exc:
            return Completed(None, False, "", "", time.monotonic() - start, str(exc))
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=KILL_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                _kill_group(proc, signal.SIGKILL)
                proc.wait()
        return Completed(proc.returncode, timed_out, _capped(out), _capped(err),
                         time.monotonic() - start)


def _kill_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended on its own meanwhile
        os.killpg(proc.pid, sig)


def _capped(f: IO[bytes], limit: int = OUTPUT_LIMIT) -> str:
    """The output, or its head and tail when longer than `limit` bytes."""
    size = f.seek(0, os.SEEK_END)
    f.seek(0)
    if size <= limit:
        return f.read().decode(errors="replace")
    head = f.read(limit // 2).decode(errors="replace")
    f.seek(size - limit // 2)
    tail = f.read().decode(errors="replace")
    return f"{head}\n[... {size - limit} bytes cut ...]\n{tail}"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a JSON object")
    return data


def _write_tmp(path: Path, data: dict[str, Any]) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    with open(tmp, "wb") as f:
        f.write(orjson.dumps(data, option=orjson.OPT_INDENT_2))
        f.flush()
        os.fsync(f.fileno())
    return tmp


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically: readers see the old file or the whole new one, never half."""
    os.replace(_write_tmp(path, data), path)
    _sync_dir(path.parent)


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
