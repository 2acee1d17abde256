"""Incidents: the model, their database, and the tracker that opens and grows them."""

from oasis.incidents.lifecycle import IllegalTransition, check_transition
from oasis.incidents.model import Incident, Severity, Status, TimelineEvent
from oasis.incidents.store import ConflictError, IncidentStore, NotFoundError

__all__ = ["ConflictError", "IllegalTransition", "Incident", "IncidentStore", "NotFoundError",
           "Severity", "Status", "TimelineEvent", "check_transition"]
