"""Explicit-bucket histograms: percentiles from bucket counts, the way Prometheus'
`histogram_quantile` reads them (linear within the bucket the rank falls in)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

QUANTILES = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))


@dataclass(slots=True)
class Distribution:
    """Counts of observations per bucket over one interval. `bounds` are the buckets'
    upper bounds; there is one more bucket than bounds (the last one is up to +inf).
    `low`/`high` are the interval's minimum and maximum when known."""

    bounds: tuple[float, ...]
    buckets: list[int]
    total: float | None = None  # the sum of the observations
    low: float | None = None
    high: float | None = None

    @property
    def count(self) -> int:
        return sum(self.buckets)

    def add(self, other: Distribution) -> None:
        """Merge another series' interval with the same bounds into this one."""
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=True)]
        self.total = None if self.total is None or other.total is None \
            else self.total + other.total
        self.low = _pick(min, self.low, other.low)
        self.high = _pick(max, self.high, other.high)

    def scaled(self, factor: float) -> Distribution:
        """The same distribution in another unit (microseconds to milliseconds)."""
        if factor == 1:
            return self
        return Distribution(tuple(b * factor for b in self.bounds), list(self.buckets),
                            None if self.total is None else self.total * factor,
                            None if self.low is None else self.low * factor,
                            None if self.high is None else self.high * factor)

    def mean(self) -> float | None:
        count = self.count
        return self.total / count if count and self.total is not None else None

    def quantile(self, q: float) -> float | None:
        """The q-quantile, interpolated within its bucket; None without observations.

        The first bucket starts at the minimum when known, else at 0 (or at its bound if
        that is negative); in the last (open) bucket the answer is the maximum when known,
        else the highest bound. The result is clamped to [minimum, maximum] when known.
        """
        count = self.count
        if count <= 0:
            return None
        if not self.bounds:
            value = self.mean()
            return value if value is not None else self.high
        rank = q * count
        seen = 0
        value = self.bounds[-1]
        for i, n in enumerate(self.buckets):
            if n <= 0 or seen + n < rank:
                seen += n
                continue
            value = self._within(i, (rank - seen) / n)
            break
        if self.low is not None:
            value = max(value, self.low)
        if self.high is not None:
            value = min(value, self.high)
        return value

    def _within(self, i: int, share: float) -> float:
        if i >= len(self.bounds):  # the open bucket above the highest bound
            return self.high if self.high is not None else self.bounds[-1]
        upper = self.bounds[i]
        if i > 0:
            lower = self.bounds[i - 1]
        elif self.low is not None:
            lower = min(self.low, upper)
        else:
            lower = min(0.0, upper)
        return lower + (upper - lower) * share


def _pick(choose: Callable[[float, float], float], a: float | None,
          b: float | None) -> float | None:
    if a is None or b is None:
        return None  # one series' interval without an extreme leaves the merge without
    return choose(a, b)
