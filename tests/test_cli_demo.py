"""`oasis demo`: service plus live simulator, on a throw-away data dir."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from oasis.cli import app
from oasis.store import DuckDBSignalStore
from tests.servers import free_port

runner = CliRunner()


@pytest.mark.slow
def test_demo_serves_streams_and_prints_where_to_look(tmp_path) -> None:
    port, control, smtp = free_port(), free_port(), free_port()
    stale = tmp_path / "demo" / "leftover.txt"
    stale.parent.mkdir(parents=True)
    stale.write_text("from an earlier demo")
    result = runner.invoke(app, ["demo", "--duration", "8", "--speed", "600", "--port", str(port),
                                 "--control-port", str(control), "--smtp-port", str(smtp)],
                           env={"OASIS_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    # The bad deploy starts ten simulated minutes in and shows up as an incident.
    assert "incident inc-" in result.output
    assert "checkout-service: error spike" in result.output
    assert f"http://127.0.0.1:{port}/docs" in result.output
    assert f"http://127.0.0.1:{control}/fleet" in result.output
    assert not stale.exists()
    store = DuckDBSignalStore(tmp_path / "demo" / "signals.duckdb")
    assert store.count("metrics") >= 7 * 6 * 120  # two hours of history at least
    assert len(store.services()) == 7
    store.close()


def test_demo_refuses_an_unknown_scenario(tmp_path) -> None:
    result = runner.invoke(app, ["demo", "--scenario", "nope"],
                           env={"OASIS_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 2 and "unknown scenario" in result.output
