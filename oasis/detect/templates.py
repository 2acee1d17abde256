"""Log templates mined with Drain3, with masking for the usual variable parts.

`TemplateMiner.add` returns a stable id per template; the id, not the text, is what the
detectors count, because Drain3 generalises a template's text as it sees more lines.
"""

from __future__ import annotations

import logging

from drain3 import TemplateMiner as Drain
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

# Order matters: a pattern sees the text the ones above it have already masked.
MASKS: list[tuple[str, str]] = [
    (r"<\d+ sec\b|\b\d{1,2}:\d{2}(?::\d{2})?\b(?!\.\d)", "DURATION"),
    (r"\bbytes \(\d+(?:\.\d+)? [KMGT]?B\)", "SIZE"),
    (r"(?:[\w-]+\.)+[\w-]+:\d+", "HOSTPORT"),
    (r"(?<![\w.])(?:/[\w.\-@~?=&%:+,]+)+/?", "PATH"),
    (r"\b\d{1,3}(?:\.\d{1,3}){3}(?:,\d{1,3}(?:\.\d{1,3}){3})+\b", "IP"),
    (r"\b[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}\b", "MAC"),
    (r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "UUID"),
    (r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b", "IP"),
    (r"\b(?:0x)?[0-9a-fA-F]{12,}\b", "HEX"),
    (r"(?<![\w.])\d+(?:[_-]\d+)+(?![\w.])", "NUM"),
    (r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:ms|s|MB|KB|GB|%)?(?![\w.])", "NUM"),
]


def drain_config(similarity: float = 0.5, depth: int = 5) -> TemplateMinerConfig:
    """Drain3 settings: similarity 0.5 and depth 5, the best mean grouping accuracy on
    Loghub-2k over a small grid (bench/loghub.py), plus our masks."""
    config = TemplateMinerConfig()
    config.drain_sim_th = similarity
    config.drain_depth = depth
    config.masking_instructions = [MaskingInstruction(p, name) for p, name in MASKS]
    config.parametrize_numeric_tokens = True
    # `key=value` pairs: the key belongs to the template, the value does not.
    config.drain_extra_delimiters = ["="]
    config.profiling_enabled = False
    return config


class TemplateMiner:
    def __init__(self, config: TemplateMinerConfig | None = None) -> None:
        logging.getLogger("drain3").setLevel(logging.WARNING)
        self._drain = Drain(config=config or drain_config())

    def add(self, message: str) -> tuple[str, str]:
        """(template id, current template text) of one log message."""
        result = self._drain.add_log_message(message[:2000])
        return f"T{result['cluster_id']}", result["template_mined"]
