"""Runbooks: commands the operators declared, with typed arguments, and nothing else.

A runbook's `argv` is a list of words run without a shell. `{name}` placeholders are filled
from the action's arguments after each is checked against its `ParamSpec`, and each fills
exactly one argv item, so `; rm -rf /` arrives as one harmless literal word. The program
(argv[0]) is never a placeholder. A string argument without a declared pattern may not
start with "-", so it cannot turn into an option of the program.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from oasis.remediate.catalog import PARAMS, ActionError, ActionKind, ArgName, Risk

Value = bool | int | float | str
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {"str": (str,), "int": (int,),
                                              "float": (int, float), "bool": (bool,)}


class ParamSpec(BaseModel):
    """One argument a runbook takes: its type and what values are allowed."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["str", "int", "float", "bool"] = Field("str", description="Value type.")
    pattern: str | None = Field(None, description=(
        "Regular expression a string must match in full; without one, a string may not "
        "start with '-'."))
    choices: list[Value] | None = Field(None, description="The only values allowed.")
    min: float | None = Field(None, description="Smallest number allowed.")
    max: float | None = Field(None, description="Largest number allowed.")
    required: bool = Field(True, description="Must the action give it (unless defaulted)?")
    default: Value | None = Field(None, description="Value when the action leaves it out.")
    description: str = Field("", description="What it means, for people and for the model.")

    @model_validator(mode="after")
    def _consistent(self) -> ParamSpec:
        if self.pattern is not None:
            if self.type != "str":
                raise ValueError(f"pattern applies to str arguments only, not {self.type}")
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern {self.pattern!r} is not a valid regex: {exc}") \
                    from None
        if (self.min is not None or self.max is not None) and self.type not in ("int", "float"):
            raise ValueError(f"min/max apply to int and float arguments only, not {self.type}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        for value in [*(self.choices or []), *([self.default] if self.default is not None
                                               else [])]:
            problem = self.problem(value, check_choices=False)
            if problem:
                raise ValueError(f"default/choice {value!r}: {problem}")
        return self

    def problem(self, value: Any, *, check_choices: bool = True) -> str | None:
        """Why `value` is not acceptable, or None when it is."""
        if (isinstance(value, bool) and self.type != "bool") \
                or not isinstance(value, _PYTHON_TYPES[self.type]):
            return f"must be {self.type}, got {type(value).__name__} {value!r}"
        if check_choices and self.choices is not None and value not in self.choices:
            return f"{value!r} is not one of {self.choices}"
        if self.min is not None and value < self.min:
            return f"{value} is below the minimum {self.min:g}"
        if self.max is not None and value > self.max:
            return f"{value} is above the maximum {self.max:g}"
        if isinstance(value, str):
            if self.pattern is not None:
                if not re.fullmatch(self.pattern, value):
                    return f"{value!r} does not match {self.pattern!r}"
            elif value.startswith("-"):
                return f"{value!r} may not start with '-' (declare a pattern to allow it)"
            if "\0" in value:
                return "contains a NUL character"
        return None


class RunbookSpec(BaseModel):
    """A command OASIS may run, as the operators declared it."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(description="What it does, for people and for the model.")
    argv: list[str] = Field(min_length=1, description=(
        "Program and arguments, run without a shell; items may contain {name} placeholders "
        "for declared params ({{ and }} are literal braces)."))
    params: dict[ArgName, ParamSpec] = Field(default_factory=dict, description=(
        "The arguments it takes."))
    verify: list[str] | None = Field(None, description=(
        "Optional read-only command run afterwards; exit status 0 confirms the change."))
    timeout_seconds: float = Field(300, gt=0, description="Killed after this long.")
    risk: Risk = Field(Risk.MEDIUM, description="Risk of running it, shown to the approver.")
    idempotent: bool = Field(False, description=(
        "Safe to run twice? Only then is it re-run when OASIS crashed while it ran."))
    env: dict[str, str] = Field(default_factory=dict, description=(
        "Extra environment variables for the command."))
    handles: list[ActionKind] = Field(default_factory=lambda: [ActionKind.RUN_RUNBOOK],
                                      description=(
        "Action kinds it implements; for kinds other than run_runbook the action's typed "
        "params (service, replicas, ...) are its arguments."))

    @model_validator(mode="after")
    def _consistent(self) -> RunbookSpec:
        for command, items in (("argv", self.argv), ("verify", self.verify or [])):
            if items and placeholders(items[0]):
                raise ValueError(f"{command}[0] (the program) may not contain a placeholder")
            undeclared = sorted({n for item in items for n in placeholders(item)}
                                - set(self.params))
            if undeclared:
                raise ValueError(
                    f"{command} uses {', '.join('{' + n + '}' for n in undeclared)}, not "
                    f"declared under params (declared: {', '.join(self.params) or 'none'})")
        for kind in self.handles:
            if kind == ActionKind.NOTIFY_ONLY:
                raise ValueError("notify_only needs no runbook; remove it from handles")
            if kind == ActionKind.RUN_RUNBOOK:
                continue
            fields = PARAMS[kind].model_fields
            missing = [f for f, info in fields.items() if info.is_required()
                       and f not in self.params]
            if missing:
                raise ValueError(f"handles {kind}, so params must declare "
                                 f"{', '.join(missing)}")
            extra = [n for n, p in self.params.items()
                     if n not in fields and p.required and p.default is None]
            if extra:
                raise ValueError(f"handles {kind}, whose actions cannot give required "
                                 f"params {', '.join(extra)}; give them defaults")
        return self

    def bind(self, args: Mapping[str, Any], runbook: str = "runbook") -> dict[str, Value]:
        """`args` checked against `params`, defaults filled; ActionError names a bad arg."""
        unknown = sorted(set(args) - set(self.params))
        if unknown:
            raise ActionError(f"runbook {runbook} has no argument {', '.join(unknown)}; "
                              f"it takes: {', '.join(self.params) or 'none'}")
        bound: dict[str, Value] = {}
        for name, spec in self.params.items():
            value = args.get(name)
            if value is None:
                if spec.default is not None:
                    bound[name] = spec.default
                elif spec.required:
                    raise ActionError(f"runbook {runbook}: argument {name} is required"
                                      + (f" ({spec.description})" if spec.description else ""))
                continue
            problem = spec.problem(value)
            if problem:
                raise ActionError(f"runbook {runbook}: argument {name}: {problem}")
            bound[name] = value
        return bound

    def render(self, items: list[str], bound: Mapping[str, Value]) -> list[str]:
        """`items` with placeholders filled; an item that is just a missing one is left out."""
        out = []
        for item in items:
            names = placeholders(item)
            if len(names) == 1 and item == "{" + names[0] + "}" and names[0] not in bound:
                continue
            out.append(_PLACEHOLDER.sub(lambda m: _fill(m, bound), item))
        return out


def placeholders(item: str) -> list[str]:
    """Names of the `{name}` placeholders in one argv item."""
    return [m.group(1) for m in _PLACEHOLDER.finditer(item) if m.group(1)]


def _fill(match: re.Match[str], bound: Mapping[str, Value]) -> str:
    if match.group(0) in ("{{", "}}"):
        return match.group(0)[0]
    value = bound.get(match.group(1))
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
