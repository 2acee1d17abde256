"""Schema migrations: the embedded database upgrades itself, a shared PostgreSQL one is
upgraded by `oasis db upgrade`, and a replica refuses a schema older or newer than its code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from oasis import schema
from oasis.cli import app
from oasis.config import Settings
from oasis.runtime.services import open_services
from oasis.state import state_engine
from tests.helpers import seed_bad_deploy_incident


def _revision(url: str) -> str | None:
    engine = state_engine(url)
    try:
        return schema.current(engine)
    finally:
        engine.dispose()


def test_the_embedded_database_needs_no_manual_step(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", knowledge={"embedder": "none"})
    for _ in range(2):  # a second start finds it current
        open_services(settings, monitor=False).close()
    assert _revision(settings.incident_db_url) == schema.head()


def test_a_database_from_before_migrations_is_stamped_and_kept(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", knowledge={"embedder": "none"})
    seed_bad_deploy_incident(settings, "inc-old")  # tables made on start, no revision
    assert _revision(settings.incident_db_url) is None
    services = open_services(settings, monitor=False)
    try:
        assert services.incidents.get("inc-old").title == "errors"
    finally:
        services.close()
    assert _revision(settings.incident_db_url) == schema.head()


def test_head_names_the_newest_revision() -> None:
    # HEAD lets a start skip Alembic; a revision added without moving it would be missed.
    assert schema.head() == schema.HEAD


def test_a_server_start_on_a_current_database_loads_no_tool_it_does_not_use(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    settings = Settings(data_dir=data, knowledge={"embedder": "none"})
    open_services(settings, monitor=False).close()  # made and upgraded to HEAD
    probe = (
        "import sys\n"
        "import oasis.cli, oasis.cli.serve\n"
        "from oasis.api import create_app\n"
        "from oasis.config import Settings\n"
        "from oasis.runtime.services import check_schema\n"
        f"check_schema(Settings(data_dir={str(data)!r}).incident_db_url)\n"
        "unused = ('alembic', 'mako', 'aiosmtpd', 'cryptography')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in unused))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OASIS_CONFIG"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, env=env).stdout
    assert out.strip() == "[]"


@pytest.mark.postgres
def test_a_replica_refuses_a_schema_that_is_not_its_own(postgres_url: str, tmp_path: Path) -> None:
    env = {
        "OASIS_STATE_URL": postgres_url,
        "OASIS_DATA_DIR": str(tmp_path / "data"),
        "OASIS_STORE__BACKEND": "postgres",
        "OASIS_KNOWLEDGE__EMBEDDER": "none",
    }
    runner = CliRunner()
    refused = runner.invoke(app, ["serve", "--port", "9"], env=env)
    said = " ".join(refused.output.split())  # as printed, unwrapped
    assert refused.exit_code == 2
    assert "has no OASIS schema yet" in said and "run `oasis db upgrade`" in said

    done = runner.invoke(app, ["db", "upgrade"], env=env)
    assert done.exit_code == 0, done.output
    assert f"to revision {schema.head()}" in done.output
    assert "already at revision" in runner.invoke(app, ["db", "upgrade"], env=env).output
    assert runner.invoke(app, ["db", "status"], env=env).exit_code == 0

    engine = sa.create_engine(postgres_url)
    for stamped, says in (("0001", "older than this OASIS"), ("ffff0042", "newer than this OASIS")):
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": stamped})
        with pytest.raises(schema.SchemaMismatch, match=says):
            schema.check(engine)
        assert runner.invoke(app, ["db", "status"], env=env).exit_code == 1
    engine.dispose()


@pytest.mark.postgres
def test_a_triage_queue_made_on_start_by_the_previous_version_is_kept(postgres_url: str) -> None:
    from alembic import command

    from oasis.triage.queue import metadata as queue_tables

    engine = state_engine(postgres_url)
    try:
        with engine.begin() as conn:
            command.upgrade(schema._config(conn), "0002")
        queue_tables.create_all(engine)  # what the previous version's queue did on start
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO triage_queue (key, event, queued_at, attempts) "
                                 "VALUES ('k', '{}', now(), 0)"))
        assert schema.upgrade(engine) == ("0002", schema.head())
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT key FROM triage_queue")).scalars().all() == ["k"]
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_migrations_make_the_tables_the_code_makes(postgres_url: str) -> None:
    """Revisions and the code's table definitions do not drift apart."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = state_engine(postgres_url)
    schema.upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), _code_tables())
    # Only alembic's own bookkeeping table is not the code's.
    assert [
        d for d in diff if not (d[0] == "remove_table" and d[1].name == "alembic_version")
    ] == []
    engine.dispose()


def _code_tables() -> sa.MetaData:
    """Every table the code defines, in one MetaData (each owner keeps its own). Found by
    importing every module, so a table added anywhere cannot be left out of the revisions."""
    import importlib
    import pkgutil

    import oasis

    combined, seen = sa.MetaData(), set()
    for module_info in pkgutil.walk_packages(oasis.__path__, "oasis."):
        if module_info.name.startswith(("oasis.schema.versions", "oasis.schema.env")) or \
                module_info.name.endswith("__main__"):
            continue  # revisions and alembic's entry point, not owners; run on import
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if isinstance(value, sa.MetaData) and id(value) not in seen:
                seen.add(id(value))
                for table in value.tables.values():
                    table.to_metadata(combined)
    assert "triage_queue" in combined.tables and "incidents" in combined.tables
    return combined


def test_readyz_says_whether_a_replica_can_serve(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from oasis.api import create_app

    settings = Settings(data_dir=tmp_path / "data", knowledge={"embedder": "none"})
    with TestClient(create_app(settings, monitor=False)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["problems"] == []
        engine = state_engine(settings.incident_db_url)
        with engine.begin() as conn:  # as if a newer release had migrated the database
            conn.execute(sa.text("UPDATE alembic_version SET version_num = 'ffff0042'"))
        engine.dispose()
        drained = client.get("/readyz")
        assert drained.status_code == 503
        assert "newer than this OASIS" in drained.json()["problems"][0]
