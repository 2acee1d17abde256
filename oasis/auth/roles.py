"""Roles and the principal a request acts as.

Roles are ordered, each allowing everything the ones below it do:
viewer reads; responder also acknowledges, resolves, reports events and asks;
approver also approves or rejects actions and accepts or discharges events;
admin also manages users and API keys.

Apart from them, `ingest` is for the API keys of senders (collectors, alert webhooks): it
may push signals and events on the routes the API marks as push routes, and nothing else,
so a leaked sender key can neither read incidents nor decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Role(StrEnum):
    VIEWER = "viewer"
    RESPONDER = "responder"
    APPROVER = "approver"
    ADMIN = "admin"
    INGEST = "ingest"

    @property
    def rank(self) -> int:
        """Place in the people's order; -1 for `ingest`, which is outside it."""
        return _ORDER.index(self) if self in _ORDER else -1

    def allows(self, needed: Role) -> bool:
        """Whether someone with this role may do what `needed` is required for. `ingest`
        allows only `ingest`, and only `ingest` allows it."""
        needed = Role(needed)
        if Role.INGEST in (self, needed):
            return self is needed
        return self.rank >= needed.rank


_ORDER = [Role.VIEWER, Role.RESPONDER, Role.APPROVER, Role.ADMIN]


def parse_role(text: str) -> Role:
    """The role named `text`, or ValueError listing the choices."""
    try:
        return Role(text.strip().lower())
    except ValueError:
        raise ValueError(f"unknown role {text!r}; choose one of "
                         f"{', '.join(r.value for r in Role)}") from None


Via = Literal["session", "api_key", "local"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as, and how that was established."""

    name: str
    role: Role
    via: Via


LOCAL_ADMIN = Principal("local", Role.ADMIN, "local")
