"""OHERO Consult: runbooks, policies and memories, searched and quoted with their sources."""

from oasis.knowledge.answer import Answer, Answerer, Citation, ExtractiveAnswerer, MemoryItem
from oasis.knowledge.base import AddResult, KnowledgeBase, QuestionError
from oasis.knowledge.embed import Embedder, EmbedderUnavailable, MiniLMEmbedder
from oasis.knowledge.extract import SourceError
from oasis.knowledge.fetch import read_url_list
from oasis.knowledge.memory import incident_memory, ticket_memory
from oasis.knowledge.search import Hit
from oasis.knowledge.settings import KnowledgeSettings
from oasis.knowledge.store import SourceInfo

__all__ = [
    "AddResult", "Answer", "Answerer", "Citation", "Embedder", "EmbedderUnavailable",
    "ExtractiveAnswerer", "Hit", "KnowledgeBase", "KnowledgeSettings", "MemoryItem",
    "MiniLMEmbedder", "QuestionError", "SourceError", "SourceInfo", "incident_memory",
    "read_url_list", "ticket_memory",
]
