"""A document with no sentence break: how it is chunked, and what search and ask cost on it.

    .venv/bin/python bench/unbroken.py [--words 300000]

Writes one JSONL record of --words words and no punctuation (about 8.5 bytes a word), ingests it
with `assistant ingest` into a temp index, then runs `assistant search word -k 10` and
`assistant ask word` the way a user would. Prints one JSON line: chunks, the largest search hit,
the ask's own timings and the length of each quote it returned.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def cli(*args: str) -> tuple[dict, float]:
    """Run `python -m assistant ARGS --json`; (its JSON, wall seconds)."""
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "assistant", *args, "--json"], cwd=REPO,
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return json.loads(run.stdout.splitlines()[-1]), time.perf_counter() - started


def main() -> None:
    """Build the record, ingest it, search and ask, and report."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--words", type=int, default=300_000)
    args = ap.parse_args()
    rng = random.Random(1)
    words = ["grain", "tanker", "port", "wheat", "freight", "convoy", "harbour", "cargo"]
    text = " ".join(f"{rng.choice(words)}{i % 97}" for i in range(args.words))
    with tempfile.TemporaryDirectory(prefix="assistant-unbroken-") as tmp:
        feed = Path(tmp) / "feed.jsonl"
        feed.write_text(json.dumps({"id": "ledger", "title": "Ledger", "text": text}) + "\n",
                        encoding="utf-8")
        index = str(Path(tmp) / "index")
        ingested, _ = cli("ingest", str(feed), "--index", index, "--quiet")
        found, _ = cli("search", "word", "-k", "10", "--index", index)
        answer, ask_wall = cli("ask", "word", "--index", index)
    quotes = answer["quotes"] + answer["related"]
    print(json.dumps({
        "document_chars": len(text), "chunks": ingested["chunks"],
        "ingest_seconds": ingested["seconds"],
        "largest_hit_chars": max(len(h["text"]) for h in found["results"]),
        "ask_timings_ms": answer["timings_ms"], "ask_wall_seconds": round(ask_wall, 2),
        "quote_chars": [len(q["text"]) for q in quotes]}))


if __name__ == "__main__":
    main()
