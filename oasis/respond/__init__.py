"""The response loop: proposals, approvals, the deployment specialist, verification, reports."""

from oasis.respond.actions import ActionRecord, ActionStatus, ActionStore
from oasis.respond.responder import DecisionError, Responder
from oasis.respond.settings import RespondSettings

__all__ = ["ActionRecord", "ActionStatus", "ActionStore", "DecisionError", "RespondSettings",
           "Responder"]
