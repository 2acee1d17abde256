"""Mirror triage tickets to Jira (REST API v2, basic auth with an API token).

    POST /rest/api/2/issue                       create
    PUT  /rest/api/2/issue/{key}                 update
    GET  /rest/api/2/issue/{key}/transitions     what the workflow allows now
    POST /rest/api/2/issue/{key}/transitions     move it
    GET  /rest/api/2/search?jql=...              find an issue already made

Every issue carries the labels `oasis`, `oasis-<hash of the event key>` and
`oasis-team-<team>`. A ticket that lost its Jira key (a crash between create and save,
a second process) is found by those labels instead of being created twice.

Transient failures (network, 429, 5xx) are retried a few times with a growing pause;
the caller (Triage) writes what still fails on the ticket's history.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from typing import Any

import httpx
from pydantic import SecretStr

from oasis.signals.errors import Unavailable
from oasis.signals.retry import Backoff, retryable_status, with_retries
from oasis.triage.tickets import Ticket, TicketStatus

# OASIS ticket attribute → Jira field. `title`/`description` are required; add custom
# fields as needed, e.g. {"team": "customfield_10010"}.
DEFAULT_FIELD_MAP: dict[str, str] = {"title": "summary", "description": "description",
                                     "severity": "priority"}
PRIORITIES = {5: "Highest", 4: "High", 3: "Medium", 2: "Low", 1: "Lowest"}
# OASIS status → the Jira status to move to (Jira's default workflow); None: stay.
DEFAULT_STATUS_MAP: dict[str, str | None] = {
    TicketStatus.NEW.value: None, TicketStatus.ACKNOWLEDGED.value: None,
    TicketStatus.IN_PROGRESS.value: "In Progress", TicketStatus.RESOLVED.value: "Done",
    TicketStatus.DISCHARGED.value: "Done"}


class JiraError(Unavailable, RuntimeError):
    """Jira refused or could not be reached; the message says which call and why."""


def event_label(event_key: str) -> str:
    """A Jira label naming the event: labels allow no spaces and event keys are ARNs."""
    return "oasis-" + hashlib.sha256(event_key.encode()).hexdigest()[:16]


def team_label(team: str) -> str:
    return "oasis-team-" + re.sub(r"[^A-Za-z0-9_.-]", "_", team)


class JiraTracker:
    """One Jira project that OASIS tickets are created, updated and moved in."""

    def __init__(self, base_url: str, email: str, api_token: SecretStr | str,
                 project_key: str, issue_type: str = "Task",
                 field_map: dict[str, str] | None = None, timeout: float = 10.0, *,
                 status_map: dict[str, str | None] | None = None, retries: int = 3,
                 backoff: float = 0.5, sleep: Callable[[float], None] = time.sleep) -> None:
        token = api_token if isinstance(api_token, SecretStr) else SecretStr(api_token)
        self.project_key, self.issue_type = project_key, issue_type
        self.field_map = {**DEFAULT_FIELD_MAP, **(field_map or {})}
        self.status_map = {**DEFAULT_STATUS_MAP, **(status_map or {})}
        self.retries, self.backoff = max(1, retries), backoff
        self._sleep = sleep  # waits out the backoff between tries
        self.client = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout,
                                   auth=(email, token.get_secret_value()),
                                   headers={"Accept": "application/json"})

    def close(self) -> None:
        self.client.close()

    # -- the calls -------------------------------------------------------------------------
    def upsert(self, ticket: Ticket) -> str:
        """Create or update the ticket's issue; its Jira key."""
        key = ticket.external_id or self.find(ticket.event_key, ticket.team)
        if key is None:
            return self.create(ticket)
        self.update(key, ticket)
        return key

    def find(self, event_key: str, team: str) -> str | None:
        """The key of the issue already made for this event and team, if any."""
        jql = (f'project = "{self.project_key}" AND labels = "{event_label(event_key)}" '
               f'AND labels = "{team_label(team)}"')
        found = self._call("GET", "/rest/api/2/search",
                           params={"jql": jql, "fields": "status", "maxResults": 1})
        issues = found.get("issues") if isinstance(found, dict) else None
        return issues[0]["key"] if issues else None

    def create(self, ticket: Ticket) -> str:
        fields = {"project": {"key": self.project_key}, "issuetype": {"name": self.issue_type},
                  "labels": ["oasis", event_label(ticket.event_key), team_label(ticket.team)],
                  **self.fields(ticket)}
        made = self._call("POST", "/rest/api/2/issue", json={"fields": fields})
        if not isinstance(made, dict) or not made.get("key"):
            raise JiraError(f"Jira created an issue but returned no key: {made!r}")
        return str(made["key"])

    def update(self, key: str, ticket: Ticket) -> None:
        self._call("PUT", f"/rest/api/2/issue/{key}", json={"fields": self.fields(ticket)})

    def transition(self, key: str, status: TicketStatus | str) -> bool:
        """Move the issue to the Jira status mapped from `status`; False if none is mapped."""
        target = self.status_map.get(TicketStatus.parse(status).value)
        if not target:
            return False
        offered = self._call("GET", f"/rest/api/2/issue/{key}/transitions")
        for option in (offered or {}).get("transitions", []):
            to = (option.get("to") or {}).get("name", "")
            if target.lower() in (to.lower(), str(option.get("name", "")).lower()):
                self._call("POST", f"/rest/api/2/issue/{key}/transitions",
                           json={"transition": {"id": option["id"]}})
                return True
        raise JiraError(f"Jira offers no transition of {key} to {target!r}")

    def fields(self, ticket: Ticket) -> dict[str, Any]:
        """The ticket as Jira fields, through `field_map`."""
        values: dict[str, Any] = {}
        for attribute, field in self.field_map.items():
            if attribute == "description":
                values[field] = _description(ticket)
            elif attribute == "severity" and field == "priority":
                values[field] = {"name": PRIORITIES[ticket.severity]}
            else:
                value = getattr(ticket, attribute, None)
                values[field] = value.value if isinstance(value, TicketStatus) else (
                    value if isinstance(value, (int, float)) or value is None else str(value))
        return values

    # -- HTTP ------------------------------------------------------------------------------
    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        tried = with_retries(lambda: self.client.request(method, path, **kwargs),
                             attempts=self.retries, backoff=Backoff(self.backoff),
                             retry_on=(httpx.HTTPError,),
                             retry_if=lambda r: retryable_status(r.status_code),
                             sleep=self._sleep)
        if not tried.ok:
            raise JiraError(f"{method} {path}: failed {self.retries} times "
                            f"({tried.problem(lambda r: f'HTTP {r.status_code}')})")
        response = tried.result
        assert response is not None
        if response.status_code >= 400:  # refused: asking again changes nothing
            raise JiraError(f"{method} {path}: HTTP {response.status_code} "
                            f"{_errors(response)}")
        return response.json() if response.content else None


def _description(ticket: Ticket) -> str:
    lines = [ticket.description, "", "Recommended actions:"]
    for action in ticket.recommended_actions:
        url = action.get("url")
        lines.append(f"* {action.get('text', '')}" + (f" [{url}]" if url else ""))
    lines += ["", f"OASIS ticket {ticket.id} ({ticket.role}, severity {ticket.severity}); "
                  f"event {ticket.event_key}"]
    return "\n".join(lines)


def _errors(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        messages = list(body.get("errorMessages") or [])
        messages += [f"{k}: {v}" for k, v in (body.get("errors") or {}).items()]
        if messages:
            return "; ".join(str(m) for m in messages)[:500]
    return str(body)[:200]
