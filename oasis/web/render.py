"""Templates and who-is-looking for the console pages.

Pages answer people, not programs: someone not signed in is sent to the login page
(303) instead of getting a JSON 401, and a role too low for an action is a readable
403 page. Jinja autoescaping is on for every template, so log lines and titles from
the outside world are shown, never run. Every page carries the browser's CSRF token for
its forms (`oasis.web.csrf`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Form, HTTPException, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from oasis.auth import Principal, Role
from oasis.auth.deps import auth_context
from oasis.web import csrf

TEMPLATES = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

# The hidden field every console POST form carries (see oasis.web.csrf).
CsrfToken = Annotated[str, Form(alias=csrf.FIELD, max_length=200)]

_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(
    default=True, default_for_string=True), trim_blocks=True, lstrip_blocks=True)


def page(request: Request, template: str, *, status: int = 200,
         principal: Principal | None = None, **context: Any) -> HTMLResponse:
    """Render `template` with the signed-in principal, the nav and the CSRF token in its
    context."""
    auth = auth_context(request)
    token, fresh_cookie = csrf.issue(request)
    services = getattr(request.app.state, "services", None)
    html = _env.get_template(template).render(
        principal=principal, auth_enabled=auth.settings.enabled, path=request.url.path,
        failing_sources=services.degraded_sources() if services is not None else [],
        can=lambda role: principal is not None and principal.role.allows(Role(role)),
        csrf_field=csrf.FIELD, csrf_token=token, **context)
    response = HTMLResponse(html, status_code=status)
    if fresh_cookie is not None:
        csrf.set_cookie(request, response, fresh_cookie)
    return response


def viewer(request: Request) -> Principal:
    """FastAPI dependency for pages: the principal, or a redirect to /login (303)."""
    try:
        return auth_context(request).authenticate(request)
    except HTTPException as exc:
        if exc.status_code != 401:
            raise
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(303, "log in first",
                            headers={"Location": f"/login?next={quote(target, safe='')}"}) from None


def forbidden(request: Request, principal: Principal, needed: Role) -> HTMLResponse:
    """The 403 page: what role the action needs and what the person has."""
    return page(request, "error.html", status=403, principal=principal,
                title="Not allowed",
                message=f"{needed.value} role needed; you are {principal.role.value}")


def csrf_refused(request: Request, principal: Principal | None) -> HTMLResponse:
    """The 403 page for a form without this browser's token: forged, or from a page
    rendered before the last login."""
    return page(request, "error.html", status=403, principal=principal,
                title="Form refused",
                message="this form's security token is missing or wrong, so nothing was "
                        "done; go back, reload the page and submit it again")


def guard(request: Request, principal: Principal, needed: Role,
          token: str) -> HTMLResponse | None:
    """The refusal page for a console POST, or None when it may go on: the role first
    (a viewer learns what they lack), then the form's CSRF token."""
    if not principal.role.allows(needed):
        return forbidden(request, principal, needed)
    if not csrf.valid(request, token, principal):
        return csrf_refused(request, principal)
    return None


def problem(request: Request, principal: Principal, status: int, title: str,
            message: str) -> HTMLResponse:
    return page(request, "error.html", status=status, principal=principal, title=title,
                message=message)


def safe_next(target: str | None) -> str:
    """Only same-site paths after login, so the form cannot bounce people elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target
