"""A live generation's stored sentences held in memory: the same spans and vectors as SQLite
gives, read once reading them from SQLite has cost as much, within a bound, stopped by close."""

import logging
import random
import sqlite3
import time
from pathlib import Path

import numpy as np

from assistant.index import store as store_module
from assistant.index.sentences import SentenceVectors
from assistant.index.store import Store
from assistant.ingest import Chunker
from assistant.models import Document

from .test_lexical import close_while_reading, hang, open_files

DIM = 8


def build(path: Path) -> tuple[Path, list[tuple[str, int, int]]]:
    """A store holding only sentences (vectors made up: this is about finding them), and the
    chunk-like ranges to look them up by. Document b holds a sentence inside another and one
    that reaches past the next one's start, as a store can (sentence spans are not re-split)."""
    rng = np.random.default_rng(3)
    store = Store(path, readonly=False)
    chunker = Chunker(size=16, overlap=0)
    for doc_id in ("a", "b", "c-\u00e9"):  # documents too: the read's budget counts chunks
        doc = Document(doc_id=doc_id, text="Word after word. " * 30, source=f"{doc_id}.txt")
        chunks = chunker.split(doc)
        store.add_document(doc, chunks, [f"{doc_id}.{c.ordinal}" for c in chunks])
    spans = {
        "a": [(0, 40), (41, 90), (91, 150), (151, 152), (153, 300)],
        "b": [(0, 100), (50, 60), (101, 180), (170, 250), (251, 400)],
        "c-\u00e9": [(5, 25)],
    }
    for doc, mine in spans.items():
        store.add_sentences(doc, mine, rng.normal(size=(len(mine), DIM)).astype(np.float32))
    store.commit()
    store.close()
    ranges = [(d, s, e) for d, mine in spans.items() for s, _ in mine for e in (150, 180, 10**6)
              if s < e]
    ranges += [("a", 0, 10**6), ("a", 41, 90), ("a", 42, 89), ("b", 50, 100), ("b", 0, 60),
               ("b", 101, 250), ("b", 100, 251), ("missing", 0, 100), ("a", 500, 600),
               ("c-\u00e9", 0, 25), ("a", 0, 0)]
    return path, ranges


def same(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for key in a:
        assert a[key][0] == b[key][0], key
        assert a[key][1].dtype == b[key][1].dtype and np.array_equal(a[key][1], b[key][1]), key


def test_sentences_from_memory_are_those_sqlite_gives(tmp_path: Path, monkeypatch):
    path, ranges = build(tmp_path / "s.sqlite")
    monkeypatch.setattr(store_module, "SENTENCE_READ_SECONDS_PER_CHUNK", 3600.0)  # none read yet
    store = Store(path, readonly=True)
    rng = random.Random(5)
    batches = [ranges, ranges[::-1], [ranges[0], ranges[0]], []]
    batches += [rng.sample(ranges, 7) for _ in range(20)]
    from_sql = [store.sentences(b) for b in batches]
    assert store._sentences is None
    assert store.read_sentences() is True
    for b, was in zip(batches, from_sql, strict=True):
        same(store.sentences(b), was)
    got = store.sentences([("b", 0, 100), ("b", 100, 251), ("missing", 0, 100)])
    assert got[("b", 0, 100)][0] == [(0, 100), (50, 60)]  # a sentence inside another
    assert got[("b", 100, 251)][0] == [(101, 180), (170, 250)]
    assert got[("missing", 0, 100)][0] == [] and got[("missing", 0, 100)][1].shape == (0, 0)
    held = store._sentences
    assert len(held) == 11 and held.codes.dtype == np.int8 and held.nbytes > 11 * DIM
    store.close()
    assert store._sentences is None


def test_sentences_are_read_once_sqlite_has_cost_as_much(tmp_path: Path, monkeypatch):
    path, ranges = build(tmp_path / "s.sqlite")
    monkeypatch.setattr(store_module, "SENTENCE_READ_SECONDS_PER_CHUNK", 3600.0)
    costly = Store(path, readonly=True)  # reading them all would cost more than these did
    for _ in range(5):
        costly.sentences(ranges)
    time.sleep(0.2)
    assert costly._sentences is None and 0 < costly._sentence_seconds < costly._sentence_budget
    costly.close()

    monkeypatch.setattr(store_module, "SENTENCE_READ_SECONDS_PER_CHUNK", 1e-12)
    store = Store(path, readonly=True)
    before = store.sentences(ranges)
    deadline = time.monotonic() + 10
    while store._sentences is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store._sentences is not None
    spent = store._sentence_seconds
    same(store.sentences(ranges), before)
    assert store._sentence_seconds == spent  # from memory
    store.close()


def test_sentences_stay_in_sqlite_over_the_bound_off_or_while_written(tmp_path: Path, caplog):
    path, ranges = build(tmp_path / "s.sqlite")
    for mb in (0.0, 1e-6):  # off, and less memory allowed than they need
        small = Store(path, readonly=True, sentence_memory_mb=mb)
        with caplog.at_level(logging.INFO, logger="assistant"):
            assert small.read_sentences() is False
        small.sentences(ranges)
        assert small._sentences is None
        small.close()
    assert "ASSISTANT_SENTENCE_MEMORY_MB" in caplog.text
    writer = Store(tmp_path / "w.sqlite", readonly=False)
    assert writer._sentence_mb == 0 and writer.read_sentences() is False
    writer.close()


def test_close_stops_a_sentence_read_under_way(tmp_path: Path, monkeypatch):
    # A writer replaces a generation while its sentences are being read: the read must stop
    # and let go of the file, not hold it open until it ends.
    path, ranges = build(tmp_path / "s.sqlite")
    monkeypatch.setattr(store_module, "SENTENCE_READ_SECONDS_PER_CHUNK", 1e-12)
    started = []
    real_read = SentenceVectors.read

    def slow_read(conn: sqlite3.Connection) -> SentenceVectors:
        hang(conn, started)
        return real_read(conn)

    monkeypatch.setattr(store_module.SentenceVectors, "read", staticmethod(slow_read))
    store = Store(path, readonly=True)
    store.sentences(ranges)
    close_while_reading(store, started, "sentences")
    assert store._sentences is None
    assert open_files(path) == 0
