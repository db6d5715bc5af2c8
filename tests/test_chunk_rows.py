"""A live generation keeps the chunk rows it has read (it never changes): the same rows as
SQLite gives, no statement for a kept one, bounded, and none kept while a store is written."""

from pathlib import Path
from typing import Any

from assistant.index import store as store_module
from assistant.index.store import Store
from assistant.ingest import Chunker
from assistant.models import Document


def build(path: Path) -> list[int]:
    """A store of three documents' chunks; their ids."""
    store = Store(path, readonly=False)
    chunker = Chunker(size=16, overlap=0)
    for n, doc_id in enumerate(("a", "b", "c")):
        doc = Document(doc_id=doc_id, text=f"Sentence {n} goes on and on. " * 20,
                       source=f"{doc_id}.txt", title=f"Title {doc_id}")
        chunks = chunker.split(doc)
        store.add_document(doc, chunks, [f"{doc_id}.{c.ordinal}" for c in chunks])
    store.commit()
    ids = [r[0] for r in store._q("SELECT chunk_id FROM chunks ORDER BY chunk_id")]
    store.close()
    return ids


def counting(store: Store) -> list[list[int]]:
    """Record the ids each SQLite read of chunk rows asks for."""
    asked: list[list[int]] = []
    read = store._read_chunks

    def spy(ids: list[int]) -> Any:
        asked.append(list(ids))
        return read(ids)

    store._read_chunks = spy  # type: ignore[method-assign]
    return asked


def test_kept_rows_are_those_sqlite_gives_and_cost_no_statement(tmp_path: Path) -> None:
    ids = build(tmp_path / "s.sqlite")
    assert len(ids) > 6
    store = Store(tmp_path / "s.sqlite", readonly=True)
    asked = counting(store)
    first = store.chunks(ids[:4])
    again = store.chunks([ids[3], ids[0], ids[5], 10**9])  # kept, kept, new, no such chunk
    assert asked == [ids[:4], [ids[5], 10**9]]
    fresh = Store(tmp_path / "s.sqlite", readonly=True).chunks(ids)
    for cid, row in {**first, **again}.items():
        assert tuple(row) == tuple(fresh[cid]) and row["text"]
    assert 10**9 not in again
    store.close()
    assert store._rows == {}


def test_kept_rows_are_bounded(tmp_path: Path, monkeypatch: Any) -> None:
    ids = build(tmp_path / "s.sqlite")
    monkeypatch.setattr(store_module, "CHUNK_ROWS_KEPT", 5)
    store = Store(tmp_path / "s.sqlite", readonly=True)
    store.chunks(ids[:4])
    assert len(store._rows) == 4
    store.chunks(ids[4:7])  # 4 + 3 > 5: start afresh
    assert sorted(store._rows) == ids[4:7]
    assert set(store.chunks(ids[:7])) == set(ids[:7])


def test_a_store_being_written_keeps_no_rows(tmp_path: Path) -> None:
    ids = build(tmp_path / "s.sqlite")
    store = Store(tmp_path / "s.sqlite", readonly=False)
    asked = counting(store)
    store.chunks(ids[:2])
    store.chunks(ids[:2])
    assert asked == [ids[:2], ids[:2]] and store._rows == {}
    store.close()
