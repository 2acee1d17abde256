"""Per-team Slack channels from the team table, over real HTTP: `oasis serve` with triage
and the Slack app configured, posting to a local server that speaks Slack's Web API.

Events and tickets land in the owning team's channel (or the default one), later updates
are replies in the thread of the first message (also after a restart), and a signed
Accept click reaches the triage code and puts the outcome in that thread. Incidents go to
the channel of the team that owns their root-cause service.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from oasis.api import create_app
from oasis.config import Settings
from oasis.notify.channels import DeliveryError
from oasis.notify.message import build_notification
from oasis.slack import SlackNotifier, SlackSettings
from oasis.slack.channel import SlackChannel
from oasis.slack.messages import EventCard, event_message
from oasis.slack.threads import Posted, SqlThreads, Thread
from oasis.slack.verify import sign
from oasis.state import state_engine
from oasis.triage.org import Organisation
from tests.fakes.slack import FakeSlack
from tests.helpers import wait_until
from tests.servers import free_port, serving

SECRET = "slack-signing-secret-for-tests"
DEFAULT = "C0OPS"
ORG = {
    "accounts": [{"id": "111122223333", "name": "shop-prod",
                  "tags": {"environment": "production", "team": "apps"}}],
    "teams": [
        {"id": "net", "name": "Networking", "responsibilities": "VPCs and DNS.",
         "channel": "#network-ops", "owns": ["VPC", "ROUTE53"]},
        {"id": "pay", "name": "Payments", "responsibilities": "The payments API.",
         "channel": "#payments", "owns": ["api"]},
        {"id": "apps", "name": "Applications", "responsibilities": "Everything else.",
         "stakeholder_for": ["no_action_needed"], "default_owner": True},  # no channel
    ],
}


def health_event(service: str, updated: str, account: str | None = None,
                 title_id: str = "7f35c8ae") -> dict[str, Any]:
    """An AWS Health issue; without an account the policy asks a person about it."""
    event = {
        "eventArn": f"arn:aws:health:eu-west-1::event/{service}/"
                    f"AWS_{service}_OPERATIONAL_ISSUE/AWS_{service}_ISSUE_{title_id}",
        "service": service, "eventTypeCode": f"AWS_{service}_OPERATIONAL_ISSUE",
        "eventTypeCategory": "issue", "eventScopeCode": "ACCOUNT_SPECIFIC",
        "communicationId": f"{title_id}-1", "startTime": "2024-03-01T10:00:00Z",
        "lastUpdatedTime": updated, "statusCode": "open", "eventRegion": "eu-west-1",
        "eventDescription": [{"language": "en_US",
                              "latestDescription": f"Increased error rates for {service}."}]}
    if account:
        event["affectedAccount"] = account
    return event


@pytest.fixture
def fake_slack() -> Iterator[tuple[FakeSlack, str]]:
    fake = FakeSlack()
    with serving(fake.app()) as url:
        yield fake, url


@pytest.fixture
def settings(tmp_path: Path, fake_slack: tuple[FakeSlack, str]) -> Settings:
    org = tmp_path / "organisation.json"
    org.write_text(json.dumps(ORG))
    return Settings(
        data_dir=tmp_path / "data", notify={"email_enabled": False},
        respond={"interval_seconds": 0.1},
        knowledge={"embedder": "none"},  # BM25 memory: no model to load per service
        # rollbacks go to a URL that refuses them at once: the incident fails and escalates
        remediate={"executors": [{"type": "webhook", "name": "deployer", "kinds": ["rollback"],
                                  "url": fake_slack[1] + "/no-such-deployer"}]},
        triage={"organisation_file": org, "allow_interaction": True},
        slack={"signing_secret": SECRET, "bot_token": FakeSlack.token,
               "api_url": fake_slack[1] + "/api/", "default_channel": DEFAULT})


@contextmanager
def oasis(settings: Settings, monitor: bool = True) -> Iterator[tuple[str, FastAPI]]:
    app = create_app(settings, monitor=monitor)
    with serving(app) as url:
        yield url, app


def deliver(app: FastAPI) -> None:
    """A dispatcher pass now (the service's own dispatcher runs one every interval)."""
    app.state.services.dispatcher.dispatch()


def seed_incident(settings: Settings, service: str) -> None:
    """An analysed incident a rollback of `service` would fix."""
    from datetime import UTC, datetime

    from oasis.incidents import Incident, IncidentStore, Severity, Status, TimelineEvent

    now = datetime.now(UTC).replace(microsecond=0)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = IncidentStore(settings.incident_db_url)
    store.create(Incident(f"inc-{service}", Status.ANALYSIS_COMPLETE, Severity.HIGH,
                          f"{service} errors", [service], service, now, now, now,
                          suspected_change={"service": service, "version": "2",
                                            "previous_version": "1",
                                            "deployed_at": now.isoformat(),
                                            "minutes_before_onset": 1}),
                 TimelineEvent(now, "detected", "seen"))
    store.close()


def send_event(url: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(url + "/api/v1/events", params={"wait": True}, json=payload,
                          timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["results"][0]


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The message's buttons by action id."""
    return {e["action_id"]: e for b in message.get("blocks", []) if b["type"] == "actions"
            for e in b["elements"]}


def click(url: str, user: str, channel_id: str, message_ts: str,
          button: dict[str, Any]) -> httpx.Response:
    """A block_actions request shaped and signed as Slack sends it."""
    payload = {
        "type": "block_actions", "api_app_id": "A0OASIS", "trigger_id": "1.2.abc",
        "user": {"id": user, "username": user.lower(), "team_id": "T0001"},
        "team": {"id": "T0001", "domain": "oasis-test"},
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id,
                      "is_ephemeral": False},
        "channel": {"id": channel_id, "name": "network-ops"},
        "message": {"type": "message", "ts": message_ts},
        "actions": [{"type": "button", "action_id": button["action_id"],
                     "block_id": "b1", "value": button["value"],
                     "action_ts": f"{time.time():.6f}"}]}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(time.time()))
    return httpx.post(url + "/slack/interactive", content=body, timeout=10, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sign(SECRET, stamp, body)})


def texts(fake: FakeSlack, ts: str) -> list[str]:
    return [m["text"] for m in fake.replies(ts)]


# --- events and tickets ------------------------------------------------------------------

def test_a_waiting_event_lands_in_its_teams_channel_and_accept_threads_the_outcome(
        settings: Settings, fake_slack: tuple[FakeSlack, str]) -> None:
    fake, _ = fake_slack
    with oasis(settings) as (url, app):
        app.state.auth.users.create_user("slack-UAPPROVER", "approver", "long-password")
        asked = send_event(url, health_event("VPC", "2024-03-01T10:05:00Z"))
        assert asked["verdict"] == "ask"
        roots = wait_until(lambda: fake.roots("#network-ops"))
    # the owner (Networking owns VPC) is asked in its own channel, with both buttons
    assert len(roots) == 1 and fake.roots(DEFAULT) == []
    root_ts, root = roots[0]
    assert set(buttons(root)) == {"accept", "discharge"}
    assert json.loads(buttons(root)["accept"]["value"]) == {"event_key": asked["key"]}

    # A restarted OASIS still knows where the event's thread is. (Its dispatcher runs
    # without the monitor too; the test runs a pass itself so that all is sent before the
    # service stops, which lets the pass under way finish.)
    with oasis(settings, monitor=False) as (url, app):
        response = click(url, "UAPPROVER", root["channel_id"], root_ts, buttons(root)["accept"])
        assert response.status_code == 200
        assert response.json()["text"] == f"accepted {asked['key']}"
        event = httpx.get(url + "/api/v1/events/" + asked["key"], timeout=10).json()
        assert event["verdict"] == "accept" and event["decided_by"] == "slack:UAPPROVER"
        deliver(app)
    # Both under the root; their order is not fixed (the service's own dispatcher and the
    # test's pass may each send one).
    replies = texts(fake, root_ts)
    assert any("accepted by slack:UAPPROVER" in reply for reply in replies)
    assert any("opened for Networking (owner)" in reply for reply in replies)
    assert len(fake.roots("#network-ops")) == 1  # threaded, not a new message
    assert buttons(fake.messages[root_ts]) == {}  # decided: the buttons are gone
    assert "accepted" in fake.messages[root_ts]["text"]
    # Applications has no channel of its own: its ticket goes to the default channel
    [(_, informed)] = fake.roots(DEFAULT)
    assert "Applications" in json.dumps(informed["blocks"]) and buttons(informed) == {}


def test_ticket_updates_and_status_changes_thread_under_each_teams_first_message(
        settings: Settings, fake_slack: tuple[FakeSlack, str]) -> None:
    fake, _ = fake_slack
    first = health_event("ROUTE53", "2024-03-01T10:05:00Z", account="111122223333")
    with oasis(settings) as (url, _):
        accepted = send_event(url, first)
        assert accepted["verdict"] == "accept"  # a production account: no person needed
        wait_until(lambda: fake.roots("#network-ops") and fake.roots(DEFAULT))
        [(net_ts, net_root)] = fake.roots("#network-ops")
        [(default_ts, _)] = fake.roots(DEFAULT)
        assert buttons(net_root) == {}  # nothing waits for a person

        newer = send_event(url, {**first, "lastUpdatedTime": "2024-03-01T11:00:00Z"})
        assert newer["received"] == "updated" and len(newer["tickets_updated"]) == 2
        tickets = httpx.get(url + "/api/v1/tickets", params={"team": "net"}, timeout=10).json()
        moved = httpx.post(url + f"/api/v1/tickets/{tickets[0]['id']}/status", timeout=10,
                           json={"status": "Acknowledged", "actor": "alice", "note": "on it"})
        assert moved.status_code == 200
        wait_until(lambda: len(fake.replies(net_ts)) >= 2 and fake.replies(default_ts))
    assert [len(fake.roots(c)) for c in ("#network-ops", DEFAULT)] == [1, 1]
    net_replies = texts(fake, net_ts)
    assert "updated: the event changed" in net_replies[0]
    assert "Acknowledged: on it (by alice)" in net_replies[1]
    assert "updated: the event changed" in texts(fake, default_ts)[0]
    assert "Acknowledged" in fake.messages[net_ts]["text"]  # the root shows the status


def test_an_alert_resolving_and_firing_again_is_said_in_the_ticket_thread(
        settings: Settings, fake_slack: tuple[FakeSlack, str]) -> None:
    fake, _ = fake_slack

    def alert(status: str, starts: str, ends: str = "0001-01-01T00:00:00Z") -> dict[str, Any]:
        return {"version": "4", "status": status, "receiver": "oasis", "groupKey": "{}:{}",
                "alerts": [{"status": status, "fingerprint": "ab12", "startsAt": starts,
                            "endsAt": ends, "annotations": {"summary": "payments 5xx"},
                            "labels": {"alertname": "PaymentsErrors", "team": "pay",
                                       "account_id": "111122223333"}}]}

    with oasis(settings) as (url, _):
        send_event(url, alert("firing", "2024-03-01T10:00:00Z"))
        [(root_ts, _)] = wait_until(lambda: fake.roots("#payments"))  # labels route it
        send_event(url, alert("resolved", "2024-03-01T10:00:00Z", "2024-03-01T10:20:00Z"))
        send_event(url, alert("firing", "2024-03-01T11:00:00Z"))
        wait_until(lambda: len(fake.replies(root_ts)) >= 2)
    replies = texts(fake, root_ts)
    assert "resolved: its alert resolved" in replies[0]
    assert "reopened: its alert fired again" in replies[1]


# --- incidents ---------------------------------------------------------------------------

def test_an_incident_goes_to_the_team_owning_its_root_cause_and_moves_in_its_thread(
        settings: Settings, fake_slack: tuple[FakeSlack, str]) -> None:
    fake, _ = fake_slack
    seed_incident(settings, "api")  # Payments owns "api"
    with oasis(settings) as (url, app):
        app.state.auth.users.create_user("slack-UAPPROVER", "approver", "long-password")
        roots = wait_until(lambda: fake.roots("#payments"))
        root_ts, _ = roots[0]
        wait_until(lambda: fake.replies(root_ts))
        root = fake.messages[root_ts]
        assert "pending_approval" in texts(fake, root_ts)[0]
        approve = buttons(root)["approve"]
        response = click(url, "UAPPROVER", root["channel_id"], root_ts, approve)
        assert response.status_code == 200 and response.json()["text"].startswith("approved")
        # the deployer refuses the rollback: the action fails and people are told
        wait_until(lambda: len(fake.replies(root_ts)) >= 2)
    assert len(roots) == 1 and fake.roots(DEFAULT) == []
    assert "escalated" in texts(fake, root_ts)[1]
    assert buttons(fake.messages[root_ts]) == {}  # nothing waits for a decision any more


def incident_note(root_cause: str) -> Any:
    incident = {"id": f"inc-{root_cause}", "status": "analysis_complete", "severity": "high",
                "title": "<!channel> errors", "summary": "", "root_cause_service": root_cause,
                "services": [root_cause], "started_at": "2026-11-23T00:00:00Z",
                "detected_at": "2026-11-23T00:01:00Z", "last_seen_at": "2026-11-23T00:01:00Z",
                "recovered_at": None, "suspected_change": None, "evidence": [],
                "root_cause_ranking": []}
    return build_notification("incident_summary", {
        "incident": incident, "actions": [], "console_url": "http://oasis/x"}, ["a@b.c"])


def test_an_incident_nobody_owns_goes_to_the_default_channel(
        fake_slack: tuple[FakeSlack, str]) -> None:
    fake, url = fake_slack
    notifier = SlackNotifier(SlackSettings(bot_token=SecretStr(fake.token),
                                           api_url=url + "/api/", default_channel=DEFAULT))
    channel = SlackChannel(notifier, Organisation.model_validate(ORG))
    channel.send(incident_note("web"))
    channel.send(incident_note("API"))  # a service named in a team's `owns`, in any case
    [(_, orphan)] = fake.roots(DEFAULT)
    [(_, owned)] = fake.roots("#payments")
    assert "inc-web" in orphan["text"] and "inc-API" in owned["text"]
    # a title from the monitored system cannot ping the channel
    assert "<!channel>" not in orphan["text"] and "&lt;!channel&gt;" in orphan["text"]


def test_slack_failures_say_whether_a_retry_can_help(
        fake_slack: tuple[FakeSlack, str]) -> None:
    _, url = fake_slack
    down = SlackChannel(SlackNotifier(SlackSettings(
        bot_token=SecretStr(FakeSlack.token), api_url=f"http://127.0.0.1:{free_port()}/api/",
        default_channel=DEFAULT), timeout=2))
    with pytest.raises(DeliveryError, match="cannot reach Slack") as unreachable:
        down.send(incident_note("web"))
    assert unreachable.value.retryable
    nowhere = SlackChannel(SlackNotifier(SlackSettings(bot_token=SecretStr("xoxb-wrong"),
                                                       api_url=url + "/api/")))
    with pytest.raises(DeliveryError, match="no Slack channel") as unconfigured:
        nowhere.send(incident_note("web"))
    assert not unconfigured.value.retryable


def test_an_event_title_cannot_mention_anyone() -> None:
    message = event_message(EventCard("k1", "<@U123> & <!here> outage", "waiting",
                                      awaiting_person=True))
    shown = json.dumps(message)
    assert "<@U123>" not in shown and "<!here>" not in shown
    assert "&lt;@U123&gt; &amp; &lt;!here&gt; outage" in message["text"]


# --- where threads start -----------------------------------------------------------------

@pytest.mark.parametrize("database", [
    "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_thread_root_is_kept_once_per_subject_and_channel(
        request: pytest.FixtureRequest, tmp_path: Path, database: str) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}" if database == "sqlite" \
        else request.getfixturevalue("postgres_url")
    engine = state_engine(url)
    try:
        first = SqlThreads(engine).save(Thread("event:k", "#ops", Posted("C1", "1.1"), "ask"))
        # a second process that raced to start the same thread gets the first one back
        assert SqlThreads(engine).save(
            Thread("event:k", "#ops", Posted("C1", "2.2"), "ask")) == first
        SqlThreads(engine).save(Thread("event:k", "#dev", Posted("C2", "3.3"), "ticket:t1"))
        again = SqlThreads(engine)  # as after a restart
        assert again.get("event:k", "#ops") == first and again.get("event:k") == first
        assert [t.channel for t in again.of("event:k")] == ["#ops", "#dev"]
        assert again.get("event:other") is None and again.get("event:k", "#nope") is None
    finally:
        engine.dispose()
