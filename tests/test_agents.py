"""Investigations without a model: the checks that reject an unbelievable answer, the
deterministic analyst that fills the same structure, and the eval suite CI runs."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from oasis.analyze.analyst import DeterministicAnalyst
from oasis.analyze.investigation import Investigation, ProposedAction, RootCause, problems
from oasis.cli import app
from oasis.incidents import Incident, Severity, Status
from oasis.remediate.catalog import ActionKind, Risk

T = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
EVIDENCE = [
    {"service": "checkout", "detector": "error_rate", "summary": "errors 40/min, 1 expected",
     "role": "symptom"},
    {"service": "gateway", "detector": "error_type", "summary": "UpstreamServiceError",
     "role": "symptom"},
    {"service": "checkout", "kind": "log_samples", "lines": [
        {"timestamp": "2026-11-23T08:58:00Z", "level": "ERROR", "message": "NPE in promo"}]},
]


def incident() -> Incident:
    return Incident("inc-1", Status.ANALYSIS_COMPLETE, Severity.HIGH, "checkout errors",
                    ["checkout", "gateway"], "checkout", T, T, T, summary="errors since 8:55",
                    suspected_change={"service": "checkout", "version": "2.0",
                                      "previous_version": "1.9", "minutes_before_onset": 3},
                    root_cause_ranking=[{"service": "checkout", "score": 3.0},
                                        {"service": "gateway", "score": 1.0}],
                    evidence=EVIDENCE)


def answer(service: str = "checkout", cited=("E1",), kind=ActionKind.ROLLBACK,
           params=None) -> Investigation:
    return Investigation(
        summary="s", impact="i",
        root_cause=RootCause(service=service, confidence=0.8, explanation="x",
                             evidence=list(cited)),
        proposed_actions=[ProposedAction(kind=kind, params=params or {
            "service": "checkout", "to_version": "1.9"}, risk=Risk.MEDIUM, reason="r")])


def check(inv: Investigation, runnable=frozenset(ActionKind)) -> list[str]:
    return problems(inv, known_services={"checkout", "gateway"}, evidence=EVIDENCE,
                    incident_id="inc-1", catalog_for=lambda _s: runnable)


def test_a_grounded_answer_passes() -> None:
    assert check(answer()) == []


def test_unknown_service_missing_or_invented_evidence_are_rejected() -> None:
    assert "not a known service" in check(answer(service="payments"))[0]
    assert "cites no evidence" in check(answer(cited=()))[0]
    assert "does not exist" in check(answer(cited=("E9",)))[0]


def test_actions_outside_the_catalog_or_this_setup_are_rejected() -> None:
    bad = check(answer(kind=ActionKind.SCALE, params={"service": "checkout", "replicas": 0}))
    assert bad and "invalid" in bad[0]
    shell = check(answer(kind=ActionKind.RESTART, params={"service": "checkout; rm -rf /"}))
    assert shell and "invalid" in shell[0]
    assert "unknown service" in check(answer(params={"service": "db", "to_version": "1"}))[0]
    assert "no executor" in check(answer(), runnable=frozenset({ActionKind.RESTART}))[0]


def test_deterministic_analyst_fills_the_same_checked_structure() -> None:
    outcome = DeterministicAnalyst(lambda _s: set(ActionKind)).investigate(incident())
    found = outcome.investigation
    assert outcome.source == "analyst:deterministic"
    assert check(found) == []
    assert found.root_cause.service == "checkout" and found.root_cause.evidence == ["E1"]
    assert found.proposed_actions[0].kind is ActionKind.ROLLBACK
    assert found.proposed_actions[0].params == {"service": "checkout", "to_version": "1.9"}
    assert "gateway" in found.impact and found.root_cause.confidence > 0.5


@pytest.mark.slow
def test_eval_agents_scores_a_case_with_the_deterministic_analyst(tmp_path: Path) -> None:
    cases = tmp_path / "cases"
    cases.mkdir()
    shutil.copy(Path("bench/agent_cases/bad_deploy.yaml"), cases)
    out = tmp_path / "result.json"
    result = CliRunner().invoke(app, ["eval", "agents", "--cases", str(cases), "--out",
                                      str(out)], env={"OASIS_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 0, result.output
    scored = json.loads(out.read_text())
    assert scored["source"] == ["analyst:deterministic"]
    assert scored["facts_found"] == 1.0 and scored["root_cause_right"] == 1.0
    assert scored["runs"][0]["action_right"] is True


def test_eval_agents_refuses_a_bad_case_file(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("scenario: bad_deploy\nfacts: nope\n")
    result = CliRunner().invoke(app, ["eval", "agents", "--cases", str(tmp_path)],
                                env={"OASIS_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 2 and "bad.yaml" in result.output
