"""Readers' thumbs up/down on answers: stored beside the index, exported over HTTP and the CLI."""

import json

import pytest

from assistant.index import FileBackend
from assistant.models import CitedSpan, Feedback

from .conftest import SEEDS, run_cli
from .test_api import served

KEY = "feedback-key"


def test_file_store_keeps_one_rating_per_answer(tmp_path):
    store = FileBackend(tmp_path / "index").feedback()
    assert list(store.items()) == []  # nothing stored yet, and no file made by reading
    assert not (tmp_path / "index").exists()
    store.put(Feedback(id="a1", rating="down", question="Who builds Bushehr?", answer="x [1]",
                       citations=[CitedSpan(doc_id=SEEDS[0], char_start=0, char_end=5)]))
    store.put(Feedback(id="a1", rating="up", question="Who builds Bushehr?", answer="x [1]"))
    store.put(Feedback(id="b2", rating="down", question="And Belarus?"))
    again = FileBackend(tmp_path / "index").feedback()  # as another process opens it
    assert [(f.id, f.rating) for f in again.items()] == [("a1", "up"), ("b2", "down")]
    assert [f.id for f in again.items(rating="down")] == ["b2"]
    assert list(again.items(since="2999-01-01")) == []
    assert (tmp_path / "index" / "feedback.sqlite").is_file()


@pytest.mark.slow
def test_rate_over_http_and_export_with_the_cli(index_dir, tmp_path):
    rating = {"id": "answer-1", "rating": "down", "question": "What has Iran supplied to Russia?",
              "answer": "Drones [1]", "conversation_id": "c1",
              "citations": [{"doc_id": SEEDS[0], "char_start": 10, "char_end": 40}]}
    with served(index_dir, tmp_path, env={"ASSISTANT_API_KEYS": KEY}) as srv:
        c = srv.client
        made = c.post("/v1/feedback", json=rating)  # open reads: anyone who may ask may rate
        assert made.status_code == 201, made.text
        assert made.json()["created"].endswith("Z") and made.json()["rating"] == "down"
        bad = c.post("/v1/feedback", json={**rating, "rating": "meh"})
        assert bad.status_code == 422 and "rating" in bad.text
        assert c.post("/v1/feedback", json={**rating, "id": "no spaces"}).status_code == 422
        assert c.post("/v1/feedback", json={**rating, "extra": 1}).status_code == 422
        assert c.get("/v1/feedback").status_code == 401  # the export needs the key
        keyed = {"Authorization": f"Bearer {KEY}"}
        listed = c.get("/v1/feedback", headers=keyed).json()
        assert listed["count"] == 1 and listed["items"][0]["citations"] == rating["citations"]
        assert c.get("/v1/feedback?rating=up", headers=keyed).json()["count"] == 0
        assert c.get("/v1/feedback?since=not-a-date", headers=keyed).status_code == 422
        jsonl = c.get("/v1/feedback?format=jsonl", headers=keyed)
        assert jsonl.headers["content-type"].startswith("application/x-ndjson")
        assert json.loads(jsonl.text.splitlines()[0])["id"] == "answer-1"
    out = run_cli("feedback", "--index", str(index_dir))
    assert out.returncode == 0, out.stderr
    assert [json.loads(x)["question"] for x in out.stdout.splitlines()] == [rating["question"]]
    to_file = run_cli("feedback", "--index", str(index_dir), "--rating", "down",
                      "-o", str(tmp_path / "fb.jsonl"))
    assert to_file.returncode == 0 and "1 rating written" in to_file.stderr
    assert (tmp_path / "fb.jsonl").read_text().count("\n") == 1
    wrong = run_cli("feedback", "--index", str(index_dir), "--rating", "sideways")
    assert wrong.returncode == 2 and "--rating must be 'up' or 'down'" in wrong.stderr
    day = run_cli("feedback", "--index", str(index_dir), "--since", "2024-13-01")
    assert day.returncode == 2 and "--since" in day.stderr
