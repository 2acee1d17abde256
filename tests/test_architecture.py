"""The package graph is one-way (the import-linter contracts in pyproject.toml, explained in
docs/architecture.md), and the signal store stays light to import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import oasis

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
FACES = {"oasis.api", "oasis.web", "oasis.cli", "oasis.slack"}


def _contracts() -> dict[str, dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {c["id"]: c for c in config["contracts"]}


def _lint(cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_import_contracts_hold():
    run = _lint(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_the_contracts_name_every_face_and_every_package():
    contracts = _contracts()
    assert set(contracts["faces"]["forbidden_modules"]) == FACES
    assert not FACES & set(contracts["faces"]["source_modules"])
    layers = contracts["layers"]
    assert layers["containers"] == ["oasis"] and layers["exhaustive"] is True
    named = {f"oasis.{name.strip()}" for layer in layers["layers"] for name in layer.split("|")}
    top_level = {f"oasis.{p.stem}" for p in Path(oasis.__file__).parent.iterdir()
                 if (p.is_dir() and (p / "__init__.py").exists())
                 or (p.suffix == ".py" and p.stem != "__init__")}
    assert top_level == named
    # Every package below the faces is barred from importing them.
    below = {m for m in named if m not in FACES | {"oasis.__main__", "oasis.runtime",
                                                   "oasis.config"}}
    assert below == set(contracts["faces"]["source_modules"])
    # At most the one listed, temporary exception (see pyproject.toml).
    assert len(layers.get("ignore_imports", [])) <= 1


def test_a_domain_package_importing_a_face_breaks_the_contracts(tmp_path: Path):
    """The check is live: in a copy of the package, one import from detection into the
    Slack face fails both the layers and the faces contracts."""
    shutil.copytree(Path(oasis.__file__).parent, tmp_path / "oasis",
                    ignore=shutil.ignore_patterns("__pycache__", "static", "templates"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "oasis" / "detect" / "probe_face.py").write_text(
        "from oasis.slack import SlackNotifier  # noqa: F401\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    run = _lint(tmp_path, env)
    assert run.returncode != 0, run.stdout
    assert "oasis.detect.probe_face -> oasis.slack" in run.stdout
    assert "No flow or domain package imports a face BROKEN" in run.stdout
    assert "BROKEN" in run.stdout.split("No flow")[0]  # the layers contract too


def _loaded_by(module: str) -> set[str]:
    """The top-level packages importing `module` loads, in a fresh interpreter."""
    code = (f"import sys, {module}\n"
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    return set(run.stdout.split())


def test_importing_the_store_loads_no_web_slack_or_cli_framework():
    loaded = _loaded_by("oasis.store")
    assert "oasis" in loaded
    assert not loaded & {"fastapi", "starlette", "slack_sdk", "typer", "uvicorn"}, loaded


def test_importing_the_settings_loads_no_web_or_slack_framework():
    """`oasis.config` imports every package's settings section (Slack's and auth's among
    them), never their FastAPI routers or the Slack SDK."""
    loaded = _loaded_by("oasis.config")
    assert "oasis" in loaded
    assert not loaded & {"fastapi", "starlette", "slack_sdk", "typer", "uvicorn"}, loaded
