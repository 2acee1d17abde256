"""The ops event simulator and `oasis eval triage`: deterministic streams, labels that
follow the written policy, and a scorer that runs the real parse → Acknowledge → Triage."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

import oasis.cli.triage_eval  # noqa: F401  (registers `oasis eval triage`)
from oasis.cli.app import app
from oasis.simulate.opsevents import generate_ops_events
from oasis.simulate.opsevents.labels import Facts, OrgView, label
from oasis.triage.evaluate import TriageEvaluation, evaluate_triage
from oasis.triage.org import Organisation, load_organisation
from oasis.triage.parse import parse_event
from oasis.triage.tickets import TicketStore

ORG_FILE = Path(__file__).resolve().parents[1] / "examples" / "organisation.yaml"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
PROD, DEV = "111122223333", "555566667777"


@pytest.fixture(scope="module")
def org() -> Organisation:
    return load_organisation(ORG_FILE)


@pytest.fixture(scope="module")
def stream(org: Organisation):
    return generate_ops_events(org, count=400, seed=11, now=NOW)


def _first(stream, kind: str, **where):
    for item in stream:
        if item.kind == kind and item.copy == "first" and all(
                getattr(item.expected, k) == v for k, v in where.items()):
            return item
    raise AssertionError(f"no {kind} event with {where} in the stream")


# -- the generator ---------------------------------------------------------------------------
def test_same_seed_same_stream_other_seed_other_stream(org: Organisation) -> None:
    one = [e.to_dict() for e in generate_ops_events(org, count=80, seed=5, now=NOW)]
    again = [e.to_dict() for e in generate_ops_events(org, count=80, seed=5, now=NOW)]
    other = [e.to_dict() for e in generate_ops_events(org, count=80, seed=6, now=NOW)]
    assert json.dumps(one, sort_keys=True) == json.dumps(again, sort_keys=True)
    assert [e["key"] for e in one] != [e["key"] for e in other]
    assert len(one) == 80


def test_stream_arrives_in_order_before_now_and_every_payload_parses(stream) -> None:
    times = [item.received_at for item in stream]
    assert times == sorted(times) and times[-1] <= NOW
    for item in stream:
        events = parse_event(item.payload, received_at=item.received_at)
        assert [e.key for e in events] == [item.key]
    kinds = {item.kind for item in stream}
    assert {"deprecation", "issue", "maintenance", "billing", "public", "unknown_account",
            "no_account", "finding", "vulnerability", "alarm", "cost_anomaly"} <= kinds


def test_updates_keep_the_key_with_a_newer_time_and_resends_repeat_it(stream) -> None:
    firsts = {item.key: item for item in stream if item.copy == "first"}
    updates = [item for item in stream if item.copy == "update"]
    resent = [item for item in stream if item.copy == "duplicate"]
    assert updates and resent
    for item in updates:
        first = parse_event(firsts[item.key].payload, received_at=NOW)[0]
        later = parse_event(item.payload, received_at=NOW)[0]
        assert later.key == first.key and later.last_updated > first.last_updated
        assert item.expected.tickets in ("update", "none")
    closed = [item for item in updates if item.kind == "issue"
              and item.payload["detail"]["statusCode"] == "closed"]
    assert closed and all(firsts[i.key].payload["detail"]["statusCode"] == "open"
                          for i in closed)
    for item in resent:
        assert item.expected.tickets == "none"
        assert any(o.payload == item.payload for o in stream
                   if o.key == item.key and o.copy != "duplicate")


def test_bad_arguments_are_clear_errors(org: Organisation) -> None:
    with pytest.raises(ValueError, match="count"):
        generate_ops_events(org, count=0, now=NOW)
    with pytest.raises(ValueError, match="timezone"):
        generate_ops_events(org, count=5, now=datetime(2026, 3, 2))
    with pytest.raises(ValueError, match="unknown: nope"):
        generate_ops_events(org, count=5, now=NOW, kinds={"nope": 1})
    only_prod = org.model_copy(update={"accounts": [a for a in org.accounts if a.production]})
    with pytest.raises(ValueError, match="non-production"):
        generate_ops_events(only_prod, count=5, now=NOW)


# -- labels, checked by hand against the written policy ----------------------------------------
def test_hand_checked_labels(org: Organisation) -> None:
    view = OrgView(org)
    # non-production, no cost: discharged; the same with a cost: FinOps is told
    assert label(view, Facts([DEV], 3)).verdict == "discharge"
    costly = label(view, Facts([DEV], 3, cost_impact=True))
    assert (costly.verdict, costly.owner, costly.stakeholders) == (
        "accept", "app01", ("app01", "fin01"))
    # production outage: severity 5 brings leadership in
    outage = label(view, Facts([PROD], 5, service="EC2"))
    assert outage.stakeholders == ("app01", "mgt01") and outage.owner == "app01"
    # a networking service is the network team's; the applications team still hears of it
    elb = label(view, Facts([PROD], 4, service="ELASTICLOADBALANCING"))
    assert elb.owner == "inf01" and elb.stakeholders == ("app01", "inf01")
    sg = label(view, Facts([DEV], 4, security_high=True,
                           resource_types=("AWS::EC2::SecurityGroup",)))
    assert (sg.verdict, sg.owner, sg.stakeholders) == ("accept", "inf01",
                                                       ("app01", "inf01", "sec01"))
    assert label(view, Facts(["999988887777"], 5)).verdict == "reject"
    assert label(view, Facts([], 3)).verdict == "discharge"
    assert label(view, Facts([], 3), allow_interaction=True).verdict == "ask"
    assert label(view, Facts([PROD], 5), public=True).verdict == "discharge"


def test_generated_labels_follow_the_policy(stream, org: Organisation) -> None:
    deprecations = [i for i in stream if i.kind == "deprecation" and i.copy == "first"]
    for item in deprecations:
        detail = item.payload["detail"]
        account = org.account(detail["affectedAccount"])
        text = detail["eventDescription"][0]["latestDescription"]
        costly = "extended support" in text.lower()
        days = (parse_event(item.payload, received_at=NOW)[0].start_time
                - item.received_at).days
        want_severity = 4 if days < 30 else 3 if days < 90 else 2
        if account.production or costly:
            assert item.expected.verdict == "accept"
            assert item.expected.severity == want_severity
            assert ("fin01" in item.expected.stakeholders) == costly
        else:
            assert item.expected.verdict == "discharge"
    critical = _first(stream, "finding", severity=5)
    assert critical.payload["detail"]["findings"][0]["Severity"]["Label"] == "CRITICAL"
    assert {"mgt01", "sec01"} <= set(critical.expected.stakeholders)
    issue = _first(stream, "issue", verdict="accept")
    assert org.account(issue.payload["detail"]["affectedAccount"]).production
    assert issue.expected.severity == 5
    unknown = _first(stream, "unknown_account")
    assert org.account(unknown.payload["detail"]["affectedAccount"]) is None
    assert unknown.expected.verdict == "reject"
    bare = _first(stream, "no_account")
    assert "affectedAccount" not in bare.payload and bare.expected.verdict == "discharge"
    anomaly = _first(stream, "cost_anomaly")
    assert anomaly.expected.verdict == "accept" and "fin01" in anomaly.expected.stakeholders


# -- the evaluation ---------------------------------------------------------------------------
def test_eval_runs_the_real_pipeline_without_duplicate_tickets(org: Organisation) -> None:
    result = evaluate_triage(org, events=60, seed=3, now=NOW)
    assert result["payloads"] == 60 and result["seconds"] < 10
    assert result["duplicate_tickets"] == 0 and result["tickets_from_copies"] == 0
    assert result["unreadable"] == 0
    assert result["tickets"] > 0
    assert result["scores"]["owner"] == 1.0 and result["scores"]["stakeholders"] == 1.0
    assert result["scores"]["verdict"] >= 0.9
    assert set(result["per_kind"]) <= {"deprecation", "issue", "maintenance", "notification",
                                       "billing", "public", "unknown_account", "no_account",
                                       "finding", "vulnerability", "alarm", "cost_anomaly"}


def test_a_wrong_answer_is_reported_as_a_disagreement(org: Organisation, tmp_path: Path) -> None:
    items = generate_ops_events(org, count=40, seed=3, now=NOW, kinds={"deprecation": 1})
    target = next(i for i in items if i.expected.tickets == "create")
    target.expected = target.expected.__class__(
        **{**target.expected.__dict__, "owner": "fin01"})
    store = TicketStore(f"sqlite:///{tmp_path / 'tickets.db'}")
    try:
        run = TriageEvaluation(org, store)
        run.run(items)
        assert run.duplicate_tickets() == 0
    finally:
        store.close()
    wrong = [d for d in run.disagreements if d["measure"] == "owner"]
    assert [(d["key"], d["expected"], d["got"]) for d in wrong] == [
        (target.key, "fin01", "app01")]
    assert run.total.share("owner") < 1.0


def test_cli_writes_the_result_and_refuses_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "eval-triage.json"
    done = runner.invoke(app, ["eval", "triage", "--events", "60", "--seed", "2", "--now",
                               "2026-03-02T09:00:00Z", "--organisation", str(ORG_FILE),
                               "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert "verdict" in done.output and "duplicate tickets 0" in done.output
    saved = json.loads(out.read_text())
    assert saved["payloads"] == 60 and saved["duplicate_tickets"] == 0
    naive = runner.invoke(app, ["eval", "triage", "--now", "2026-03-02T09:00",
                                "--organisation", str(ORG_FILE), "--out", str(out)])
    assert naive.exit_code == 2 and "timezone" in naive.output
    missing = runner.invoke(app, ["eval", "triage", "--organisation",
                                  str(tmp_path / "none.yaml"), "--out", str(out)])
    assert missing.exit_code == 2 and "cannot read" in missing.output


def test_every_new_event_has_a_key_of_its_own(org: Organisation) -> None:
    items = generate_ops_events(org, count=1500, seed=4, now=NOW)
    keys = [item.key for item in items if item.copy == "first"]
    assert len(keys) == len(set(keys))


@pytest.mark.postgres
def test_eval_against_postgresql_tickets(org: Organisation, postgres_url: str) -> None:
    result = evaluate_triage(org, events=60, seed=8, now=NOW, db_url=postgres_url)
    assert result["tickets"] > 0 and result["duplicate_tickets"] == 0
    assert result["tickets_from_copies"] == 0 and result["scores"]["owner"] == 1.0
