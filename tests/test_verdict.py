"""The shipped verdict model inside its rules: no verdict without the evidence it names, no
"supported" where a detail contradicts, a real confidence for "not enough info"."""

from __future__ import annotations

import pytest

from assistant.claims.verdict import FEATURES, VerdictModel, claim_features
from assistant.models import Citation, Evidence


def evidence(stance: str, supports: float, refutes: float, *, relevance: float = 0.8,
             reasons: list[str] | None = None) -> Evidence:
    neutral = max(0.0, 1.0 - supports - refutes)
    quote = "A sentence of a source."
    return Evidence(stance=stance, score=relevance, quote=quote, relevance=relevance,
                    probabilities={"supports": supports, "refutes": refutes, "neutral": neutral},
                    reasons=reasons or [],
                    citation=Citation(n=1, doc_id="d", title=None, publisher=None, url=None,
                                      published=None, source="d.txt", char_start=0,
                                      char_end=len(quote), quote=quote))


@pytest.fixture(scope="module")
def model() -> VerdictModel:
    return VerdictModel.load()


def test_strong_support_is_supported_with_a_confidence_below_one(model: VerdictModel) -> None:
    verdict, confidence = model.decide([evidence("supports", 0.95, 0.02)], 1, 0)
    assert verdict == "supported" and 0.5 < confidence < 1.0


def test_no_evidence_is_not_enough_info_but_not_certain(model: VerdictModel) -> None:
    verdict, confidence = model.decide([], 0, 0)
    assert verdict == "not_enough_info" and 0.0 < confidence < 1.0


def test_a_verdict_needs_the_evidence_it_names(model: VerdictModel) -> None:
    # However likely the model finds support, no supporting sentence means no "supported".
    verdict, _ = model.decide([evidence("neutral", 0.45, 0.0)], 0, 0)
    assert verdict == "not_enough_info"
    verdict, _ = model.decide([evidence("neutral", 0.0, 0.45)], 0, 0)
    assert verdict == "not_enough_info"


def test_a_detail_refutation_keeps_a_claim_from_being_supported(model: VerdictModel) -> None:
    rows = [evidence("supports", 0.97, 0.01),
            evidence("refutes", 0.0, 0.6, relevance=0.4,
                     reasons=["amount differs: $240 billion (claim: $300 billion)"])]
    verdict, _ = model.decide(rows, 1, 1)
    assert verdict in ("conflicting", "refuted")
    # An unstated detail is no refutation.
    x = claim_features([evidence("neutral", 0.0, 0.0, reasons=["not stated: Japan"])], 0, 0)
    assert x[FEATURES.index("detail_refutes")] == 0.0


def test_the_shipped_model_carries_a_calibration_per_verdict(model: VerdictModel) -> None:
    assert {"supported", "refuted", "not_enough_info"} <= set(model.calibration)
    for verdict in model.calibration:
        low, high = model.confidence(verdict, 0.2), model.confidence(verdict, 0.9)
        assert 0.0 < low < 1.0 and 0.0 < high < 1.0
    # Where the model is surer of a verdict, that verdict was right more often.
    assert model.confidence("supported", 0.9) > model.confidence("supported", 0.4)


def test_sentences_on_both_sides_are_weighed_not_called_conflicting(model: VerdictModel) -> None:
    # No detail contradicts: the model picks the side it believes, with its calibrated
    # confidence ("conflicting" is kept for a detail stated differently).
    rows = [evidence("supports", 0.9, 0.05), evidence("refutes", 0.1, 0.55, relevance=0.5)]
    verdict, confidence = model.decide(rows, 1, 1)
    assert verdict in ("supported", "refuted") and 0.0 < confidence < 1.0
    x = claim_features(rows, 1, 1)
    chosen, p = model.choose(x)
    assert chosen == verdict and confidence == round(model.confidence(verdict, p), 3)


def test_a_model_without_calibration_reports_its_own_probability() -> None:
    weights = VerdictModel.load().weights
    bare = VerdictModel(weights)
    assert bare.confidence("supported", 0.8) == pytest.approx(0.8)
