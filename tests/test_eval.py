"""The evaluation harness: metric definitions, and a real run on a tiny BEIR-format set."""

import json
import math

import pytest

from assistant.eval import mrr_at, ndcg_at, recall_at

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
