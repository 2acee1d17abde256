"""One error hierarchy: each domain error knows its HTTP status and CLI exit code, and the
API and the CLI translate them in one place each."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from oasis.api.errors import install_error_handlers
from oasis.signals.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    OasisError,
    TooManyRequests,
    Unauthorized,
    Unavailable,
)


def test_each_kind_carries_its_status_and_exit_code() -> None:
    kinds = [InvalidInput, Unauthorized, Forbidden, NotFound, Conflict, TooManyRequests,
             Unavailable]
    assert [(k.status, k.exit_code) for k in kinds] == [
        (422, 2), (401, 1), (403, 1), (404, 1), (409, 1), (429, 1), (503, 1)]
    assert OasisError("x", status=410).status == 410 and OasisError("x").status == 500


def test_domain_errors_are_the_kind_they_are_and_keep_their_old_base() -> None:
    from oasis.approve import LinkError
    from oasis.config import ConfigError
    from oasis.incidents import ConflictError, IllegalTransition, NotFoundError
    from oasis.ingest.pipeline import BodyError
    from oasis.knowledge import QuestionError
    from oasis.respond import DecisionError
    from oasis.signals import RecordError
    from oasis.store.duckdb_store import StoreLockedError
    from oasis.triage.flow import QueueFull
    from oasis.triage.model import EventFormatError
    from oasis.triage.tickets import IllegalTicketTransition, TicketNotFound

    missing = NotFoundError("inc-1")
    assert isinstance(missing, NotFound) and isinstance(missing, KeyError)
    assert str(missing) == "no incident 'inc-1'" and missing.incident_id == "inc-1"
    assert str(TicketNotFound("t-1")) == "no ticket 't-1'"
    assert isinstance(TicketNotFound("t-1"), KeyError)
    for error, kind, base in [
            (IllegalTransition("x"), Conflict, ValueError), (ConflictError("x"), Conflict,
                                                             RuntimeError),
            (IllegalTicketTransition("x"), Conflict, ValueError),
            (QuestionError("x"), InvalidInput, ValueError),
            (EventFormatError("x"), InvalidInput, ValueError),
            (RecordError("x"), InvalidInput, ValueError),
            (ConfigError("x"), InvalidInput, ValueError),
            (QueueFull("x"), TooManyRequests, RuntimeError),
            (StoreLockedError("x"), Unavailable, RuntimeError)]:
        assert isinstance(error, kind) and isinstance(error, base), error
    assert BodyError("x").status == 400
    assert DecisionError("x").status == 409 and DecisionError("x", 404).status == 404
    assert LinkError("expired", 410).status == 410 and isinstance(LinkError("x", 400),
                                                                  ValueError)


def test_the_api_answers_an_unhandled_oasis_error_with_its_status() -> None:
    from oasis.incidents import NotFoundError
    from oasis.respond import DecisionError

    app = FastAPI()
    install_error_handlers(app)

    @app.get("/missing")
    def missing() -> None:
        raise NotFoundError("inc-1")

    @app.get("/refused")
    def refused() -> None:
        raise DecisionError("no action 'a' on inc-1", 404)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("not ours")

    client = TestClient(app, raise_server_exceptions=False)
    answer = client.get("/missing")
    assert (answer.status_code, answer.json()) == (404, {"detail": "no incident 'inc-1'"})
    assert client.get("/refused").status_code == 404
    assert client.get("/boom").status_code == 500


@pytest.mark.parametrize(("error", "code"), [(InvalidInput("bad input"), 2),
                                              (Conflict("not now"), 1)])
def test_the_cli_prints_an_unhandled_oasis_error_and_exits_with_its_code(
        error: OasisError, code: int) -> None:
    import typer

    from oasis.cli.app import _Commands

    app = typer.Typer(cls=_Commands)

    @app.callback()
    def root() -> None:
        """Test root."""

    @app.command()
    def fails() -> None:
        raise error

    result = CliRunner().invoke(app, ["fails"])
    assert result.exit_code == code and f"error: {error.message}" in result.output


def test_a_question_over_the_limit_is_a_422_on_act_as_on_consult(tmp_path) -> None:
    from oasis.api import create_app
    from oasis.config import Settings

    settings = Settings(data_dir=tmp_path / "data", notify={"email_enabled": False})
    question = ("why does checkout fail " * 435)[:9_995] + "now?"
    assert len(question) == 9_999
    with TestClient(create_app(settings, monitor=False)) as client:
        act = client.post("/api/v1/act", json={"text": question, "reporter": "alice"})
        consult = client.post("/api/v1/consult", json={"question": question})
    assert act.status_code == 422 and "the limit is" in act.json()["detail"]
    assert consult.status_code == 422
