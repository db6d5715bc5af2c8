"""What `ask` costs beside `search`, one question at a time, on an index you built.

    .venv/bin/python bench/ask.py --index INDEX --questions QUESTIONS.jsonl [--limit 200]
                                  [--as-of-date]

QUESTIONS.jsonl: one object a line with a `question` field (RealTimeQA's questions.jsonl, the
seed questions). Each question is searched and asked in turn through one `Service` without the
embedding cache (so every query is embedded), after the keyword postings are read into memory
(a long-running server's steady state) and a warm-up of 5 questions. Prints one JSON
line: p50/p90/p99 of search and ask in ms, the ask/search ratio at p50, and where ask's time goes
(evidence vs total, from the answer's own timings).

--as-of-date: each question is also asked with an `until` filter of its `date` field (as of
that day), twice in turn: with the live generation keeping its recent filters' chunk ids (the
default) and with it reading them every time (`FILTERS_KEPT` = 0); their p50s side by side.
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
from assistant.index import store as store_module  # noqa: E402
from assistant.models import Filters  # noqa: E402
from assistant.service import Service  # noqa: E402


def pct(values: list[float], q: float) -> float:
    """The q-th quantile of the values (nearest rank)."""
    values = sorted(values)
    return round(values[min(len(values) - 1, int(len(values) * q))], 2)


def steady_service(index: Path) -> tuple[Service, bool]:
    """A Service on the index without the embedding cache (so every query is embedded), with
    the keyword postings and stored sentences read; whether keyword search runs from memory."""
    service = Service(load_settings(index=index), cache=False).load()
    # A server reads its keyword postings into memory once its FTS5 searches have taken ~10 s,
    # which these questions alone would not reach: read them now, to time the steady state.
    with service.index.lease(service.model()) as gen:
        store = getattr(gen.reader, "store", None)  # PostgreSQL's has no postings to read
        memory = bool(getattr(store, "read_postings", lambda: False)())
        getattr(store, "read_sentences", lambda: False)()  # read the same way, sooner
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


def time_dated(service: Service, rows: list[dict]) -> dict[str, float]:
    """p50 ms of ask as of each question's date, with the filters' chunk ids kept and not."""
    kept_default = store_module.FILTERS_KEPT
    kept, read = [], []
    with service.index.lease(service.model()) as gen:
        store = gen.reader.store
    held = getattr(store, "_allowed", None)  # PostgreSQL's store keeps none
    for row in rows:
        filters = Filters.create(until=row["date"][:10])
        for n, out in ((kept_default, kept), (0, read)):
            # The reading turn gets an empty memory of its own, so the kept one stays warm.
            store_module.FILTERS_KEPT = n
            if held is not None:
                store._allowed = held if n else type(held)()
            t = time.perf_counter()
            service.ask(row["question"], filters=filters)
            out.append((time.perf_counter() - t) * 1000)
    store_module.FILTERS_KEPT = kept_default
    if held is not None:
        store._allowed = held
    return {"ask_dated_p50_ms": pct(kept, 0.5), "ask_dated_reading_ids_p50_ms": pct(read, 0.5),
            "reading_over_kept_p50": round(pct(read, 0.5) / max(pct(kept, 0.5), 1e-9), 2)}


def main() -> None:
    """Time search and ask over the questions and print the summary."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--questions", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=200)
    ap.add_argument("--as-of-date", action="store_true",
                    help="also time ask as of each question's date (its `date` field)")
    args = ap.parse_args()
    rows = [json.loads(line) for line in
            args.questions.read_text(encoding="utf-8").splitlines() if line.strip()][: args.limit]
    questions = [r["question"] for r in rows]
    service, memory = steady_service(args.index)
    search, ask, evidence = time_questions(service, questions)
    dated = time_dated(service, [r for r in rows if r.get("date")]) if args.as_of_date else {}
    print(json.dumps({
        "questions": len(questions), "index": str(args.index), "keyword_memory": memory,
        "search_ms": {"p50": pct(search, 0.5), "p90": pct(search, 0.9), "p99": pct(search, 0.99)},
        "ask_ms": {"p50": pct(ask, 0.5), "p90": pct(ask, 0.9), "p99": pct(ask, 0.99)},
        "ask_evidence_p50_ms": pct(evidence, 0.5),
        "ask_over_search_p50": round(pct(ask, 0.5) / max(pct(search, 0.5), 1e-9), 2),
        **dated,
    }))
    service.close()


if __name__ == "__main__":
    main()
