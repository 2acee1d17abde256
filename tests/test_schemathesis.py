"""No 5xx from any input: schemathesis (every phase: examples, coverage, fuzzing, stateful)
against a real server with auth on and an admin key, once on the built-in organisation
(no organisation file) over every operation and every kind of input, once with an
organisation file over the triage operations with valid input only (what an organisation
changes is how valid events are triaged; invalid ones are refused before it is read). A
fixed seed and a bounded number of examples keep it reproducible and near a minute."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from oasis.api import create_app
from oasis.auth import Role
from oasis.config import Settings
from tests.servers import serving

ROOT = Path(__file__).resolve().parent.parent
TRIAGE_PATHS = r"^/api/v1/(events|tickets|act)"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("organisation", "paths"),
    [
        (None, None),
        (ROOT / "examples" / "organisation.yaml", TRIAGE_PATHS),
    ],
    ids=["built-in-organisation", "organisation-file"],
)
def test_schemathesis_finds_no_server_error(tmp_path, organisation, paths) -> None:
    triage = {"organisation_file": organisation} if organisation else {}
    settings = Settings(
        data_dir=tmp_path / "data",
        auth={"enabled": True},
        notify={"email_enabled": False},
        triage=triage,
    )
    app = create_app(settings, monitor=False)
    with serving(app) as url:
        key = app.state.auth.users.create_api_key("schemathesis", Role.ADMIN)[1]
        command = [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{url}/openapi.json",
            "--header",
            f"Authorization: Bearer {key}",
            "--checks",
            "not_a_server_error",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            "5",
            "--seed",
            "18",
            "--workers",
            "2",
            "--generation-database",
            "none",
            "--request-timeout",
            "60",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path / "report"),
        ]
        if paths:
            command += ["--include-path-regex", paths, "--mode", "positive"]
        run = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    summary = run.stdout[-6000:]
    assert run.returncode == 0, summary
    assert " passed" in summary and "failed" not in summary.split("SUMMARY")[-1], summary
