"""Checking claims: evidence for and against, stance, near-duplicate sources, verdicts, and the
newsroom's earlier fact-checks (matched and exported as ClaimReview)."""

from assistant.claims.checking import STANCE_MIN, Checker, check_claim_text, check_worthy
from assistant.claims.factchecks import check_publish_url, export, matches
from assistant.claims.stance import Stance, StanceVerifier, held_out, load_verifier

__all__ = ["STANCE_MIN", "Checker", "Stance", "StanceVerifier", "check_claim_text",
           "check_publish_url",
           "check_worthy", "export", "held_out", "load_verifier", "matches"]
