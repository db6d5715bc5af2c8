"""A server's heap: long-lived objects left out of collections once loaded (without leaking a
cycle for good), young ones collected less often, and the index telling when it has read a
generation into memory."""

import gc
import sys
import weakref
from pathlib import Path

import pytest

from assistant.index import after_memory_reads
from assistant.index import store as store_module
from assistant.index.store import Store
from assistant.service import memory

from .test_sentence_memory import build


class Node:
    """Something a cycle can be made of (and a weak reference can watch)."""

    other: "Node | None" = None


def test_settle_freezes_survivors_and_frees_a_frozen_cycle_at_the_next(monkeypatch):
    monkeypatch.setattr(memory, "_next_settle", 0.0)
    a, b = Node(), Node()
    a.other, b.other = b, a  # only the cycle collector can free these
    watch = weakref.ref(a)
    try:
        assert memory.settle()
        assert gc.get_freeze_count() > 0
        assert not memory.settle()  # too soon: a settle costs a full collection
        del a, b
        gc.collect()
        assert watch() is not None  # frozen: collections leave it alone
        monkeypatch.setattr(memory, "_next_settle", 0.0)
        assert memory.settle()
        assert watch() is None  # the next settle unfroze and collected it
    finally:
        gc.unfreeze()


@pytest.mark.usefixtures("untuned")  # CPython's defaults, whatever ran before
def test_tuning_for_serving_collects_young_objects_less_often_and_switches_sooner():
    memory.tune_for_serving()
    assert gc.get_threshold() == (memory.GC_YOUNG_THRESHOLD, 10, 10)
    assert memory.GC_YOUNG_THRESHOLD > 700
    assert sys.getswitchinterval() == memory.SWITCH_INTERVAL_S < 0.005


def test_the_index_tells_when_it_has_read_a_generation_into_memory(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(store_module, "_AFTER_MEMORY_READS", [])
    calls = []

    def hook() -> None:
        calls.append("read")

    def broken() -> None:
        raise RuntimeError("a hook's failure must not undo the read")

    after_memory_reads(hook)
    after_memory_reads(hook)  # once each
    after_memory_reads(broken)
    path, _ = build(tmp_path / "s.sqlite")
    store = Store(path, readonly=True)
    try:
        assert calls == []
        assert store.read_sentences() and calls == ["read"]
        assert store.read_postings() and calls == ["read", "read"]
        assert store.read_sentences() and calls == ["read", "read"]  # read already: no more
    finally:
        store.close()


@pytest.mark.usefixtures("untuned")
def test_a_starting_server_tunes_its_heap_and_settles_once_loaded(seeds_index, embedder,
                                                                  monkeypatch):
    """`Service.start` (what a server calls) tunes the collector, settles after loading, and has
    the index settle after its reads into memory; a command's `load` does none of it."""
    import time

    from assistant.service import Service

    monkeypatch.setattr(memory, "_next_settle", 0.0)
    service = Service(seeds_index, embedder)
    try:
        service.load()
        assert gc.get_freeze_count() == 0 and gc.get_threshold()[0] == 700
        service.start()
        deadline = time.monotonic() + 120
        while gc.get_freeze_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert gc.get_freeze_count() > 0  # settled after loading
        assert gc.get_threshold()[0] == memory.GC_YOUNG_THRESHOLD
        assert sys.getswitchinterval() == memory.SWITCH_INTERVAL_S
        assert store_module._AFTER_MEMORY_READS == [memory.settle]
    finally:
        service.close()
