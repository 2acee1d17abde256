"""The web chat over a real WebSocket: history per conversation, questions answered with
their sources, reports triaged, approval only for approvers, resends not acted on twice,
bad input answered without dropping the socket, strangers refused."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from oasis.api import create_app
from oasis.config import Settings
from oasis.incidents import Incident, IncidentStore, Severity, Status, TimelineEvent
from oasis.web import chat
from tests.helpers import wait_until
from tests.servers import serving

ORG = Path(__file__).resolve().parents[1] / "examples" / "organisation.yaml"
NOW = datetime.now(UTC).replace(microsecond=0)
RUNBOOK = """# EKS upgrade runbook

## Before the upgrade
Drain the node groups one at a time and check the PodDisruptionBudgets first.
"""
REPORT = ("We are seeing the checkout service timing out in production account "
          "123456789012 since the EKS upgrade")


def settings_for(tmp_path: Path, **extra) -> Settings:
    return Settings(data_dir=tmp_path / "data", triage={"organisation_file": ORG},
                    knowledge={"embedder": "none"}, notify={"email_enabled": False},
                    respond={"interval_seconds": 0.2}, **extra)


def with_chat(settings: Settings) -> TestClient:
    app = create_app(settings, monitor=False)
    app.include_router(chat.router)
    return TestClient(app)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with with_chat(settings_for(tmp_path)) as c:
        c.app.state.knowledge.add_text("runbooks/eks-upgrade.md", RUNBOOK)
        yield c


def send(ws, kind: str, mid: str, **fields) -> None:
    ws.send_text(json.dumps({"type": kind, "id": mid, "ts": "2026-01-01T00:00:00Z",
                             **fields}))


def until(ws, kind: str) -> tuple[dict, list[dict]]:
    """The next message of `kind`, and everything received before it."""
    seen = []
    while True:
        message = ws.receive_json()
        if message["type"] == kind:
            return message, seen
        seen.append(message)


def hello(ws, conversation_id: str | None = None) -> dict:
    send(ws, "hello", "h1", conversation_id=conversation_id)
    welcome, _ = until(ws, "welcome")
    return welcome


def test_question_is_answered_with_sources_and_kept_in_history(client: TestClient) -> None:
    with client.websocket_connect("/ws/chat") as ws:
        welcome = hello(ws)
        assert welcome["history"] == [] and welcome["ts"].endswith("Z")
        send(ws, "ask", "m1", text="How do I drain node groups before the EKS upgrade?")
        answer, before = until(ws, "answer")
        assert {"type": "ack", "of": "m1"}.items() <= before[-1].items()
        assert answer["of"] == "m1" and answer["route"] == "consult"
        assert answer["citations"][0]["source"] == "runbooks/eks-upgrade.md"
        assert "drain" in answer["text"].lower()
        send(ws, "ping", "p1")
        assert until(ws, "pong")[0]["of"] == "p1"
    with client.websocket_connect("/ws/chat") as ws:
        again = hello(ws, welcome["conversation_id"])
        assert again["conversation_id"] == welcome["conversation_id"] and again["resumed"]
        assert [(m["direction"], m["type"], m.get("text", "")[:5]) for m in
                again["history"]] == [("in", "ask", "How d"), ("out", "answer",
                                                               answer["text"][:5])]


def test_report_is_triaged_and_a_resend_is_not_handled_twice(client: TestClient) -> None:
    tickets = client.app.state.triage.tickets
    with client.websocket_connect("/ws/chat") as ws:
        conversation = hello(ws)["conversation_id"]
        send(ws, "ask", "r1", text=REPORT)
        answer, _ = until(ws, "answer")
    assert answer["route"] == "report" and answer["event_key"]
    assert answer["tickets"] and "ticket" in answer["text"]
    audit = client.app.state.response.audit
    classified = len(audit.records(kind="act.classified"))
    opened = len(tickets.list())
    # The browser lost the answer with the connection and resends the same id.
    with client.websocket_connect("/ws/chat") as ws:
        hello(ws, conversation)
        send(ws, "ask", "r1", text=REPORT)
        repeated, before = until(ws, "answer")
        assert [m["of"] for m in before if m["type"] == "ack"] == ["r1"]
    assert repeated["of"] == "r1" and repeated["event_key"] == answer["event_key"]
    assert len(audit.records(kind="act.classified")) == classified == 1
    assert len(tickets.list()) == opened


def test_bad_input_gets_an_error_and_the_socket_stays_open(client: TestClient) -> None:
    with client.websocket_connect("/ws/chat") as ws:
        ws.send_text("{not json")
        assert "not valid JSON" in ws.receive_json()["message"]
        send(ws, "shout", "x1")
        assert "unknown message type" in ws.receive_json()["message"]
        send(ws, "ask", "big", text="a" * 17_000)
        assert "too large" in ws.receive_json()["message"]
        send(ws, "ask", "early", text="what is up?")
        assert ws.receive_json()["type"] == "ack"
        assert "hello first" in ws.receive_json()["message"]
        send(ws, "ping", "still-here")
        assert until(ws, "pong")[0]["of"] == "still-here"


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[TestClient]:
    settings = settings_for(tmp_path, auth={"enabled": True}, remediate={"executors": [
        {"type": "fleet", "name": "sim", "url": "http://127.0.0.1:9", "kinds": ["rollback"]}]})
    settings.data_dir.mkdir(parents=True)
    store = IncidentStore(settings.incident_db_url)
    store.create(Incident("inc-1", Status.ANALYSIS_COMPLETE, Severity.HIGH, "errors", ["api"],
                          "api", NOW, NOW, NOW, suspected_change={
                              "service": "api", "version": "2", "previous_version": "1",
                              "minutes_before_onset": 1}),
                 TimelineEvent(NOW, "detected", "seen"))
    store.close()
    app = create_app(settings)  # with the responder loop, so an action is proposed
    app.include_router(chat.router)
    with TestClient(app) as c:
        yield c


def key(client: TestClient, role: str, name: str) -> dict[str, str]:
    _id, secret = client.app.state.auth.users.create_api_key(name, role)
    return {"Authorization": f"Bearer {secret}"}


def proposed_action(client: TestClient) -> str:
    """The id of the action the response loop proposes, once the incident waits for a
    decision on it (the action is stored a moment before the incident moves)."""
    wait_until(lambda: client.app.state.incidents.get("inc-1").status.value
               == "pending_approval", what="the proposal")
    return client.app.state.actions.for_incident("inc-1")[0].id


def test_only_an_approver_can_approve_from_chat(secured: TestClient) -> None:
    action = proposed_action(secured)
    with secured.websocket_connect("/ws/chat", headers=key(secured, "viewer", "vic")) as ws:
        vics = hello(ws)["conversation_id"]
        send(ws, "approve", "a1", incident_id="inc-1", action_id=action)
        refused, _ = until(ws, "error")
        assert refused["of"] == "a1" and "approver role needed" in refused["message"]
    assert secured.app.state.actions.get(action).status.value == "proposed"
    with secured.websocket_connect("/ws/chat", headers=key(secured, "approver", "ann")) as ws:
        anns = hello(ws, vics)  # someone else's conversation is not hers to read
        assert anns["conversation_id"] != vics and anns["history"] == []
        send(ws, "approve", "a2", incident_id="inc-1", action_id=action)
        done, _ = until(ws, "answer")
        assert done["route"] == "approve" and action in done["text"]
    decided = secured.app.state.actions.get(action)
    assert decided.status.value != "proposed" and decided.decided_by == "ann"


def test_unauthenticated_connections_are_refused(secured: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect) as refused, \
            secured.websocket_connect("/ws/chat") as ws:
        ws.receive_json()
    assert refused.value.code == 1008
    bad = {"Authorization": "Bearer oasis_nope_nope"}
    with pytest.raises(WebSocketDisconnect), \
            secured.websocket_connect("/ws/chat", headers=bad) as ws:
        ws.receive_json()


# The page's script, run by Node against a real server with a stand-in DOM. Its first
# socket is closed right after the question goes out, before any ack can arrive.
HARNESS = r"""
const fs = require("fs");
const [script, host] = process.argv.slice(2);
function element() {
  return {children: [], dataset: {}, handlers: {}, textContent: "", className: "",
    classList: {add() {}, remove() {}},
    appendChild(c) { this.children.push(c); return c; },
    get childElementCount() { return this.children.length; },
    addEventListener(kind, fn) { this.handlers[kind] = fn; }};
}
const els = {log: element(), status: element(), form: element(), text: element()};
const statuses = [];  // every status the page shows, however briefly
let shown = "";
Object.defineProperty(els.status, "textContent", {
  get() { return shown; }, set(text) { shown = text; statuses.push(text); }});
globalThis.document = {getElementById: (id) => els[id], createElement: element};
const saved = {};
globalThis.localStorage = {getItem: (k) => saved[k] ?? null,
                           setItem: (k, v) => { saved[k] = String(v); }};
globalThis.location = {protocol: "http:", host};
const sent = [];
const opened = [];
let sockets = 0;
const Real = WebSocket;
globalThis.WebSocket = class extends Real {
  constructor(url) { super(url); this.n = ++sockets; opened.push(this); }
  send(data) {
    sent.push({socket: this.n, message: JSON.parse(data)});
    super.send(data);
    if (this.n === 1 && JSON.parse(data).type === "ask") this.close();
  }
};
eval(fs.readFileSync(script, "utf8"));
function answers() { return els.log.children.filter((c) => c.className === "msg out"); }
const asked = setInterval(() => {
  if (els.status.textContent !== "online") return;
  clearInterval(asked);
  els.text.value = "How do I drain node groups before the EKS upgrade?";
  els.form.handlers.submit({preventDefault() {}});
}, 20);
function report() {
  console.log(JSON.stringify({sockets, statuses: [...new Set(statuses)],
    asks: sent.filter((s) => s.message.type === "ask"),
    answers: answers().map((a) => ({text: a.textContent,
      sources: (a.children[0] || {children: []}).children.map((li) => li.textContent)}))}));
  process.exit(0);
}
// Once answered, a ping of the harness's own on the newest socket: the server handles a
// socket's messages in order, so when its pong is back, whatever the server sent about the
// resent question has arrived (and been shown, or not) too.
const started = Date.now();
const finish = setInterval(() => {
  const done = answers().length > 0 && sockets >= 2;
  if (!done && Date.now() - started < 40000) return;  // generous: the machine may be slow
  const newest = opened[opened.length - 1];
  if (done && newest.readyState !== Real.OPEN) return;
  clearInterval(finish);
  if (!done) { report(); return; }
  newest.addEventListener("message", (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "pong" && message.of === "harness-fence") setImmediate(report);
  });
  Real.prototype.send.call(newest, JSON.stringify(
    {type: "ping", id: "harness-fence", ts: new Date().toISOString()}));
}, 50);
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to run chat.js")
def test_the_page_resends_an_unacknowledged_question_once_after_reconnecting(
        tmp_path: Path) -> None:
    app = create_app(settings_for(tmp_path), monitor=False)
    app.include_router(chat.router)
    with serving(app) as url:
        app.state.knowledge.add_text("runbooks/eks-upgrade.md", RUNBOOK)
        harness = tmp_path / "harness.js"
        harness.write_text(HARNESS)
        script = Path(chat.__file__).parent / "static" / "chat.js"
        run = subprocess.run(["node", "--experimental-websocket", "--no-warnings",
                              str(harness), str(script), url.removeprefix("http://")],
                             capture_output=True, text=True, timeout=90)
        assert run.returncode == 0, run.stderr
        seen = json.loads(run.stdout)
        classified = len(app.state.response.audit.records(kind="act.classified"))
    assert seen["sockets"] >= 2 and "connecting" in seen["statuses"]
    assert any(s.startswith("offline, retrying in") for s in seen["statuses"])
    asks = seen["asks"]
    assert len(asks) == 2 and asks[0]["socket"] == 1 and asks[1]["socket"] >= 2
    assert asks[0]["message"]["id"] == asks[1]["message"]["id"]  # same id, resent once
    assert classified == 1  # the server acted on it once
    [answer] = seen["answers"]  # and the page shows it once, with its source
    assert "drain" in answer["text"].lower()
    assert any("runbooks/eks-upgrade.md" in s for s in answer["sources"])
