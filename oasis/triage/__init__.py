"""OHERO-style triage of operational events: Acknowledge, Consult, Triage.

Events from AWS Health, Security Hub, CloudWatch, Alertmanager, Cost Anomaly Detection and
people are normalised to `OpsEvent` (`parse_event`), then acknowledged and triaged into
tickets for the teams of the `Organisation`.
"""

from oasis.triage.model import EventFormatError, OpsEvent, Resource
from oasis.triage.org import Account, Organisation, OrganisationError, Team, load_organisation
from oasis.triage.parse import parse_event, parse_events

__all__ = [
    "Account",
    "EventFormatError",
    "OpsEvent",
    "Organisation",
    "OrganisationError",
    "Resource",
    "Team",
    "load_organisation",
    "parse_event",
    "parse_events",
]
