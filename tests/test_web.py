"""The web console: every page renders, filters, escaping, the server-side chart, login,
and who may approve; decisions taken on a page reach the same responder as the API.
Forms are posted with the CSRF token their page carries, as a browser would."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient

from oasis.api import create_app
from oasis.auth import Role
from oasis.config import Settings
from oasis.incidents import Incident, IncidentStore, Severity, Status, TimelineEvent
from oasis.remediate.catalog import ActionKind, ActionSpec, Risk
from oasis.signals.model import DeploymentRecord, MetricRecord
from oasis.web import STATIC_DIR, router

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
ONSET = NOW - timedelta(minutes=20)
DEPLOY_AT = ONSET - timedelta(minutes=2)
SERVICE = "checkout-service"
EVIL = "<script>alert('x')</script>"


def _incidents(db_url: str) -> None:
    store = IncidentStore(db_url)
    store.create(Incident(
        "inc-1", Status.ANALYSIS_COMPLETE, Severity.HIGH, "checkout errors", [SERVICE],
        SERVICE, ONSET, ONSET + timedelta(minutes=1), NOW, summary="errors after deploy",
        suspected_change={"service": SERVICE, "version": "9.9.9", "previous_version": "9.9.8",
                          "minutes_before_onset": 2},
        evidence=[{"service": SERVICE, "signal": "error_rate", "role": "symptom",
                   "summary": "error rate 12% vs 0.5%"},
                  {"service": SERVICE, "kind": "log_samples", "lines": [
                      {"timestamp": "2026-11-23T10:00:00Z", "level": "error",
                       "message": f"payment failed {EVIL}"}]}]),
        TimelineEvent(ONSET + timedelta(minutes=1), "detected", "error rate rose"))
    store.create(Incident(
        "inc-2", Status.RESOLVED, Severity.LOW, "search latency", ["search"], "search",
        ONSET - timedelta(hours=2), ONSET - timedelta(hours=2), ONSET - timedelta(hours=2)),
        TimelineEvent(ONSET - timedelta(hours=2), "detected", "latency rose"))
    store.close()


def _console(settings: Settings) -> FastAPI:
    # The wiring oasis/api/app.py needs: the pages and their static assets.
    app = create_app(settings, monitor=False)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _seed_signals(client: TestClient) -> None:
    state = client.app.state
    state.actions.add(ActionSpec(id="act-1", incident_id="inc-1", kind=ActionKind.ROLLBACK,
                                 params={"service": SERVICE}, risk=Risk.MEDIUM,
                                 reason="errors began 2 min after 9.9.9"), proposed_by="oasis")
    points = [MetricRecord(ONSET - timedelta(minutes=m), SERVICE, "error_rate",
                           0.12 if m <= 0 else 0.005) for m in range(-19, 30)]
    state.store.append([*points, DeploymentRecord(DEPLOY_AT, SERVICE, "9.9.9", "9.9.8")])


def _settings(tmp_path: Path, auth: bool) -> Settings:
    settings = Settings(data_dir=tmp_path / "data", notify={"email_enabled": False},
                        knowledge={"embedder": "none"}, auth={"enabled": auth})
    settings.data_dir.mkdir(parents=True)
    return settings


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = _settings(tmp_path, auth=False)
    _incidents(settings.incident_db_url)
    with TestClient(_console(settings)) as c:
        _seed_signals(c)
        yield c


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[TestClient]:
    settings = _settings(tmp_path, auth=True)
    _incidents(settings.incident_db_url)
    with TestClient(_console(settings)) as c:
        _seed_signals(c)
        c.app.state.auth.users.create_user("vic", Role.VIEWER, "viewer pass 123")
        c.app.state.auth.users.create_user("ana", Role.APPROVER, "approver pass 123")
        yield c


def form_token(client: TestClient, path: str) -> str:
    """The CSRF token in the form of the page at `path`."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, f"no CSRF field on {path}"
    return found.group(1)


def browser_token(client: TestClient) -> str:
    """This browser's CSRF token, as every page's `<meta name="csrf-token">` carries it."""
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get("/").text)
    assert found
    return found.group(1)


def login(client: TestClient, name: str, password: str) -> None:
    r = client.post("/login", data={"name": name, "password": password, "next": "/",
                                    "csrf_token": form_token(client, "/login")},
                    follow_redirects=False)
    assert r.status_code == 303, r.text


def test_incident_list_newest_first_with_badges_filters_and_live_script(
        client: TestClient) -> None:
    page = client.get("/").text
    assert page.index("checkout errors") < page.index("search latency")
    assert 'class="badge sev-high"' in page and "/static/console.js" in page
    resolved = client.get("/", params={"status": "resolved"}).text
    assert "search latency" in resolved and "checkout errors" not in resolved
    high = client.get("/", params={"severity": "high", "service": SERVICE}).text
    assert "checkout errors" in high and "search latency" not in high
    bad = client.get("/", params={"severity": "apocalyptic"})
    assert bad.status_code == 400 and "apocalyptic" in bad.text


def test_static_assets_are_served_locally(client: TestClient) -> None:
    js = client.get("/static/console.js")
    assert js.status_code == 200 and "textContent" in js.text and "5000" in js.text
    assert client.get("/static/console.css").status_code == 200
    page = client.get("/").text
    assert "http://" not in page and "https://" not in page  # no CDN, nothing off-site


def test_incident_page_shows_cause_change_evidence_escaped_and_actions(
        client: TestClient) -> None:
    r = client.get("/incidents/inc-1")
    assert r.status_code == 200
    page = r.text
    for expected in ("checkout errors", "analysis complete", SERVICE, "9.9.8", "9.9.9",
                     "error rate 12% vs 0.5%", "error rate rose", "rollback",
                     "errors began 2 min after 9.9.9", "risk-medium"):
        assert expected in page, expected
    assert EVIL not in page and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "/incidents/inc-1/actions/act-1/approve" in page  # local admin may decide


def test_incident_summary_is_a_short_list(client: TestClient) -> None:
    page = client.get("/incidents/inc-1").text
    glance = page.split('<ul class="glance"')[1].split("</ul>")[0]
    items = [" ".join(re.sub(r"<[^>]+>", " ", li).split())
             for li in glance.split("<li>")[1:]]
    assert [i.split(" ")[0] for i in items] == ["What", "Where", "Since", "Suspected",
                                                 "Proposed"]
    what, where, since, change, action = items
    assert what == "What error rate 12% vs 0.5%"
    assert where == f"Where {SERVICE} (likely cause)"
    assert since.startswith(f"Since {ONSET:%Y-%m-%d %H:%M}Z (") and "min ago" in since
    assert change == (f"Suspected change {SERVICE} 9.9.8 → 9.9.9, deployed 2 min before "
                      "the onset")
    assert action == (f"Proposed action roll back {SERVICE} to its previous version "
                      "(risk medium, waits for approval)")
    assert "errors after deploy" not in page  # the old one-paragraph summary is gone


def test_chart_marks_onset_and_deployment(client: TestClient) -> None:
    page = client.get("/incidents/inc-1").text
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert 'class="marker-onset"' in svg and f"onset {ONSET:%H:%M}Z" in svg
    assert 'class="marker-deploy"' in svg and f"deploy 9.9.9 {DEPLOY_AT:%H:%M}Z" in svg
    points = svg.split('points="')[1].split('"')[0].split()
    assert len(points) >= 40  # one per minute from 30 min before the onset to now
    # The anomaly window starts at the onset line and, while the incident is open, runs
    # to the chart's right edge.
    onset_x = svg.split('class="marker-onset"><line x1="')[1].split('"')[0]
    window = svg.split('class="anomaly-window"')[1].split(">")[0]
    assert f'x="{onset_x}"' in window
    width = float(window.split('width="')[1].split('"')[0])
    assert abs(float(onset_x) + width - (640 - 12)) < 1


def test_a_recovered_incidents_window_ends_at_its_recovery(client: TestClient) -> None:
    incidents = client.app.state.incidents
    incident = incidents.get("inc-1")
    incident.recovered_at = ONSET + timedelta(minutes=10)
    incidents.update(incident)
    svg = client.get("/incidents/inc-1").text.split("<svg")[1].split("</svg>")[0]
    window = svg.split('class="anomaly-window"')[1].split(">")[0]
    left = float(window.split('x="')[1].split('"')[0])
    right = left + float(window.split('width="')[1].split('"')[0])
    # 30 min of calm before the onset, then up to the signals' clock (the newest point,
    # 19 min after the onset, less 30 s): the 10 min window is 10/48.5 of the chart.
    assert abs((right - left) / (640 - 12 - 48) - 10 / 48.5) < 0.01
    assert f">{ONSET + timedelta(minutes=18):%H:%M}Z<" in svg  # ends on the signals' clock


def test_a_resolved_incident_shows_its_final_report(client: TestClient) -> None:
    resolved = client.get("/incidents/inc-2").text
    assert 'id="final-report"' in resolved and "search latency" in resolved
    report = resolved[resolved.index('<pre class="report">'):]
    assert "resolved" in report.split("</pre>")[0].lower()
    assert 'id="final-report"' not in client.get("/incidents/inc-1").text  # still open


def test_unknown_incident_is_404(client: TestClient) -> None:
    r = client.get("/incidents/inc-nope")
    assert r.status_code == 404 and "inc-nope" in r.text


def test_events_and_tickets_work_without_an_organisation_file(client: TestClient) -> None:
    # The built-in organisation (one team, ops) stands in for the missing file.
    for path in ("/events", "/tickets"):
        r = client.get(path)
        assert r.status_code == 200 and "Triage is not configured" not in r.text


def test_knowledge_search_shows_answer_and_source(client: TestClient) -> None:
    client.app.state.knowledge.add_text(
        "runbooks/checkout.md", "# Checkout rollback\n\nWhen checkout errors rise after a "
        "deploy, roll checkout-service back to the previous version and watch error_rate.")
    page = client.get("/knowledge", params={"q": "how do I roll back checkout?"}).text
    assert "runbooks/checkout.md" in page and "Answer" in page
    assert "roll checkout-service back" in page


def test_audit_page_verifies_filters_and_exports(client: TestClient) -> None:
    audit = client.app.state.response.audit
    audit.append("approval.granted", "ana", "act-9", {"note": "ok"})
    audit.append("incident.resolved", "bob", "inc-9", {})
    page = client.get("/audit").text
    assert "chain intact" in page and "act-9" in page and "inc-9" in page
    only = client.get("/audit", params={"kind": "approval.*"}).text
    assert "act-9" in only and "inc-9" not in only
    export = client.get("/audit/export.jsonl")
    assert export.status_code == 200
    lines = export.text.strip().splitlines()
    assert len(lines) == 2 and '"act-9"' in lines[0]


def test_local_admin_approves_after_confirmation(client: TestClient) -> None:
    confirm = client.get("/incidents/inc-1/actions/act-1/approve")
    assert confirm.status_code == 200 and "Approve this action?" in confirm.text
    assert client.app.state.actions.get("act-1").status.value == "proposed"  # GET decides nothing
    # Without a login there is no session to bind a token to: a per-browser cookie is one,
    # so another site still cannot post here through this browser.
    token = form_token(client, "/incidents/inc-1/actions/act-1/approve")
    assert "oasis_csrf" in client.cookies
    forged = client.post("/incidents/inc-1/actions/act-1/approve", data={"note": "go"})
    assert forged.status_code == 403 and "security token" in forged.text
    assert client.app.state.actions.get("act-1").status.value == "proposed"
    r = client.post("/incidents/inc-1/actions/act-1/approve",
                    data={"note": "go", "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert client.app.state.actions.get("act-1").status.value == "approved"
    again = client.post("/incidents/inc-1/actions/act-1/reject", data={"csrf_token": token})
    assert again.status_code == 409 and "already approved" in again.text


def test_pages_send_anonymous_people_to_login(secured: TestClient) -> None:
    for path in ("/", "/incidents/inc-1", "/audit", "/knowledge?q=x"):
        r = secured.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
    assert secured.post("/incidents/inc-1/actions/act-1/approve",
                        follow_redirects=False).status_code == 303
    assert secured.app.state.actions.get("act-1").status.value == "proposed"


def test_wrong_password_shows_the_form_again(secured: TestClient) -> None:
    r = secured.post("/login", data={"name": "ana", "password": "nope", "next": "/",
                                     "csrf_token": form_token(secured, "/login")})
    assert r.status_code == 401 and "wrong name or password" in r.text
    assert secured.get("/", follow_redirects=False).status_code == 303


def test_viewer_sees_disabled_buttons_and_a_forged_post_is_403(secured: TestClient) -> None:
    login(secured, "vic", "viewer pass 123")
    page = secured.get("/incidents/inc-1").text
    assert "approver role needed" in page and "disabled" in page
    assert "/actions/act-1/approve" not in page
    assert secured.get("/incidents/inc-1/actions/act-1/approve").status_code == 403
    forged = secured.post("/incidents/inc-1/actions/act-1/approve", data={"note": "x"})
    assert forged.status_code == 403 and "approver role needed" in forged.text
    assert secured.app.state.actions.get("act-1").status.value == "proposed"
    assert secured.get("/audit/export.jsonl").status_code == 403


def test_approver_approves_after_confirmation(secured: TestClient) -> None:
    login(secured, "ana", "approver pass 123")
    page = secured.get("/incidents/inc-1").text
    assert "ana" in page and "/incidents/inc-1/actions/act-1/approve" in page
    confirm = secured.get("/incidents/inc-1/actions/act-1/approve")
    assert confirm.status_code == 200 and "Yes, approve" in confirm.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', confirm.text).group(1)
    done = secured.post("/incidents/inc-1/actions/act-1/approve",
                        data={"note": "roll it", "csrf_token": token})
    assert done.status_code == 200 and "approved" in done.text
    action = secured.app.state.actions.get("act-1")
    assert action.status.value == "approved" and action.decided_by == "ana"
    assert secured.app.state.incidents.get("inc-1").status is Status.APPROVED
    secured.get("/logout")
    assert secured.get("/", follow_redirects=False).status_code == 303


def test_events_and_tickets_show_decision_reason_owner_team_and_status(
        tmp_path: Path) -> None:
    org = Path(__file__).resolve().parents[1] / "examples" / "organisation.yaml"
    settings = Settings(data_dir=tmp_path / "data", notify={"email_enabled": False},
                        knowledge={"embedder": "none"}, triage={"organisation_file": org})
    with TestClient(_console(settings)) as c:
        sent = c.post("/api/v1/events/report", params={"wait": True}, json={
            "text": "EKS clusters <b>failing</b> to schedule pods after the node upgrade",
            "reporter": "ops@example.com", "accounts": ["111122223333"],
            "service": "EKS"}).json()["results"][0]
        events = c.get("/events").text
        assert sent["verdict"] in events and sent["key"] in events
        assert "&lt;b&gt;failing&lt;/b&gt;" in events and "<b>failing" not in events
        assert c.get("/events", params={"verdict": "nothing-like-it"}).text.count(
            sent["key"]) == 0
        tickets = c.get("/tickets").text
        made = c.get("/api/v1/tickets").json()
        assert made and sent["verdict"] == "accept"
        for t in made:
            assert t["id"] in tickets and t["team"] in tickets and t["status"] in tickets
        assert c.get("/tickets", params={"status": "bogus"}).status_code == 400
