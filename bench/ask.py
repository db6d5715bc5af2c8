"""What `ask` costs beside `search`, one question at a time, on an index you built.

    .venv/bin/python bench/ask.py --index INDEX --questions QUESTIONS.jsonl [--limit 200]

QUESTIONS.jsonl: one object a line with a `question` field (RealTimeQA's questions.jsonl, the
seed questions). Each question is searched and asked in turn through one `Service` without the
embedding cache (so every query is embedded), after the keyword postings are read into memory
(a long-running server's steady state) and a warm-up of 5 questions. Prints one JSON
line: p50/p90/p99 of search and ask in ms, the ask/search ratio at p50, and where ask's time goes
(evidence vs total, from the answer's own timings).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.config import load_settings  # noqa: E402
from assistant.service import Service  # noqa: E402


def pct(values: list[float], q: float) -> float:
    """The q-th quantile of the values (nearest rank)."""
    values = sorted(values)
    return round(values[min(len(values) - 1, int(len(values) * q))], 2)


def steady_service(index: Path) -> tuple[Service, bool]:
    """A Service on the index without the embedding cache (so every query is embedded), with
    the keyword postings read; whether keyword search runs from memory."""
    service = Service(load_settings(index=index), cache=False).load()
    # A server reads its keyword postings into memory once its FTS5 searches have taken ~10 s,
    # which these questions alone would not reach: read them now, to time the steady state.
    with service.index.lease(service.model()) as gen:
        store = getattr(gen.reader, "store", None)  # PostgreSQL's has no postings to read
        memory = bool(getattr(store, "read_postings", lambda: False)())
    return service, memory


def time_questions(service: Service, questions: list[str]
                   ) -> tuple[list[float], list[float], list[float]]:
    """Milliseconds of search, of ask and of ask's evidence step for each question in turn,
    after 5 untimed warm-up questions."""
    for q in questions[:5]:
        service.ask(q)
    search, ask, evidence = [], [], []
    for q in questions:
        t = time.perf_counter()
        service.search(q)
        search.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        answer = service.ask(q)
        ask.append((time.perf_counter() - t) * 1000)
        evidence.append(answer.timings_ms.get("evidence", 0.0))
    return search, ask, evidence


def main() -> None:
    """Time search and ask over the questions and print the summary."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--questions", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=200)
    args = ap.parse_args()
    questions = [json.loads(line)["question"] for line in
                 args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = questions[: args.limit]
    service, memory = steady_service(args.index)
    search, ask, evidence = time_questions(service, questions)
    print(json.dumps({
        "questions": len(questions), "index": str(args.index), "keyword_memory": memory,
        "search_ms": {"p50": pct(search, 0.5), "p90": pct(search, 0.9), "p99": pct(search, 0.99)},
        "ask_ms": {"p50": pct(ask, 0.5), "p90": pct(ask, 0.9), "p99": pct(ask, 0.99)},
        "ask_evidence_p50_ms": pct(evidence, 0.5),
        "ask_over_search_p50": round(pct(ask, 0.5) / max(pct(search, 0.5), 1e-9), 2),
    }))
    service.close()


if __name__ == "__main__":
    main()
