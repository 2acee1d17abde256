"""The Consult stage on a model: it answers from the retrieved passages only, citing them.

The passages (and memories) are numbered and fenced as untrusted data; the model must cite
at least one of those numbers and none other, or its answer is dropped for the extractive
one, which quotes the passages verbatim. A provider failure falls back the same way.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from oasis.agents.safety import UNTRUSTED_NOTE, Redactor, untrusted
from oasis.agents.settings import ModelSettings
from oasis.knowledge.answer import Answer, ExtractiveAnswerer
from oasis.knowledge.search import Hit

log = logging.getLogger(__name__)
CITE = re.compile(r"\[(\d{1,2})\]")

PROMPT = """You are OASIS's operations consultant. Answer the question using only the
numbered passages below (runbooks, policies, and memories of past events, tickets and
incidents). Cite every claim with the passage number in square brackets, e.g. [2]. If the
passages do not answer it, say so in one sentence. Be brief: a few sentences or steps.
""" + UNTRUSTED_NOTE


class ModelAnswerer:
    def __init__(self, settings: ModelSettings, model: Any = None) -> None:
        self.settings = settings
        self._model = model
        self.fallback = ExtractiveAnswerer()

    def answer(self, question: str, hits: list[Hit]) -> Answer:
        # Numbered as the extractive answer lists them: passages first, then memories.
        hits = sorted(hits, key=lambda h: h.chunk.memory)
        base = self.fallback.answer(question, hits)
        if not hits:
            return base
        redactor = Redactor(enabled=self.settings.redact)
        passages = "\n".join(
            f"[{n}] {h.chunk.title} / {h.chunk.heading or ''}\n"
            + untrusted(redactor.redact(h.chunk.text), f"kb:{h.chunk.label}", limit=1500)
            for n, h in enumerate(hits, 1))
        try:
            from strands import Agent

            from oasis.agents.providers import build_model

            self._model = self._model or build_model(self.settings)
            agent = Agent(model=self._model, system_prompt=PROMPT, callback_handler=None,
                          retry_strategy=None)
            text = str(agent(f"Passages:\n{passages}\n\nQuestion: "
                             f"{redactor.redact(question)}")).strip()
        except Exception as exc:  # the extractive answer still serves
            log.warning("model answer failed: %s", exc)
            return base
        cited = {int(n) for n in CITE.findall(text)}
        if not cited or not cited <= set(range(1, len(hits) + 1)):
            log.warning("model answer cited %s of %d passages; using quotes", cited, len(hits))
            return base
        return Answer(question, redactor.unredact(text), base.citations, base.memory,
                      answerer=f"model:{self.settings.model_id or self.settings.provider}")
