"""The console and the web chat in a real browser (Debian's Chromium, driven by Playwright):
an approver logs in, watches the incident of a simulated bad deploy appear, opens it, reads
the chart, approves the rollback and sees `resolved`; a question in the chat is answered
with its source; a dropped WebSocket reconnects and nothing is answered twice.

One `oasis demo` (auth on, triage on, a knowledge base with a runbook) serves every test of
the module. With OASIS_SCREENSHOTS=1 (as bench/screens.py sets) the tests also save PNGs of
the main pages under bench/results/screens/.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from oasis.auth import Role
from oasis.auth.users import UserStore
from oasis.notify.catcher import parse_message, stored_files, text_of
from oasis.state import state_engine
from tests.browser_setup import chromium
from tests.helpers import wait_until
from tests.servers import free_port

pytestmark = [pytest.mark.timeout(300), pytest.mark.browser]
ROOT = Path(__file__).resolve().parents[1]
SCREENS = ROOT / "bench" / "results" / "screens"
RUNBOOK = ROOT / "tests" / "kb_docs" / "eks-upgrade.md"
RUNBOOK_TITLE = "EKS cluster version upgrade runbook"
QUESTION = "What does EKS extended support cost per cluster per hour?"
APPROVER, PASSWORD = "alice", "correct horse battery"
SPEED = 240  # simulated minutes per real minute: detection and verification in seconds
OASIS = [sys.executable, "-m", "oasis"]
WAIT_MS = 150_000  # for what the simulated fleet must do first (detect, verify)
# Every expectation polls; on a loaded machine the page may need longer than Playwright's 5 s.
expect.set_options(timeout=30_000)


@dataclass(frozen=True, slots=True)
class Demo:
    url: str
    control_url: str
    api_key: str
    log: Path
    mail: Path


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def screenshot(page: Page, name: str, *, height: int | None = None) -> None:
    """Save the whole page (or its top `height` pixels) as bench/results/screens/NAME.png,
    when screenshots are asked for: a plain test run rewrites no committed file."""
    if os.environ.get("OASIS_SCREENSHOTS") != "1":
        return
    SCREENS.mkdir(parents=True, exist_ok=True)
    clip = None
    if height is not None:
        clip = {"x": 0, "y": 0, "width": page.viewport_size["width"], "height": height}
    page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True, clip=clip)


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"oasis demo exited ({proc.returncode}):\n{log.read_text()}")
        try:
            return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, timeout, what=f"oasis demo to answer on {url}", interval=0.2)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """`oasis demo` with logins required, triage on and the EKS runbook in its knowledge
    base (`oasis kb add`); an approver who logs in with a password, a responder's key."""
    home = tmp_path_factory.mktemp("browser-demo")
    port, control, smtp = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OASIS_")}
    env |= {"OASIS_DATA_DIR": str(home), "XDG_DATA_HOME": str(home / "xdg"),
            "OASIS_AUTH__ENABLED": "true",
            # Outside DATA_DIR/demo, which the demo empties when it starts.
            "OASIS_KNOWLEDGE__PATH": str(home / "knowledge.db"),
            "OASIS_TRIAGE__ORGANISATION_FILE": str(ROOT / "examples" / "organisation.yaml"),
            "COLUMNS": "200"}
    log = home / "demo.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*OASIS, "demo", "--speed", str(SPEED), "--approve-after", "-1",
             "--keep-running", "--duration", "600",
             "--port", str(port), "--control-port", str(control), "--smtp-port", str(smtp)],
            env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        # While the demo starts: the service reads the knowledge base's file on each question.
        added = subprocess.run([*OASIS, "kb", "add", str(RUNBOOK)], env=env,
                               capture_output=True, text=True, timeout=120)
        assert added.returncode == 0, added.stdout + added.stderr
        _wait_healthy(url, proc, log)
        # Users live in the demo's state database, which exists once the service is up.
        engine = state_engine(f"sqlite:///{home / 'demo' / 'state.db'}")
        users = UserStore(engine)
        users.create_user(APPROVER, Role.APPROVER, PASSWORD)
        _, key = users.create_api_key("reporter-bot", Role.RESPONDER)
        engine.dispose()
        yield Demo(url, f"http://127.0.0.1:{control}", key, log, home / "demo" / "mail")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def log_in(page: Page, start: str, *, redirected: bool = True) -> None:
    """Log in as the approver and land on `start`: a console page sends people who are not
    logged in to the form; the chat page is static, so they open the form themselves."""
    page.goto(start if redirected else f"/login?next={quote(start, safe='')}")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Name").fill(APPROVER)
    page.get_by_label("Password").fill(PASSWORD)
    screenshot(page, "login")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(re.escape(start) + "$"))


def _chat_answers(page: Page) -> Locator:
    return page.locator(".msg.out:not(.error)")


def test_a_question_in_the_web_chat_is_answered_with_its_source(
        demo: Demo, browser: Browser) -> None:
    # Tall enough that the question and the whole answer fit in the chat's scrolling log.
    context = browser.new_context(base_url=demo.url, viewport={"width": 1000, "height": 1300})
    page = context.new_page()
    try:
        page.goto("/static/chat.html")  # not logged in yet: told so, not "retrying"
        expect(page.locator("#status")).to_contain_text("log in to chat")
        log_in(page, "/static/chat.html", redirected=False)
        expect(page.locator("#status")).to_have_text("online")
        page.get_by_placeholder("Ask a question").fill(QUESTION)
        page.get_by_role("button", name="Send").click()
        answer = _chat_answers(page)
        expect(answer).to_have_count(1)
        expect(answer).to_contain_text("0.60")  # quoted from the runbook
        expect(answer.locator(".sources li").first).to_contain_text(RUNBOOK_TITLE)
        expect(page.locator(".msg.in.pending")).to_have_count(0)  # acknowledged
        screenshot(page, "chat")
    finally:
        context.close()


class DroppableProxy:
    """A TCP forwarder between the browser and OASIS. `drop()` cuts every open connection,
    as a restarting load balancer or a lost network would, and refuses new ones until
    `resume()`: the server itself stays up, so only the client's reconnect is tested."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.refusing = threading.Event()
        self.connections: set[socket.socket] = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def drop(self) -> None:
        self.refusing.set()
        with self.lock:
            for conn in self.connections:
                _shut(conn)

    def resume(self) -> None:
        self.refusing.clear()

    def close(self) -> None:
        self.drop()
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if self.refusing.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), 5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.connections |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _shut(sink)  # wakes the thread reading the other direction
            with self.lock:
                self.connections.discard(source)
            source.close()


def _shut(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        conn.shutdown(socket.SHUT_RDWR)


def test_the_chat_reconnects_after_the_connection_drops(demo: Demo, browser: Browser) -> None:
    proxy = DroppableProxy(int(demo.url.rsplit(":", 1)[1]))
    context = browser.new_context(base_url=f"http://127.0.0.1:{proxy.port}")
    page = context.new_page()
    status = page.locator("#status")
    try:
        log_in(page, "/static/chat.html", redirected=False)
        expect(status).to_have_text("online")
        proxy.drop()
        expect(status).to_have_attribute("data-state", "offline")
        expect(status).to_contain_text("retrying in")
        # Typed while offline: kept, and sent once the connection is back.
        page.get_by_placeholder("Ask a question").fill(QUESTION)
        page.get_by_role("button", name="Send").click()
        expect(page.locator(".msg.in.pending")).to_have_count(1)
        proxy.resume()
        expect(status).to_have_text("online", timeout=40_000)  # backoff is at most 30 s
        expect(_chat_answers(page)).to_have_count(1)

        page.get_by_placeholder("Ask a question").fill("How do I upgrade the node groups?")
        page.get_by_role("button", name="Send").click()
        answers = _chat_answers(page)
        expect(answers).to_have_count(2)
        # Answers come in order on one socket: with the second one shown, a repeat of the
        # first would already be here too.
        expect(answers.nth(0).locator(".sources li").first).to_contain_text(RUNBOOK_TITLE)
        expect(answers.nth(1)).to_contain_text("node group")
        expect(page.locator(".msg.in")).to_have_count(2)
        expect(page.locator(".msg.in.pending")).to_have_count(0)
    finally:
        context.close()
        proxy.close()


def test_approver_approves_the_rollback_of_a_bad_deploy_and_sees_it_resolved(
        demo: Demo, browser: Browser) -> None:
    context = browser.new_context(base_url=demo.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        log_in(page, "/")
        expect(page.get_by_role("heading", name="Incidents")).to_be_visible()
        # The list refreshes itself every 5 s: the incident shows up without a reload.
        incident = page.locator("#incidents a", has_text="checkout-service")
        expect(incident).to_be_visible(timeout=WAIT_MS)
        expect(page.locator("#live-status")).to_contain_text("Updated", timeout=15_000)
        screenshot(page, "incidents")
        _phone_list(browser, context, demo)

        incident.click()
        expect(page).to_have_url(re.compile(r"/incidents/inc-"))
        chart = page.locator("svg.chart")
        expect(chart).to_be_visible()
        expect(chart.locator(".marker-onset")).to_contain_text("onset")
        change = page.locator("dt:text-is('Suspected change') + dd").inner_text()
        version = re.search(r"→\s*(\S+)", change)
        assert version, f"no suspected deploy on the page: {change!r}"
        deploys = chart.locator(".marker-deploy").all_text_contents()
        caption = page.locator("figure figcaption").inner_text()
        assert any(d.startswith(f"deploy {version.group(1)} ") for d in deploys), (
            f"chart of {caption!r} marks {deploys}")
        approve = page.get_by_role("link", name="Approve", exact=True)
        expect(approve).to_be_visible(timeout=WAIT_MS)  # once the rollback is proposed
        expect(page.locator(".action").filter(has=approve)).to_contain_text("rollback")
        screenshot(page, "incident")
        screenshot(page, "incident-top", height=1200)  # title, facts, chart, actions

        approve.click()
        expect(page.get_by_role("heading", name="Approve this action?")).to_be_visible()
        screenshot(page, "confirm")
        page.get_by_label("Note for the timeline").fill("bad deploy, roll it back")
        page.get_by_role("button", name="Yes, approve").click()
        expect(page).to_have_url(re.compile(r"/incidents/inc-[^/]+$"))
        expect(page.locator(".timeline")).to_contain_text(APPROVER)

        resolved = page.locator(".status", has_text=re.compile(r"^\s*resolved\s*$"))

        def shown_resolved() -> int:
            if count := resolved.count():
                return count
            page.reload()  # the page does not refresh itself
            return resolved.count()

        try:
            wait_until(shown_resolved, WAIT_MS / 1000, what="resolved", interval=1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the demo said:\n{demo.log.read_text()}") from None
        screenshot(page, "incident-resolved")
        actions = httpx.get(f"{demo.control_url}/fleet/actions", timeout=5).json()
        assert [(a["action"], a["service"]) for a in actions] == [
            ("rollback", "checkout-service")]
    finally:
        context.close()


def _phone_list(browser: Browser, context: BrowserContext, demo: Demo) -> None:
    """The incident list at a phone's width, with the login of `context`."""
    if os.environ.get("OASIS_SCREENSHOTS") != "1":
        return
    phone = browser.new_context(base_url=demo.url, viewport={"width": 390, "height": 844},
                                device_scale_factor=2, is_mobile=True,
                                storage_state=context.storage_state())
    page = phone.new_page()
    page.goto("/")
    expect(page.locator("#incidents a", has_text="checkout-service")).to_be_visible()
    screenshot(page, "incidents-phone")
    phone.close()


def test_console_pages_from_the_navigation(demo: Demo, browser: Browser) -> None:
    reported = httpx.post(
        f"{demo.url}/api/v1/events/report", params={"wait": True},
        headers={"Authorization": f"Bearer {demo.api_key}"}, timeout=30,
        json={"text": "EKS clusters failing to schedule pods after the node upgrade",
              "reporter": "ops@example.com", "accounts": ["111122223333"], "service": "EKS"})
    assert reported.is_success, reported.text
    event_key = reported.json()["results"][0]["key"]
    context = browser.new_context(base_url=demo.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        log_in(page, "/events")
        expect(page.get_by_text(event_key)).to_be_visible()
        screenshot(page, "events")

        page.get_by_role("navigation").get_by_role("link", name="Tickets").click()
        expect(page).to_have_url(re.compile(r"/tickets$"))
        expect(page.locator("main table tbody tr").first).to_contain_text("EKS")
        screenshot(page, "tickets")

        page.get_by_role("navigation").get_by_role("link", name="Services").click()
        expect(page.get_by_role("link", name="checkout-service", exact=True)).to_be_visible()
        screenshot(page, "services")

        page.get_by_role("navigation").get_by_role("link", name="Knowledge").click()
        page.get_by_label("question").fill(QUESTION)
        page.get_by_role("button", name="Search").click()
        expect(page.locator("ol.sources li").first).to_contain_text(RUNBOOK_TITLE)
        screenshot(page, "knowledge")

        page.get_by_role("navigation").get_by_role("link", name="Audit").click()
        expect(page.locator("#verify")).to_contain_text("chain intact")
        screenshot(page, "audit")
    finally:
        context.close()


def _caught(demo: Demo, kind: str, what: str, containing: str = "") -> list:
    """Every caught mail of `kind` (whose text has `containing`), once there is one."""
    def found() -> list:
        mails = [parse_message(p) for p in stored_files(demo.mail)]
        return [m for m in mails if m["X-OASIS-Kind"] == kind and containing in text_of(m)]

    return wait_until(found, WAIT_MS / 1000, what=what, interval=0.5)


def _link(mail, label: str) -> str:
    """The URL after `label:` in the mail's plain text, as a reader would click it."""
    found = re.search(rf"^\s*{label}:\s+(http\S+)$", text_of(mail), re.MULTILINE)
    assert found, f"no {label} link in:\n{text_of(mail)}"
    return found.group(1)


def test_links_in_caught_mail_open_the_console_pages(demo: Demo, browser: Browser) -> None:
    [summary, *_] = _caught(demo, "incident_summary", "the incident summary mail")
    incident_id = summary["X-OASIS-Incident"]
    reported = httpx.post(
        f"{demo.url}/api/v1/events/report", params={"wait": True},
        headers={"Authorization": f"Bearer {demo.api_key}"}, timeout=30,
        json={"text": "VPC peering to the payments account drops packets",
              "reporter": "ops@example.com", "accounts": ["111122223333"], "service": "VPC"})
    assert reported.is_success, reported.text
    [ticket_mail, *_] = _caught(demo, "ticket", "the VPC ticket's mail", "VPC peering")
    context = browser.new_context(base_url=demo.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        incident_link = _link(summary, "Incident")
        assert incident_link.startswith(f"{demo.url}/incidents/{incident_id}")
        log_in(page, incident_link)  # not signed in yet: the login form, then the page
        expect(page).to_have_url(incident_link)
        expect(page.locator("main h1")).to_contain_text("checkout-service")
        expect(page.locator("main")).to_contain_text(incident_id)

        ticket_link = _link(ticket_mail, "Ticket")
        page.goto(ticket_link)
        ticket_id = ticket_link.rsplit("/", 1)[1]
        expect(page).to_have_url(ticket_link)
        expect(page.locator("main h1")).to_contain_text("VPC peering")
        expect(page.locator("main")).to_contain_text(ticket_id)
        expect(page.locator("main")).to_contain_text("What needs doing")
        page.goto(_link(ticket_mail, "Event page"))
        expect(page).to_have_url(re.compile(r"/events\?key="))
        expect(page.locator("main h1")).to_contain_text("VPC peering")
        expect(page.locator("main table")).to_contain_text(ticket_id)
    finally:
        context.close()
    # one incident's mails are one conversation in the reader's mail client
    about_it = [parse_message(p) for p in stored_files(demo.mail)]
    threads = {m["References"] for m in about_it if m["X-OASIS-Incident"] == incident_id}
    assert len(threads) == 1 and f"<incident-{incident_id}@" in threads.pop()
