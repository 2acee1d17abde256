"""Who is who: the organisation's accounts and teams, read from one YAML or JSON file.

Triage needs to know which accounts are production, which team owns an account or a
kind of resource, and who must hear about severe, costly or security events. A mistake
here sends tickets to nobody, so the file is checked as a whole when it is loaded: exactly
one default owner, unique ids, and every team an account names must exist.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from oasis.signals.errors import InvalidInput

Stakeholding = Literal["severity_5", "cost_impact", "security_high", "no_action_needed"]
ENVIRONMENTS = ("production", "non-production")


class OrganisationError(InvalidInput, ValueError):
    """An organisation file that cannot be used; the message names the file and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not ignored


class Account(_Strict):
    """One AWS account."""

    id: str = Field(pattern=r"^\d{12}$", description="12-digit AWS account id.")
    name: str = Field(min_length=1)
    status: Literal["ACTIVE", "SUSPENDED", "CLOSED"] = "ACTIVE"
    tags: dict[str, str] = Field(default_factory=dict, description=(
        "tags.environment: production | non-production; tags.team: owning team id."))
    owner: str | None = Field(None, description=(
        "Id of the team that owns the account's workloads (wins over tags.team): it owns "
        "the account's events no team owns by service or resource type."))
    ou: str | None = Field(None, description="Organisational unit, for reference.")

    @model_validator(mode="after")
    def _environment(self) -> Account:
        env = self.tags.get("environment")
        if env is not None and env not in ENVIRONMENTS:
            raise ValueError(f"tags.environment must be one of {', '.join(ENVIRONMENTS)}, "
                             f"not {env!r}")
        return self

    @property
    def production(self) -> bool:
        return self.tags.get("environment") == "production"

    @property
    def team(self) -> str | None:
        """Id of the team that owns this account (`owner`, else `tags.team`), if named."""
        return self.owner or self.tags.get("team")


class Team(_Strict):
    """A team that can own remediation or be told about events."""

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    responsibilities: str = Field(description="What the team does, in words (read by people "
                                              "and by the agent).")
    channel: str | None = Field(None, description="Chat channel for its notifications.")
    email: str | None = None
    stakeholder_for: list[Stakeholding] = Field(default_factory=list, description=(
        "Kinds of events the team is told about whoever owns them."))
    owns: list[str] = Field(default_factory=list, description=(
        "What it remediates: AWS service codes (VPC, ROUTE53) and CloudFormation "
        "resource-type prefixes (AWS::EC2::VPC)."))
    labels: dict[str, str | list[str]] = Field(default_factory=dict, description=(
        "Alerts it owns by label, for alerts from outside AWS: {namespace: [payments*], "
        "cluster: prod-eu-1}; glob patterns, case-insensitive. Which labels are read, in "
        "which order, is triage.routing.labels."))
    default_owner: bool = Field(False, description=(
        "Owns everything no other team owns; exactly one team has it."))


class Organisation(_Strict):
    accounts: list[Account]
    teams: list[Team] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Organisation:
        for what, ids in (("accounts", [a.id for a in self.accounts]),
                          ("teams", [t.id for t in self.teams])):
            repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
            if repeated:
                raise ValueError(f"{what}: ids must be unique; repeated: {', '.join(repeated)}")
        owners = [t.id for t in self.teams if t.default_owner]
        if len(owners) != 1:
            raise ValueError("teams: exactly one team must have default_owner: true; "
                             f"found {len(owners)}" + (f" ({', '.join(owners)})" if owners else ""))
        team_ids = {t.id for t in self.teams}
        for i, account in enumerate(self.accounts):
            for where, named in (("owner", account.owner), ("tags.team", account.tags.get("team"))):
                if named is not None and named not in team_ids:
                    raise ValueError(f"accounts[{i}].{where}: no team has id {named!r}")
        return self

    def account(self, id: str) -> Account | None:
        return next((a for a in self.accounts if a.id == id), None)

    def team(self, id: str) -> Team | None:
        return next((t for t in self.teams if t.id == id), None)

    def team_named(self, value: str) -> Team | None:
        """The team whose id or name is `value` (case-insensitive), as alert labels say it."""
        wanted = value.strip().lower()
        return next((t for t in self.teams if wanted in (t.id.lower(), t.name.lower())), None)

    @property
    def default_owner(self) -> Team:
        return next(t for t in self.teams if t.default_owner)


def load_organisation(path: Path) -> Organisation:
    """Read and check an organisation file (.json as JSON, anything else as YAML)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OrganisationError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise OrganisationError(f"{path}: not UTF-8 text") from None
    data = _decode(path, text)
    if not isinstance(data, dict):
        raise OrganisationError(f"{path}: expected a mapping with 'accounts' and 'teams'")
    try:
        return Organisation.model_validate(data)
    except ValidationError as exc:
        raise OrganisationError(f"{path}: {_first_error(exc)}") from None


def _decode(path: Path, text: str) -> Any:
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise OrganisationError(f"{path}: not valid JSON ({exc})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise OrganisationError(f"{path}: not valid YAML{where} "
                                f"({getattr(exc, 'problem', None) or exc})") from None


def _first_error(exc: ValidationError) -> str:
    """"teams[2].default_owner: Input should be a valid boolean" from pydantic's errors."""
    error = exc.errors()[0]
    where = ""
    for part in error["loc"]:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "required field is missing"
    # Whole-organisation checks name their own field inside the message.
    return (f"{where}: {message}" if where else message) + _count(exc)


def _count(exc: ValidationError) -> str:
    more = exc.error_count() - 1
    return f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
