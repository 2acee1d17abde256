"""AWS Health events: the EventBridge `detail`, or the same object sent alone.

The OHERO prototype's test events are raw Health objects with RFC 1123 times
("Wed, 29 Nov 2023 08:20:00 GMT") and `endTime: ""`; EventBridge delivers the same
object under `detail`. Both must come out as the same OpsEvent.
"""

from __future__ import annotations

from typing import Any

from oasis.triage.model import Category, EventFormatError, OpsEvent, Resource
from oasis.triage.sources.fields import Fields, is_account_id
from oasis.triage.sources.resources import resource_from_id

#: eventTypeCategory spellings -> OpsEvent category. "plannedChange" is what the OHERO
#: README's lifecycle sample says; AWS itself calls that "scheduledChange".
_CATEGORIES: dict[str, Category] = {
    "issue": "issue", "scheduledChange": "scheduledChange", "plannedChange": "scheduledChange",
    "accountNotification": "accountNotification", "investigation": "investigation",
}


def looks_like_health(data: dict[str, Any]) -> bool:
    # Either field identifies it, so the other one missing is reported by name.
    return "eventArn" in data or ("eventTypeCode" in data and "eventTypeCategory" in data)


def parse_health(detail: Fields, raw: dict[str, Any], *,
                 envelope_account: str | None = None) -> OpsEvent:
    """One OpsEvent from a Health event object (`detail` of the EventBridge event)."""
    key = detail.req("eventArn")
    service = detail.req("service")
    code = detail.req("eventTypeCode")
    category_text = detail.req("eventTypeCategory")
    category = _CATEGORIES.get(category_text)
    if category is None:
        raise EventFormatError(
            f"{detail.where('eventTypeCategory')}: unknown category {category_text!r} "
            f"(expected one of {', '.join(sorted(_CATEGORIES))})")
    region = detail.text("eventRegion")
    status = detail.text("statusCode")
    account = detail.text("affectedAccount")
    if account is not None and not is_account_id(account):
        raise EventFormatError(
            f"{detail.where('affectedAccount')}: {account!r} is not a 12-digit account id")
    # A PUBLIC event is about a service in a region, not about the account that happened
    # to receive it: the envelope's account is not an affected account then.
    public = (detail.text("eventScopeCode") or "").upper() == "PUBLIC"
    accounts = [account] if account else (
        [envelope_account] if envelope_account and not public else [])
    resources = _entities(detail, account, _region_code(region))
    for resource in resources:  # an organisation view lists entities of several accounts
        if resource.account and resource.account not in accounts:
            accounts.append(resource.account)
    return OpsEvent(
        key=key, source="aws.health", category=category,
        title=_title(service, code, region, status),
        description=_description(detail), service=service, event_type=code, region=region,
        status=status, scope=detail.text("eventScopeCode"), severity_label=None,
        accounts=accounts, resources=resources,
        start_time=detail.time("startTime"), end_time=detail.time("endTime"),
        last_updated=detail.time("lastUpdatedTime", required=True),
        labels=_labels(detail), raw=raw,
    )


def _region_code(region: str | None) -> str | None:
    return None if region in (None, "global") else region


def _entities(detail: Fields, account: str | None, region: str | None) -> list[Resource]:
    resources = []
    for entity in detail.objects("affectedEntities"):
        value = entity.text("entityValue") or entity.text("entityArn")
        if value is None:
            raise EventFormatError(f"{entity.where('entityValue')}: required field is missing")
        if value == "UNKNOWN":  # Health's placeholder when it cannot name the entity
            continue
        resources.append(resource_from_id(value, account=account, region=region,
                                          tags=entity.string_map("tags")))
    return resources


def _description(detail: Fields) -> str:
    """The English description, else the first one; Health sends one per language."""
    texts = []
    for item in detail.objects("eventDescription"):
        text = item.text("latestDescription")
        if text:
            texts.append((item.text("language") or "", text))
    english = [t for lang, t in texts if lang.lower().startswith("en")]
    return (english or [t for _, t in texts] or [""])[0]


def _title(service: str, code: str, region: str | None, status: str | None) -> str:
    """AWS_EKS_PLANNED_LIFECYCLE_EVENT -> EKS planned lifecycle event (ap-southeast-2, upcoming)"""
    words = code.removeprefix("AWS_")
    if words.upper().startswith(service.upper() + "_"):
        words = words[len(service) + 1:]
    words = words.replace("_", " ").lower()
    where = ", ".join(x for x in (region, status) if x)
    return f"{service} {words}" + (f" ({where})" if where else "")


def _labels(detail: Fields) -> dict[str, str]:
    labels = {f"metadata.{k}": v for k, v in detail.string_map("eventMetadata").items()}
    communication = detail.scalar("communicationId")
    if communication:
        labels["communicationId"] = communication
    return labels
