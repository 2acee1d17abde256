"""What Slack's buttons and commands do in this service: the same approval, triage and
consult code as the API and the CLI.

A Slack user's role is that of the OASIS user named `slack-<Slack user id>` (create it with
`oasis users add slack-U0123ABCD --role approver`); anyone else is a viewer, who can ask and
read but not decide.
"""

from __future__ import annotations

from fastapi import FastAPI

from oasis.auth import Role
from oasis.runtime.services import Services
from oasis.runtime.triage import TriageKit


class ServiceSlackHandlers:
    def __init__(self, app: FastAPI) -> None:
        self.app = app

    @property
    def _services(self) -> Services:
        return self.app.state.services

    def approve(self, incident_id: str, action_id: str, actor: str) -> None:
        self._services.responder.approve(incident_id, action_id, actor, "from Slack")

    def reject(self, incident_id: str, action_id: str, actor: str) -> None:
        self._services.responder.reject(incident_id, action_id, actor, "from Slack")

    def accept(self, event_key: str, actor: str) -> None:
        self._triage().flow.decide(event_key, True, actor, "from Slack")

    def discharge(self, event_key: str, actor: str) -> None:
        self._triage().flow.decide(event_key, False, actor, "from Slack")

    def ask(self, text: str, actor: str) -> str:
        return self._services.act.handle(text, actor).reply

    def status(self) -> str:
        open_ = self._services.incidents.list(active=True, limit=100)
        return f"{len(open_)} incident(s) with symptoms now" + "".join(
            f"\n• {i.id} {i.severity.value} {i.status.value}: {i.title}" for i in open_[:10])

    def incidents(self) -> str:
        found = self._services.incidents.list(limit=10)
        return "\n".join(f"• {i.id} {i.severity.value} {i.status.value}: {i.title}"
                         for i in found) or "no incidents"

    def role_of(self, slack_user_id: str) -> str:
        user = self._services.auth.users.get_user(f"slack-{slack_user_id}")
        if user is None or getattr(user, "disabled", False):
            return Role.VIEWER.value
        return Role(user.role).value

    def _triage(self) -> TriageKit:
        if self._services.triage is None:
            raise ValueError("triage is not configured")
        return self._services.triage
