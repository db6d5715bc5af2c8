"""Ingest end to end with the real model: incremental updates, removal, bad input, atomicity."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from assistant.errors import EmbedderMismatchError, IndexBusyError
from assistant.index import IndexReader, read_manifest, write_lock
from assistant.ingest import ingest, remove
from assistant.search import Retriever

from .conftest import CORPUS, REPO, SEEDS, json_lines, run_cli

pytestmark = pytest.mark.slow
QUESTION = "Who builds the Bushehr nuclear power plant?"


def assert_index_consistent(settings):
    """Every chunk is an exact slice of its document, and FAISS holds exactly the chunk ids."""
    reader = IndexReader(settings.index)
    store = reader.store
    ids = []
    for doc in store.iter_documents():
        for row in store.document_chunks(doc.doc_id):
            assert doc.text[row["char_start"]:row["char_end"]] == row["text"]
            ids.append(row["chunk_id"])
    fts = {r[0] for r in store.conn.execute("SELECT rowid FROM chunks_fts")}
    assert fts == set(ids)
    assert len(reader.vectors) == len(ids)
    for cid in ids:
        reader.vectors.reconstruct(cid)  # raises if a chunk has no vector
    return reader


def test_cli_ingest_then_search_finds_bushehr(tmp_path):
    index = str(tmp_path / "idx")
    done = run_cli("ingest", str(CORPUS), "--index", index, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["documents"] == 2 and summary["skipped"] == 0 and summary["errors"] == []
    assert summary["chunks"] > 2

    found = run_cli("search", "--json", QUESTION, "--index", index)
    assert found.returncode == 0, found.stderr
    results = json.loads(found.stdout)["results"]
    first = results[0]
    assert first["doc_id"] == SEEDS[0] and "Bushehr" in first["text"]
    assert first["section"] == "IRAN"
    stored = (CORPUS / SEEDS[0]).read_text(encoding="utf-8")
    assert stored[first["char_start"]:first["char_end"]] == first["text"]
    for r in results:  # every result slices its own stored document exactly
        text = IndexReader(tmp_path / "idx").store.get_document(r["doc_id"]).text
        assert text[r["char_start"]:r["char_end"]] == r["text"]

    human = run_cli("search", "Rosatom", "--index", index, "-k", "2")
    assert human.returncode == 0 and "HUNGARY" in human.stdout and "Rosatom" in human.stdout


def test_incremental_ingest_skips_updates_and_removes(make_settings, embedder, corpus_copy):
    settings = make_settings()
    first = ingest([corpus_copy], settings=settings, embedder=embedder, progress=False)
    assert (first.documents, first.skipped, first.generation) == (2, 0, 1)

    again = ingest([corpus_copy], settings=settings, embedder=embedder, progress=False)
    assert (again.documents, again.skipped, again.generation) == (0, 2, 1)  # no new generation

    path = corpus_copy / SEEDS[1]
    path.write_text(path.read_text() + "\nBrazil\nBrazil sold coffee to Moscow in record volumes.\n")
    changed = ingest([corpus_copy], settings=settings, embedder=embedder, progress=False)
    assert (changed.documents, changed.skipped, changed.generation) == (1, 1, 2)
    assert changed.reused_vectors >= 1  # untouched chunks of the edited file are not re-embedded
    reader = assert_index_consistent(settings)
    hits = Retriever(reader, embedder, settings).search("Brazil coffee exports to Moscow", k=1)
    assert "coffee" in hits[0].text and hits[0].doc_id == SEEDS[1]

    removed, missing = remove([SEEDS[1], "nope"], settings=settings)
    assert (removed, missing) == ([SEEDS[1]], ["nope"])
    reader = assert_index_consistent(settings)
    assert reader.manifest.counts["documents"] == 1
    store = reader.store
    assert store.get_document(SEEDS[1]) is None
    assert store.bm25("Lukashenko Belarus", 10) == []  # gone from FTS5
    for hit in Retriever(reader, embedder, settings).search("Belarus Lukashenko", k=20, mode="dense"):
        assert hit.doc_id == SEEDS[0]  # gone from FAISS
    leftovers = sorted(p.name for p in settings.index.iterdir())
    assert leftovers == [".lock", "manifest.json", "store.000003.sqlite", "vectors.000003.faiss"]


def test_cli_bad_inputs_exit_2_and_good_files_still_ingested(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "good.txt").write_text("Good News Today\nA ferry crossed the Bosporus at dawn. It carried grain.\n")
    (src / "empty.txt").write_bytes(b"")
    (src / "binary.txt").write_bytes(b"\x00\x01\x02\x03" * 10)
    (src / "latin.txt").write_bytes("na\u00efve caf\u00e9".encode("latin-1"))
    (src / "big.txt").write_bytes(b"")
    with (src / "big.txt").open("wb") as fh:
        fh.truncate(50 * 1024 * 1024)
    (src / "bad.jsonl").write_text('{"id": "j1", "text": "A record about wheat."}\n{oops\n')
    index = tmp_path / "idx"
    out = run_cli("ingest", str(src), str(tmp_path / "missing-dir"), "--index", str(index), "--json")
    assert out.returncode == 2
    summary = json.loads(out.stdout)
    assert summary["documents"] == 2  # good.txt and the good JSONL line
    errs = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errs) == 6, out.stderr
    for name in ("empty.txt", "binary.txt", "latin.txt", "big.txt", "bad.jsonl:2", "missing-dir"):
        assert sum(name in e for e in errs) == 1, (name, errs)
    assert "Traceback" not in out.stderr
    reader = IndexReader(index)
    assert {d.doc_id for d in reader.store.iter_documents()} == {"good.txt", "j1"}
    assert reader.store.get_document("good.txt").title == "Good News Today"

    # Only bad input: nothing is written, the previous generation stays.
    only_bad = run_cli("ingest", str(src / "empty.txt"), "--index", str(index))
    assert only_bad.returncode == 2 and "empty.txt: file is empty" in only_bad.stderr
    assert read_manifest(index).generation == 1


def test_cli_usage_errors(tmp_path):
    no_index = run_cli("search", "anything", "--index", str(tmp_path / "none"))
    assert no_index.returncode == 2 and "no index at" in no_index.stderr
    assert "Traceback" not in no_index.stderr
    bad_size = run_cli("ingest", str(CORPUS), "--index", str(tmp_path / "i"), "--chunk-size", "3")
    assert bad_size.returncode == 2 and "chunk_size" in bad_size.stderr
    bad_date = run_cli("search", "x", "--since", "yesterday", "--index", str(tmp_path / "i"))
    assert bad_date.returncode == 2 and "--since" in bad_date.stderr


def test_embedder_mismatch_is_a_clear_error(make_settings, embedder):
    settings = make_settings()
    ingest([CORPUS], settings=settings, embedder=embedder, progress=False)
    manifest_path = settings.index / "manifest.json"
    data = json.loads(manifest_path.read_text())
    data["embedder"]["model"] = "some-other-model"
    manifest_path.write_text(json.dumps(data))
    with pytest.raises(EmbedderMismatchError, match="some-other-model"):
        ingest([CORPUS], settings=settings, embedder=embedder, progress=False)
    out = run_cli("search", "drones", "--index", str(settings.index))
    assert out.returncode == 2 and "some-other-model" in out.stderr and "ASSISTANT_MODEL" in out.stderr


def test_second_writer_is_refused_while_one_writes(make_settings, embedder):
    settings = make_settings()
    with write_lock(settings.index):
        with pytest.raises(IndexBusyError):
            ingest([CORPUS], settings=settings, embedder=embedder, progress=False)
    assert read_manifest(settings.index) is None


def _big_jsonl(path, n=600):
    rng = np.random.default_rng(0)
    words = ("grain oil gas sanctions pipeline tanker rouble summit treaty drone harbour "
             "election minister border").split()
    with path.open("w") as fh:
        for i in range(n):
            body = " ".join(f"{' '.join(rng.choice(words, 12))}." for _ in range(12))
            fh.write(json.dumps({"id": f"bulk-{i}", "title": f"Bulk {i}", "text": body}) + "\n")


@pytest.mark.parametrize("kill_after", [0.0, 3.0])
def test_killed_ingest_leaves_previous_index_answering(make_settings, embedder, tmp_path, kill_after):
    settings = make_settings()
    ingest([CORPUS], settings=settings, embedder=embedder, progress=False)
    before = [(h.chunk_id, h.text) for h in Retriever(IndexReader(settings.index), embedder, settings)
              .search(QUESTION, k=5)]
    bulk = tmp_path / "bulk.jsonl"
    _big_jsonl(bulk)
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "ingest", str(bulk), "--index", str(settings.index), "-q"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    new_store = settings.index / "store.000002.sqlite"
    deadline = time.monotonic() + 120
    while not new_store.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert new_store.exists(), "the writer never started the next generation"
    time.sleep(kill_after)
    assert proc.poll() is None, "ingest finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    reader = IndexReader(settings.index)
    assert reader.generation == 1 and reader.manifest.counts["documents"] == 2
    after = [(h.chunk_id, h.text) for h in Retriever(reader, embedder, settings).search(QUESTION, k=5)]
    assert after == before
    # The next writer clears the debris and works normally.
    report = ingest([CORPUS / SEEDS[0]], settings=settings, embedder=embedder, progress=False)
    assert report.skipped == 1
    (tmp_path / "one.txt").write_text("A short note about harbour fees.")
    report = ingest([tmp_path / "one.txt"], settings=settings, embedder=embedder, progress=False)
    assert report.generation == 2
    assert sorted(p.name for p in settings.index.iterdir() if p.name.startswith("store")) == [
        "store.000002.sqlite"]
    assert_index_consistent(settings)


def test_batch_search_from_stdin(seeds_index):
    lines = "\n".join([
        "Who builds the Bushehr nuclear power plant?",
        json.dumps({"id": "q-2", "query": "closest regional ally"}),
        "",
        json.dumps({"id": "q-3", "question": "Rosatom"}),
    ])
    out = run_cli("search", "--json", "-", "--index", str(seeds_index.index), "-k", "3", input=lines)
    assert out.returncode == 0, out.stderr
    rows = json_lines(out.stdout)
    assert [r["id"] for r in rows] == [1, "q-2", "q-3"]
    assert all(len(r["results"]) == 3 for r in rows)
    assert "Bushehr" in rows[0]["results"][0]["text"]
    assert "Belarus" in rows[1]["results"][0]["text"]
    assert rows[1]["results"][0]["rank"] == 1 and set(rows[1]["results"][0]) >= {
        "rank", "score", "chunk_id", "doc_id", "source", "title", "section", "char_start",
        "char_end", "text"}


def test_an_index_keeps_its_chunk_settings_for_later_plain_ingests(tmp_path):
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    words = " ".join(f"Sentence number {i} talks about the harbour of Varna." for i in range(30))
    first.write_text("Harbour\n" + words + "\n", encoding="utf-8")
    second.write_text("Metro\n" + words.replace("harbour of Varna", "metro of Sofia") + "\n",
                      encoding="utf-8")
    index = str(tmp_path / "index")
    built = run_cli("ingest", str(first), "--index", index, "-q",
                    env={"ASSISTANT_CHUNK_SIZE": "40"})
    assert built.returncode == 0, built.stderr
    plain = run_cli("ingest", str(second), "--index", index, "--json")  # no chunk settings given
    assert plain.returncode == 0, plain.stderr
    status = json.loads(run_cli("status", "--index", index, "--json").stdout)
    assert status["chunker"]["size"] == 40 and status["counts"]["documents"] == 2
    hits = json.loads(run_cli("search", "metro of Sofia", "--index", index, "--json",
                              "-k", "20").stdout)["results"]
    assert hits and all(len(h["text"].split()) <= 40 for h in hits)
    named = run_cli("ingest", str(second), "--index", index, "--chunk-size", "100")
    assert named.returncode != 0 and "was chunked with" in named.stderr
