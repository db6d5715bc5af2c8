"""Stance of an evidence sentence towards a claim: supports, refutes or neutral.

Backends share one protocol (`judge`); pick one with ASSISTANT_VERIFIER:
- `features` (default, offline): a small multinomial logistic model over signals that matter for
  news claims (meaning, term coverage, negation, antonyms, numbers, names), trained by
  `scripts/train_stance.py` and stored in assistant/data/stance_model.json;
- `nli`: any Hugging Face cross-encoder NLI model, by name or path (ASSISTANT_NLI_MODEL);
- `llm`: any OpenAI-compatible chat endpoint (ASSISTANT_LLM_URL, ASSISTANT_LLM_MODEL), asked for
  a strict JSON stance per sentence.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from assistant.claims.details import Aligner, Alignment
from assistant.claims.polarity import claims_effect, direction, null_result, turned
from assistant.errors import ConfigError, ModelError
from assistant.text import content_terms, stems

if TYPE_CHECKING:
    from assistant.config import Settings
    from assistant.embedding import Embedder

STANCES = ("supports", "refutes", "neutral")
MODEL_PATH = Path(__file__).resolve().parent.parent / "data" / "stance_model.json"

# Words that flip a statement ("no longer", "never", "negligible").
_NEGATION = re.compile(
    r"\b(?:not|no|never|none|nobody|nothing|neither|nor|without|cannot|can't|won't|isn't|aren't|"
    r"wasn't|weren't|doesn't|don't|didn't|hasn't|haven't|hadn't|lack|lacks|lacking|fail|fails|"
    r"failed|absence|absent|unable|neglig\w*|no longer|halt\w*|stopp?ed|ceased?)\b|n't\b",
    re.IGNORECASE)
# Speech acts of refusal: "X denies Y" is not "not Y". A sentence that reports Y without the
# denial does not refute the claim that X denies it; a sentence saying X refused does refute
# the claim that X did it. The model learns that asymmetry from separate features.
_DENIAL = re.compile(r"\b(?:den(?:y|ies|ied|ial)|refus\w*|reject\w*|dismiss\w*|rebuff\w*)\b",
                     re.IGNORECASE)
# Pairs of opposites: a claim using one side against evidence using the other.
_ANTONYMS = [
    ("increase", "decrease"), ("increase", "reduce"), ("rise", "fall"), ("rise", "drop"),
    ("higher", "lower"), ("more", "less"), ("more", "fewer"), ("greater", "smaller"),
    ("larger", "smaller"), ("gain", "loss"), ("up", "down"), ("strong", "weak"),
    ("substantial", "negligible"), ("significant", "negligible"), ("large", "small"),
    ("major", "minor"), ("join", "refuse"), ("support", "oppose"), ("support", "condemn"),
    ("accept", "reject"), ("allow", "ban"), ("allow", "prohibit"), ("open", "close"),
    ("win", "lose"), ("won", "lost"), ("ally", "enemy"), ("friend", "enemy"), ("friendly", "hostile"),
    ("approve", "veto"), ("approve", "reject"), ("begin", "end"), ("start", "stop"),
    ("first", "last"), ("before", "after"), ("early", "late"), ("cheap", "expensive"),
    ("positive", "negative"), ("benefit", "harm"), ("safe", "dangerous"), ("success", "failure"),
    ("still", "longer"), ("buy", "sell"), ("import", "export"), ("isolate", "embrace"),
    ("promote", "inhibit"), ("activate", "inhibit"), ("induce", "suppress"), ("enhance", "impair"),
    ("improve", "worsen"), ("protect", "damage"), ("associated", "unrelated"),
]
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_NAME = re.compile(r"\b[A-Z][a-zA-Z'’-]+")
# Capitalised only because they start a sentence: not names. The first word of a claim is often
# its subject ("India buys ..."), so it is kept unless it is one of these.
_NOT_NAMES = frozenset(
    "a an the this that these those there it its in on at of for and but or if as by to from "
    "with after before since during while when where what who which how most many some all "
    "more less both each every no not only one two three four five new".split())
FEATURES = ("bias", "cos", "coverage", "neg_claim_only", "neg_sentence_only", "neg_both",
            "denial_claim_only", "denial_sentence_only", "antonym", "num_match", "num_mismatch",
            "names_missing", "cov_x_neg_claim", "cov_x_neg_sentence", "cov_x_denial_sentence",
            "cov_x_antonym", "cov_x_num_mismatch",
            # detail alignment (assistant.claims.details)
            "detail_number_differs", "detail_name_differs", "detail_number_missing",
            "detail_name_missing", "details_matched", "flip_negation", "flip_modality",
            "flip_direction", "hedge_sentence_only", "cov_x_differs", "cov_x_flip",
            "cov_x_missing", "cos_x_missing",
            # which way each side points, and null results (assistant.claims.polarity)
            "direction_conflict", "direction_agree", "null_claim_only", "null_sentence_only",
            "cov_x_direction_conflict", "turned_words")


CONTRADICTION_CUES = ("neg_claim_only", "neg_sentence_only", "denial_sentence_only", "antonym",
                      "num_mismatch", "detail_number_differs", "detail_name_differs",
                      "flip_negation", "flip_modality", "flip_direction", "direction_conflict",
                      "null_claim_only", "turned_words")
_HEDGE = re.compile(r"\b(?:may|might|could|possibly|perhaps|reportedly|allegedly|likely|"
                    r"unlikely|suggests?|suggested|appears?|seems?|potential(?:ly)?|expected)\b",
                    re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Stance:
    """Probabilities of each stance of one evidence sentence towards one claim."""

    supports: float
    refutes: float
    neutral: float

    @property
    def label(self) -> str:
        """The most likely stance."""
        return max(STANCES, key=lambda s: getattr(self, s))


@runtime_checkable
class StanceVerifier(Protocol):
    """Judges evidence sentences against a claim."""

    name: str

    def judge(self, claim: str, sentences: list[str], *,
              contexts: list[str] | None = None) -> list[Stance]:
        """One Stance per sentence, in order; `contexts` (what precedes each sentence: headline,
        section, earlier text) may be used or ignored."""
        ...


# --- the default: features + a small trained model ---------------------------------------------

def _stems(text: str) -> list[str]:
    return stems(content_terms(text))


@cache
def _antonym_stems() -> tuple[tuple[str, str], ...]:
    """The antonym pairs, stemmed once (both orientations)."""
    pairs = [tuple(stems([a, b])) for a, b in _ANTONYMS]
    return tuple((x, y) for a, b in pairs for x, y in ((a, b), (b, a)))


def _antonym(claim_stems: set[str], sent_stems: set[str]) -> bool:
    # "buys" against "buying ... while selling" is no contradiction: the sentence must use the
    # opposite word without the claim's own, and the claim must not use both.
    return any(x in claim_stems and y not in claim_stems and y in sent_stems
               and x not in sent_stems for x, y in _antonym_stems())


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def pair_features(claim: str, sentence: str, cos: float, alignment: Alignment) -> np.ndarray:
    """The signals of one (claim, sentence) pair, in FEATURES order."""
    c_stems, s_stems = set(_stems(claim)), set(_stems(sentence))
    coverage = len(c_stems & s_stems) / len(c_stems) if c_stems else 0.0
    neg_c, neg_s = bool(_NEGATION.search(claim)), bool(_NEGATION.search(sentence))
    den_c, den_s = bool(_DENIAL.search(claim)), bool(_DENIAL.search(sentence))
    antonym = float(_antonym(c_stems, s_stems))
    c_nums, s_nums = _numbers(claim), _numbers(sentence)
    num_match = float(bool(c_nums & s_nums))
    num_mismatch = float(bool(c_nums) and bool(s_nums) and not (c_nums & s_nums))
    names = {n.lower() for n in _NAME.findall(claim)} - _NOT_NAMES
    low = sentence.lower()
    names_missing = sum(n not in low for n in names) / len(names) if names else 0.0
    neg_c_only, neg_s_only = float(neg_c and not neg_s), float(neg_s and not neg_c)
    den_s_only = float(den_s and not den_c)
    a = alignment
    n_num = sum(d.is_number for d in a.matched) + sum(c.is_number for c, _ in a.differs) + \
        sum(d.is_number for d in a.missing)
    n_name = len(a.matched) + len(a.differs) + len(a.missing) - n_num
    num_differs = float(any(c.is_number for c, _ in a.differs))
    name_differs = float(any(not c.is_number for c, _ in a.differs))
    num_missing = sum(d.is_number for d in a.missing) / n_num if n_num else 0.0
    name_missing = sum(not d.is_number for d in a.missing) / n_name if n_name else 0.0
    flips = {f.split(" ", 1)[0] for f in a.flips}
    flip_any = float(bool(flips))
    differs = max(num_differs, name_differs)
    missing = max(num_missing, name_missing)
    hedge = float(bool(_HEDGE.search(sentence)) and not _HEDGE.search(claim))
    turn = direction(claim) * direction(sentence)
    conflict, agree = float(turn < 0), float(turn > 0)
    null_c, null_s = null_result(claim), null_result(sentence)
    return np.array([1.0, cos, coverage, neg_c_only, neg_s_only, float(neg_c and neg_s),
                     float(den_c and not den_s), den_s_only, antonym, num_match, num_mismatch,
                     names_missing, coverage * neg_c_only, coverage * neg_s_only,
                     coverage * den_s_only, coverage * antonym, coverage * num_mismatch,
                     num_differs, name_differs, num_missing, name_missing,
                     min(len(a.matched), 3) / 3, float("negation" in flips),
                     float("modality" in flips), float("direction" in flips), hedge,
                     coverage * differs, coverage * flip_any, coverage * missing, cos * missing,
                     conflict, agree, float(null_c and not null_s),
                     float(null_s and not null_c and claims_effect(claim)),
                     coverage * conflict, float(turned(claim, sentence))])


class FeatureVerifier:
    """The offline default: pair features through a trained multinomial logistic model."""

    name = "features"

    def __init__(self, embedder: Embedder, model_path: Path = MODEL_PATH, *,
                 aligner: Aligner | None = None) -> None:
        self.embedder = embedder
        self.aligner = aligner or Aligner()
        try:
            data = json.loads(model_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read the stance model {model_path}: {exc} (run "
                             "scripts/train_stance.py)") from None
        if tuple(data["features"]) != FEATURES:
            raise ModelError(f"{model_path} was trained on other features; rerun "
                             "scripts/train_stance.py")
        self.weights = np.array(data["weights"], dtype=np.float64)  # (3, len(FEATURES))
        self.classes = tuple(data["classes"])
        # Fitted on held-out pairs so that a stance's probability means its accuracy.
        self.temperature = float(data.get("temperature", 1.0))

    def judge(self, claim: str, sentences: list[str], *,
              contexts: list[str] | None = None) -> list[Stance]:
        """Stances from the trained model; a context may state a name the sentence leaves out."""
        if not sentences:
            return []
        contexts = contexts or [""] * len(sentences)
        vecs = self.embedder.embed([claim, *sentences])
        cos = vecs[1:] @ vecs[0]
        self.aligner.parse_many([claim, *sentences, *contexts])
        x = np.vstack([pair_features(claim, s, float(c), self.aligner.align(claim, s, ctx))
                       for s, c, ctx in zip(sentences, cos, contexts, strict=True)])
        return self.stances(x)

    def stances(self, x: np.ndarray) -> list[Stance]:
        """Stances from feature rows (FEATURES order): the model, then the rules it must obey."""
        probs = softmax(x @ self.weights.T)
        if self.temperature != 1.0:
            probs = softmax(np.log(np.clip(probs, 1e-12, None)) / self.temperature)
        refutes, neutral = self.classes.index("refutes"), self.classes.index("neutral")
        denial_only = x[:, FEATURES.index("denial_claim_only")] > 0
        # "X denies Y" cannot be refuted by a sentence that only reports Y: without a denial of
        # its own, such a sentence is at most neutral about the denial.
        probs[denial_only, neutral] += probs[denial_only, refutes]
        probs[denial_only, refutes] = 0.0
        # Refuting takes a reason the features can see: a negation or denial on one side only,
        # an opposite word, or a different number. Without one, a sentence about something else
        # ("China buys Russian oil" against "India buys Russian oil") is neutral, not a refutation.
        cue = x[:, [FEATURES.index(f) for f in CONTRADICTION_CUES]].max(axis=1) > 0
        probs[~cue, neutral] += probs[~cue, refutes]
        probs[~cue, refutes] = 0.0
        return [_stance(dict(zip(self.classes, p, strict=True))) for p in probs]


def held_out(claim_id: int | str) -> bool:
    """SciFact train claims kept out of the stance model's training, for an honest evaluation."""
    return int(claim_id) % 5 == 0


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax."""
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _stance(p: dict[str, float]) -> Stance:
    return Stance(supports=float(p["supports"]), refutes=float(p["refutes"]),
                  neutral=float(p["neutral"]))


# --- nli: a cross-encoder NLI model -------------------------------------------------------------

class NLIVerifier:
    """Any sequence-classification NLI model with entailment/contradiction/neutral labels."""

    name = "nli"

    def __init__(self, model: str, *, device: str = "cpu") -> None:
        import os

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model)
            self.model = AutoModelForSequenceClassification.from_pretrained(model).to(device)
        except Exception as exc:
            raise ModelError(f"cannot load NLI model {model!r}: {str(exc).splitlines()[0]} (set "
                             "ASSISTANT_NLI_MODEL to a local cross-encoder folder)") from None
        self.model.eval()
        self.device = device
        labels = {i: str(v).lower() for i, v in self.model.config.id2label.items()}
        self.index: dict[str, int] = {}
        for i, lab in labels.items():
            if lab.startswith("entail"):
                self.index["supports"] = i
            elif lab.startswith("contra"):
                self.index["refutes"] = i
            elif lab.startswith("neutral"):
                self.index["neutral"] = i
        if set(self.index) != set(STANCES):
            raise ModelError(f"NLI model {model!r} has labels {sorted(labels.values())}; expected "
                             "entailment, contradiction and neutral")

    def judge(self, claim: str, sentences: list[str], *,
              contexts: list[str] | None = None) -> list[Stance]:
        """Premise = evidence sentence, hypothesis = claim (contexts are not read)."""
        if not sentences:
            return []
        import torch

        batch = self.tokenizer(sentences, [claim] * len(sentences), padding=True, truncation=True,
                               max_length=512, return_tensors="pt").to(self.device)
        with torch.no_grad():
            probs = torch.softmax(self.model(**batch).logits, dim=-1).cpu().numpy()
        return [_stance({s: float(p[self.index[s]]) for s in STANCES}) for p in probs]


# --- llm: an OpenAI-compatible chat endpoint ----------------------------------------------------

LLM_PROMPT = """You check a claim against evidence sentences from news sources.
For each numbered sentence decide whether it supports the claim, refutes it, or is neutral
(unrelated or not enough to decide). Judge only from the sentence itself.
Answer with JSON only, exactly: {"stances": [{"i": 0, "stance": "supports"}, ...]} with one entry
per sentence and stance one of "supports", "refutes", "neutral".

Claim: CLAIM

Sentences:
SENTENCES"""


class LLMVerifier:
    """Asks a chat model for a strict-JSON stance per sentence; off by default."""

    name = "llm"

    def __init__(self, base_url: str, model: str, *, api_key: str = "", timeout: float = 60.0) -> None:
        if not base_url:
            raise ConfigError("the llm verifier needs ASSISTANT_LLM_URL (an OpenAI-compatible "
                              "base URL such as http://127.0.0.1:8080/v1)")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout = timeout

    def judge(self, claim: str, sentences: list[str], *,
              contexts: list[str] | None = None) -> list[Stance]:
        """One request for all sentences; anything unparseable counts as neutral (contexts
        are not sent)."""
        if not sentences:
            return []
        import httpx

        listing = "\n".join(f"{i}. {s}" for i, s in enumerate(sentences))
        prompt = LLM_PROMPT.replace("CLAIM", claim).replace("SENTENCES", listing)
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            r = httpx.post(self.url, headers=headers, timeout=self.timeout, json={
                "model": self.model, "temperature": 0,
                "response_format": {"type": "json_object"},
                "messages": [{"role": "user", "content": prompt}]})
            r.raise_for_status()
            content = r.json()["choices"][0]["message"]["content"]
        except (httpx.HTTPError, KeyError, IndexError, ValueError) as exc:
            raise ModelError(f"the llm verifier at {self.url} failed: {exc}") from None
        labels = parse_llm_stances(content, len(sentences))
        return [_stance({s: 1.0 if s == lab else 0.0 for s in STANCES}) for lab in labels]


def parse_llm_stances(content: str, n: int) -> list[str]:
    """Stances from the model's JSON (fenced or not); missing or invalid entries are neutral."""
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    out = ["neutral"] * n
    try:
        data = json.loads(text[text.find("{"): text.rfind("}") + 1])
        for item in data.get("stances", []):
            i, stance = int(item["i"]), str(item["stance"]).lower()
            if 0 <= i < n and stance in STANCES:
                out[i] = stance
    except (ValueError, TypeError, KeyError, AttributeError):
        pass
    return out


def load_verifier(settings: Settings, embedder: Embedder) -> StanceVerifier:
    """The verifier the settings ask for."""
    if settings.verifier == "features":
        return FeatureVerifier(embedder, aligner=Aligner(settings.spacy_model))
    if settings.verifier == "nli":
        if not settings.nli_model:
            raise ConfigError("ASSISTANT_VERIFIER=nli needs ASSISTANT_NLI_MODEL (a Hugging Face "
                              "cross-encoder NLI model name or local path)")
        return NLIVerifier(settings.nli_model, device=settings.device)
    return LLMVerifier(settings.llm_url, settings.llm_model, api_key=settings.llm_api_key)
