"""The shipped verdict model inside its rules: no verdict without the evidence it names, no
"supported" where a detail contradicts, a real confidence for "not enough info"."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.claims.verdict import FEATURES, VerdictModel, calibrated, claim_features
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
    for verdict in ("supported", "refuted", "not_enough_info"):
        # Where the model is surer of a verdict, that verdict was right more often.
        assert model.calibration[verdict][0] > 0, verdict
        low, high = model.confidence(verdict, 0.2), model.confidence(verdict, 0.9)
        assert 0.0 < low < high < 1.0
    # "conflicting" (a detail stated differently, support elsewhere) reads as how often the
    # claim was indeed not true: rarely, as training found; never 0 or 1.
    assert 0.0 < model.confidence("conflicting", 0.5) < 0.5


def test_a_near_tie_is_weighed_not_called_conflicting(model: VerdictModel) -> None:
    # Support and refutation alike strong, no detail stated differently: the model picks the
    # side it believes ("conflicting" is kept for a detail stated differently).
    rows = [evidence("supports", 0.8, 0.1), evidence("refutes", 0.1, 0.8)]
    p = model.probabilities(claim_features(rows, 1, 1))
    assert abs(p[0] - p[1]) < 0.25  # the old rule would have called this conflicting
    verdict, confidence = model.decide(rows, 1, 1)
    assert verdict in ("supported", "refuted") and 0.0 < confidence < 1.0


def test_a_model_without_calibration_reports_its_own_probability() -> None:
    bare = VerdictModel(VerdictModel.load().weights)
    assert bare.confidence("supported", 0.8) == pytest.approx(0.8)


def test_platt_calibration_weighs_rows_as_the_model_does(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # One archive's claims (weight 1) all right, the other's (weight 3) all wrong, at the same
    # probability: the calibrated confidence is the weighted share right, 1/4, not the 1/2 of
    # a count that lets the archive with more claims decide.
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "scripts"))
    from train_verdict import platt

    chosen = [("supported", p) for p in np.linspace(0.7, 0.9, 40)]
    right = np.array([True, False] * 20)
    fitted = platt(chosen, right, np.arange(40), weights=np.array([1.0, 3.0] * 20))
    assert calibrated(0.8, fitted["supported"]) == pytest.approx(0.25, abs=0.03)
    unweighted = platt(chosen, right, np.arange(40), weights=np.ones(40))
    assert calibrated(0.8, unweighted["supported"]) == pytest.approx(0.5, abs=0.03)
    # Too few to fit: the weighted share right, with one right and one wrong added.
    few = platt(chosen[:4], right[:4], np.arange(4), weights=np.array([1.0, 3.0, 1.0, 3.0]))
    assert calibrated(0.8, few["supported"]) == pytest.approx((0.5 * 2 + 1) / (4 + 2))
