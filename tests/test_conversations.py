"""Conversations of an embedded index: kept in its directory, so they outlive a restart."""

import os
import time
from pathlib import Path

import pytest

from assistant.index import FileBackend
from assistant.index.conversations import SqliteConversations

from .test_api import served


def test_turns_are_kept_across_store_instances_with_time_out_and_cap(tmp_path):
    path = tmp_path / "index" / "conversations.sqlite"
    turns = [{"question": "Who builds Bushehr?", "answer": "Rosatom [1]", "places": ["Iran"]}]
    SqliteConversations(path).save("a", turns, ttl=3600, capacity=2)
    again = SqliteConversations(path)  # as a restarted server opens it
    assert again.load("a", ttl=3600) == turns
    assert again.load("unknown", ttl=3600) is None
    assert again.load("a", ttl=0) is None  # idle longer than the time-out
    # The cap drops the least recently touched first.
    again.save("b", [], ttl=3600, capacity=2)
    time.sleep(0.01)
    again.save("a", turns + turns, ttl=3600, capacity=2)
    time.sleep(0.01)
    again.save("c", [], ttl=3600, capacity=2)
    assert again.load("b", ttl=3600) is None
    assert again.load("a", ttl=3600) == turns + turns and again.load("c", ttl=3600) == []


def test_embedded_backend_keeps_conversations_beside_its_generations(tmp_path):
    store = FileBackend(tmp_path / "new" / "index").conversations()
    assert isinstance(store, SqliteConversations)
    store.save("x", [{"q": "é"}], ttl=60, capacity=10)
    assert (tmp_path / "new" / "index" / "conversations.sqlite").is_file()


def test_read_only_index_directory_keeps_conversations_in_memory(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):  # root writes anywhere; a process's /proc folder it cannot
            ro = Path(f"/proc/{os.getpid()}")
        assert FileBackend(ro / "index").conversations() is None
    finally:
        (tmp_path / "ro").chmod(0o755)


@pytest.mark.slow
def test_a_follow_up_after_a_server_restart_reads_the_earlier_turns(index_dir, tmp_path):
    with served(index_dir, tmp_path) as srv:
        first = srv.client.post("/v1/chat", json={"message": "What has Iran supplied to Russia?"})
        assert first.status_code == 200, first.text
        cid = first.json()["conversation_id"]
    with served(index_dir, tmp_path) as srv:  # a new process on the same index
        second = srv.client.post("/v1/chat", json={"message": "And Belarus?",
                                                   "conversation_id": cid}).json()
    assert second["conversation_id"] == cid
    assert second["question"] == "What has Belarus supplied to Russia?"
    assert not second["answer"]["abstained"]
