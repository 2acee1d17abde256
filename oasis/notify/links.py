"""Where a message's links point: the console's pages, which people can read, not the JSON
API behind them. The console routes they name are in `oasis.web` (a face, so it cannot be
imported here); tests open each link in a browser to keep the two in step."""

from __future__ import annotations

from urllib.parse import quote, urlencode


def incident_url(public_url: str, incident_id: str) -> str:
    return f"{public_url.rstrip('/')}/incidents/{quote(incident_id, safe='')}"


def ticket_url(public_url: str, ticket_id: str) -> str:
    return f"{public_url.rstrip('/')}/tickets/{quote(ticket_id, safe='')}"


def event_url(public_url: str, event_key: str) -> str:
    # Event keys hold slashes and colons (ARNs, `report:<uuid>`): a query value, not a path.
    return f"{public_url.rstrip('/')}/events?{urlencode({'key': event_key})}"
