"""The HTTP service, run for real: `assistant serve` under uvicorn on 127.0.0.1."""

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from assistant.ingest import ingest

from .conftest import CORPUS, REPO, SEEDS

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A real `assistant serve` process."""

    def __init__(self, index, tmp_path, env=None, args=()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = (tmp_path / f"server-{self.port}.log").open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "assistant", "serve", "--index", str(index),
             "--host", "127.0.0.1", "--port", str(self.port), *args],
            cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})})
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def wait(self, path="/healthz", status=200, timeout=120):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "server exited early"
            try:
                last = self.client.get(path)
                if last.status_code == status:
                    return last
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{path} never returned {status}: {last and last.text}")

    def log_text(self) -> str:
        """What the server has printed so far."""
        self.log.flush()
        return Path(self.log.name).read_text()

    def stop(self):
        self.client.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        finally:
            self.log.close()


@contextlib.contextmanager
def served(index, tmp_path, env=None):
    """A real server on `index`, ready (model and index loaded), stopped afterwards."""
    srv = Server(index, tmp_path, env=env)
    try:
        srv.wait("/readyz")
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def live_index(tmp_path_factory, embedder):
    from assistant.config import load_settings

    root = tmp_path_factory.mktemp("live")
    settings = load_settings(index=root / "index")
    ingest([CORPUS], settings=settings, embedder=embedder, progress=False)
    return settings


@pytest.fixture(scope="module")
def server(live_index, tmp_path_factory):
    srv = Server(live_index.index, tmp_path_factory.mktemp("logs"))
    try:
        srv.wait("/readyz")
        yield srv
    finally:
        srv.stop()


def test_health_and_readiness(server):
    assert server.client.get("/healthz").json() == {"status": "ok"}
    ready = server.client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["counts"]["documents"] == 2


def test_search_returns_exact_slices(server):
    r = server.client.post("/v1/search", json={"query": "Who builds the Bushehr nuclear power plant?", "k": 5})
    assert r.status_code == 200
    body = r.json()
    first = body["results"][0]
    assert first["doc_id"] == SEEDS[0] and first["section"] == "IRAN" and "Bushehr" in first["text"]
    for hit in body["results"]:
        text = (CORPUS / hit["doc_id"]).read_text(encoding="utf-8")
        if hit["doc_id"] == SEEDS[1]:  # its headline line is the title, not part of the text
            text = text.split("\n", 1)[1]
        assert text[hit["char_start"]:hit["char_end"]] == hit["text"]


def test_search_filters_over_http(server):
    r = server.client.post("/v1/search", json={"query": "oil", "filters": {"source": [SEEDS[1]]}})
    assert r.status_code == 200 and {h["doc_id"] for h in r.json()["results"]} == {SEEDS[1]}
    bad = server.client.post("/v1/search", json={"query": "oil", "filters": {"since": "soon"}})
    assert bad.status_code == 422 and bad.json()["code"] == "bad_query"


@pytest.mark.parametrize("body,code", [
    ({"query": ""}, "bad_query"),
    ({"query": "x" * 3000}, "bad_query"),
    ({}, "invalid_request"),
    ({"query": "oil", "k": 0}, "invalid_request"),
    ({"query": 5}, "invalid_request"),
])
def test_bad_requests_get_json_errors(server, body, code):
    r = server.client.post("/v1/search", json=body)
    assert r.status_code == 422
    assert r.json()["code"] == code and r.json()["message"]


def test_not_found_and_method_not_allowed_are_json(server):
    r = server.client.get("/nope")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = server.client.get("/v1/search")
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"
    r = server.client.post("/v1/search", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_request"


def test_new_generation_is_picked_up_without_restart(server, live_index, embedder, tmp_path):
    note = tmp_path / "harbour.txt"
    note.write_text("Harbour Fees\nThe port of Varna doubled its harbour fees for tankers in May.\n")
    ingest([note], settings=live_index, embedder=embedder, progress=False)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        hits = server.client.post("/v1/search", json={"query": "Varna harbour fees", "k": 1}).json()
        if hits["results"] and hits["results"][0]["doc_id"] == "harbour.txt":
            break
        time.sleep(0.3)
    else:
        raise AssertionError("the server never saw the new document")
    assert server.client.get("/readyz").json()["counts"]["documents"] == 3


def test_no_index_is_reported_not_crashed(tmp_path):
    srv = Server(tmp_path / "empty-index", tmp_path)
    try:
        r = srv.wait("/readyz", status=503)
        deadline = time.monotonic() + 120
        while "loading" in r.json()["message"] and time.monotonic() < deadline:
            time.sleep(0.3)
            r = srv.client.get("/readyz")
        assert r.status_code == 503 and "no index" in r.json()["message"]
        s = srv.client.post("/v1/search", json={"query": "oil"})
        assert s.status_code == 503 and s.json()["code"] == "index_unavailable"
        assert "assistant ingest" in s.json()["message"]
    finally:
        srv.stop()
