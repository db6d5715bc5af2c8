"""Which way a statement points, and null results: the stance model's direction features."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.claims.details import Alignment
from assistant.claims.polarity import claims_effect, direction, null_result, turned
from assistant.claims.stance import CONTRADICTION_CUES, FEATURES, pair_features


@pytest.mark.parametrize(("text", "expected"), [
    ("Antiretroviral therapy increases rates of tuberculosis.", 1),
    ("The therapy is associated with a reduction in the incidence of tuberculosis.", -1),
    ("Exports rose for a third year.", 1),
    ("Exports fell for a third year.", -1),
    ("The drug did not increase insulin secretion.", -1),   # a near negation turns it
    ("The drug didn't lower blood pressure.", 1),
    ("The ministry published its annual report.", 0),      # no direction at all
    ("Prices rose in March and fell in April.", 0),        # both equally
])
def test_direction(text: str, expected: int) -> None:
    assert direction(text) == expected


def test_a_far_negation_does_not_turn_the_direction() -> None:
    # "not" governs "confirmed", five words before "increase": the finding still points up.
    assert direction("The study did not confirm earlier doubts that exports increase.") == 1


def test_turned_reads_only_the_words_that_differ() -> None:
    # Both say "more ... hikes" (up), so the sentences' whole directions agree; the words that
    # differ ("reduced" against "elevated") point opposite ways.
    claim = "If inflation stays reduced, the Fed will consider more rate hikes."
    source = "If inflation stays elevated, the Fed will consider more rate hikes."
    assert direction(claim) == direction(source) == 1
    assert turned(claim, source)
    assert not turned("Exports rose in May.", "Exports rose sharply in May.")
    assert not turned("Exports rose in May.", "Imports fell in May while exports rose.")


@pytest.mark.parametrize(("text", "expected"), [
    ("There was no significant difference in mortality between the groups.", True),
    ("Vitamin D was not associated with fracture risk.", True),
    ("Blood pressure remained unchanged after treatment.", True),
    ("Blood pressure fell after treatment.", False),
])
def test_null_result(text: str, expected: bool) -> None:
    assert null_result(text) is expected


def test_claims_effect() -> None:
    assert claims_effect("Statins lower the risk of hip fracture.")
    assert not claims_effect("The summit took place in Johannesburg.")


def row(claim: str, sentence: str) -> dict[str, float]:
    x = pair_features(claim, sentence, 0.9, Alignment())
    return dict(zip(FEATURES, x.tolist(), strict=True))


def test_pair_features_see_a_turned_direction_and_a_null_result() -> None:
    opposite = row("The drug enhances insulin secretion in mice.",
                   "In mice, the drug suppressed insulin secretion.")
    assert opposite["direction_conflict"] == 1.0 and opposite["direction_agree"] == 0.0
    assert opposite["cov_x_direction_conflict"] == pytest.approx(opposite["coverage"])
    assert opposite["turned_words"] == 1.0
    same = row("The drug enhances insulin secretion in mice.",
               "In mice, the drug boosted insulin secretion.")
    assert same["direction_agree"] == 1.0 and same["direction_conflict"] == 0.0
    null = row("The vaccine had no effect on infection rates.",
               "The vaccine cut infection rates by half.")
    assert null["null_claim_only"] == 1.0 and null["null_sentence_only"] == 0.0
    # Each is a reason the verifier accepts for a refutation.
    assert {"direction_conflict", "null_claim_only", "turned_words"} <= set(CONTRADICTION_CUES)
    assert np.isfinite(list(opposite.values())).all()
