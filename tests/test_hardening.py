"""Defects found under load and attack (issue 12), each against a real store or a real server:
old generations released, rate-limit buckets only for real credentials, bounded chunks, and
the smaller holes (URLs, ids, bodies, tokens, front matter, batch limits)."""

import gc
import json
import os
import threading
import time
from pathlib import Path

import jwt
import pytest

from assistant.config import load_settings
from assistant.index import Store
from assistant.ingest import Chunker, ingest, ingest_documents
from assistant.models import Document
from assistant.service import Service
from assistant.text import MAX_SENTENCE_WORDS, word_spans

from .conftest import CORPUS
from .test_api import served

pytestmark = pytest.mark.slow
KEY = "hardening-key-1"
ORIGIN = "http://news.example"
SECRET = "a-test-secret-that-signs-widget-tokens"


def auth(key=KEY):
    return {"Authorization": f"Bearer {key}"}


def via(ip):
    return {"X-Forwarded-For": ip}


# --- 1. old generations are released --------------------------------------------------------

def store_files_open(index: Path) -> tuple[int, int]:
    """(distinct store files of `index` this process holds open, how many of them are deleted);
    a live generation's file is open once per pooled read connection, and counts once."""
    targets = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(index)) and "/store." in target:
            targets.add(target)
    return len(targets), sum(t.endswith("(deleted)") for t in targets)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_mixed_reads_and_writes_release_old_generations(tmp_path, embedder):
    settings = load_settings(index=tmp_path / "index")
    ingest([CORPUS], settings=settings, embedder=embedder, progress=False)
    service = Service(settings, embedder)
    service.load()
    service.ask("Who builds the Bushehr plant?")  # warm: first-use allocations are not a leak
    from assistant.index.vectors import VectorIndex, _Closed

    def live_vector_indexes() -> int:
        return sum(type(o) is VectorIndex and not isinstance(o._index, _Closed)
                   for o in gc.get_objects())

    vectors_before = live_vector_indexes()
    before = rss_mb()
    stop = threading.Event()
    errors: list[BaseException] = []

    def reader(i: int) -> None:
        try:
            while not stop.is_set():
                if i % 2:
                    service.search("Rosatom nuclear plant", k=5)
                else:
                    service.ask("Who builds the Bushehr plant?")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        for n in range(25):  # 25 writes: 25 new generations while the readers run
            service.add_documents([Document(
                doc_id=f"note-{n}", source=f"note-{n}",
                text=f"Shipping note {n}: tankers waited at the Bosporus for {n + 2} days.")])
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert errors == []
    # Only the live generation stays open once no request reads an older one: released at once,
    # without waiting for the garbage collector.
    opened, deleted = store_files_open(settings.index)
    assert opened == 1 and deleted == 0, (opened, deleted)
    assert len(service.open_generations()) == 1
    # The retired generations' FAISS indexes are freed, not left for the garbage collector.
    assert live_vector_indexes() <= vectors_before
    assert rss_mb() - before < 100  # stated bound: memory returns to within 100 MB
    assert service.search("tankers waited at the Bosporus", k=3)[0].doc_id.startswith("note-")


def test_closed_generation_says_so_instead_of_crashing(tmp_path, embedder):
    settings = load_settings(index=tmp_path / "index")
    ingest([CORPUS], settings=settings, embedder=embedder, progress=False)
    from assistant.errors import IndexCorruptError
    from assistant.index import IndexReader

    reader = IndexReader(settings.index)
    reader.close()
    with pytest.raises(IndexCorruptError, match="closed"):
        reader.vectors.search(embedder.embed(["oil"])[0], 3)
    with pytest.raises(IndexCorruptError, match="closed"):
        reader.store.counts()


# --- 3. chunks are bounded -----------------------------------------------------------------

def test_text_without_sentence_breaks_is_cut_into_bounded_chunks(tmp_path, embedder):
    words = ["grain", "tanker", "port", "wheat", "freight", "convoy", "harbour", "cargo"]
    body = " ".join(words[(i * 7) % 8] + str(i % 13) for i in range(20_000))  # no full stop
    blob = "Q" * 5_000  # and a 5,000-character "word"
    text = f"Convoy ledger\n{body} {blob} end"
    settings = load_settings(index=tmp_path / "index", chunk_size=160)
    doc = Document(doc_id="ledger", source="ledger", text=text, title="Convoy ledger")
    chunks = Chunker(size=160, overlap=1).split(doc)
    assert len(chunks) > 100
    for c in chunks:
        assert doc.text[c.char_start:c.char_end] == c.text
        assert len(word_spans(c.text)) <= 160
        assert len(c.text) <= 160 * 101
        # Cuts fall on word boundaries (or inside the over-long "word", 100 characters apart).
        assert text[c.char_start - 1] in " \nQ"
    report = ingest_documents([doc], settings=settings, embedder=embedder)
    assert report.documents == 1 and report.chunks == len(chunks)

    service = Service(settings, embedder)
    service.load()
    hits = service.search("freight", k=10)
    assert hits and all(len(word_spans(h.text)) <= 160 for h in hits)
    answer = service.ask("word")
    quotes = [*answer.quotes, *answer.related]
    for q in quotes:
        assert doc.text[q.citation.char_start:q.citation.char_end] == q.text
        # A quote is one (bounded) sentence, or a dependent one with its antecedent.
        assert len(word_spans(q.text)) <= 2 * MAX_SENTENCE_WORDS
    verdict = service.check("The convoy carried 40 tonnes of wheat to the port.")
    assert all(len(word_spans(e.quote)) <= 2 * MAX_SENTENCE_WORDS for e in verdict.evidence)


# --- servers for 2 and 4 --------------------------------------------------------------------

@pytest.fixture(scope="module")
def direct_server(index_dir, tmp_path_factory):
    """Clients connect directly (no proxy is trusted); open reads; 5 requests a minute."""
    with served(index_dir, tmp_path_factory.mktemp("direct"), env={
            "ASSISTANT_API_KEYS": KEY, "ASSISTANT_RATE_LIMIT": "5/minute"}) as srv:
        yield srv


@pytest.fixture(scope="module")
def proxied_server(index_dir, tmp_path_factory):
    """Behind a trusted proxy on 127.0.0.1 (tests pick their client address with
    X-Forwarded-For); keyed reads; 3 failed authentications a minute per address."""
    with served(index_dir, tmp_path_factory.mktemp("proxied"), env={
            "ASSISTANT_API_KEYS": KEY, "ASSISTANT_READ_AUTH": "key",
            "ASSISTANT_CORS_ORIGINS": ORIGIN, "ASSISTANT_TOKEN_SECRET": SECRET,
            "ASSISTANT_TRUSTED_PROXIES": "127.0.0.1", "ASSISTANT_RATE_LIMIT": "30/minute",
            "ASSISTANT_AUTH_FAIL_LIMIT": "3/minute", "ASSISTANT_MAX_BODY_MB": "1"}) as srv:
        yield srv


# --- 2. only valid credentials choose a rate-limit bucket -----------------------------------

def test_invented_credentials_and_forwarded_for_do_not_escape_the_limit(direct_server):
    c = direct_server.client
    q = {"query": "Rosatom"}
    statuses = [c.post("/v1/search", json=q).status_code for _ in range(5)]
    assert statuses == [200] * 5
    assert c.post("/v1/search", json=q).status_code == 429
    # A made-up Bearer value is not a caller of its own: it counts against the address.
    for n in range(5):
        r = c.post("/v1/search", json=q, headers=auth(f"made-up-{n}"))
        assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    # No proxy is trusted, so a client cannot choose its address either.
    assert c.post("/v1/search", json=q, headers=via("203.0.113.9")).status_code == 429
    # A valid key is its own caller.
    assert c.post("/v1/search", json=q, headers=auth()).status_code == 200


def test_failed_authentication_locks_the_address_out(proxied_server):
    c = proxied_server.client
    q = {"query": "Rosatom"}
    me = via("198.51.100.7")
    for n in range(3):
        r = c.post("/v1/search", json=q, headers={**me, **auth(f"guess-{n}")})
        assert r.status_code == 401
    guess = c.post("/v1/documents", json={"id": "x", "text": "y"}, headers={**me, **auth("guess")})
    assert guess.status_code == 429 and "failed authentication" in guess.json()["message"]
    assert int(guess.headers["retry-after"]) >= 1
    # Locked out: even the right key gets no answer that would tell a guess was right.
    assert c.post("/v1/search", json=q, headers={**me, **auth()}).status_code == 429
    # Another address is not affected.
    assert c.post("/v1/search", json=q, headers={**via("198.51.100.8"), **auth()}).status_code == 200


def test_trusted_proxy_forwards_the_client_address(proxied_server):
    c = proxied_server.client
    q = {"query": "Rosatom"}
    first = [c.post("/v1/search", json=q, headers=via("192.0.2.1")).status_code
             for _ in range(31)]
    assert first[:30] == [401] * 30 and first[30] == 429  # 30 a minute, counted per address
    assert c.post("/v1/search", json=q, headers=via("192.0.2.2")).status_code == 401


def test_minted_widget_tokens_share_their_address_limit(proxied_server):
    c = proxied_server.client
    q = {"query": "Rosatom"}
    me = {**via("192.0.2.20"), "Origin": ORIGIN}
    tokens = [c.post("/v1/widget/token", headers=me).json()["token"] for _ in range(2)]
    first = [c.post("/v1/search", json=q, headers={**me, **auth(tokens[0])}).status_code
             for _ in range(31)]
    assert first[:30] == [200] * 30 and first[30] == 429
    # A second token from the same page and address is no fresh bucket.
    assert c.post("/v1/search", json=q, headers={**me, **auth(tokens[1])}).status_code == 429


def test_lock_out_holds_without_a_rate_limit(tmp_path, embedder, index_dir):
    from fastapi.testclient import TestClient

    from assistant.api.app import create_app

    settings = load_settings(index=index_dir, api_keys=KEY, read_auth="key", rate_limit="",
                             auth_fail_limit="2/minute")
    with TestClient(create_app(settings, embedder=embedder)) as c:
        q = {"query": "Rosatom"}
        assert [c.post("/v1/search", json=q, headers=auth(f"guess-{n}")).status_code
                for n in range(2)] == [401, 401]
        assert c.post("/v1/search", json=q, headers=auth()).status_code == 429
        assert c.post("/v1/search", json=q).status_code == 401  # no credential: not locked


def test_expired_token_is_no_failed_authentication():
    from assistant.auth import Authenticator

    auth_ = Authenticator(load_settings(token_secret=SECRET))
    old = jwt.encode({"aud": "assistant-widget", "origin": ORIGIN, "scope": "read",
                      "iat": 1, "exp": 2}, SECRET, algorithm="HS256")
    assert auth_.read_token(old) == (None, True)
    assert auth_.read_token(old[:-3] + "abc") == (None, False)


def test_long_chat_messages_are_refused_before_any_work(proxied_server):
    c = proxied_server.client
    me = {**via("192.0.2.70"), **auth()}
    first = c.post("/v1/chat", headers=me, json={"message": "What does India buy from Russia?"})
    assert first.status_code == 200
    cid = first.json()["conversation_id"]
    # "and x<spaces>y" once made the follow-up rewrite backtrack quadratically.
    r = c.post("/v1/chat", headers=me, json={"message": "and x" + " " * 200_000 + "y",
                                             "conversation_id": cid})
    assert r.status_code == 422 and "limit is 1000" in r.json()["message"]
    r = c.post("/v1/chat/completions", headers=me, json={"messages": [
        {"role": "user", "content": "Rosatom?"}, {"role": "user", "content": "x" * 5000}]})
    # The OpenAI-compatible path says so in OpenAI's shape: a 400 naming the messages.
    error = r.json()["error"]
    assert r.status_code == 400 and error["code"] == "bad_query" and error["param"] == "messages"
    assert "limit is 1000" in error["message"]


def test_widget_token_must_expire(proxied_server):
    c = proxied_server.client
    q = {"query": "Rosatom"}
    me = {**via("192.0.2.30"), "Origin": ORIGIN}
    now = int(time.time())
    good = jwt.encode({"aud": "assistant-widget", "origin": ORIGIN, "scope": "read", "iat": now,
                       "exp": now + 60}, SECRET, algorithm="HS256")
    assert c.post("/v1/search", json=q, headers={**me, **auth(good)}).status_code == 200
    forever = jwt.encode({"aud": "assistant-widget", "origin": ORIGIN, "scope": "read",
                          "iat": now}, SECRET, algorithm="HS256")
    assert c.post("/v1/search", json=q, headers={**me, **auth(forever)}).status_code == 401


# --- 4. smaller holes --------------------------------------------------------------------------

def test_request_bodies_get_the_documented_errors(proxied_server):
    c = proxied_server.client
    me = {**via("192.0.2.40"), **auth()}

    def chunks():  # no Content-Length: a chunked body of 1.5 MB against a 1 MB limit
        for _ in range(15):
            yield b'{"id": "big", "text": "' + b"w" * 100_000

    big = c.post("/v1/documents", content=chunks(),
                 headers={**me, "Content-Type": "application/json"})
    assert big.status_code == 413 and big.json()["code"] == "payload_too_large"
    deep = c.post("/v1/search", content="[" * 1000 + "]" * 1000,
                  headers={**me, "Content-Type": "application/json"})
    assert deep.status_code == 422 and deep.json()["code"] == "invalid_request"
    assert "nested too deeply" in deep.json()["message"]
    bad_utf8 = c.post("/v1/search", content=b'{"query": "caf\xe9"}',
                      headers={**me, "Content-Type": "application/json"})
    assert bad_utf8.status_code == 422 and "UTF-8" in bad_utf8.json()["message"]
    batch = c.post("/v1/documents", headers=me, json={"documents": [
        *({"id": f"d{i}", "text": "x"} for i in range(1000)), {"id": "no-text"}]})
    assert batch.status_code == 422
    assert "at most 1000 documents" in batch.json()["message"]
    assert "Field required" not in batch.json()["message"]


def test_ids_with_control_characters_are_refused(proxied_server):
    c = proxied_server.client
    me = {**via("192.0.2.50"), **auth()}
    r = c.post("/v1/documents", headers=me, json={"id": "evil\r\nid", "text": "Some text."})
    assert r.status_code == 422
    assert "control character" in r.json()["errors"][0]["message"]


def test_claimreview_urls_must_be_http(proxied_server, tmp_path, embedder):
    c = proxied_server.client
    me = {**via("192.0.2.60"), **auth()}
    r = c.post("/v1/check/claimreview", params={"url": "javascript:alert(9)"}, headers=me,
               json={"claim": "Turkey has joined Western sanctions against Russia."})
    assert r.status_code == 422 and "http" in r.json()["message"]
    # Reading: a ClaimReview with a javascript: url is refused, with a reason; a good one is kept.
    review = {"@context": "https://schema.org", "@type": "ClaimReview",
              "claimReviewed": "Turkey has joined sanctions.", "url": "javascript:alert(9)",
              "reviewRating": {"@type": "Rating", "ratingValue": 1, "alternateName": "False"}}
    fine = {**review, "claimReviewed": "Hungary has joined sanctions.",
            "url": "https://checks.example/1"}
    path = tmp_path / "checks" / "reviews.jsonld"
    path.parent.mkdir()
    path.write_text(json.dumps([review, fine]), encoding="utf-8")
    settings = load_settings(index=tmp_path / "index")
    report = ingest([path.parent], settings=settings, embedder=embedder, progress=False)
    assert report.fact_checks == 1
    assert any("javascript:" in str(e) and "http" in str(e) for e in report.errors)
    from assistant.index import read_manifest

    store = Store(settings.index / read_manifest(settings.index).store_file, readonly=True)
    checks, _ = store.fact_checks()
    assert [fc.url for fc in checks] == ["https://checks.example/1"]
    store.close()


def test_keys_file_changes_are_seen_without_a_restart(tmp_path):
    import os as os_

    from assistant.auth import Authenticator

    keys = tmp_path / "keys.txt"
    keys.write_text("first-key\n", encoding="utf-8")
    auth_ = Authenticator(load_settings(api_keys_file=keys))
    assert auth_.is_api_key("first-key") and not auth_.is_api_key("second-key")
    keys.write_text("# rotated\nsecond-key\n", encoding="utf-8")
    stat = keys.stat()
    os_.utime(keys, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a new mtime for sure
    assert auth_.is_api_key("second-key") and not auth_.is_api_key("first-key")
