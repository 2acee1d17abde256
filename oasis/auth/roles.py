"""Roles and the principal a request acts as.

Roles are ordered, each allowing everything the ones below it do:
viewer reads; responder also acknowledges, resolves, reports events and asks;
approver also approves or rejects actions and accepts or discharges events;
admin also manages users and API keys.
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

    @property
    def rank(self) -> int:
        return _ORDER.index(self)

    def allows(self, needed: Role) -> bool:
        """Whether someone with this role may do what `needed` is required for."""
        return self.rank >= Role(needed).rank


_ORDER = list(Role)


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
