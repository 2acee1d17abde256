"""The one error hierarchy: errors OASIS can explain to whoever asked, each knowing how to
answer over HTTP (`status`) and from the command line (`exit_code`).

Domain errors subclass the kind they are (`IllegalTransition` is a `Conflict`,
`QuestionError` an `InvalidInput`...), and usually keep their old base too (`ValueError`,
`KeyError`), so existing `except` clauses still catch them. The faces translate once:
`oasis.api.errors.install_error_handlers` answers `{"detail": message}` with `status`, and
the CLI (`oasis.cli.app`) prints the message and exits with `exit_code`.

CLI exit codes follow the existing commands: 2 for input or settings that are wrong (as for a
usage error), 1 for anything else that failed.
"""

from __future__ import annotations


class OasisError(Exception):
    """An error with a message for people; `status` and `exit_code` say how to answer.

    `status` may be given per instance, for errors whose answer depends on the case (an
    expired link is 410, a forged one 403)."""

    status: int = 500
    exit_code: int = 1

    def __init__(self, message: str = "", *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

    def __str__(self) -> str:  # also for KeyError subclasses, which would quote it
        return self.message


class InvalidInput(OasisError):
    """What was sent cannot be used: malformed, out of range, unknown."""

    status = 422
    exit_code = 2


class Unauthorized(OasisError):
    """No credentials, or ones that do not check out."""

    status = 401


class Forbidden(OasisError):
    """Known, but not allowed to do this."""

    status = 403


class NotFound(OasisError):
    """No such thing."""

    status = 404


class Conflict(OasisError):
    """Not possible in the current state (or someone changed it meanwhile)."""

    status = 409


class TooManyRequests(OasisError):
    """Full or rate-limited: try again shortly (after `retry_after_seconds`, when given:
    the HTTP answer carries it as `Retry-After`)."""

    status = 429

    def __init__(self, message: str = "", *, status: int | None = None,
                 retry_after_seconds: int | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after_seconds = retry_after_seconds


class Unavailable(OasisError):
    """Something OASIS depends on is not there or not answering."""

    status = 503


__all__ = ["Conflict", "Forbidden", "InvalidInput", "NotFound", "OasisError",
           "TooManyRequests", "Unauthorized", "Unavailable"]
