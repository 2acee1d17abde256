"""A small Jira Cloud stand-in speaking the REST v2 calls OASIS makes, over real HTTP.

It keeps issues in memory, checks basic auth, validates what Jira validates for those
calls, understands the `project = "X" AND labels = "y"` JQL OASIS sends, and can be
told to fail the next N calls with 503 (or always) to exercise retries.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

WORKFLOW = {"To Do": [("11", "Start", "In Progress"), ("31", "Done", "Done")],
            "In Progress": [("21", "Stop", "To Do"), ("31", "Done", "Done")],
            "Done": [("41", "Reopen", "To Do")]}
_CLAUSE = re.compile(r'^\s*(project|labels|key)\s*=\s*"?([^"]*?)"?\s*$', re.I)


@dataclass
class FakeJira:
    email: str = "oasis@example.com"
    token: str = "jira-token"
    projects: tuple[str, ...] = ("OPS",)
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    fail_next: int = 0
    down: bool = False
    counter: int = 0

    def app(self) -> FastAPI:
        app = FastAPI(title="fake Jira")

        @app.middleware("http")
        async def gate(request: Request, call_next: Any) -> Response:
            if request.url.path == "/healthz":
                return await call_next(request)
            self.calls.append(f"{request.method} {request.url.path}")
            if self.down or self.fail_next > 0:
                self.fail_next = max(0, self.fail_next - 1)
                return JSONResponse({"errorMessages": ["service unavailable"]}, 503)
            if not self._authorised(request.headers.get("authorization", "")):
                return JSONResponse({"errorMessages": ["not authenticated"]}, 401)
            return await call_next(request)

        @app.get("/healthz")
        def healthz() -> dict[str, str]:
            return {"status": "ok"}

        @app.post("/rest/api/2/issue", status_code=201, response_model=None)
        async def create(request: Request) -> dict[str, Any] | JSONResponse:
            fields = (await request.json()).get("fields") or {}
            errors = self._check(fields, creating=True)
            if errors:
                return JSONResponse({"errorMessages": [], "errors": errors}, 400)
            self.counter += 1
            key = f"{fields['project']['key']}-{self.counter}"
            self.issues[key] = {"key": key, "id": str(10000 + self.counter),
                                "fields": {**fields, "status": {"name": "To Do"}}}
            return {"id": self.issues[key]["id"], "key": key, "self": f"/rest/api/2/issue/{key}"}

        @app.put("/rest/api/2/issue/{key}", status_code=204, response_model=None)
        async def update(key: str, request: Request) -> Response:
            if key not in self.issues:
                return JSONResponse({"errorMessages": ["Issue does not exist"]}, 404)
            fields = (await request.json()).get("fields") or {}
            errors = self._check(fields, creating=False)
            if errors:
                return JSONResponse({"errorMessages": [], "errors": errors}, 400)
            self.issues[key]["fields"].update(fields)
            return Response(status_code=204)

        @app.get("/rest/api/2/issue/{key}", response_model=None)
        def get(key: str) -> dict[str, Any] | JSONResponse:
            if key not in self.issues:
                return JSONResponse({"errorMessages": ["Issue does not exist"]}, 404)
            return self.issues[key]

        @app.get("/rest/api/2/issue/{key}/transitions", response_model=None)
        def transitions(key: str) -> dict[str, Any] | JSONResponse:
            if key not in self.issues:
                return JSONResponse({"errorMessages": ["Issue does not exist"]}, 404)
            status = self.issues[key]["fields"]["status"]["name"]
            return {"transitions": [{"id": i, "name": n, "to": {"name": to}}
                                    for i, n, to in WORKFLOW[status]]}

        @app.post("/rest/api/2/issue/{key}/transitions", status_code=204, response_model=None)
        async def transition(key: str, request: Request) -> Response:
            if key not in self.issues:
                return JSONResponse({"errorMessages": ["Issue does not exist"]}, 404)
            wanted = ((await request.json()).get("transition") or {}).get("id")
            status = self.issues[key]["fields"]["status"]["name"]
            to = next((t for i, _, t in WORKFLOW[status] if i == wanted), None)
            if to is None:
                return JSONResponse({"errorMessages": [f"transition {wanted} is not valid "
                                                       f"from {status}"]}, 400)
            self.issues[key]["fields"]["status"] = {"name": to}
            return Response(status_code=204)

        @app.get("/rest/api/2/search", response_model=None)
        def search(jql: str, maxResults: int = 50) -> dict[str, Any] | JSONResponse:
            clauses = [_CLAUSE.match(c) for c in re.split(r"\s+AND\s+", jql, flags=re.I)]
            if not all(clauses):
                return JSONResponse({"errorMessages": [f"cannot parse JQL: {jql}"]}, 400)
            found = [i for i in self.issues.values()
                     if all(_fits(i, m.group(1).lower(), m.group(2)) for m in clauses if m)]
            return {"total": len(found), "issues": found[:maxResults]}

        return app

    def _authorised(self, header: str) -> bool:
        expected = base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
        return header == f"Basic {expected}"

    def _check(self, fields: dict[str, Any], *, creating: bool) -> dict[str, str]:
        errors = {}
        if creating:
            if (fields.get("project") or {}).get("key") not in self.projects:
                errors["project"] = "valid project is required"
            if not (fields.get("issuetype") or {}).get("name"):
                errors["issuetype"] = "issue type is required"
        if (creating or "summary" in fields) and not fields.get("summary"):
            errors["summary"] = "You must specify a summary of the issue."
        if "summary" in fields and len(str(fields["summary"])) > 255:
            errors["summary"] = "Summary must be less than 255 characters."
        if "labels" in fields and any(" " in str(x) for x in fields["labels"]):
            errors["labels"] = "labels cannot contain spaces"
        return errors


def _fits(issue: dict[str, Any], field: str, value: str) -> bool:
    if field == "project":
        return issue["fields"]["project"]["key"] == value
    if field == "key":
        return issue["key"] == value
    return value in issue["fields"].get("labels", [])
