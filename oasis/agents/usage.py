"""Tokens and dollars an agent spent, and the per-incident budget that stops it.

Providers count input tokens differently: Anthropic and Bedrock report cache reads and writes
apart from `inputTokens`, OpenAI counts cached tokens inside `prompt_tokens`. `Usage` always
holds uncached input, so the cost adds each kind once, at its own price.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from oasis.agents.settings import BudgetSettings

MILLION = 1_000_000


@dataclass
class Usage:
    """What one or more model calls consumed."""

    input_tokens: int = 0  # not read from nor written to the prompt cache
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    calls: int = 0
    cost_usd: float = 0.0  # set by `priced` and `Budget.check`; `add` sums it

    @property
    def total_tokens(self) -> int:
        return (self.input_tokens + self.output_tokens + self.cache_read_tokens
                + self.cache_write_tokens)

    def add(self, other: Usage) -> Usage:
        """Add `other` to this usage, in place; returns self."""
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.calls += other.calls
        self.cost_usd += other.cost_usd
        return self

    def priced(self, budget: BudgetSettings) -> Usage:
        """This usage with `cost_usd` set at the budget's prices; returns self."""
        self.cost_usd = cost(self, budget)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "total_tokens": self.total_tokens,
                "cost_usd": round(self.cost_usd, 6)}


def usage_from_metrics(metrics: Any) -> Usage:
    """Usage of the latest invocation recorded in a Strands `EventLoopMetrics`.

    The latest invocation, not the agent's running total, so adding the usage of each call
    to one agent counts every token once. Also works on a failed call's agent
    (`agent.event_loop_metrics`): what was spent before the failure is still spent.
    """
    invocation = getattr(metrics, "latest_agent_invocation", None)
    if invocation is not None:
        raw, calls = invocation.usage, len(invocation.cycles)
    else:
        raw, calls = getattr(metrics, "accumulated_usage", None) or {}, metrics.cycle_count
    return _normalized(raw, calls)


def usage_from_result(agent_result: Any) -> Usage:
    """Usage of one Strands `AgentResult` (what `agent(prompt)` returned)."""
    return usage_from_metrics(agent_result.metrics)


def _normalized(raw: dict[str, int], calls: int) -> Usage:
    inputs = int(raw.get("inputTokens", 0))
    outputs = int(raw.get("outputTokens", 0))
    total = int(raw.get("totalTokens", inputs + outputs))
    read = int(raw.get("cacheReadInputTokens", 0))
    write = int(raw.get("cacheWriteInputTokens", 0))
    if (read or write) and inputs + outputs == total:
        # The cached tokens are already inside inputTokens (OpenAI's way): take them out.
        inputs = max(0, inputs - read - write)
    return Usage(input_tokens=inputs, output_tokens=outputs, cache_read_tokens=read,
                 cache_write_tokens=write, calls=calls)


def cost(usage: Usage, budget: BudgetSettings) -> float:
    """Estimated US dollars of `usage` at the budget's prices."""
    return (usage.input_tokens * budget.price_per_million_input_tokens
            + usage.output_tokens * budget.price_per_million_output_tokens
            + usage.cache_read_tokens * budget.price_per_million_cache_read_tokens
            + usage.cache_write_tokens * budget.price_per_million_cache_write_tokens) / MILLION


class BudgetExceeded(RuntimeError):
    """An incident used more tokens or money than its budget allows."""


class Budget:
    """The spending limits of one incident's investigation."""

    def __init__(self, settings: BudgetSettings) -> None:
        self.settings = settings

    def check(self, usage: Usage) -> None:
        """Raise `BudgetExceeded`, naming the limit, once `usage` is over either limit.

        Sets `usage.cost_usd` on the way, so the usage that is recorded carries its cost.
        """
        usage.priced(self.settings)
        limit = self.settings.max_tokens_per_incident
        if usage.total_tokens > limit:
            raise BudgetExceeded(
                f"token budget exceeded: {usage.total_tokens:,} tokens used, "
                f"model.budget.max_tokens_per_incident is {limit:,}")
        spent, most = usage.cost_usd, self.settings.max_cost_per_incident_usd
        if spent > most:
            raise BudgetExceeded(
                f"cost budget exceeded: ${spent:.4f} spent, "
                f"model.budget.max_cost_per_incident_usd is ${most:.2f}")

    def remaining_tokens(self, usage: Usage) -> int:
        """Tokens still allowed after `usage`; never below 0."""
        return max(0, self.settings.max_tokens_per_incident - usage.total_tokens)

    def remaining_cost_usd(self, usage: Usage) -> float:
        """Dollars still allowed after `usage`; never below 0."""
        return max(0.0, self.settings.max_cost_per_incident_usd - cost(usage, self.settings))
