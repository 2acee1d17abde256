"""Consult over HTTP: `POST /api/v1/consult {"question", "k"}` answers with cited passages.

The knowledge base is `request.app.state.knowledge` (a `KnowledgeBase`); without one the
route answers 503 rather than pretending the knowledge base is empty.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field, field_validator

from oasis.knowledge import KnowledgeBase

router = APIRouter(prefix="/api/v1", tags=["consult"])
MAX_QUESTION_CHARS = 2000


class ConsultIn(BaseModel):
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS,
                          description="The question, in a person's own words")
    k: int = Field(5, ge=1, le=20, description="Passages (and memories) to return")

    @field_validator("question")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the question is blank")
        return value


class CitationOut(BaseModel):
    source: str
    title: str
    heading: str
    snippet: str
    score: float
    ref: str


class MemoryOut(BaseModel):
    kind: str
    id: str
    title: str
    snippet: str
    score: float
    metadata: dict[str, Any]
    ref: str


class AnswerOut(BaseModel):
    question: str
    text: str
    answerer: str
    citations: list[CitationOut]
    memory: list[MemoryOut]


@router.post("/consult", response_model=AnswerOut, responses={
    422: {"description": "Empty, blank or too long question, or k out of range"},
    503: {"description": "No knowledge base is configured on this server"}})
async def consult(body: ConsultIn, request: Request) -> dict[str, Any]:
    """The most relevant passages from runbooks, policies and memory, quoted and cited."""
    kb: KnowledgeBase | None = getattr(request.app.state, "knowledge", None)
    if kb is None:
        raise HTTPException(503, "no knowledge base on this server")
    answer = await run_in_threadpool(kb.consult, body.question, k=body.k)  # QuestionError: 422
    return answer.to_dict()
