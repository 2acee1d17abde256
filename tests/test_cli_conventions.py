"""What every `oasis` command does the same way: `--version`, `--json` on list and show
commands, validated filters, passwords from stdin for scripts, read-only commands that
leave a fresh data dir alone, and a progress bar on long commands at a terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import oasis
from oasis.cli import app

ROOT = Path(__file__).resolve().parents[1]
KB_DOCS = ROOT / "tests" / "kb_docs"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [k for k in os.environ if k.startswith("OASIS_")]:
        monkeypatch.delenv(name)
    where = tmp_path / "data"
    monkeypatch.setenv("OASIS_DATA_DIR", str(where))
    monkeypatch.setenv("OASIS_KNOWLEDGE__EMBEDDER", "none")
    monkeypatch.setenv(
        "OASIS_TRIAGE__ORGANISATION_FILE", str(ROOT / "examples" / "organisation.yaml")
    )
    return where


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(app, list(args), input=stdin)


def test_version_is_printed() -> None:
    result = run("--version")
    assert result.exit_code == 0 and result.output.strip() == f"oasis {oasis.__version__}"


@pytest.mark.parametrize(
    "args",
    [
        ["incidents", "list"],
        ["events", "list"],
        ["tickets", "list"],
        ["audit", "list"],
        ["users", "list"],
        ["kb", "list"],
    ],
)
def test_read_only_commands_leave_a_fresh_data_dir_alone(data_dir: Path, args: list[str]) -> None:
    said = run(*args)
    assert said.exit_code == 0, said.output
    if args[0] != "kb":
        assert f"no data yet at {data_dir / 'state.db'}" in " ".join(said.output.split())
    as_json = run(*args, "--json")
    assert as_json.exit_code == 0 and json.loads(as_json.output) in (
        [],
        {"users": [], "api_keys": []},
    )
    assert not data_dir.exists()


def test_show_commands_on_a_fresh_data_dir_say_there_is_no_data(data_dir: Path) -> None:
    for args in (["incidents", "show", "inc-1"], ["events", "show", "k"], ["tickets", "show", "t"]):
        said = run(*args)
        assert said.exit_code == 1 and "no data yet at" in said.output, said.output
    verify = run("audit", "verify")
    assert verify.exit_code == 0 and "nothing to verify yet: no data yet at" in verify.output
    assert not data_dir.exists()


def test_filters_name_the_valid_values(data_dir: Path) -> None:
    bogus = run("events", "list", "--verdict", "bogus")
    assert bogus.exit_code == 2
    assert all(v in bogus.output for v in ("accept", "discharge", "reject", "ask"))
    status = run("tickets", "list", "--status", "teleported")
    assert status.exit_code == 2
    assert "New, Acknowledged, In progress" in " ".join(status.output.split())
    assert run("events", "list", "--verdict", "ASK").exit_code == 0  # any case


def test_users_take_a_password_from_stdin_and_list_as_json(data_dir: Path) -> None:
    added = run(
        "users",
        "add",
        "slack-U0123ABCD",
        "--role",
        "approver",
        "--password-stdin",
        stdin="a long pass phrase\n",
    )
    assert added.exit_code == 0, added.output
    assert "Password" not in added.output  # nothing was asked
    changed = run(
        "users", "password", "slack-U0123ABCD", "--password-stdin", stdin="another long phrase\r\n"
    )
    assert changed.exit_code == 0, changed.output
    empty = run("users", "add", "eve", "--password-stdin", stdin="")
    assert empty.exit_code == 2 and "no password" in empty.output
    listed = json.loads(run("users", "list", "--json").output)
    assert [(u["name"], u["role"], u["disabled"]) for u in listed["users"]] == [
        ("slack-U0123ABCD", "approver", False)
    ]
    assert listed["users"][0]["created_at"].endswith("Z")

    from oasis.auth.users import UserStore
    from oasis.state import state_engine

    engine = state_engine(f"sqlite:///{data_dir / 'state.db'}")
    try:
        store = UserStore(engine)
        assert store.verify_password("slack-U0123ABCD", "another long phrase") is not None
        assert store.verify_password("slack-U0123ABCD", "a long pass phrase") is None
    finally:
        engine.dispose()


def test_simulate_reports_what_it_wrote_as_json(tmp_path: Path) -> None:
    out = tmp_path / "x.ndjson"
    result = run("simulate", "--hours", "0.2", "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    said = json.loads(result.output)
    assert said["records"] == len(out.read_text().splitlines()) > 0
    assert said["truth"]["scenario"] == "bad_deploy"


def test_kb_add_draws_a_progress_bar_at_a_terminal_and_none_when_piped(data_dir: Path) -> None:
    files = [str(KB_DOCS / "eks-upgrade.md"), str(KB_DOCS / "oncall-escalation.txt")]
    command = [sys.executable, "-m", "oasis", "kb", "add", *files]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm", "COLUMNS": "120"}
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            command, env=env, stdout=subprocess.PIPE, stderr=follower, timeout=120, check=False
        )
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal is closed and read to its end
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(leader)
    assert proc.returncode == 0, proc.stdout
    assert b"kb add" in drawn and b"/2" in drawn
    assert b"kb add" not in proc.stdout  # the result stays clean
    piped = subprocess.run(command, env=env, capture_output=True, timeout=120, check=False)
    assert piped.returncode == 0 and b"kb add" not in piped.stderr
