"""Checking claims: evidence for and against, stance, detail alignment, near-duplicate sources,
verdicts, and the newsroom's earlier fact-checks (matched and exported as ClaimReview)."""

from assistant.claims.checking import STANCE_MIN, Checker, check_claim_text, check_worthy, constrain
from assistant.claims.details import Aligner, Alignment
from assistant.claims.factchecks import check_publish_url, export, matches
from assistant.claims.stance import Stance, StanceVerifier, held_out, load_verifier

__all__ = ["STANCE_MIN", "Aligner", "Alignment", "Checker", "Stance", "StanceVerifier",
           "check_claim_text", "check_publish_url", "check_worthy", "constrain", "export",
           "held_out", "load_verifier", "matches"]
