"""Searching one index generation: hybrid retrieval, sentence evidence and verified quotes,
spelling correction."""

from assistant.search.evidence import EvidenceFinder, Sentence, expand_dependent, verified_quote
from assistant.search.retrieval import MODES, Mode, Retriever, check_k, check_query
from assistant.search.spelling import correct

__all__ = ["MODES", "EvidenceFinder", "Mode", "Retriever", "Sentence", "check_k", "check_query",
           "correct", "expand_dependent", "verified_quote"]
