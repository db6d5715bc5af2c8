"""The PostgreSQL + pgvector backend against a real server (pgserver bundles PostgreSQL and
pgvector; started in a temporary folder): the same answers as the embedded index, atomic
writes, one writer, and two `assistant serve` replicas sharing one database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pytest

from assistant.config import load_settings
from assistant.errors import IndexBusyError, IndexNotFoundError
from assistant.ingest import ingest, ingest_documents
from assistant.models import Document, Filters
from assistant.service import Service

from .conftest import CORPUS, SEEDS
from .test_api import served

QUESTIONS = [
    "Who builds the Bushehr nuclear power plant?",
    "Which countries help Russia avoid isolation?",
    "Does North Korea admit sending weapons?",
    "What is the capital of Peru?",
]
CLAIMS = [
    "Trade between China and Russia will reach $300 billion in 2023.",
    "Iran has supplied drones to Russia.",
]


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory) -> Iterator[str]:
    """A real PostgreSQL with pgvector for this test session."""
    pgserver = pytest.importorskip("pgserver", reason="pgserver is not installed (pip install "
                                   "-e '.[test]')")
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -e '.[postgres]')")
    try:
        srv = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="stop")
    except Exception as exc:  # noqa: BLE001 - any reason it cannot start is a reason to skip
        pytest.skip(f"pgserver could not start PostgreSQL here: {exc}")
    yield srv.get_uri()
    srv.cleanup()


@pytest.fixture
def pg_settings(pg_url, tmp_path):
    """Settings for a fresh schema of the test database."""
    def make(**extra):
        return load_settings(index=tmp_path / "unused", database_url=pg_url,
                             database_schema=f"t_{uuid.uuid4().hex[:12]}", **extra)
    return make


@pytest.fixture(scope="module")
def pg_seeds(pg_url, embedder):
    """corpus/ ingested into its own schema, once for the module."""
    settings = load_settings(database_url=pg_url, database_schema="seeds_module")
    report = ingest([CORPUS], settings=settings, embedder=embedder, progress=False)
    assert report.documents == 2 and not report.errors
    return settings


def _verbatim(service: Service, quote) -> bool:
    """A quote (or evidence row) is the exact slice of its stored document."""
    text = getattr(quote, "text", None) or quote.quote
    doc = service.get_document(quote.citation.doc_id)
    c = quote.citation
    return doc is not None and doc.text[c.char_start:c.char_end] == text


def test_answers_and_checks_are_the_same_on_both_stores(pg_seeds, seeds_index, embedder):
    pg, files = Service(pg_seeds, embedder).load(), Service(seeds_index, embedder).load()
    for q in QUESTIONS:
        a, b = pg.ask(q), files.ask(q)
        assert a.abstained == b.abstained, q
        assert [x.text for x in a.quotes] == [x.text for x in b.quotes], q
        assert [x.citation.doc_id for x in a.quotes] == [x.citation.doc_id for x in b.quotes]
        # The stemmers differ a little (Snowball here, Porter in FTS5): scores may move in the
        # last digits, the quotes may not.
        assert a.confidence == pytest.approx(b.confidence, abs=0.01), q
        assert all(_verbatim(pg, x) for x in [*a.quotes, *a.related])
    for claim in CLAIMS:
        a, b = pg.check(claim), files.check(claim)
        assert (a.verdict, len(a.evidence)) == (b.verdict, len(b.evidence)), claim
        assert [e.quote for e in a.evidence] == [e.quote for e in b.evidence]
        assert all(_verbatim(pg, e) for e in a.evidence)


def test_hybrid_search_filters_and_counts(pg_seeds, seeds_index, embedder):
    pg, files = Service(pg_seeds, embedder).load(), Service(seeds_index, embedder).load()
    assert pg.status()[1] == files.status()[1] == {"documents": 2, "chunks": 17}
    for mode in ("hybrid", "dense", "bm25"):
        a = pg.search("Bushehr nuclear power plant", k=5, mode=mode)
        b = files.search("Bushehr nuclear power plant", k=5, mode=mode)
        assert a and a[0].doc_id == SEEDS[0] and "Bushehr" in a[0].text, mode
        assert [(h.doc_id, h.char_start, h.text) for h in a[:3]] == \
            [(h.doc_id, h.char_start, h.text) for h in b[:3]], mode
    # BM25 as FTS5 computes it: the reranker and confidence models were trained on its scale.
    a = pg.search("Bushehr nuclear power plant", mode="bm25")
    b = files.search("Bushehr nuclear power plant", mode="bm25")
    assert [(h.doc_id, h.char_start) for h in a] == [(h.doc_id, h.char_start) for h in b]
    assert [h.scores["bm25"] for h in a] == pytest.approx([h.scores["bm25"] for h in b], rel=0.02)
    only = pg.search("oil", filters=Filters(sources=[SEEDS[1]]))
    assert only and {h.doc_id for h in only} == {SEEDS[1]}
    assert pg.search("oil", filters=Filters(publishers=["Nobody Press"])) == []
    dense = [h.scores["dense"] for h in pg.search("drones from Iran", mode="dense")]
    assert dense == sorted(dense, reverse=True) and 0.3 < dense[0] <= 1.0


def test_a_failed_ingest_leaves_the_previous_index(pg_settings, embedder):
    settings = pg_settings()
    doc = Document(doc_id="a.txt", source="a.txt", title="Harbour Fees",
                   text="The port of Varna doubled its harbour fees for tankers in May.")
    ingest_documents([doc], settings=settings, embedder=embedder)

    def broken():
        yield Document(doc_id="b.txt", source="b.txt", text="Sofia opened a new metro line.")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        ingest_documents(broken(), settings=settings, embedder=embedder)
    service = Service(settings, embedder).load()
    assert service.status() == (1, {"documents": 1, "chunks": 1})
    assert service.get_document("b.txt") is None
    assert service.search("harbour fees Varna")[0].doc_id == "a.txt"


def test_one_writer_at_a_time_and_no_index_is_reported(pg_settings, embedder):
    settings = pg_settings()
    with pytest.raises(IndexNotFoundError, match="no index"):
        Service(settings, embedder).load()
    from assistant.index import open_backend

    backend = open_backend(settings)
    with backend.writer(model_id=embedder.model_id, dim=embedder.dim, chunker={"size": 1}):
        with pytest.raises(IndexBusyError, match="another process"):
            backend.writer(model_id=embedder.model_id, dim=embedder.dim, chunker={"size": 1})


def test_vectors_round_trip_and_documents_are_replaced(pg_settings, embedder):
    settings = pg_settings()
    old = Document(doc_id="x.txt", source="x.txt", text="Plovdiv hosts a jazz festival in June.")
    new = Document(doc_id="x.txt", source="x.txt", text="Plovdiv hosts a film festival in July.")
    ingest_documents([old], settings=settings, embedder=embedder)
    ingest_documents([new], settings=settings, embedder=embedder)
    service = Service(settings, embedder).load()
    assert service.status() == (2, {"documents": 1, "chunks": 1})
    hit = service.search("film festival", mode="dense")[0]
    assert hit.doc_id == "x.txt"
    from assistant.index import open_backend
    from assistant.ingest.pipeline import embedding_text

    reader = open_backend(settings).reader()
    try:
        stored = reader.vectors.reconstruct(hit.chunk_id)
    finally:
        reader.close()
    want = embedder.embed([embedding_text(None, None, new.text)])[0]
    assert float(np.dot(stored, want)) == pytest.approx(1.0, abs=1e-5)
    assert service.search("jazz", mode="bm25") == []


@pytest.mark.slow
def test_two_replicas_share_writes_and_conversations(pg_settings, embedder, tmp_path):
    settings = pg_settings()
    ingest([CORPUS], settings=settings, embedder=embedder, progress=False)
    env = {"ASSISTANT_DATABASE_URL": settings.database_url,
           "ASSISTANT_DATABASE_SCHEMA": settings.database_schema,
           "ASSISTANT_API_KEYS": "replica-key"}
    key = {"Authorization": "Bearer replica-key"}
    with served(tmp_path / "a", tmp_path, env=env) as a, served(tmp_path / "b", tmp_path,
                                                                  env=env) as b:
        doc = {"id": "varna.txt", "title": "Harbour Fees",
               "text": "The port of Varna doubled its harbour fees for tankers in May."}
        assert a.client.post("/v1/documents", json=doc, headers=key).status_code == 201
        # Seen through the other replica at once: no reload, no wait.
        hits = b.client.post("/v1/search", json={"query": "Varna harbour fees"}).json()["results"]
        assert hits and hits[0]["doc_id"] == "varna.txt"
        assert b.client.get("/v1/documents/varna.txt").status_code == 200

        # A conversation started on one replica goes on on the other.
        first = a.client.post("/v1/chat", json={"message": "Who supplies drones to Russia?"})
        cid = first.json()["conversation_id"]
        follow = b.client.post("/v1/chat", json={"message": "What do they get in return?",
                                                  "conversation_id": cid}).json()
        assert "Tehran" in follow["question"] or "Iran" in follow["question"], follow

        assert b.client.delete("/v1/documents/varna.txt", headers=key).status_code == 200
        gone = a.client.post("/v1/search", json={"query": "Varna harbour fees"}).json()["results"]
        assert all(h["doc_id"] != "varna.txt" for h in gone)


def test_feedback_is_kept_in_the_database(pg_settings):
    from assistant.index import open_backend
    from assistant.models import CitedSpan, Feedback

    store = open_backend(pg_settings()).feedback()
    assert list(store.items()) == []
    first = store.put(Feedback(id="a1", rating="down", question="Who builds Bushehr?",
                               answer="Rosatom [1]", citations=[CitedSpan(
                                   doc_id=SEEDS[0], char_start=3, char_end=9)]))
    assert first.created and first.created.endswith("Z")
    store.put(Feedback(id="a1", rating="up", question="Who builds Bushehr?"))  # replaced
    store.put(Feedback(id="b2", rating="down", question="And Belarus?"))
    assert [(f.id, f.rating) for f in store.items()] == [("a1", "up"), ("b2", "down")]
    assert [f.id for f in store.items(rating="down")] == ["b2"]
    assert list(store.items(since="2999-01-01")) == []


def test_a_schema_built_again_is_a_new_version(pg_settings, embedder) -> None:
    """Dropped and ingested again, a schema starts at generation 1 once more (and its chunk ids
    anew): a running service must still see a new version, or it would keep serving the old
    generation's kept results and stems."""
    import time

    import psycopg

    from assistant.index import open_backend

    settings = pg_settings()
    doc = Document(doc_id="n1", source="n1", text="Tankers waited at the Bosporus for four days.")
    ingest_documents([doc], settings=settings, embedder=embedder)
    backend = open_backend(settings)
    first = backend.version()
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {settings.database_schema} CASCADE")
    time.sleep(1.1)  # built_at is kept to the second
    ingest_documents([doc], settings=settings, embedder=embedder)
    assert backend.manifest().generation == 1 and backend.version() != first
