"""The one retry policy: exponential backoff, capped, with optional jitter.

`Backoff.delay` is the wait after a failure; `with_retries` runs a call up to `attempts`
times, waiting that long between tries (never after the last). What is worth another try
is the caller's to say: which exceptions (`retry_on`), and which results (`retry_if`, e.g.
an HTTP 5xx). Any other exception propagates at once. `sleep` is injectable, so tests record
the delays instead of waiting them out.

Users: remediation executors over HTTP (`oasis.remediate.executors.http.send`), the Jira
tracker (`oasis.triage.jira`), the notification outbox's schedule (`oasis.notify.outbox`,
which waits between passes rather than sleeping) and the live simulator's signal poster.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")



def retryable_status(status: int) -> bool:
    """Whether an HTTP answer says "try again later" (timeout, too early, too many
    requests, any 5xx) rather than "no"."""
    return status >= 500 or status in (408, 425, 429)


@dataclass(frozen=True, slots=True)
class Backoff:
    """Wait `base_seconds * 2^(failures-1)`, at most `max_seconds`, plus up to `jitter`
    (a fraction: 0.1 is up to 10 %) so many callers failing together do not retry together."""

    base_seconds: float
    max_seconds: float = float("inf")
    jitter: float = 0.0

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """The wait after the `failures`-th failure in a row (1 for the first)."""
        wait = min(self.max_seconds, self.base_seconds * 2 ** min(max(failures, 1) - 1, 60))
        return wait * (1 + (rng or random).uniform(0, self.jitter)) if self.jitter else wait


@dataclass(frozen=True, slots=True)
class Tried(Generic[T]):
    """How the last try went: `ok` when it succeeded; else its result (one worth retrying)
    or the retryable exception it raised."""

    ok: bool
    result: T | None
    error: BaseException | None
    attempts: int

    def problem(self, describe: Callable[[T], str]) -> str:
        """Why the last try failed: its exception as `Type: message`, or what `describe`
        says of its result (e.g. `HTTP 503`)."""
        if self.error is not None:
            return f"{type(self.error).__name__}: {self.error or 'no detail'}"
        return describe(self.result) if self.result is not None else "no result"


def with_retries(call: Callable[[], T], *, attempts: int, backoff: Backoff,
                 retry_on: tuple[type[BaseException], ...] = (),
                 retry_if: Callable[[T], bool] = lambda _result: False,
                 sleep: Callable[[float], None] = time.sleep,
                 wait_of: Callable[[T], float | None] = lambda _result: None) -> Tried[T]:
    """`call()`, tried up to `attempts` times (at least once) while it raises one of
    `retry_on` or returns a result for which `retry_if` is true; `sleep(backoff.delay(n))`
    between tries, or the wait a retried result asks for itself (`wait_of`, e.g. an HTTP
    `Retry-After`). The outcome of the last try; other exceptions propagate."""
    attempts = max(1, attempts)
    last: Tried[T] = Tried(False, None, None, 0)
    for attempt in range(1, attempts + 1):
        try:
            result = call()
        except retry_on as exc:
            last = Tried(False, None, exc, attempt)
        else:
            if not retry_if(result):
                return Tried(True, result, None, attempt)
            last = Tried(False, result, None, attempt)
        if attempt < attempts:
            asked = wait_of(last.result) if last.result is not None else None
            sleep(asked if asked is not None else backoff.delay(attempt))
    return last


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The wait an HTTP answer's `Retry-After` asks for, in seconds (None if absent or a
    date, which OASIS's servers never send)."""
    value = headers.get("retry-after", "").strip()
    return float(value) if value.isdigit() else None


__all__ = ["Backoff", "Tried", "retry_after_seconds", "retryable_status", "with_retries"]
