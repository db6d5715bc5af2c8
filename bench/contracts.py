"""Capture what the CLI and the HTTP API print on the sample corpus, to compare two checkouts.

    .venv/bin/python bench/contracts.py capture OUT.json     # in each checkout
    .venv/bin/python bench/contracts.py compare BEFORE.json AFTER.json

`capture` ingests corpus/ into a temp index and records the JSON of every `--json` command
(search, batch search, ask, abstention, batch ask, check, paragraph check, ClaimReview, status,
ingest), the last stderr line of five bad inputs, the human output of ask, check and search, and
twenty HTTP calls of a real `assistant serve` (status and body, plus the OpenAPI paths).
Timings, ids, dates and temp paths are dropped. `compare` prints every difference in keys, key
order, types and values, and exits 1 if there is one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from load import free_port, stop_server  # noqa: E402 - bench/ is on sys.path

KEY = "contracts-key"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "ASSISTANT_API_KEYS": KEY, "ASSISTANT_RATE_LIMIT": ""}
DROP = {"timings_ms", "seconds", "built_at", "datePublished", "conversation_id", "created", "id"}
Q = "Who builds the Bushehr nuclear power plant?"
C = "Turkey has joined Western sanctions against Russia."


def norm(x: Any) -> Any:
    """`x` with the fields that change from run to run replaced by a marker."""
    if isinstance(x, dict):
        return {k: ("<dropped>" if k in DROP else norm(v)) for k, v in x.items()}
    if isinstance(x, list):
        return [norm(v) for v in x]
    return x


def cli(*args: str, stdin: str | None = None) -> dict[str, Any]:
    """Exit status, stdout (a JSON value per line where it parses) and the error line."""
    run = subprocess.run([sys.executable, "-m", "assistant", *args], cwd=REPO, env=ENV,
                         capture_output=True, text=True, input=stdin)
    out = []
    for line in filter(str.strip, run.stdout.splitlines()):
        try:
            out.append(norm(json.loads(line)))
        except ValueError:
            out.append(line)
    return {"rc": run.returncode, "stdout": out,
            "stderr": run.stderr.strip().splitlines()[-1:] if run.returncode else []}


def http(client: httpx.Client, method: str, path: str, **kw: Any) -> dict[str, Any]:
    """Status and (normalised) body of one request."""
    r = client.request(method, path, **kw)
    try:
        body = norm(r.json())
    except ValueError:
        body = r.text[:200]
    return {"status": r.status_code, "body": body}


def capture(out: Path) -> None:
    """Record everything into `out`."""
    tmp = Path(tempfile.mkdtemp(prefix="assistant-contracts-"))
    idx = str(tmp / "index")
    i = ["--index", idx]
    res: dict[str, Any] = {
        "ingest": cli("ingest", "corpus", *i, "--json", "--quiet"),
        "status": cli("status", *i, "--json"),
        "search": cli("search", Q, *i, "--json", "-k", "3"),
        "search_batch": cli("search", "-", *i, "--json", "-k", "2",
                            stdin='Rosatom\n{"id": "q2", "query": "drones"}\n'),
        "ask": cli("ask", Q, *i, "--json"),
        "ask_abstain": cli("ask", "What is the capital of Peru?", *i, "--json"),
        "ask_batch": cli("ask", "-", *i, "--json", stdin=f'{Q}\n{{"id": "x", "question": ""}}\n'),
        "check": cli("check", C, *i, "--json"),
        "check_text": cli("check", "--text", f"{C} I think it is great. India buys Russian oil.",
                          *i, "--json"),
        "check_claimreview": cli("check", C, *i, "--claimreview", "--json", "--url",
                                 "https://x.example/1"),
        "errors": [cli("search", "", *i), cli("ask", "x" * 1001, *i),
                   cli("search", "q", "--index", str(tmp / "none")),
                   cli("search", "q", "--since", "soon", *i), cli("check", "", *i)],
        "human_ask": cli("ask", Q, *i),
        "human_check": cli("check", C, *i),
        "human_search": cli("search", Q, *i, "-k", "2"),
    }
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "assistant", "serve", *i, "--port", str(port)],
                            cwd=REPO, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    key = {"Authorization": f"Bearer {KEY}"}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
            for _ in range(600):
                try:
                    if c.get("/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.3)
            res["http"] = {
                "readyz": http(c, "GET", "/readyz"),
                "search": http(c, "POST", "/v1/search", json={"query": Q, "k": 3}),
                "search_filtered": http(c, "POST", "/v1/search",
                                        json={"query": Q, "filters": {"since": "2000-01-01"}}),
                "ask": http(c, "POST", "/v1/ask", json={"question": Q}),
                "check": http(c, "POST", "/v1/check", json={"claim": C}),
                "check_text": http(c, "POST", "/v1/check",
                                   json={"text": f"{C} India buys Russian oil."}),
                "claimreview": http(c, "POST", "/v1/check/claimreview",
                                    params={"url": "https://x.example/1"}, json={"claim": C}),
                "chat": http(c, "POST", "/v1/chat",
                             json={"message": "What does India buy from Russia?"}),
                "completions": http(c, "POST", "/v1/chat/completions", json={
                    "model": "assistant", "messages": [{"role": "user", "content": "Rosatom"}]}),
                "models": http(c, "GET", "/v1/models"),
                "documents": http(c, "GET", "/v1/documents", params={"limit": 1}),
                "document": http(c, "GET", "/v1/documents/000_2f93d0e16d5e9d82.txt"),
                "document_404": http(c, "GET", "/v1/documents/nope"),
                "empty_query": http(c, "POST", "/v1/search", json={"query": ""}),
                "long_question": http(c, "POST", "/v1/ask", json={"question": "x" * 1500}),
                "bad_since": http(c, "POST", "/v1/search",
                                  json={"query": "x", "filters": {"since": "soon"}}),
                "write_without_key": http(c, "POST", "/v1/documents",
                                          json={"id": "a", "text": "b"}),
                "add": http(c, "POST", "/v1/documents", headers=key,
                            json={"id": "a", "text": "Some text about tankers."}),
                "delete": http(c, "DELETE", "/v1/documents/a", headers=key),
                "openapi_paths": sorted(c.get("/openapi.json").json()["paths"]),
            }
    finally:
        stop_server(proc)
    text = json.dumps(res, indent=1, ensure_ascii=False).replace(str(tmp), "<tmp>")
    out.write_text(text, encoding="utf-8")
    print(f"written {out}", file=sys.stderr)


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Every place where `b` differs from `a`: keys, key order, types, values."""
    if type(a) is not type(b):
        return [f"type {path}: {a!r:.120} | {b!r:.120}"]
    if isinstance(a, dict):
        out = [f"keys {path}: {list(a)} | {list(b)}"] if list(a) != list(b) else []
        return out + [d for k in a if k in b for d in differences(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list):
        out = [f"length {path}: {len(a)} | {len(b)}"] if len(a) != len(b) else []
        return out + [d for n, (x, y) in enumerate(zip(a, b)) for d in
                      differences(x, y, f"{path}[{n}]")]
    return [f"value {path}: {a!r:.200} | {b!r:.200}"] if a != b else []


def main() -> None:
    """`capture OUT` or `compare BEFORE AFTER`."""
    if len(sys.argv) == 3 and sys.argv[1] == "capture":
        capture(Path(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        before, after = (json.loads(Path(p).read_text(encoding="utf-8")) for p in sys.argv[2:])
        found = differences(before, after)
        print("\n".join(found) or "no differences")
        sys.exit(1 if found else 0)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
