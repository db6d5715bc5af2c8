"""Answers with the real model: verbatim quotes, citations, dependent sentences, abstention."""

import json

import numpy as np
import pytest

from assistant.answers.answering import ABSTAIN_TEXT, AGREE_COSINE, Answerer
from assistant.answers.calibration import Calibration, fit_logistic
from assistant.errors import QueryError
from assistant.eval import run_seeds_questions, seeds_gate_failures
from assistant.index import IndexReader
from assistant.ingest import ingest
from assistant.search import Retriever, correct
from assistant.service import Service

from .conftest import CORPUS, REPO, SEEDS, run_cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def answerer(seeds_index, embedder):
    return Answerer(Retriever(IndexReader(seeds_index.index), embedder, seeds_index))


def assert_verbatim(answer, store):
    """Every quote, citation and related passage is an exact slice of its stored document."""
    for q in [*answer.quotes, *answer.related]:
        doc = store.get_document(q.citation.doc_id)
        c = q.citation
        assert doc.text[c.char_start:c.char_end] == q.text == c.quote
    for q in answer.quotes:
        assert f"{q.text} [{q.citation.n}]" in answer.answer
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))


def test_multi_source_answer_cites_both_articles(answerer):
    ans = answerer.ask("What does Russia sell to China?")
    assert not ans.abstained and ans.confidence > 0.5
    assert {c.doc_id for c in ans.citations} == set(SEEDS)
    assert any("oil" in q.text for q in ans.quotes)
    # "2 sources agree." is said exactly when the two quoted sentences are close in meaning
    # (their vectors stored at ingest; the last sentence of a quote is the one chosen).
    store = answerer.retriever.reader.store
    ranges = [(c.doc_id, c.char_start, c.char_end) for c in ans.citations]
    vecs = [store.sentences(ranges)[r][1][-1] for r in ranges]
    close = float(vecs[0] @ vecs[1]) >= AGREE_COSINE
    assert ans.answer.startswith("2 sources agree.") == close
    assert_verbatim(ans, answerer.retriever.reader.store)


def test_dependent_sentence_takes_in_its_antecedent(answerer):
    ans = answerer.ask("Which government gave Putin an ally within the EU?")
    first = ans.quotes[0]
    assert first.text.startswith("Prime Minister Viktor Orbán's government maintains close ties")
    assert "It gave Putin an ally within the EU" in first.text
    assert_verbatim(ans, answerer.retriever.reader.store)


def test_unanswerable_question_abstains_with_related_passages(answerer):
    ans = answerer.ask("What is the capital of Australia?")
    assert ans.abstained and ans.answer == ABSTAIN_TEXT
    assert ans.quotes == [] and ans.citations == [] and ans.confidence < 0.5
    assert ans.related
    assert_verbatim(ans, answerer.retriever.reader.store)


@pytest.mark.parametrize("question,expected", [
    ("Wich contry is Rusia's closest regional aly?", "closest regional ally, Belarus"),
    ("Rosatom", "Rosatom"),
    ("Who is Iran relying on to build the Bushehr nuclear power plant?", "relying on Moscow to build"),
])
def test_typos_and_one_word_queries(answerer, question, expected):
    ans = answerer.ask(question)
    assert not ans.abstained
    assert expected in ans.quotes[0].text
    assert_verbatim(ans, answerer.retriever.reader.store)


@pytest.mark.parametrize("question,words", [
    ("", "empty"), ("   \n", "empty"), ("Why? " * 400, "limit is 1000")])
def test_empty_and_too_long_questions(answerer, question, words):
    with pytest.raises(QueryError, match=words):
        answerer.ask(question)


def test_quotes_are_verified_against_the_store(seeds_index, embedder, monkeypatch):
    answerer = Answerer(Retriever(IndexReader(seeds_index.index), embedder, seeds_index))
    store = answerer.retriever.reader.store
    real = store.get_document

    def tampered(doc_id):
        doc = real(doc_id)
        doc.text = doc.text.replace("Bushehr", "Bushire")
        return doc

    # The evidence is found on the real text; the check reads the (now different) stored text.
    finder_docs = {d: real(d) for d in SEEDS}
    monkeypatch.setattr(answerer.finder.reader.store, "get_document", lambda d: finder_docs[d])
    sents = answerer.finder.find("Who builds the Bushehr nuclear power plant?")
    monkeypatch.setattr(store, "get_document", tampered)
    quote = answerer._quote(sents[0], 1)
    assert "Bushehr" in sents[0].text and quote is None


def test_newest_source_first_and_as_of(make_settings, embedder, tmp_path):
    rows = [
        {"id": "old", "title": "Port story", "publisher": "Wire", "published": "2022-03-01",
         "text": "The port of Varna handled 2 million tonnes of grain last year, officials said."},
        {"id": "new", "title": "Port update", "publisher": "Gazette", "published": "2024-05-20",
         "text": "The port of Varna handled 3 million tonnes of grain last year, officials said."},
    ]
    src = tmp_path / "ports.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows))
    settings = make_settings()
    ingest([src], settings=settings, embedder=embedder, progress=False)
    answerer = Answerer(Retriever(IndexReader(settings.index), embedder, settings))
    ans = answerer.ask("How much grain did the port of Varna handle?")
    assert not ans.abstained
    assert [c.doc_id for c in ans.citations] == ["new", "old"]
    assert [c.published for c in ans.citations] == ["2024-05-20", "2022-03-01"]
    assert "As of 2024-05-20: " in ans.answer
    assert_verbatim(ans, answerer.retriever.reader.store)


def test_spelling_uses_corpus_and_dictionary(seeds_index, embedder):
    store = IndexReader(seeds_index.index).store
    words = embedder.vocabulary
    assert correct("Wich contry borders Rusia?", store, words) == "Which country borders Russia?"
    assert correct("How many tanks?", store, words) == "How many tanks?"  # a real word stays


def test_cli_ask_reads_well_and_batches(seeds_index):
    out = run_cli("ask", "Why did Putin attend the BRICS summit in Johannesburg virtually?",
                  "--index", str(seeds_index.index))
    assert out.returncode == 0, out.stderr
    assert "whether to arrest him. [1]" in out.stdout and SEEDS[0] in out.stdout
    batch = run_cli("ask", "--json", "-", "--index", str(seeds_index.index),
                    input='Rosatom\n{"id": "u", "question": "What is the capital of Australia?"}\n'
                          '{"id": "e", "question": " "}\n')
    assert batch.returncode == 0, batch.stderr
    rows = [json.loads(line) for line in batch.stdout.splitlines()]
    assert [r["id"] for r in rows] == [1, "u", "e"]
    assert "Rosatom" in rows[0]["quotes"][0]["text"] and rows[1]["abstained"] is True
    assert rows[2]["error"]["code"] == "bad_query"
    too_long = run_cli("ask", "x" * 5000, "--index", str(seeds_index.index))
    assert too_long.returncode == 2 and "limit is" in too_long.stderr
    empty = run_cli("ask", "", "--index", str(seeds_index.index))
    assert empty.returncode == 2 and "empty" in empty.stderr


def test_seeds_evaluation_meets_the_bar(tmp_path, embedder):
    """The CI gate of issue 3: hit@3 100%, hit@1 ≥ 90%, verbatim 100%, no unanswerable answered."""
    from assistant.config import load_settings

    shared = REPO.parent / "shared"
    data, seeds = shared / "eval", shared / "seeds"
    if not (data / "seeds-questions.jsonl").exists():
        data, seeds = tmp_path, CORPUS
        pytest.skip("../shared/eval is not beside this checkout")
    result = run_seeds_questions(data, seeds, Service(load_settings(index=tmp_path / "i"),
                                                      embedder))
    print(json.dumps({k: v for k, v in result.items() if k != "misses"}))
    assert seeds_gate_failures(result) == [], result["misses"]


def test_logistic_fit_separates_and_calibration_loads():
    rng = np.random.default_rng(1)
    x = np.vstack([rng.normal(0.3, 0.1, (100, 1)), rng.normal(0.7, 0.1, (100, 1))])
    y = np.r_[np.zeros(100), np.ones(100)]
    w, b = fit_logistic(x, y)
    p = 1 / (1 + np.exp(-(x @ w + b)))
    assert ((p > 0.5) == (y == 1)).mean() > 0.95 and w[0] > 0
    cal = Calibration.load()
    assert 0 < cal.threshold < 1 and len(cal.weights) == len(cal.features)
    assert cal.confidence({"score": 0.9, "cos": 0.8, "coverage": 1.0}) > 0.8
    assert cal.confidence({"score": 0.1, "cos": 0.1, "coverage": 0.0}) < 0.2


def test_stemming_is_safe_from_many_request_threads() -> None:
    # A Snowball stemmer keeps the word in flight on the instance; one shared by the server's
    # request threads garbled stems and raised IndexError under load (found by bench/load.py).
    from concurrent.futures import ThreadPoolExecutor

    from assistant.text import stems

    words = ("supplied supplies nationalisation relational generously hopefulness conditional "
             "sanctions purchasing negotiations electricity agreements refineries").split() * 200
    expected = stems(words)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: stems(words), range(64)))
    assert all(r == expected for r in results)


class CountingEmbedder:
    """The real embedder, recording every text it is asked to embed."""

    def __init__(self, inner):
        self.inner = inner
        self.model_id, self.dim, self.vocabulary = inner.model_id, inner.dim, inner.vocabulary
        self.texts: list[str] = []

    def embed(self, texts):
        self.texts.extend(texts)
        return self.inner.embed(texts)


def test_ask_embeds_only_the_question_sentence_vectors_come_from_ingest(seeds_index, embedder):
    from assistant.text import sentence_spans

    reader = IndexReader(seeds_index.index)
    for row in reader.store.document_chunks(SEEDS[0])[:3]:  # every chunk's sentences are stored
        spans, vecs = reader.store.sentences([(SEEDS[0], row["char_start"], row["char_end"])])[
            (SEEDS[0], row["char_start"], row["char_end"])]
        doc = reader.store.get_document(SEEDS[0])
        assert spans == sentence_spans(doc.text, row["char_start"], row["char_end"])
        assert vecs.shape == (len(spans), embedder.dim)
        fresh = embedder.embed([doc.text[s:e] if not row["section"] else
                                f"{row['section']}: {doc.text[s:e]}" for s, e in spans])
        assert float((fresh * vecs).sum(axis=1).min()) > 0.99
    counting = CountingEmbedder(embedder)
    answerer = Answerer(Retriever(reader, counting, seeds_index))
    ans = answerer.ask("Who supplies drones to Russia?")
    assert counting.texts == ["Who supplies drones to Russia?"]
    assert not ans.abstained and ("Iran" in ans.quotes[0].text or "Tehran" in ans.quotes[0].text)
    assert_verbatim(ans, reader.store)


def test_a_generation_without_sentence_vectors_still_answers(make_settings, embedder):
    import sqlite3

    settings = make_settings()
    ingest([CORPUS], settings=settings, embedder=embedder, progress=False)
    question = "Who is Iran relying on to build the Bushehr nuclear power plant?"
    with_vectors = Answerer(Retriever(IndexReader(settings.index), embedder, settings)).ask(
        question)
    # An index written before sentence vectors were stored: the table is empty.
    live = IndexReader(settings.index)
    path = live.store.path
    live.close()
    con = sqlite3.connect(path)
    con.execute("DELETE FROM sentences")
    con.commit()
    con.close()
    counting = CountingEmbedder(embedder)
    reader = IndexReader(settings.index)
    old = Answerer(Retriever(reader, counting, settings)).ask(question)
    assert len(counting.texts) > 10  # its sentences were embedded on the fly
    assert not old.abstained and old.quotes[0].text == with_vectors.quotes[0].text
    assert_verbatim(old, reader.store)


def test_copies_of_one_story_count_once_and_fragments_are_never_quoted(make_settings, embedder,
                                                                      tmp_path):
    wire = ("The mayor of Dunmore, Alice Brennan, opened the new river bridge on Monday after "
            "three years of work.")
    rows = [
        {"id": "wire-1", "title": "Bridge opens", "published": "2024-04-02",
         "text": f"Alice Brennan.\n\n{wire} Traffic was light."},
        {"id": "wire-2", "title": "Dunmore bridge opens", "published": "2024-04-02",
         "text": f"{wire} Residents cheered."},
        {"id": "other", "title": "Council notes", "published": "2024-04-03",
         "text": "The council thanked Alice Brennan, the mayor, for opening the bridge in Dunmore "
                 "this week."},
    ]
    src = tmp_path / "bridge.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in rows))
    settings = make_settings()
    ingest([src], settings=settings, embedder=embedder, progress=False)
    reader = IndexReader(settings.index)
    ans = Answerer(Retriever(reader, embedder, settings)).ask("Who opened the bridge in Dunmore?")
    assert not ans.abstained
    texts = [q.text for q in ans.quotes]
    assert all(len(t.split()) >= 4 for t in texts)  # "Alice Brennan." alone is no answer
    assert sum(wire in t for t in texts) <= 1  # the wire copy is not a second source
    if ans.answer.split(" sources agree.")[0].isdigit():
        assert int(ans.answer.split(" ")[0]) <= len({t for t in texts if wire not in t}) + 1
    assert_verbatim(ans, reader.store)
