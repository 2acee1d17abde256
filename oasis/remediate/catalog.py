"""The action catalog: every remediation OASIS can propose, each with typed parameters.

Actions come from this allow-list only. A model or a log line may choose an action and fill
in its parameters; it never supplies a command. Names are held to patterns that no shell
metacharacter, path trick or option flag gets through, so even an executor that hands them
to another program hands over plain words.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from oasis.signals.errors import InvalidInput

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,199}$"
VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/+@-]{0,199}$"  # + and @: semver builds, digests
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$"  # no "/": an action id names state files
RUNBOOK_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
ARG_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"

_PATTERN_WORDS = {
    NAME_PATTERN: "letters, digits and _ . : / - only, starting with a letter or digit, "
                  "at most 200 characters",
    VERSION_PATTERN: "letters, digits and _ . : / + @ - only, starting with a letter or "
                     "digit, at most 200 characters",
    ID_PATTERN: "letters, digits and _ . : - only, starting with a letter or digit, "
                "at most 200 characters",
    RUNBOOK_PATTERN: "letters, digits and _ . - only, starting with a letter or digit, "
                     "at most 100 characters",
    ARG_NAME_PATTERN: "a letter or _, then letters, digits or _, at most 64 characters",
}


class ActionKind(StrEnum):
    ROLLBACK = "rollback"
    RESTART = "restart"
    SCALE = "scale"
    TOGGLE_FLAG = "toggle_flag"
    RUN_RUNBOOK = "run_runbook"
    NOTIFY_ONLY = "notify_only"


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class ActionError(InvalidInput, ValueError):
    """An action, or its parameters, is not acceptable; the message names the field."""


ServiceName = Annotated[str, Field(pattern=NAME_PATTERN, description=(
    "The service to act on, as OASIS's signals name it."))]
ArgName = Annotated[str, StringConstraints(pattern=ARG_NAME_PATTERN)]
ArgValue = bool | int | float | Annotated[str, StringConstraints(max_length=1000)]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RollbackParams(_Params):
    """Go back to an earlier release."""

    service: ServiceName
    to_version: str | None = Field(None, pattern=VERSION_PATTERN, description=(
        "Release to go back to; default: the one before the current."))


class RestartParams(_Params):
    """Restart every replica."""

    service: ServiceName


class ScaleParams(_Params):
    """Set the number of replicas."""

    service: ServiceName
    replicas: int = Field(ge=1, le=100, description="Replicas to run, 1 to 100.")


class ToggleFlagParams(_Params):
    """Switch a feature flag on or off."""

    service: ServiceName
    flag: str = Field(pattern=NAME_PATTERN, description="Name of the feature flag.")
    enabled: bool = Field(description="True switches the flag on, false off.")


class RunbookParams(_Params):
    """Run a runbook declared in the configuration."""

    runbook: str = Field(pattern=RUNBOOK_PATTERN, description=(
        "Name of a runbook under `remediate.runbooks`."))
    args: dict[ArgName, ArgValue] = Field(default_factory=dict, max_length=50, description=(
        "The runbook's arguments, checked against the types it declares."))


class NotifyOnlyParams(_Params):
    """Change nothing; tell people."""

    note: str = Field("", max_length=2000, description="What people should know or check.")


PARAMS: dict[ActionKind, type[BaseModel]] = {
    ActionKind.ROLLBACK: RollbackParams,
    ActionKind.RESTART: RestartParams,
    ActionKind.SCALE: ScaleParams,
    ActionKind.TOGGLE_FLAG: ToggleFlagParams,
    ActionKind.RUN_RUNBOOK: RunbookParams,
    ActionKind.NOTIFY_ONLY: NotifyOnlyParams,
}

# run_runbook: a runbook's own `risk` overrides this; see Executors.default_risk.
DEFAULT_RISK: dict[ActionKind, Risk] = {
    ActionKind.ROLLBACK: Risk.MEDIUM,
    ActionKind.RESTART: Risk.LOW,
    ActionKind.SCALE: Risk.LOW,
    ActionKind.TOGGLE_FLAG: Risk.MEDIUM,
    ActionKind.RUN_RUNBOOK: Risk.MEDIUM,
    ActionKind.NOTIFY_ONLY: Risk.LOW,
}

DESCRIPTIONS: dict[ActionKind, str] = {
    ActionKind.ROLLBACK: "Roll the service back to its previous release (or to to_version); "
                         "the fix for a bad deploy.",
    ActionKind.RESTART: "Restart every replica of the service: clears leaked memory, stuck "
                        "threads and exhausted connection pools, but not a bad release.",
    ActionKind.SCALE: "Set the service's replica count (1-100): for overload or traffic "
                      "beyond capacity.",
    ActionKind.TOGGLE_FLAG: "Switch one feature flag of the service on or off: disables a "
                            "faulty feature without a deploy.",
    ActionKind.RUN_RUNBOOK: "Run one of the runbooks the operators declared, with typed "
                            "arguments.",
    ActionKind.NOTIFY_ONLY: "Change nothing and tell people: when no action is safe or none "
                            "is needed.",
}


def validate_params(kind: ActionKind, params: Any) -> BaseModel:
    """`params` as the typed model of `kind`, or ActionError naming each bad field."""
    try:
        return _typed_params(ActionKind(kind), params)
    except ActionError as exc:
        raise ActionError(f"invalid {kind} parameters: {exc}") from None


def _typed_params(kind: ActionKind, params: Any) -> BaseModel:
    model = PARAMS[kind]
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise ActionError(explain(exc, "params", model)) from None


def explain(exc: ValidationError, prefix: str = "", model: type[BaseModel] | None = None) -> str:
    """A person-readable account of a pydantic error: which field, what was wrong."""
    problems = []
    for err in exc.errors():
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, ActionError):  # already explained, field and all
            problems.append(str(cause))
            continue
        where = ".".join(str(p) for p in (prefix, *err["loc"]) if p not in ("", "[key]"))
        problems.append(f"{where or 'value'}: {_problem(err, model)}")
    return "; ".join(problems)


def _problem(err: Any, model: type[BaseModel] | None) -> str:
    kind, value = err["type"], err.get("input")
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    if kind == "string_pattern_mismatch":
        pattern = err["ctx"]["pattern"]
        return f"{shown} is not allowed: use {_PATTERN_WORDS.get(pattern, pattern)}"
    if kind == "extra_forbidden":
        allowed = ", ".join(model.model_fields) if model else ""
        return "unknown field" + (f"; allowed: {allowed}" if allowed else "")
    if kind == "missing":
        return "required"
    if isinstance(value, dict | list):
        return err["msg"]
    return f"{err['msg']} (got {shown})"


class ActionSpec(BaseModel):
    """One proposed or approved action: what to do, to what, and why.

    Construction validates `params` against the kind's typed model and stores them in
    their canonical form, so the intent persisted before acting is exactly what runs.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN, description=(
        "The caller's action id; executors never carry out the same id twice."))
    incident_id: str = Field(min_length=1, max_length=200, description=(
        "The incident the action mitigates."))
    kind: ActionKind = Field(description="What to do; see DESCRIPTIONS.")
    params: dict[str, Any] = Field(default_factory=dict, description=(
        "Parameters, as the kind's model in PARAMS (e.g. ScaleParams) defines them."))
    risk: Risk = Field(description="How much could go wrong; default: DEFAULT_RISK[kind].")
    reason: str = Field("", max_length=4000, description="Why this action, for the approver.")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ActionError(_action_problem(exc, data)) from None

    # pydantic validates through __init__ above, so its ActionError arrives wrapped here.
    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> ActionSpec:  # type: ignore[override]
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as exc:
            raise _unwrapped(exc, obj) from None

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray,  # type: ignore[override]
                            **kwargs: Any) -> ActionSpec:
        try:
            return super().model_validate_json(json_data, **kwargs)
        except ValidationError as exc:
            raise _unwrapped(exc, None) from None

    @model_validator(mode="before")
    @classmethod
    def _default_risk(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("risk") is None:
            try:
                data = {**data, "risk": DEFAULT_RISK[ActionKind(data.get("kind"))]}
            except ValueError:  # the kind's own error says it; "risk: required" would be noise
                data = {**data, "risk": Risk.MEDIUM}
        return data

    @field_validator("params", mode="after")
    @classmethod
    def _typed(cls, params: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        kind = info.data.get("kind")
        if kind is None:
            return params  # kind was invalid and is reported on its own
        return _typed_params(kind, params).model_dump(mode="json")

    def typed_params(self) -> BaseModel:
        """The parameters as the kind's model, e.g. `ScaleParams`."""
        return PARAMS[self.kind].model_validate(self.params)


def _action_problem(exc: ValidationError, data: Any) -> str:
    ident = data.get("id") if isinstance(data, dict) else None
    kind = data.get("kind") if isinstance(data, dict) else None
    what = "action" + (f" {ident}" if isinstance(ident, str) else "") \
        + (f" ({kind})" if isinstance(kind, str) else "")
    return f"invalid {what}: {explain(exc, '', ActionSpec)}"


def _unwrapped(exc: ValidationError, data: Any) -> ActionError:
    causes = [(e.get("ctx") or {}).get("error") for e in exc.errors()]
    if causes and isinstance(causes[0], ActionError):
        return causes[0]
    return ActionError(_action_problem(exc, data))


def service_of(action: ActionSpec) -> str | None:
    """The service an action touches, if any (a runbook's `service` argument counts)."""
    service = action.params.get("service")
    if service is None and action.kind == ActionKind.RUN_RUNBOOK:
        service = action.params.get("args", {}).get("service")
    return service if isinstance(service, str) else None
