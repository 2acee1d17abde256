"""The approval gate's pieces: the lifecycle's legal moves, signed single-use links that
expire, and auto-approval policies that default to asking a person."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from oasis.approve import (
    AutoApproveRule,
    Decision,
    LinkError,
    LinkLedger,
    LinkSigner,
    auto_approval,
)
from oasis.incidents import IllegalTransition, Incident, IncidentStore, Severity, Status
from oasis.incidents import TimelineEvent as Event
from oasis.remediate.catalog import ActionKind, ActionSpec, Risk

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path) -> IncidentStore:
    s = IncidentStore(f"sqlite:///{tmp_path / 'state.db'}")
    s.create(Incident("inc-1", Status.ANALYSIS_COMPLETE, Severity.HIGH, "errors", ["api"],
                      "api", NOW, NOW, NOW), Event(NOW, "detected", "seen"))
    yield s
    s.close()


def test_happy_path_moves_are_recorded_with_actor_and_time(store: IncidentStore) -> None:
    path = [Status.PENDING_APPROVAL, Status.APPROVED, Status.MITIGATING, Status.MITIGATED,
            Status.RESOLVED]
    for n, to in enumerate(path):
        store.transition("inc-1", to, actor=f"user{n}", at=NOW + timedelta(minutes=n))
    got = store.get("inc-1")
    moves = [e for e in got.timeline if e.kind.startswith("status:")]
    assert got.status is Status.RESOLVED
    assert [(e.data["from"], e.data["to"], e.actor) for e in moves][:2] == [
        ("analysis_complete", "pending_approval", "user0"),
        ("pending_approval", "approved", "user1")]
    assert moves[-1].at == NOW + timedelta(minutes=4)


@pytest.mark.parametrize("to", [Status.MITIGATING, Status.MITIGATED, Status.INITIAL_DETECTION])
def test_illegal_transition_is_refused_and_changes_nothing(store: IncidentStore,
                                                           to: Status) -> None:
    with pytest.raises(IllegalTransition, match="from analysis_complete to"):
        store.transition("inc-1", to, actor="alice")
    assert store.get("inc-1").status is Status.ANALYSIS_COMPLETE


def test_resolved_is_final(store: IncidentStore) -> None:
    store.transition("inc-1", Status.RESOLVED, actor="alice")
    with pytest.raises(IllegalTransition, match="none"):
        store.transition("inc-1", Status.PENDING_APPROVAL, actor="alice")


def test_transition_with_stale_expectation_is_refused(store: IncidentStore) -> None:
    store.transition("inc-1", Status.PENDING_APPROVAL, actor="oasis")
    with pytest.raises(IllegalTransition, match="is pending_approval"):
        store.transition("inc-1", Status.RESOLVED, actor="bob",
                         expect=[Status.ANALYSIS_COMPLETE])


# -- links -----------------------------------------------------------------------------
SIGNER = LinkSigner(b"k" * 32)


def test_link_round_trip_names_incident_action_and_decision() -> None:
    token = SIGNER.sign("inc-1", "act-1", Decision.APPROVE, NOW + timedelta(hours=1))
    claim = SIGNER.verify(token, now=NOW)
    assert (claim.incident_id, claim.action_id, claim.decision) == (
        "inc-1", "act-1", Decision.APPROVE)


def test_expired_link_is_410() -> None:
    token = SIGNER.sign("inc-1", "act-1", Decision.APPROVE, NOW + timedelta(minutes=5))
    with pytest.raises(LinkError, match="expired") as err:
        SIGNER.verify(token, now=NOW + timedelta(minutes=5))
    assert err.value.status == 410


def test_tampered_link_is_403() -> None:
    token = SIGNER.sign("inc-1", "act-1", Decision.REJECT, NOW + timedelta(hours=1))
    _body, mac = token.split(".")
    forged = SIGNER.sign("inc-1", "act-1", Decision.APPROVE, NOW + timedelta(hours=1))
    with pytest.raises(LinkError) as err:
        SIGNER.verify(forged.split(".")[0] + "." + mac, now=NOW)  # reject's MAC on approve
    assert err.value.status == 403
    with pytest.raises(LinkError) as err:
        LinkSigner(b"x" * 32).verify(token, now=NOW)  # another installation's key
    assert err.value.status == 403


@pytest.mark.parametrize("junk", ["", "abc", "a.b.c", "!!!.???"])
def test_malformed_link_is_400(junk: str) -> None:
    with pytest.raises(LinkError) as err:
        SIGNER.verify(junk, now=NOW)
    assert err.value.status in (400, 403)


def test_link_works_once_and_the_generated_key_is_shared(tmp_path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'state.db'}")
    ledger, other = LinkLedger(engine), LinkLedger(engine)
    assert ledger.shared_secret() == other.shared_secret()  # two processes agree
    claim = SIGNER.verify(SIGNER.sign("inc-1", "act-1", Decision.APPROVE,
                                      NOW + timedelta(hours=1)), now=NOW)
    assert not ledger.was_used(claim)
    ledger.use(claim, "alice")
    with pytest.raises(LinkError, match="already used") as err:
        other.use(claim, "mallory")
    assert err.value.status == 409 and ledger.was_used(claim)


# -- policy ----------------------------------------------------------------------------
def action(kind: ActionKind, service: str, risk: Risk) -> ActionSpec:
    params = {"service": service} if kind is not ActionKind.SCALE else {
        "service": service, "replicas": 4}
    return ActionSpec(id="act-1", incident_id="inc-1", kind=kind, params=params, risk=risk,
                      reason="test")


def test_nothing_is_auto_approved_by_default() -> None:
    assert auto_approval(action(ActionKind.RESTART, "api", Risk.LOW), []) is None


def test_policy_allows_only_named_actions_services_and_risk() -> None:
    rules = [AutoApproveRule(name="restart-workers", actions=[ActionKind.RESTART],
                             services=["worker"], max_risk=Risk.LOW)]
    assert auto_approval(action(ActionKind.RESTART, "worker", Risk.LOW), rules).name == (
        "restart-workers")
    assert auto_approval(action(ActionKind.RESTART, "api", Risk.LOW), rules) is None
    assert auto_approval(action(ActionKind.SCALE, "worker", Risk.LOW), rules) is None
    assert auto_approval(action(ActionKind.RESTART, "worker", Risk.MEDIUM), rules) is None
