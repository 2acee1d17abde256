"""Incident emails as an on-call engineer would write them, from Jinja2 package templates.

Each kind has three templates: `<kind>.subject.txt`, `<kind>.txt` and `<kind>.html`. Only
HTML is autoescaped; every value printed in any of them first loses control characters
(terminal escapes, bidi overrides), because titles, evidence and log lines carry text
from the monitored services, which is untrusted. StrictUndefined makes a missing field an
error here instead of a blank in someone's inbox.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jinja2
from markupsafe import Markup

from oasis.signals.errors import InvalidInput
from oasis.signals.times import parse_aware

KINDS = ("incident_summary", "approval_request", "final_report", "escalation", "ticket")

# Context keys each kind needs; checked up front so the error names them all at once.
REQUIRED: dict[str, tuple[str, ...]] = {
    "incident_summary": ("incident", "actions", "console_url"),
    "approval_request": ("incident", "actions", "console_url", "links", "expires_at"),
    "final_report": ("incident", "actions", "console_url", "outcome",
                     "time_to_resolve_minutes", "system_state", "next_steps"),
    "escalation": ("incident", "actions", "console_url", "reason"),
    "ticket": ("ticket", "event", "team", "change", "console_url"),
}

MAX_LOG_LINE = 300
MAX_SUBJECT = 160
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
# Bidi embeddings, overrides and isolates can make a log line display as something else.
_BIDI = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
                               "\u200e\u200f\u061c"))


class RenderError(InvalidInput, ValueError):
    """The context cannot make this message: a key is missing or a value is malformed."""


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


def strip_controls(value: str, *, keep_newlines: bool = True) -> str:
    """`value` without terminal escapes, bidi controls and control characters."""
    value = _ANSI.sub("", value).translate(_BIDI)
    keep = "\n\t" if keep_newlines else ""
    out = []
    for ch in value:
        if ch in keep:
            out.append(ch)
        elif ch in "\r\n\t\v\f":
            out.append(" ")
        elif unicodedata.category(ch) != "Cc":
            out.append(ch)
    return "".join(out)


def one_line(value: Any, limit: int = MAX_LOG_LINE) -> str:
    """Untrusted text as one clean line of at most `limit` characters."""
    text = " ".join(strip_controls(str(value), keep_newlines=False).split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _parse(ts: str) -> datetime:
    """Aware UTC. A timestamp without a zone is a RenderError, never read as UTC: every
    timestamp OASIS puts in a context is `utc_iso` (ends in `Z`), so a naive one is a bug
    upstream, and printing it as UTC would show the reader a wrong time."""
    try:
        return parse_aware(ts)
    except ValueError as exc:
        raise RenderError(str(exc)) from None


def text_block(value: Any, limit: int = 4000) -> str:
    """Several lines of untrusted text (an event's description), cleaned and capped."""
    text = strip_controls(str(value))
    return text if len(text) <= limit else text[:limit] + " …"


def hm(ts: str) -> str:
    """`09:41 UTC`"""
    return f"{_parse(ts):%H:%M} UTC"


def hms(ts: str) -> str:
    return f"{_parse(ts):%H:%M:%S}"


def day_hm(ts: str) -> str:
    """`09:41 UTC on Mon 23 Nov 2026`"""
    at = _parse(ts)
    return f"{at:%H:%M} UTC on {at:%a} {at.day} {at:%b %Y}"


def num(value: float) -> str:
    """`2` rather than `2.0`, `1.5` stays."""
    return f"{float(value):g}"


def duration(minutes: float | None) -> str:
    """`4 min`, `1 h 25 min`; `unknown` when not measured."""
    if minutes is None:
        return "unknown"
    whole = max(0, round(minutes))
    if whole < 60:
        return f"{whole} min"
    return f"{whole // 60} h {whole % 60} min" if whole % 60 else f"{whole // 60} h"


def safe_url(url: str) -> str:
    # Links land in href attributes; anything but http(s) (javascript:, data:) is refused.
    if not isinstance(url, str) or not re.match(r"^https?://[^\s]+$", url):
        raise RenderError(f"link {url!r} must be an http(s) URL")
    return url


def describe(action: dict[str, Any]) -> str:
    """What an action does, in words: `roll back checkout to v2.3.0`."""
    kind, p = action["kind"], action["params"]
    service = p.get("service", "?")
    if kind == "rollback":
        target = p.get("to_version")
        return f"roll back {service}" + (f" to {target}" if target else " to its previous "
                                         "version")
    if kind == "restart":
        return f"restart {service}"
    if kind == "scale":
        return f"scale {service} to {p.get('replicas', '?')} replicas"
    if kind == "toggle_flag":
        state = "on" if p.get("enabled") else "off"
        return f"turn feature flag {p.get('flag', '?')} {state} for {service}"
    if kind == "run_runbook":
        args = ", ".join(f"{k}={v}" for k, v in (p.get("args") or {}).items())
        return f"run runbook {p.get('runbook', '?')}" + (f" ({args})" if args else "")
    if kind == "notify_only":
        return "no automated change; people are informed" + (
            f": {p['note']}" if p.get("note") else "")
    return f"{kind} " + ", ".join(f"{k}={v}" for k, v in p.items())


def headline(incident: dict[str, Any]) -> str:
    """The incident's title, led by the service at fault (or the first affected ones) when
    the title does not name it: a subject must say where the problem is."""
    title = one_line(incident["title"], 100)
    lead = incident["root_cause_service"] or ", ".join(incident["services"][:2])
    return f"{one_line(lead, 60)}: {title}" if lead and not title.startswith(lead) else title


def affected(incident: dict[str, Any]) -> str:
    root = incident["root_cause_service"]
    names = [f"{s} (likely cause)" if s == root else s for s in incident["services"]]
    return ", ".join(names) or "no service identified"


def cause(incident: dict[str, Any]) -> str:
    root = incident["root_cause_service"]
    if not root:
        return "not determined yet"
    ranking = incident["root_cause_ranking"]
    reasons = next((c.get("reasons") for c in ranking if c.get("service") == root), None)
    return f"{root}" + (f" ({'; '.join(reasons)})" if reasons else "")


def symptoms(incident: dict[str, Any], limit: int = 4) -> list[str]:
    """The strongest anomaly summaries: each already carries observed vs expected numbers."""
    found = [e for e in incident["evidence"]
             if e.get("kind") != "log_samples" and e.get("summary")
             and e.get("role", "symptom") == "symptom"]
    found.sort(key=lambda e: -float(e.get("strength") or 0))
    return [one_line(e["summary"]) for e in found[:limit]]


def samples(incident: dict[str, Any], limit: int = 3) -> list[dict[str, str]]:
    """Up to `limit` sample log lines, the likely cause's first, cleaned and shortened."""
    root = incident["root_cause_service"]
    groups = [e for e in incident["evidence"] if e.get("kind") == "log_samples"]
    groups.sort(key=lambda e: e.get("service") != root)
    lines = []
    for group in groups:
        for line in group.get("lines") or []:
            if len(lines) == limit:
                return lines
            ts = line.get("timestamp")
            lines.append({"time": hms(ts) if ts else "--:--:--",
                          "service": one_line(group.get("service", "?"), 60),
                          "level": one_line(line.get("level") or "", 10).upper(),
                          "message": one_line(line.get("message") or "")})
    return lines


def proposed(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in actions if a["status"] in ("proposed", "pending_approval")]


def summary_ask(actions: list[dict[str, Any]]) -> str:
    """What the reader of an incident summary should do."""
    if any(a["status"] in ("running", "approved") for a in actions):
        return "Nothing right now: an approved fix is being applied. A report follows."
    if any(a["kind"] != "notify_only" for a in proposed(actions)):
        return ("Nothing yet: a separate approval request follows, and nothing runs until "
                "someone approves it.")
    return "Look into it: OASIS has no automated fix to offer for this incident."


_env = jinja2.Environment(
    loader=jinja2.PackageLoader("oasis.notify", "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
    undefined=jinja2.StrictUndefined,
    finalize=lambda v: v if isinstance(v, Markup) or not isinstance(v, str) else strip_controls(v),
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_env.filters.update(hm=hm, num=num, hms=hms, day_hm=day_hm, duration=duration, url=safe_url,
                    line=one_line, block=text_block)
_env.globals.update(describe=describe, headline=headline, affected=affected, cause=cause,
                    symptoms=symptoms, samples=samples, proposed=proposed,
                    summary_ask=summary_ask)


def render(kind: str, context: dict[str, Any]) -> Rendered:
    """Subject, plain text and HTML of one message; RenderError names what is missing."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}; one of {', '.join(KINDS)}")
    if not isinstance(context, dict):
        raise RenderError(f"{kind}: context must be a dict, not {type(context).__name__}")
    missing = [k for k in REQUIRED[kind] if k not in context]
    if missing:
        raise RenderError(f"{kind}: context is missing {', '.join(missing)}")
    if kind == "approval_request" and not any(
            isinstance(a, dict) and a.get("id") in context["links"] for a in context["actions"]):
        raise RenderError("approval_request: no action in `actions` has approve/reject links")
    try:
        subject = _env.get_template(f"{kind}.subject.txt").render(context)
        text = _env.get_template(f"{kind}.txt").render(context)
        html = _env.get_template(f"{kind}.html").render(context)
    except jinja2.UndefinedError as exc:
        raise RenderError(f"{kind}: {exc.message}") from None
    except (KeyError, TypeError, AttributeError) as exc:
        raise RenderError(f"{kind}: malformed context ({type(exc).__name__}: {exc})") from None
    return Rendered(one_line(subject, MAX_SUBJECT), _tidy(text), html)


def _tidy(text: str) -> str:
    # Templates stay readable with blank lines around blocks; the reader gets at most one.
    text = "\n".join(line.rstrip() for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
