"""The Slack app over real HTTP: signed inbound requests to the OASIS routes, and
outbound messages to a local server speaking Slack's Web API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

import httpx
import pytest
import yaml
from fastapi import FastAPI
from pydantic import SecretStr

from oasis.slack import SlackNotifier, SlackSettings, create_slack_router
from oasis.slack.dedupe import SeenEvents
from oasis.slack.messages import EventCard, IncidentCard, ProposedAction, incident_message
from oasis.slack.notifier import SlackSendError
from oasis.slack.verify import SignatureError, sign, verify_signature
from tests.fakes.slack import FakeSlack
from tests.helpers import wait_until
from tests.servers import serving

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@dataclass
class RecordingHandlers:
    roles: dict[str, str] = field(
        default_factory=lambda: {"UAPPROVER": "approver", "UVIEWER": "viewer"}
    )
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    def approve(self, incident_id: str, action_id: str, actor: str) -> None:
        self.calls.append(("approve", incident_id, action_id, actor))

    def reject(self, incident_id: str, action_id: str, actor: str) -> None:
        self.calls.append(("reject", incident_id, action_id, actor))

    def accept(self, event_key: str, actor: str) -> None:
        self.calls.append(("accept", event_key, actor))

    def discharge(self, event_key: str, actor: str) -> None:
        self.calls.append(("discharge", event_key, actor))

    def ask(self, text: str, actor: str) -> str:
        self.calls.append(("ask", text, actor))
        return f"answer to: {text}"

    def status(self) -> str:
        return "2 open incidents, 1 awaiting approval"

    def incidents(self) -> str:
        return "inc-20261123-abc123 checkout errors (high)"

    def role_of(self, slack_user_id: str) -> str:
        return self.roles.get(slack_user_id, "viewer")


@pytest.fixture()
def fake_slack() -> Iterator[tuple[FakeSlack, str]]:
    fake = FakeSlack()
    with serving(fake.app()) as url:
        yield fake, url


@pytest.fixture()
def oasis_app(fake_slack: tuple[FakeSlack, str]) -> Iterator[tuple[str, RecordingHandlers]]:
    _, slack_url = fake_slack
    handlers = RecordingHandlers()
    settings = SlackSettings(
        signing_secret=SecretStr(SECRET),
        bot_token=SecretStr(FakeSlack.token),
        api_url=slack_url + "/api/",
        default_channel="C0OPS",
    )
    app = FastAPI()
    app.include_router(create_slack_router(handlers, settings))
    app.get("/healthz")(lambda: {"status": "ok"})
    with serving(app) as url:
        yield url, handlers


def signed_post(
    url: str, body: bytes, content_type: str, age: float = 0, secret: str = SECRET
) -> httpx.Response:
    timestamp = str(int(time.time() - age))
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": sign(secret, timestamp, body),
    }
    return httpx.post(url, content=body, headers=headers, timeout=10)


def click(
    url: str,
    user: str,
    action_id: str,
    value: dict[str, str],
    age: float = 0,
    response_url: str | None = None,
) -> httpx.Response:
    payload = {
        "type": "block_actions",
        "user": {"id": user},
        "actions": [{"action_id": action_id, "value": json.dumps(value)}],
    }
    if response_url:
        payload["response_url"] = response_url
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return signed_post(
        url + "/slack/interactive", body, "application/x-www-form-urlencoded", age=age
    )


# --- signatures --------------------------------------------------------------------------


def test_signature_matches_slacks_documented_example() -> None:
    # the worked example from Slack's "Verifying requests from Slack" page
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
        b"channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
        b"command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
        b"commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
        b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert sign(SECRET, "1531420618", body) == expected
    verify_signature(SecretStr(SECRET), "1531420618", expected, body, now=1531420618 + 60)


@pytest.mark.parametrize(
    ("timestamp", "signature", "now", "message"),
    [
        ("1000", "v0=" + "0" * 64, 1000, "does not match"),
        ("1000", None, 1000, "missing"),
        (None, "v0=abc", 1000, "missing"),
        ("1000", "GOOD", 1000 + 301, "five minutes"),  # stale: replay
        ("1000", "GOOD", 1000 - 301, "five minutes"),  # from the future
        ("yesterday", "GOOD", 1000, "not a number"),
    ],
)
def test_bad_signatures_are_refused(
    timestamp: str | None, signature: str | None, now: float, message: str
) -> None:
    if signature == "GOOD":
        signature = sign(SECRET, str(timestamp), b"{}")
    with pytest.raises(SignatureError, match=message):
        verify_signature(SECRET, timestamp, signature, b"{}", now=now)


def test_without_a_signing_secret_everything_is_refused() -> None:
    with pytest.raises(SignatureError, match="no Slack signing secret"):
        verify_signature(None, "1000", sign(SECRET, "1000", b"{}"), b"{}", now=1000)


def test_a_tampered_body_is_refused() -> None:
    signature = sign(SECRET, "1000", b'{"a": 1}')
    with pytest.raises(SignatureError, match="does not match"):
        verify_signature(SECRET, "1000", signature, b'{"a": 2}', now=1000)


# --- inbound routes ----------------------------------------------------------------------


def test_url_verification_echoes_the_challenge(oasis_app: tuple[str, RecordingHandlers]) -> None:
    url, _ = oasis_app
    body = json.dumps({"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV"})
    response = signed_post(url + "/slack/events", body.encode(), "application/json")
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV"}


@pytest.mark.parametrize("path", ["/slack/events", "/slack/commands", "/slack/interactive"])
def test_unsigned_wrongly_signed_and_stale_requests_get_401(
    oasis_app: tuple[str, RecordingHandlers], path: str
) -> None:
    url, handlers = oasis_app
    body = b"text=status&user_id=UAPPROVER"
    unsigned = httpx.post(url + path, content=body, timeout=10)
    wrong = signed_post(
        url + path, body, "application/x-www-form-urlencoded", secret="not-the-secret"
    )
    stale = signed_post(url + path, body, "application/x-www-form-urlencoded", age=6 * 60)
    assert [r.status_code for r in (unsigned, wrong, stale)] == [401, 401, 401]
    assert handlers.calls == []


def test_slash_commands(oasis_app: tuple[str, RecordingHandlers]) -> None:
    url, handlers = oasis_app

    def command(text: str, user: str = "UAPPROVER") -> dict[str, Any]:
        body = urlencode({"command": "/oasis", "text": text, "user_id": user}).encode()
        response = signed_post(url + "/slack/commands", body, "application/x-www-form-urlencoded")
        assert response.status_code == 200
        return response.json()

    assert command("status")["text"] == "2 open incidents, 1 awaiting approval"
    assert "checkout errors" in command("incidents")["text"]
    assert command("ask why is checkout slow?")["text"] == "answer to: why is checkout slow?"
    assert "Usage" in command("dance")["text"]
    assert command("approve inc-1 act-2")["text"] == "approved act-2 on inc-1"
    assert command("approve inc-1 act-3", user="UVIEWER")["text"] == "approver role needed"
    assert handlers.calls == [
        ("ask", "why is checkout slow?", "slack:UAPPROVER"),
        ("approve", "inc-1", "act-2", "slack:UAPPROVER"),
    ]


def test_an_approvers_click_approves_the_action_on_the_button(
    oasis_app: tuple[str, RecordingHandlers], fake_slack: tuple[FakeSlack, str]
) -> None:
    url, handlers = oasis_app
    fake, slack_url = fake_slack
    # the value is exactly what the incident message puts on its Approve button
    card = IncidentCard(
        "inc-20261123-abc123",
        "checkout errors",
        "high",
        "awaiting_approval",
        action=ProposedAction("act-7", "roll back checkout to v41", "low"),
    )
    button = incident_message(card)["blocks"][-1]["elements"][0]
    response = click(
        url,
        "UAPPROVER",
        button["action_id"],
        json.loads(button["value"]),
        response_url=slack_url + "/response/r1",
    )
    assert response.status_code == 200
    assert handlers.calls == [("approve", "inc-20261123-abc123", "act-7", "slack:UAPPROVER")]
    wait_until(lambda: fake.responses)  # sent after the HTTP answer
    assert fake.responses[0]["hook"] == "r1"
    assert fake.responses[0]["text"] == "approved act-7 on inc-20261123-abc123"

    click(url, "UAPPROVER", "discharge", {"event_key": "OPS-12"})
    assert handlers.calls[-1] == ("discharge", "OPS-12", "slack:UAPPROVER")


def test_a_viewers_click_calls_nothing_and_answers_only_them(
    oasis_app: tuple[str, RecordingHandlers],
) -> None:
    url, handlers = oasis_app
    for action, value in (
        ("approve", {"incident_id": "inc-1", "action_id": "act-1"}),
        ("accept", {"event_key": "OPS-1"}),
    ):
        response = click(url, "UVIEWER", action, value)
        assert response.status_code == 200
        assert response.json()["response_type"] == "ephemeral"
        assert response.json()["text"] == "approver role needed"
    assert handlers.calls == []


def test_a_replayed_click_is_refused(oasis_app: tuple[str, RecordingHandlers]) -> None:
    url, handlers = oasis_app
    response = click(
        url, "UAPPROVER", "approve", {"incident_id": "inc-1", "action_id": "a"}, age=5 * 60 + 30
    )
    assert response.status_code == 401
    assert handlers.calls == []


def test_a_garbled_click_is_a_400_not_a_crash(oasis_app: tuple[str, RecordingHandlers]) -> None:
    url, handlers = oasis_app
    body = urlencode({"payload": "{not json"}).encode()
    response = signed_post(url + "/slack/interactive", body, "application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert click(url, "UAPPROVER", "delete_everything", {}).status_code == 400
    missing_action = click(url, "UAPPROVER", "approve", {"incident_id": "inc-1"})
    assert missing_action.status_code == 400
    assert "action_id" in missing_action.json()["detail"]
    assert handlers.calls == []


def test_a_mention_is_answered_in_its_thread(
    oasis_app: tuple[str, RecordingHandlers], fake_slack: tuple[FakeSlack, str]
) -> None:
    url, handlers = oasis_app
    fake, _ = fake_slack
    root = fake._post({"channel": "C0OPS", "text": "<@U0BOT> what broke checkout?"})["ts"]
    event = {
        "type": "event_callback",
        "event": {
            "type": "app_mention",
            "user": "U123",
            "text": "<@U0BOT> what broke checkout?",
            "channel": "C0OPS",
            "ts": root,
        },
    }
    response = signed_post(url + "/slack/events", json.dumps(event).encode(), "application/json")
    assert response.status_code == 200
    wait_until(fake.posted)  # sent after the HTTP answer
    assert fake.posted() == [
        {"channel": "C0OPS", "thread_ts": root, "text": "answer to: <@U0BOT> what broke checkout?"}
    ]
    assert handlers.calls == [("ask", "<@U0BOT> what broke checkout?", "slack:U123")]


# --- outbound ----------------------------------------------------------------------------


def test_notifier_posts_then_threads_updates(fake_slack: tuple[FakeSlack, str]) -> None:
    fake, url = fake_slack
    notifier = SlackNotifier(
        SlackSettings(
            bot_token=SecretStr(fake.token), api_url=url + "/api/", default_channel="C0OPS"
        )
    )
    card = IncidentCard(
        "inc-1",
        "checkout errors",
        "high",
        "investigating",
        root_cause="checkout",
        suspected_change="deploy v42",
        action=ProposedAction("act-1", "roll back to v41", "low"),
    )
    first = notifier.post_incident(card, channel="C0PAY")  # the owning team's channel
    assert first.channel == "C0PAY"
    assert [b["type"] for b in fake.messages[first.ts]["blocks"]][-1] == "actions"

    notifier.update_incident("inc-1", "mitigating", "rollback running")
    notifier.post_incident(IncidentCard("inc-1", "checkout errors", "high", "resolved"))
    posted = fake.posted()
    assert [p.get("thread_ts") for p in posted] == [None, first.ts, first.ts]
    assert all(p["channel"] == "C0PAY" for p in posted)
    assert posted[1]["text"] == "inc-1 is now *mitigating*: rollback running"
    # the root message now shows the new status and no longer offers the buttons
    assert "resolved" in fake.messages[first.ts]["text"]
    assert "actions" not in [b["type"] for b in fake.messages[first.ts]["blocks"]]

    ticket = notifier.post_event(
        EventCard("OPS-12", "VPC peering change", "remediate", owner_team="network")
    )
    assert fake.messages[ticket.ts]["channel"] == "C0OPS"  # the default channel


def test_notifier_retries_after_a_rate_limit(fake_slack: tuple[FakeSlack, str]) -> None:
    fake, url = fake_slack
    fake.rate_limit_next = 1
    notifier = SlackNotifier(
        SlackSettings(
            bot_token=SecretStr(fake.token), api_url=url + "/api/", default_channel="C0OPS"
        )
    )
    posted = notifier.update_incident("inc-2", "resolved")
    assert [method for method, _ in fake.calls] == ["chat.postMessage", "chat.postMessage"]
    assert fake.messages[posted.ts]["text"] == "inc-2 is now *resolved*"


def test_notifier_reports_a_bad_token_clearly(fake_slack: tuple[FakeSlack, str]) -> None:
    _, url = fake_slack
    notifier = SlackNotifier(
        SlackSettings(
            bot_token=SecretStr("xoxb-wrong"), api_url=url + "/api/", default_channel="C0OPS"
        )
    )
    with pytest.raises(SlackSendError, match="invalid_auth"):
        notifier.update_incident("inc-3", "resolved")
    with pytest.raises(SlackSendError, match="no Slack bot token"):
        SlackNotifier(SlackSettings(default_channel="C0OPS")).update_incident("inc-3", "x")


def test_the_manifest_points_at_the_routes_that_exist() -> None:
    manifest = yaml.safe_load((Path(__file__).parent.parent / "slack/manifest.yaml").read_text())
    urls = [
        manifest["settings"]["event_subscriptions"]["request_url"],
        manifest["settings"]["interactivity"]["request_url"],
        *(c["url"] for c in manifest["features"]["slash_commands"]),
    ]
    router = create_slack_router(RecordingHandlers(), SlackSettings())
    routes = {route.path for route in router.routes}  # type: ignore[attr-defined]
    assert {urlparse(u).path for u in urls} == routes


def test_the_manifest_lets_people_message_the_app() -> None:
    manifest = yaml.safe_load((Path(__file__).parent.parent / "slack/manifest.yaml").read_text())
    home = manifest["features"]["app_home"]
    assert home["messages_tab_enabled"] is True
    assert home["messages_tab_read_only_enabled"] is False
    assert "message.im" in manifest["settings"]["event_subscriptions"]["bot_events"]
    assert "im:history" in manifest["oauth_config"]["scopes"]["bot"]


# --- re-deliveries ----------------------------------------------------------------------


def _mention(event_id: str, text: str, ts: str) -> bytes:
    return json.dumps(
        {
            "type": "event_callback",
            "event_id": event_id,
            "event": {
                "type": "app_mention",
                "user": "U123",
                "text": text,
                "channel": "C0OPS",
                "ts": ts,
            },
        }
    ).encode()


def _deliver(url: str, body: bytes, retry_num: int | None = None) -> httpx.Response:
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": sign(SECRET, timestamp, body),
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return httpx.post(url + "/slack/events", content=body, headers=headers, timeout=10)


def test_a_retried_event_is_answered_once(
    oasis_app: tuple[str, RecordingHandlers], fake_slack: tuple[FakeSlack, str]
) -> None:
    url, handlers = oasis_app
    fake, _ = fake_slack
    question = _mention("Ev0DUP", "<@U0BOT> is checkout down?", "1700000000.000100")
    assert _deliver(url, question).status_code == 200
    assert _deliver(url, question, retry_num=1).status_code == 200
    assert _deliver(url, question, retry_num=2).status_code == 200
    # a later, different question: once it is answered, any duplicate would have been too
    assert (
        _deliver(url, _mention("Ev0NEXT", "<@U0BOT> and now?", "1700000000.000200")).status_code
        == 200
    )
    wait_until(lambda: len(fake.posted()) >= 2)
    asked = [call[1] for call in handlers.calls if call[0] == "ask"]
    assert sorted(asked) == ["<@U0BOT> and now?", "<@U0BOT> is checkout down?"]


def test_a_retry_whose_first_delivery_was_lost_is_answered(
    oasis_app: tuple[str, RecordingHandlers], fake_slack: tuple[FakeSlack, str]
) -> None:
    url, handlers = oasis_app
    fake, _ = fake_slack
    lost_first = _mention("Ev0LOST", "<@U0BOT> what changed?", "1700000000.000300")
    assert _deliver(url, lost_first, retry_num=1).status_code == 200
    wait_until(fake.posted)
    assert handlers.calls == [("ask", "<@U0BOT> what changed?", "slack:U123")]


def test_seen_events_are_forgotten_after_the_retry_window() -> None:
    now = [1000.0]
    seen = SeenEvents(window_seconds=3600, max_size=2, clock=lambda: now[0])
    assert seen.first_time("Ev1") and not seen.first_time("Ev1")
    now[0] += 3601
    assert seen.first_time("Ev1")  # Slack stopped retrying long ago: a new delivery
    assert seen.first_time("Ev2") and seen.first_time("Ev3")
    assert seen.first_time("Ev1")  # the oldest id made room once more than two were kept
