"""The full HTTP API against real servers: answers, chat, SSE, OpenAI client, documents, auth,
limits, CORS, widget tokens, metrics and concurrent writes."""

import json
import re
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from .conftest import SEEDS
from .test_api import Server, served

pytestmark = pytest.mark.slow
KEY = "test-key-123"
ORIGIN = "http://news.example"


@pytest.fixture(scope="module")
def open_server(index_dir, tmp_path_factory):
    """Open reads, keyed writes, one CORS origin, a generous rate limit."""
    with served(index_dir, tmp_path_factory.mktemp("open"), env={
            "ASSISTANT_API_KEYS": f"{KEY},other-key", "ASSISTANT_CORS_ORIGINS": ORIGIN,
            "ASSISTANT_RATE_LIMIT": "10000/minute", "ASSISTANT_MAX_BODY_MB": "1"}) as srv:
        yield srv


@pytest.fixture(scope="module")
def keyed_server(index_dir, tmp_path_factory):
    """Keyed reads, widget tokens for one origin, a tight rate limit."""
    with served(index_dir, tmp_path_factory.mktemp("keyed"), env={
            "ASSISTANT_API_KEYS": KEY, "ASSISTANT_READ_AUTH": "key",
            "ASSISTANT_CORS_ORIGINS": ORIGIN, "ASSISTANT_RATE_LIMIT": "12/minute",
            "ASSISTANT_TOKEN_TTL_SECONDS": "60"}) as srv:
        yield srv


def auth(key=KEY):
    return {"Authorization": f"Bearer {key}"}


def stored_text(client, doc_id):
    r = client.get(f"/v1/documents/{doc_id}")
    assert r.status_code == 200, r.text
    return r.json()["text"]


def assert_quotes_verbatim(client, answer):
    for q in [*answer["quotes"], *answer["related"]]:
        c = q["citation"]
        assert stored_text(client, c["doc_id"])[c["char_start"]:c["char_end"]] == q["text"] == c["quote"]


def test_ask(open_server):
    c = open_server.client
    r = c.post("/v1/ask", json={"question": "Who is Iran relying on to build the Bushehr nuclear power plant?"})
    assert r.status_code == 200, r.text
    ans = r.json()
    assert not ans["abstained"] and "relying on Moscow to build the Bushehr" in ans["quotes"][0]["text"]
    assert "[1]" in ans["answer"] and ans["citations"][0]["doc_id"] == SEEDS[0]
    assert_quotes_verbatim(c, ans)
    none = c.post("/v1/ask", json={"question": "What is the capital of Australia?"}).json()
    assert none["abstained"] and none["quotes"] == []
    assert c.post("/v1/ask", json={"question": ""}).json()["code"] == "bad_query"
    long = c.post("/v1/ask", json={"question": "why " * 600})
    assert long.status_code == 422 and "limit" in long.json()["message"]


def test_chat_follow_up_in_context(open_server):
    c = open_server.client
    first = c.post("/v1/chat", json={"message": "What has Iran supplied to Russia?"}).json()
    cid = first["conversation_id"]
    assert "drones" in first["answer"]["quotes"][0]["text"]
    second = c.post("/v1/chat", json={"message": "And Belarus?", "conversation_id": cid}).json()
    assert second["conversation_id"] == cid
    assert second["question"] == "What has Belarus supplied to Russia?"
    assert not second["answer"]["abstained"]
    first_quote = second["answer"]["quotes"][0]
    assert first_quote["citation"]["doc_id"] in SEEDS
    assert "Lukashenko" in first_quote["text"] or "Belarus" in first_quote["text"]
    assert_quotes_verbatim(c, second["answer"])


def test_follow_ups_keep_the_answer_subject_or_ask_back(open_server):
    c = open_server.client
    first = c.post("/v1/chat", json={"message": "Who supplies drones to Russia?"}).json()
    cid = first["conversation_id"]
    said = first["answer"]["quotes"][0]["text"]
    assert "Tehran" in said or "Iran" in said
    place = "Tehran" if said.startswith("Tehran") else "Iran"  # the answer's first place
    second = c.post("/v1/chat", json={"message": "Is that country also building a nuclear plant?",
                                      "conversation_id": cid}).json()
    assert second["question"] == f"Is {place} also building a nuclear plant?"
    assert second["ask_back"] is None and not second["answer"]["abstained"]
    assert any("Bushehr" in q["text"] for q in second["answer"]["quotes"])
    assert_quotes_verbatim(c, second["answer"])
    # Nothing earlier names a country: the assistant asks instead of guessing.
    vague = c.post("/v1/chat", json={"message": "what is happening"}).json()
    back = c.post("/v1/chat", json={"message": "Is that country involved?",
                                    "conversation_id": vague["conversation_id"]}).json()
    assert back["ask_back"] and "country" in back["ask_back"]
    assert back["answer"]["abstained"] and back["answer"]["quotes"] == []
    # The OpenAI-compatible endpoint reads the assistant's earlier replies the same way.
    reply = c.post("/v1/chat/completions", json={"messages": [
        {"role": "user", "content": "Who supplies drones to Russia?"},
        {"role": "assistant", "content": first["answer"]["answer"]},
        {"role": "user", "content": "Is that country also building a nuclear plant?"}]}).json()
    assert reply["question"] == f"Is {place} also building a nuclear plant?"


def test_chat_streams_structured_events_incrementally(open_server):
    events = []
    with open_server.client.stream("POST", "/v1/chat", json={
            "message": "What does Russia sell to China?", "stream": True}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in r.iter_lines():  # read as it arrives, one line at a time
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
    names = [n for n, _ in events]
    assert names[0] == "meta" and names[-1] == "done"
    quotes = [d for n, d in events if n == "quote"]
    assert len(quotes) >= 2 and {q["citation"]["doc_id"] for q in quotes} == set(SEEDS)
    streamed = "".join(d["text"] for n, d in events if n == "delta")
    done = events[-1][1]
    assert streamed == done["answer"]["answer"] and "[1]" in streamed
    assert names.index("quote") < names.index("delta")


def test_openai_client_plain_and_streaming(open_server):
    from openai import OpenAI

    client = OpenAI(base_url=f"{open_server.url}/v1", api_key="unused-when-reads-are-open")
    assert [m.id for m in client.models.list().data] == ["assistant"]
    done = client.chat.completions.create(model="assistant", messages=[
        {"role": "system", "content": "Answer from the archive."},
        {"role": "user", "content": "Why did Putin attend the BRICS summit in Johannesburg virtually?"}])
    content = done.choices[0].message.content
    assert "whether to arrest him. [1]" in content and "Sources:" in content
    citations = done.model_extra["citations"]
    assert citations[0]["doc_id"] == SEEDS[0] and "arrest him" in citations[0]["quote"]

    pieces, last = [], None
    stream = client.chat.completions.create(model="assistant", stream=True, messages=[
        {"role": "user", "content": "What has Iran supplied to Russia?"},
        {"role": "assistant", "content": "..."},
        {"role": "user", "content": "And Belarus?"}])
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        last = chunk
    assert len(pieces) > 2 and "[1]" in "".join(pieces)
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["question"] == "What has Belarus supplied to Russia?"
    assert last.model_extra["citations"]


def test_documents_lifecycle_and_auth(open_server, tmp_path):
    c = open_server.client
    doc = {"id": "harbour-2024", "title": "Varna harbour fees", "publisher": "Black Sea Post",
           "published": "2024-05-02", "url": "https://bsp.example/varna",
           "text": "The port of Varna doubled its harbour fees for oil tankers in May."}
    assert c.post("/v1/documents", json=doc).status_code == 401
    wrong = c.post("/v1/documents", json=doc, headers=auth("nope"))
    assert wrong.status_code == 401 and wrong.json()["code"] == "unauthorized"
    assert wrong.headers["www-authenticate"] == "Bearer"
    added = c.post("/v1/documents", json=doc, headers=auth())
    assert added.status_code == 201, added.text
    assert added.json()["added"] == ["harbour-2024"] and added.json()["errors"] == []
    # Searchable at once, without a restart.
    hits = c.post("/v1/search", json={"query": "Varna harbour fees tankers", "k": 1}).json()
    assert hits["results"][0]["doc_id"] == "harbour-2024"
    listed = c.get("/v1/documents", params={"limit": 10}).json()
    assert "harbour-2024" in [d["doc_id"] for d in listed["documents"]] and listed["total"] == 3
    got = c.get("/v1/documents/harbour-2024").json()
    assert got["published"] == "2024-05-02" and got["text"] == doc["text"]
    again = c.post("/v1/documents", json=doc, headers=auth()).json()
    assert again["added"] == [] and again["skipped"] == 1

    upload = c.post("/v1/documents/upload", headers=auth(), files=[
        ("files", ("../../etc/grain.md", b"---\ntitle: Grain\n---\nOdesa shipped grain to Egypt.\n", "text/markdown")),
        ("files", ("blob.txt", b"\x00\x01\x02binary", "text/plain"))])
    assert upload.status_code == 201, upload.text
    body = upload.json()
    assert body["added"] == ["grain.md"]  # only the base name of an uploaded path is used
    assert len(body["errors"]) == 1 and "blob.txt" in body["errors"][0]["message"]
    assert "binary" in body["errors"][0]["message"]
    bad = c.post("/v1/documents/upload", headers=auth(), files=[("files", ("x.exe", b"MZ", "application/octet-stream"))])
    assert bad.status_code == 422 and "unsupported" in bad.json()["errors"][0]["message"]

    assert c.delete("/v1/documents/harbour-2024").status_code == 401
    assert c.delete("/v1/documents/harbour-2024", headers=auth()).json() == {"removed": ["harbour-2024"]}
    assert c.delete("/v1/documents/grain.md", headers=auth("other-key")).status_code == 200
    assert c.get("/v1/documents/harbour-2024").status_code == 404
    assert c.delete("/v1/documents/harbour-2024", headers=auth()).status_code == 404
    hits = c.post("/v1/search", json={"query": "Varna harbour fees tankers", "k": 3}).json()
    assert "harbour-2024" not in [h["doc_id"] for h in hits["results"]]


def test_limits_and_bad_bodies(open_server):
    c = open_server.client
    big = c.post("/v1/documents", headers=auth(),
                 json={"id": "big", "text": "word " * 300_000})  # 1.5 MB > 1 MB limit
    assert big.status_code == 413 and big.json()["code"] == "payload_too_large"
    bad_date = c.post("/v1/documents", headers=auth(), json={"id": "d", "text": "x", "published": "soon"})
    assert bad_date.status_code == 422 and "published" in bad_date.json()["errors"][0]["message"]
    extra = c.post("/v1/documents", headers=auth(), json={"id": "d", "text": "x", "path": "/etc/passwd"})
    assert extra.status_code == 422 and extra.json()["code"] == "invalid_request"


def test_cors_preflight(open_server):
    ok = open_server.client.options("/v1/ask", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == ORIGIN
    evil = open_server.client.options("/v1/ask", headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in evil.headers
    simple = open_server.client.post("/v1/search", json={"query": "oil"}, headers={"Origin": ORIGIN})
    assert simple.headers["access-control-allow-origin"] == ORIGIN


def test_metrics(open_server):
    open_server.client.post("/v1/search", json={"query": "oil"})
    text = open_server.client.get("/metrics").text
    assert 'assistant_http_requests_total{method="POST",route="/v1/search",status="200"}' in text
    assert "assistant_http_request_duration_seconds_bucket" in text
    assert "assistant_index_documents " in text and "assistant_index_chunks " in text
    counts = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
              if line.startswith(("assistant_index_documents ", "assistant_index_chunks "))}
    assert counts["assistant_index_documents"] >= 2 and counts["assistant_index_chunks"] > 0
    open_server.client.get("/v1/documents/no-such-doc")
    text = open_server.client.get("/metrics").text
    assert 'route="/v1/documents/{doc_id' in text  # the route template, never the raw path
    assert "no-such-doc" not in text


def test_keyed_reads_widget_tokens_and_rate_limit(keyed_server):
    c = keyed_server.client
    q = {"query": "Rosatom"}
    assert c.post("/v1/search", json=q).status_code == 401
    assert c.post("/v1/search", json=q, headers=auth()).status_code == 200
    refused = c.post("/v1/widget/token", headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    issued = c.post("/v1/widget/token", headers={"Origin": ORIGIN})
    assert issued.status_code == 200
    token = issued.json()["token"]
    assert 0 < issued.json()["expires_in"] <= 60
    good = c.post("/v1/search", json=q, headers={**auth(token), "Origin": ORIGIN})
    assert good.status_code == 200
    stolen = c.post("/v1/search", json=q, headers={**auth(token), "Origin": "http://evil.example"})
    assert stolen.status_code == 401 and "another origin" in stolen.json()["message"]
    no_origin = c.post("/v1/search", json=q, headers=auth(token))
    assert no_origin.status_code == 401
    forged = c.post("/v1/search", json=q, headers={**auth(token[:-4] + "AAAA"), "Origin": ORIGIN})
    assert forged.status_code == 401
    # A widget token never allows writes.
    assert c.post("/v1/documents", json={"id": "x", "text": "y"},
                  headers={**auth(token), "Origin": ORIGIN}).status_code == 401
    # The limit (12/minute per credential) runs out, with Retry-After.
    statuses = [c.post("/v1/search", json=q, headers=auth()).status_code for _ in range(14)]
    assert 429 in statuses
    limited = c.post("/v1/search", json=q, headers=auth())
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1
    assert c.get("/healthz").status_code == 200  # probes are never limited


def test_queries_stay_correct_while_documents_are_added(open_server):
    c = open_server.client
    stop = threading.Event()
    failures, answers = [], []

    def reader():
        with httpx.Client(base_url=open_server.url, timeout=60) as rc:
            while not stop.is_set():
                r = rc.post("/v1/search", json={"query": "Who builds the Bushehr nuclear power plant?", "k": 3})
                if r.status_code != 200:
                    failures.append(r.text)
                else:
                    top = r.json()["results"]
                    answers.append(any(h["doc_id"] == SEEDS[0] and "Bushehr" in h["text"]
                                       for h in top))

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(6):
            r = c.post("/v1/documents", headers=auth(), json={"documents": [
                {"id": f"bulk-{i}-{j}", "text": f"Shipping note {i}.{j}: tankers waited at the Bosporus for {j + 2} days."}
                for j in range(5)]})
            assert r.status_code == 201, r.text
    finally:
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert failures == [] and len(answers) > 5 and all(answers)
    assert c.get("/v1/documents", params={"limit": 1}).json()["total"] >= 32


TURKEY = "Turkey has joined Western sanctions against Russia."


def test_check_claims_and_paragraphs(open_server):
    c = open_server.client
    r = c.post("/v1/check", json={"claim": TURKEY})
    assert r.status_code == 200, r.text
    v = r.json()
    assert v["verdict"] == "refuted" and v["sources_refuting"] == 1 and v["fact_checks"] == []
    assert v["evidence"][0]["stance"] == "refutes"
    for e in v["evidence"]:
        cit = e["citation"]
        assert stored_text(c, cit["doc_id"])[cit["char_start"]:cit["char_end"]] == e["quote"]

    text = f"{TURKEY} What happens next? India has become a major buyer of Russian oil."
    r = c.post("/v1/check", json={"text": text})
    assert r.status_code == 200, r.text
    assert [(x["claim"], x["verdict"]) for x in r.json()["claims"]] == [
        (TURKEY, "refuted"), ("India has become a major buyer of Russian oil.", "supported")]

    for body in ({}, {"claim": TURKEY, "text": text}, {"claim": 3}):
        r = c.post("/v1/check", json=body)
        assert r.status_code == 422 and r.json()["code"] == "invalid_request", body
    # Limits are settings, checked once by the service, like the question's.
    r = c.post("/v1/check", json={"claim": "x" * 1001})
    assert r.status_code == 422 and r.json()["code"] == "bad_query"
    assert "limit is 1000" in r.json()["message"]
    r = c.post("/v1/check", json={"claim": "   "})
    assert r.status_code == 422 and r.json() == {"code": "bad_query", "message": "the claim is empty"}

    r = c.post("/v1/check/claimreview", params={"url": "https://news.example/c/1"},
               json={"claim": TURKEY})
    assert r.status_code == 200, r.text
    review = r.json()
    assert review["@type"] == "ClaimReview" and review["reviewRating"]["ratingValue"] == 1
    assert review["url"] == "https://news.example/c/1" and review["claimReviewed"] == TURKEY
    assert c.post("/v1/check/claimreview", json={"text": text}).status_code == 422
    # An editor's verdict replaces the checker's in the export, which says it was edited.
    r = c.post("/v1/check/claimreview", json={
        "claim": TURKEY, "editor": {"verdict": "supported", "note": "Confirmed by the ministry."}})
    assert r.status_code == 200, r.text
    edited = r.json()
    assert edited["reviewRating"]["ratingValue"] == 5
    assert edited["reviewRating"]["ratingExplanation"] == "Confirmed by the ministry."
    assert "the automatic check said: Refuted" in edited["reviewBody"]
    r = c.post("/v1/check/claimreview", json={"claim": TURKEY, "editor": {"verdict": "maybe"}})
    assert r.status_code == 422


def test_mcp_on_the_served_app_and_cli(open_server, index_dir):
    """The MCP tools over streamable HTTP at /mcp of `assistant serve`, and `assistant mcp`."""
    import sys

    import anyio
    from mcp.client import Client
    from mcp.client.stdio import StdioServerParameters

    from .conftest import REPO

    async def main():
        with anyio.fail_after(240):
            async with Client(f"{open_server.url}/mcp") as client:
                tools = {t.name for t in (await client.list_tools()).tools}
                assert {"search", "ask", "check"} <= tools
                checked = await client.call_tool("check", {"claim": TURKEY})
                assert not checked.is_error and checked.structured_content["verdict"] == "refuted"
                assert "Verdict: refuted" in checked.content[0].text
                res = await client.call_tool("ask", {"question": "Rosatom"})
                assert not res.is_error and "Rosatom" in res.structured_content["quotes"][0]["text"]
            params = StdioServerParameters(command=sys.executable, cwd=REPO,
                                           args=["-m", "assistant", "mcp", "--index", str(index_dir)],
                                           env={"HF_HUB_OFFLINE": "1"})
            async with Client(params) as client:
                found = await client.call_tool("search", {"query": "Bushehr", "k": 2})
                assert not found.is_error and found.structured_content["results"]

    anyio.run(main)


def test_several_workers_serve_one_index_and_honour_each_others_tokens(index_dir, tmp_path):
    """`assistant serve --workers 2`: two processes, one widget-token secret between them."""
    srv = Server(index_dir, tmp_path, args=("--workers", "2"), env={
        "ASSISTANT_API_KEYS": KEY, "ASSISTANT_READ_AUTH": "key", "ASSISTANT_CORS_ORIGINS": ORIGIN,
        "ASSISTANT_RATE_LIMIT": "10000/minute"})
    try:
        srv.wait("/readyz", timeout=180)
        deadline = time.monotonic() + 60
        while (srv.log_text().count("Started server process") < 2
               and time.monotonic() < deadline):
            time.sleep(0.5)
        assert srv.log_text().count("Started server process") == 2, srv.log_text()
        # Each worker's own notes reach the log, marked with its process id.
        loaded = re.compile(r"assistant\[(\d+)\]: index generation \d+ loaded")
        while len(set(loaded.findall(srv.log_text()))) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len(set(loaded.findall(srv.log_text()))) == 2, srv.log_text()
        statuses = []
        for _ in range(20):  # a fresh connection each time: requests land on either process
            with httpx.Client(base_url=srv.url, timeout=60) as fresh:
                token = fresh.post("/v1/widget/token", headers={"Origin": ORIGIN}).json()["token"]
            with httpx.Client(base_url=srv.url, timeout=60) as other:
                r = other.post("/v1/search", json={"query": "Bushehr"}, headers={
                    "Origin": ORIGIN, "Authorization": f"Bearer {token}"})
                statuses.append(r.status_code)
                if r.status_code == 200:
                    assert r.json()["results"][0]["doc_id"] == SEEDS[0]
        assert statuses == [200] * 20, statuses
        # Clients that keep their connections, opened in one burst: a busy worker tells its
        # clients to reconnect, so both workers end up working (not one with every connection).
        pids = sorted(set(loaded.findall(srv.log_text())))
        before = [cpu_ticks(p) for p in pids]
        closed = []

        def reader(n: int) -> None:
            with httpx.Client(base_url=srv.url, timeout=60, headers={
                    "Authorization": f"Bearer {KEY}"}) as client:
                for i in range(8):
                    r = client.post("/v1/ask", json={"question": f"Who builds Bushehr? ({n}.{i})"})
                    assert r.status_code == 200, r.text
                    closed.append(r.headers.get("connection") == "close")

        # Six clients on two workers: however they land, a busier worker sends some over.
        threads = [threading.Thread(target=reader, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        spent = [cpu_ticks(p) - b for p, b in zip(pids, before, strict=True)]
        assert len(closed) == 48
        assert min(spent) >= 0.15 * sum(spent), spent
        # They see each other's load on the board `serve` made, one slot each.
        board = Path(worker_env(pids[0])["ASSISTANT_SPREAD_BOARD"])
        slots = np.frombuffer(board.read_bytes(), dtype=np.int64).reshape(-1, 2)
        assert sorted(str(pid) for pid in slots[:, 0] if pid) == pids
    finally:
        srv.stop()
    assert not board.exists()  # removed when the server stops


def worker_env(pid: str) -> dict[str, str]:
    """The environment a process started with."""
    raw = Path(f"/proc/{pid}/environ").read_text()
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def cpu_ticks(pid: str) -> int:
    """CPU time a process has used (user + system, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])
