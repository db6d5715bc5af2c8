"""Which way a statement points, and null results: the stance model's direction features."""

from __future__ import annotations

import random
import sys

import numpy as np
import pytest

from assistant.claims.details import Alignment
from assistant.claims.polarity import (
    NEGATION_REACH,
    claims_effect,
    direction,
    null_result,
    turned,
)
from assistant.claims.stance import CONTRADICTION_CUES, FEATURES, pair_features

from .conftest import REPO


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


def test_a_negation_reaches_four_words_within_its_clause_and_turns_one_word() -> None:
    assert NEGATION_REACH == 4
    assert direction("Sales did not in the end increase.") == -1     # the fourth word on
    assert direction("Sales did not in the end really increase.") == 1  # the fifth
    assert direction("Exports did not fall; they rose sharply.") == 1  # not into the next clause
    assert direction("It did not rise, and costs fell.") == -1
    assert direction("Protein activity was reduced.") == -1  # "activity" is no "activation"


def test_every_opposite_that_perturb_makes_is_seen_as_turned() -> None:
    sys.path.insert(0, str(REPO / "scripts"))
    import perturb

    for word, opposite in perturb._OPPOSITES.items():
        assert turned(f"The treatment {word} the level.", f"The treatment {opposite} the level."), \
            (word, opposite)
    # A negated direction word is left alone: "did not decrease" need not be false.
    nlp = perturb.load_nlp()
    plain = nlp("The new policy will increase exports to Canada in 2022.")
    made = dict((k, c) for c, k in perturb.perturbations(plain, random.Random(1), {}, ""))
    assert made["opposite"] == "The new policy will decrease exports to Canada in 2022."
    doc = nlp("The new policy did not increase exports to Canada in 2022.")
    kinds = {k for _, k in perturb.perturbations(doc, random.Random(1), {}, "")}
    assert "opposite" not in kinds


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
    ("Blood pressure didn't change.", True),
    ("Not only did sales increase, profits rose too.", False),
    ("No prior treatment had been given; the dose significantly increased uptake.", False),
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
