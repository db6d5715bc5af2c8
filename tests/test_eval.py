"""The evaluation harness: metric definitions, and a real run on a tiny BEIR-format set."""

import json
import math

import pytest

from assistant.eval import expected_calibration_error, mrr_at, ndcg_at, recall_at, reliability

from .conftest import run_cli


def test_metrics_by_hand():
    ranked = ["a", "b", "c", "d"]
    assert ndcg_at(ranked, {"a"}, 10) == 1.0
    assert ndcg_at(ranked, {"b"}, 10) == pytest.approx(1 / math.log2(3))
    assert ndcg_at(ranked, {"b", "d"}, 10) == pytest.approx(
        (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3)))
    assert ndcg_at(ranked, {"z"}, 10) == 0.0
    assert recall_at(ranked, {"a", "d", "z"}, 2) == pytest.approx(1 / 3)
    assert mrr_at(ranked, {"c"}, 10) == pytest.approx(1 / 3)
    assert mrr_at(ranked, {"d"}, 3) == 0.0


@pytest.mark.slow
def test_eval_command_on_a_tiny_beir_set(tmp_path):
    data = tmp_path / "scifact"
    data.mkdir()
    docs = [
        ("d1", "Vitamin D and bone density", "Vitamin D supplements raised bone mineral density in older women."),
        ("d2", "Statins and muscle pain", "Statin therapy was associated with muscle pain in a minority of patients."),
        ("d3", "Coffee and sleep", "Evening coffee delayed sleep onset by forty minutes on average."),
    ]
    (data / "corpus.jsonl").write_text("\n".join(
        json.dumps({"id": i, "title": t, "text": x}) for i, t, x in docs))
    (data / "queries-train.jsonl").write_text("\n".join(json.dumps(q) for q in [
        {"id": "1", "query": "Vitamin D increases bone density."},
        {"id": "2", "query": "Coffee in the evening delays sleep."},
        {"id": "3", "query": "A query without judgements."},
    ]))
    (data / "qrels-train.tsv").write_text("query-id\tcorpus-id\tscore\n1\td1\t1\n2\td3\t1\n")
    out = run_cli("eval", "scifact", "--data", str(tmp_path), "--index", str(tmp_path / "idx"), "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)["scifact"]
    assert result["queries"] == 2 and result["documents"] == 3
    assert set(result["modes"]) == {"hybrid", "dense", "bm25"}
    for mode in result["modes"].values():
        assert mode["ndcg@10"] == 1.0 and mode["recall@100"] == 1.0
    missing = run_cli("eval", "scifact", "--data", str(tmp_path / "nowhere"), "--index", str(tmp_path / "i2"))
    assert missing.returncode == 2 and "queries-train.jsonl" in missing.stderr


def write_archive(tmp_path, articles: list[dict], questions: list[dict]) -> None:
    """A RealTimeQA-format folder under tmp_path."""
    data = tmp_path / "realtimeqa-2023q1"
    data.mkdir()
    (data / "articles.jsonl").write_text("\n".join(json.dumps(a) for a in articles))
    (data / "questions.jsonl").write_text("\n".join(json.dumps(q) for q in questions))


@pytest.mark.slow
def test_eval_realtimeqa_on_a_tiny_archive(tmp_path):
    articles = [
        {"id": "a1", "title": "Storm floods the coast", "published": "2023-01-04",
         "url": "https://news.example/a1", "text": "A winter storm flooded the coast of Brevania "
         "this week. Officials said 41 people were rescued from the water by the coast guard. "
         "The storm is expected to weaken by Friday."},
        {"id": "a2", "title": "Glass maker closes", "published": "2023-01-05",
         "url": "https://news.example/a2", "text": "The glass maker Luminor will close its last "
         "factory in March. The company said demand had fallen for three years in a row."},
        {"id": "old", "title": "An old story", "published": "2019-06-01",
         "url": "https://news.example/old", "text": "Nothing in this old story answers anything."},
    ]
    questions = [
        {"id": "20230106_0", "question": "How many people did the coast guard rescue after the "
         "storm in Brevania?", "answer": "41", "date": "2023-01-05", "answer_in_corpus": True},
        {"id": "20230106_1", "question": "Which glass maker will close its last factory?",
         "answer": "Luminor", "date": "2023-01-05", "answer_in_corpus": True},
        {"id": "20230106_2", "question": "Who won the chess final?", "answer": "Nobody",
         "date": "2023-01-05", "answer_in_corpus": False},
    ]
    write_archive(tmp_path, articles, questions)
    out = run_cli("eval", "realtimeqa", "--data", str(tmp_path), "--index", str(tmp_path / "i"),
                  "--limit", "2", "--json")
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)["realtimeqa"]
    # The slice: the 2 answerable questions, over the articles of their weeks (not the old one).
    assert r["questions"] == 2 and r["documents"] == 2
    assert r["chunk@3"] == 1.0 and r["verbatim_rate"] == 1.0
    assert r["quote@3"] == pytest.approx(sum(row["q3"] for row in r["rows"]) / 2)
    assert r["quote@1"] <= r["quote@3"] and r["ask_p50_ms"] > 0
    human = run_cli("eval", "realtimeqa", "--data", str(tmp_path), "--index", str(tmp_path / "i"),
                    "--limit", "2")
    assert human.returncode == 0 and "quote@3" in human.stdout and "RealTimeQA" in human.stdout


@pytest.mark.slow
def test_eval_realtimeqa_as_of_the_quiz_date_leaves_out_later_stories(tmp_path):
    articles = [
        {"id": "a1", "title": "Storm floods the coast", "published": "2023-01-04",
         "url": "https://news.example/a1", "text": "A winter storm flooded the coast of Brevania "
         "this week. Officials said 41 people were rescued from the water by the coast guard."},
        {"id": "later", "title": "Bridge reopens", "published": "2023-01-09",
         "url": "https://news.example/later", "text": "The Tallis Bridge over the river Orm "
         "reopened on Monday after two years of repairs, the city council said."},
    ]
    questions = [
        {"id": "20230106_0", "question": "How many people did the coast guard rescue after the "
         "storm in Brevania?", "answer": "41", "date": "2023-01-05", "answer_in_corpus": True},
        # Its only story was published four days after the quiz.
        {"id": "20230106_1", "question": "Which bridge over the river Orm reopened after "
         "repairs?", "answer": "Tallis Bridge", "date": "2023-01-05", "answer_in_corpus": True},
    ]
    write_archive(tmp_path, articles, questions)
    runs = {}
    for flag in ([], ["--as-of-date"]):
        out = run_cli("eval", "realtimeqa", "--data", str(tmp_path), "--index",
                      str(tmp_path / "i"), "--limit", "2", "--json", *flag)
        assert out.returncode == 0, out.stderr
        runs[bool(flag)] = json.loads(out.stdout)["realtimeqa"]
    for dated, r in runs.items():
        assert r["as_of_date"] is dated and r["documents"] == 2 and r["verbatim_rate"] == 1.0
        rows = {row["id"]: row for row in r["rows"]}
        assert rows["20230106_0"]["chunk3"]
        # As of the quiz's date the later story cannot be found, nor quoted.
        assert rows["20230106_1"]["chunk3"] is not dated
        if dated:
            assert not rows["20230106_1"]["q3"]


def test_calibration_bins_keep_a_confidence_that_rounds_above_one() -> None:
    """A probability that sums a hair above 1.0 is in the last bin, not lost (it used to be
    dropped while still counting in ECE's denominator, which understated the error)."""
    rows = [(0.95, True), (0.95, False), (1.0000001, False), (0.05, False)]
    # Last bin: mean confidence ~0.967, accuracy 1/3; first bin: 0.05 against 0.
    assert expected_calibration_error(rows) == pytest.approx(
        3 / 4 * abs((0.95 + 0.95 + 1.0000001) / 3 - 1 / 3) + 1 / 4 * 0.05, abs=1e-4)
    table = reliability(rows, what="claims")
    assert [r["claims"] for r in table] == [1, 3]
    assert table[-1]["bin"] == "0.9-1.0" and table[-1]["accuracy"] == 0.333
    assert expected_calibration_error([]) is None
