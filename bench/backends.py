"""The two index backends side by side, in one run on this machine.

    .venv/bin/python bench/backends.py [--docs 300 | --chunks 100000] [--vectors 100000]
        [--ray ADDRESS] [--ingest local,ray1,ray2,postgres]

1. Ingest throughput on the same news articles (the first --docs of the 2023 archive, or about
   --chunks chunks' worth of it, the archive again and again as bench/growth.py writes it): the
   embedded index embedding locally, the same embedding on Ray with 1 and 2 workers (a local
   two-node cluster is started unless --ray names one), and PostgreSQL + pgvector as the store.
2. Vector search over --vectors chunk vectors (the ingested chunks' real vectors, extended with
   noisy copies of them to reach the count): FAISS flat (exact; the embedded default is fp16) against
   pgvector HNSW (m 16, ef_construction 64) at two ef_search settings: p50/p99 of one query at a
   time, recall@10 against the exact neighbours, and bytes per vector on disk.
3. Disk per chunk of the embedded index (SQLite + FAISS files) and of the PostgreSQL schema
   (`pg_total_relation_size` of its tables, split by what they hold), after the same ingest.
4. Answers on the seed sets: every seeds question asked of both stores; the quotes must match.

PostgreSQL comes from pgserver (started in a temporary folder). Prints a Markdown table on
stderr and one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from _common import percentile  # noqa: E402

from assistant.config import load_settings  # noqa: E402
from assistant.embedding import load_embedder  # noqa: E402
from assistant.ingest import ingest  # noqa: E402
from assistant.index import open_backend  # noqa: E402
from assistant.service import Service  # noqa: E402


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_ray(temp: Path) -> tuple[str, str]:
    """A local two-node cluster (one CPU a node); returns (address, ray command)."""
    ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
    port = _port()
    common = ["--num-cpus", "1", "--disable-usage-stats", "--object-store-memory",
              str(500 * 2**20), "--node-ip-address", "127.0.0.1"]
    subprocess.run([ray, "start", "--head", "--port", str(port), "--include-dashboard=false",
                    f"--temp-dir={temp}", *common], check=True, capture_output=True)
    subprocess.run([ray, "start", "--address", f"127.0.0.1:{port}", *common], check=True,
                   capture_output=True)
    return f"127.0.0.1:{port}", ray


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def sample(articles: Path, n: int, out: Path) -> Path:
    """The first n articles as their own JSONL file."""
    with articles.open(encoding="utf-8") as f, out.open("w", encoding="utf-8") as g:
        for i, line in enumerate(f):
            if i >= n:
                break
            g.write(line)
    return out


# Each ingest variant's key in the JSON and its row in the table.
INGEST_NAMES = {"embedded_local": "embedded index, local embedding",
                "embedded_ray_1_worker": "embedded index, Ray, 1 worker",
                "embedded_ray_2_workers": "embedded index, Ray, 2 workers",
                "postgres_local": "PostgreSQL + pgvector, local embedding"}


def timed_ingest(name: str, path: Path, settings, embedder, **kw) -> dict:
    t = time.perf_counter()
    report = ingest([path], settings=settings, embedder=embedder, progress=False, **kw)
    s = time.perf_counter() - t
    out = {"documents": report.documents, "chunks": report.chunks, "seconds": round(s, 1),
           "chunks_per_s": round(report.chunks / s, 1)}
    # A long run's parts as they finish, so a stopped run still tells what it measured.
    print(f"{INGEST_NAMES[name]}: {json.dumps(out)}", file=sys.stderr, flush=True)
    return out


def chunk_vectors(settings) -> np.ndarray:
    reader = open_backend(settings).reader()
    try:
        ids = [r["chunk_id"] for d in reader.store.iter_documents()
               for r in reader.store.document_chunks(d.doc_id)]
        return np.vstack([reader.vectors.reconstruct(i) for i in ids]).astype(np.float32)
    finally:
        reader.close()


def extend(base: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n unit vectors: the real ones, then noisy copies of random real ones."""
    extra = max(0, n - len(base))
    picks = base[rng.integers(0, len(base), extra)]
    noisy = picks + rng.normal(0, 0.03, picks.shape).astype(np.float32)
    out = np.vstack([base, noisy])[:n]
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def vector_search(vecs: np.ndarray, queries: np.ndarray, url: str) -> dict:
    import faiss
    import psycopg
    from pgvector.psycopg import register_vector

    faiss.omp_set_num_threads(1)
    flat = faiss.IndexFlatIP(vecs.shape[1])
    flat.add(vecs)
    times, exact = [], []
    for q in queries:
        t = time.perf_counter()
        _, ids = flat.search(q[None, :], 10)
        times.append((time.perf_counter() - t) * 1000)
        exact.append(set(ids[0].tolist()))
    out = {"vectors": len(vecs), "queries": len(queries),
           "faiss_flat": {"p50_ms": round(percentile(times, 50), 2),
                          "p99_ms": round(percentile(times, 99), 2), "recall@10": 1.0,
                          "bytes_per_vector": vecs.shape[1] * 4 + 8}}
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    register_vector(conn)
    conn.execute("DROP TABLE IF EXISTS bench_vectors")
    conn.execute("CREATE TABLE bench_vectors (id BIGINT PRIMARY KEY, "
                 f"embedding VECTOR({vecs.shape[1]}))")
    t = time.perf_counter()
    with conn.cursor() as cur, cur.copy("COPY bench_vectors (id, embedding) FROM STDIN WITH "
                                        "(FORMAT BINARY)") as copy:
        copy.set_types(["int8", "vector"])
        for i, v in enumerate(vecs):
            copy.write_row((i, v))
    loaded = time.perf_counter() - t
    t = time.perf_counter()
    conn.execute("CREATE INDEX ON bench_vectors USING hnsw (embedding vector_ip_ops) "
                 "WITH (m = 16, ef_construction = 64)")
    built = time.perf_counter() - t
    size = conn.execute("SELECT pg_total_relation_size('bench_vectors')").fetchone()[0]
    for ef in (40, 200):
        conn.execute(f"SET hnsw.ef_search = {ef}")
        times, hits = [], 0
        for q, want in zip(queries, exact, strict=True):
            t = time.perf_counter()
            rows = conn.execute("SELECT id FROM bench_vectors ORDER BY embedding <#> %s LIMIT 10",
                                (q,)).fetchall()
            times.append((time.perf_counter() - t) * 1000)
            hits += len(want & {r[0] for r in rows})
        out[f"pgvector_hnsw_ef{ef}"] = {
            "p50_ms": round(percentile(times, 50), 2), "p99_ms": round(percentile(times, 99), 2),
            "recall@10": round(hits / (10 * len(queries)), 4),
            "bytes_per_vector": round(size / len(vecs)), "load_s": round(loaded, 1),
            "hnsw_build_s": round(built, 1)}
    conn.execute("DROP TABLE bench_vectors")
    conn.close()
    return out


def disk(local, url: str, schema: str) -> dict:
    """Bytes per chunk of each store after the same ingest."""
    import psycopg

    files = {p.name.split(".")[0]: p.stat().st_size for p in Path(local.index).iterdir()
             if p.name.startswith(("store.", "vectors."))}
    with psycopg.connect(url, autocommit=True) as conn:
        sizes = {t: conn.execute("SELECT pg_total_relation_size(%s)", (f"{schema}.{t}",))
                 .fetchone()[0] for t in ("chunks", "documents", "sentences", "words",
                                           "chunk_words", "fact_checks", "conversations")}
        hnsw, gin = conn.execute("SELECT pg_relation_size(%s), pg_relation_size(%s)",
                                 (f"{schema}.chunks_embedding", f"{schema}.chunks_tsv")).fetchone()
        n = conn.execute(f'SELECT count(*) FROM "{schema}".chunks').fetchone()[0]
    per = {k: round(v / n) for k, v in sizes.items()}
    return {"chunks": n,
            "embedded_bytes_per_chunk": {k: round(v / n) for k, v in files.items()} | {
                "total": round(sum(files.values()) / n)},
            "postgres_bytes_per_chunk": per | {"of_chunks_hnsw": round(hnsw / n),
                                               "of_chunks_gin": round(gin / n),
                                               "total": round(sum(sizes.values()) / n)}}


def seeds_answers(eval_dir: Path, seeds: Path, url: str, embedder, tmp: Path) -> dict:
    files = load_settings(index=tmp / "seeds-files")
    pg = load_settings(database_url=url, database_schema="bench_seeds")
    for s in (files, pg):
        ingest([seeds], settings=s, embedder=embedder, progress=False)
    a, b = Service(files, embedder).load(), Service(pg, embedder).load()
    questions = [json.loads(x)["question"] for x in (eval_dir / "seeds-questions.jsonl")
                 .read_text(encoding="utf-8").splitlines() if x.strip()]
    same = 0
    for q in questions:
        x, y = a.ask(q), b.ask(q)
        same += (x.abstained == y.abstained and [c.text for c in x.quotes]
                 == [c.text for c in y.quotes])
    return {"questions": len(questions), "identical_quotes": same}


def table(result: dict) -> str:
    """The run as Markdown tables: ingest rows, vector-search rows, seeds."""
    rows = ["| ingest | documents | chunks | seconds | chunks/s |",
            "| --- | --- | --- | --- | --- |"]
    for key, r in result["ingest"].items():
        rows.append(f"| {INGEST_NAMES[key]} | {r['documents']:,} | {r['chunks']:,} | "
                    f"{r['seconds']} | {r['chunks_per_s']} |")
    search = result["search"]
    rows += ["", f"| vector search, {search['vectors']:,} vectors, {search['queries']} queries "
             "| p50 ms | p99 ms | recall@10 | bytes/vector |", "| --- | --- | --- | --- | --- |"]
    for key, r in search.items():
        if isinstance(r, dict):
            label = ("FAISS flat (exact)" if key == "faiss_flat" else
                     f"pgvector HNSW, ef_search {key.removeprefix('pgvector_hnsw_ef')}")
            rows.append(f"| {label} | {r['p50_ms']} | {r['p99_ms']} | {r['recall@10']:.3f} | "
                        f"{r['bytes_per_vector']:,} |")
    if "disk" in result:
        d = result["disk"]
        rows += ["", f"disk per chunk: embedded {d['embedded_bytes_per_chunk']['total']:,} B, "
                 f"PostgreSQL {d['postgres_bytes_per_chunk']['total']:,} B"]
    seeds = result["seeds_answers"]
    rows += ["", f"seeds questions with identical quotes on both stores: "
             f"{seeds['identical_quotes']} / {seeds['questions']}"]
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--eval", type=Path, default=REPO.parent / "shared" / "eval")
    ap.add_argument("--seeds", type=Path, default=REPO.parent / "shared" / "seeds")
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--docs", type=int, default=300, help="articles ingested by each variant")
    size.add_argument("--chunks", type=int,
                      help="instead of --docs: about this many chunks of articles, the archive "
                      "repeated with paragraphs shuffled (as bench/growth.py writes it)")
    ap.add_argument("--vectors", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--ray", help="an existing Ray cluster's address (else a local one)")
    ap.add_argument("--ingest", default="local,ray1,ray2,postgres",
                    help="ingest variants to time (each takes about 30 minutes for 100k chunks "
                    "on 2 cores with VNNI, an hour without)")
    args = ap.parse_args()
    variants = {v.strip() for v in args.ingest.split(",") if v.strip()}
    unknown = variants - {"local", "ray1", "ray2", "postgres"}
    if unknown or "local" not in variants:
        ap.error("--ingest lists local (always: the other parts read its index) and any of "
                 f"ray1, ray2, postgres; got {args.ingest!r}")

    import pgserver

    tmp = Path(tempfile.mkdtemp(prefix="bench-backends-"))
    srv = pgserver.get_server(tmp / "pg", cleanup_mode="stop")
    url = srv.get_uri()
    ray_cmd = None
    try:
        address = args.ray
        if address is None and variants & {"ray1", "ray2"}:
            address, ray_cmd = start_ray(tmp / "ray")
        embedder = load_embedder(load_settings())
        articles = args.eval / "realtimeqa-2023q1" / "articles.jsonl"
        if args.chunks:
            from growth import write_corpus

            source = [json.loads(x) for x in articles.read_text(encoding="utf-8").splitlines()
                      if x.strip()]
            data = tmp / "articles.jsonl"
            write_corpus(source, args.chunks, data)
        else:
            data = sample(articles, args.docs, tmp / "articles.jsonl")
        local = load_settings(index=tmp / "local")
        pg_ingest = load_settings(database_url=url, database_schema="bench_ingest")
        runs = [("local", "embedded_local", local, {}),
                ("ray1", "embedded_ray_1_worker", load_settings(index=tmp / "r1"),
                 {"ray_address": address, "ray_workers": 1}),
                ("ray2", "embedded_ray_2_workers", load_settings(index=tmp / "r2"),
                 {"ray_address": address, "ray_workers": 2}),
                ("postgres", "postgres_local", pg_ingest, {})]
        result: dict = {"ingest": {name: timed_ingest(name, data, settings, embedder, **kw)
                                   for variant, name, settings, kw in runs
                                   if variant in variants}}
        if "postgres" in variants:
            result["disk"] = disk(local, url, "bench_ingest")
        rng = np.random.default_rng(0)
        base = chunk_vectors(local)
        vecs = extend(base, args.vectors, rng)
        queries = extend(base, len(base) + args.queries, rng)[len(base):]
        result["search"] = vector_search(vecs, queries, url)
        result["seeds_answers"] = seeds_answers(args.eval, args.seeds, url, embedder, tmp)
        result["machine"] = {"cpus": os.cpu_count(), "cpu": _cpu_model()}
        print(table(result), file=sys.stderr)
        print(json.dumps(result, indent=1))
    finally:
        if ray_cmd:
            subprocess.run([ray_cmd, "stop", "--force"], capture_output=True)
        srv.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
