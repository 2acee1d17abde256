"""Who may call which route, in one place: the routes open to anyone, and the push routes
an `ingest` API key may use (`oasis.auth.roles`). Every other route needs a signed-in
person or a key with a person's role (tests/test_route_auth.py enumerates them all).
"""

from __future__ import annotations

Route = tuple[str, str]  # (method, route path as declared)

# Their own credential or none needed: health, approval links (the signed token is the
# credential), the API description, the login page itself, and Slack's signed requests.
PUBLIC: frozenset[Route] = frozenset(
    {
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/approve/{token}"),
        ("POST", "/approve/{token}"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/redoc"),
        ("GET", "/login"),
        ("POST", "/login"),
        ("GET", "/logout"),
        ("POST", "/slack/events"),
        ("POST", "/slack/commands"),
        ("POST", "/slack/interactive"),
    }
)

# Where senders push; an ingest key gets 403 anywhere else. Also open to people's keys
# and sessions, as before (with the role a route asks of people, e.g. POST /events).
PUSH: frozenset[Route] = frozenset(
    {
        ("POST", "/api/v1/signals"),
        ("POST", "/v1/logs"),
        ("POST", "/v1/metrics"),
        ("POST", "/v1/traces"),
        ("POST", "/api/v1/events"),
        ("POST", "/v2/enqueue"),
        ("POST", "/v2/change/enqueue"),
    }
)

__all__ = ["PUBLIC", "PUSH", "Route"]
