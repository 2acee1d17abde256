"""Site-specific Acknowledge rules: a YAML list, first match wins.

The prototype's decision flow (known accounts → cost impact → production) covers most
events, but every organisation has exceptions: a noisy event type nobody acts on, a
service that matters even in sandboxes, a region that must always reach leadership.
Those are data, not code, so they live in a rules file:

    - name: ignore-ec2-maintenance-in-dev
      match: {category: scheduledChange, service: EC2, tag: {environment: dev*}}
      action: ignore        # ignore → DISCHARGE, accept → ACCEPT, escalate → ACCEPT + escalate

Every `match` field is optional and all given fields must match. Values are exact or
glob patterns (fnmatch: `*`, `?`, `[..]`), compared case-insensitively because sources
disagree on case (CRITICAL vs critical); a list of patterns matches if any does.
A broken file is refused when loaded, with the rule index and field named, so a typo
never silently turns into "no rule matched".
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from oasis.signals.errors import InvalidInput
from oasis.triage.model import OpsEvent

Patterns = str | list[str]
Action = Literal["ignore", "accept", "escalate"]


class PolicyError(InvalidInput, ValueError):
    """A rules file OASIS cannot use; the message names the file, rule and field."""


def matches(value: str | None, patterns: Patterns) -> bool:
    """Whether `value` fits one of `patterns` (exact or glob, case-insensitive)."""
    if value is None:
        return False
    options = [patterns] if isinstance(patterns, str) else patterns
    return any(fnmatchcase(value.lower(), p.lower()) for p in options)


def _as_patterns(value: Any) -> Any:
    # A YAML author writes `severity_label: [CRITICAL, HIGH]` or a single value; numbers
    # (an account-like tag value) are written bare and mean their text.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list):
        return [str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                for v in value]
    return value


class RuleMatch(BaseModel):
    """What an event must look like for the rule to apply; unset fields match anything."""

    model_config = ConfigDict(extra="forbid")

    category: Patterns | None = Field(None, description="issue, scheduledChange, finding...")
    service: Patterns | None = Field(None, description="Service code, e.g. EC2, EKS.")
    region: Patterns | None = Field(None, description="Region code, e.g. eu-west-*.")
    scope: Patterns | None = Field(None, description="ACCOUNT_SPECIFIC | PUBLIC | NONE.")
    status: Patterns | None = Field(None, description="open, upcoming, NEW, ALARM, firing...")
    severity_label: Patterns | None = Field(None, description="CRITICAL, HIGH, ...")
    event_type: Patterns | None = Field(None, description="e.g. AWS_EC2_*_MAINTENANCE*.")
    resource_type: Patterns | None = Field(None, description=(
        "Matches when any affected resource's type fits, e.g. AWS::EC2::*."))
    label: dict[str, Patterns] | None = Field(None, description=(
        "Event labels (alert labels, generator...): every named label must fit."))
    tag: dict[str, Patterns] | None = Field(None, description=(
        "Resource tags: some affected resource must carry every named tag, fitting."))

    @field_validator("category", "service", "region", "scope", "status", "severity_label",
                     "event_type", "resource_type", mode="before")
    @classmethod
    def _patterns(cls, value: Any) -> Any:
        return _as_patterns(value)

    @field_validator("label", "tag", mode="before")
    @classmethod
    def _pattern_map(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): _as_patterns(v) for k, v in value.items()}
        return value

    def fits(self, event: OpsEvent) -> bool:
        for name in ("category", "service", "region", "scope", "status", "severity_label",
                     "event_type"):
            wanted = getattr(self, name)
            if wanted is not None and not matches(getattr(event, name), wanted):
                return False
        if self.resource_type is not None and not any(
                matches(r.type, self.resource_type) for r in event.resources):
            return False
        if self.label and not all(matches(event.labels.get(k), p)
                                  for k, p in self.label.items()):
            return False
        return not self.tag or any(all(matches(r.tags.get(k), p) for k, p in self.tag.items())
                                   for r in event.resources)


class PolicyRule(BaseModel):
    """One named exception to the default decision."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="Shown as the reason of every decision it makes.")
    match: RuleMatch = Field(description="Conditions; an empty match applies to every event.")
    action: Action = Field(description=(
        "ignore: discharge; accept: accept whatever the accounts; escalate: accept and "
        "tell leadership (severity_5 stakeholders) too."))


class PolicyRules:
    """An ordered rule list; the first rule whose match fits decides."""

    def __init__(self, rules: list[PolicyRule], source: str = "<rules>") -> None:
        self.rules = rules
        self.source = source

    def __len__(self) -> int:
        return len(self.rules)

    @classmethod
    def load(cls, path: Path | str) -> PolicyRules:
        """Read and validate a YAML (or JSON) rules file."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise PolicyError(f"{path}: cannot read policy rules ({exc.strerror or exc})") from None
        except yaml.YAMLError as exc:
            raise PolicyError(f"{path}: not valid YAML ({exc})") from None
        return cls.parse(data, source=str(path))

    @classmethod
    def parse(cls, data: Any, source: str = "<rules>") -> PolicyRules:
        """Validate already-parsed rules: a list, or a mapping with a `rules` list."""
        if data is None:
            return cls([], source)
        if isinstance(data, dict) and set(data) == {"rules"}:
            data = data["rules"]
        if not isinstance(data, list):
            raise PolicyError(f"{source}: expected a list of rules (or `rules:` with a list), "
                              f"got {type(data).__name__}")
        rules: list[PolicyRule] = []
        names: dict[str, int] = {}
        for index, item in enumerate(data):
            rule = _parse_rule(item, index, source)
            if rule.name in names:
                raise PolicyError(f"{source}: rule {index} ({rule.name!r}): name already used "
                                  f"by rule {names[rule.name]}")
            names[rule.name] = index
            rules.append(rule)
        return cls(rules, source)

    def first_match(self, event: OpsEvent) -> PolicyRule | None:
        return next((rule for rule in self.rules if rule.match.fits(event)), None)


def _parse_rule(item: Any, index: int, source: str) -> PolicyRule:
    label = f"{source}: rule {index}"
    if not isinstance(item, dict):
        raise PolicyError(f"{label}: expected a mapping with name, match and action, "
                          f"got {type(item).__name__}")
    if isinstance(item.get("name"), str):
        label += f" ({item['name']!r})"
    try:
        return PolicyRule.model_validate(item)
    except ValidationError as exc:
        raise PolicyError(f"{label}: {'; '.join(_problems(exc))}") from None


def _problems(exc: ValidationError) -> list[str]:
    """One line per field; pydantic's per-branch errors of `str | list[str]` become one."""
    problems: dict[str, str] = {}
    for err in exc.errors():
        parts = [str(p) for p in err["loc"]]
        if parts and parts[-1] in ("str", "list[str]"):
            where = ".".join(parts[:-1])
            problems[where] = "expected a pattern or a list of patterns"
            continue
        where = ".".join(p for p in parts if p not in ("str", "list[str]")) or "rule"
        problems.setdefault(where, err["msg"])
    return [f"{where}: {msg}" for where, msg in problems.items()]
