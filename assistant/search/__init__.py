"""Searching one index generation: hybrid retrieval, sentence evidence and verified quotes,
spelling correction."""

from assistant.search.evidence import EvidenceFinder, Sentence, expand_dependent, verified_quote
from assistant.search.features import NAMES
from assistant.search.ranker import SentenceRanker
from assistant.search.retrieval import MODES, Mode, Retriever, check_k, check_query
from assistant.search.spelling import correct
from assistant.search.wording import places

__all__ = ["MODES", "NAMES", "EvidenceFinder", "Mode", "Retriever", "Sentence", "SentenceRanker",
           "check_k", "check_query", "correct", "expand_dependent", "places", "verified_quote"]
