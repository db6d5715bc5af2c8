"""Shipped LightGBM models: a file may hold a bag of seeds, scored as their mean."""

import json

import numpy as np
import pytest

from assistant.errors import ConfigError
from assistant.search.boosted import BAG_SEPARATOR, BoostedModel, bag_text
from assistant.search.ranker import SentenceRanker


class Tiny(BoostedModel):
    WHAT = "tiny model"
    NAMES = ("a", "b")


def boosters(seeds):
    lightgbm = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    y = (x[:, 0] + 0.5 * rng.normal(size=400) > 0).astype(float)
    data = lightgbm.Dataset(x, y, feature_name=["a", "b"], free_raw_data=False)
    params = {"objective": "binary", "verbose": -1, "num_threads": 1, "bagging_fraction": 0.5,
              "bagging_freq": 1, "feature_fraction": 0.5, "deterministic": True}
    return x, [lightgbm.train({**params, "seed": s}, data, num_boost_round=20) for s in seeds]


def test_a_bag_file_scores_the_mean_of_its_models(tmp_path):
    x, bag = boosters((1, 2, 3))
    path = tmp_path / "tiny.txt"
    path.write_text(bag_text(bag), encoding="utf-8")
    path.with_suffix(".json").write_text(json.dumps({"features": ["a", "b"]}))
    assert path.read_text().count(BAG_SEPARATOR) == 2
    model = Tiny.load(path)
    want = np.mean([b.predict(x[:50]) for b in bag], axis=0)
    assert np.allclose(model.score(x[:50]), want, atol=1e-6)
    assert not np.allclose(bag[0].predict(x[:50]), want)  # the seeds do differ


def test_a_single_model_file_still_loads(tmp_path):
    x, (one,) = boosters((1,))
    path = tmp_path / "tiny.txt"
    one.save_model(str(path))
    path.with_suffix(".json").write_text(json.dumps({"features": ["a", "b"]}))
    assert np.allclose(Tiny.load(path).score(x[:5]), one.predict(x[:5]), atol=1e-6)
    path.with_suffix(".json").write_text(json.dumps({"features": ["a", "c"]}))
    with pytest.raises(ConfigError, match="trained on other features"):
        Tiny.load(path)


def test_the_shipped_sentence_ranker_is_a_bag_of_seeds():
    meta = json.loads(SentenceRanker.DEFAULT_PATH.with_suffix(".json").read_text())
    model = SentenceRanker.load()
    assert len(model.boosters) == len(meta["seeds"]) > 1
    # Its logistic is the one fitted with it, and its scores go through it.
    assert [model.scale, model.shift] == meta["calibration"] and model.scale != 1.0
    rows = np.random.default_rng(2).normal(size=(5, len(SentenceRanker.NAMES)))
    raw = model.raw_scores(rows)
    assert np.allclose(model.score(rows), 1 / (1 + np.exp(-(model.scale * raw + model.shift))),
                       atol=1e-6)


def test_the_sentence_ranker_scores_the_logistic_of_the_bags_raw_mean(tmp_path):
    lightgbm = pytest.importorskip("lightgbm")
    names = SentenceRanker.NAMES
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, len(names)))
    y = (x[:, 0] > 0).astype(float)
    params = {"verbose": -1, "num_threads": 1, "deterministic": True, "min_data_in_leaf": 5}
    # A ranking model (groups of 10 sentences): its raw scores become scores in 0..1, in order.
    ranked = lightgbm.train({**params, "objective": "rank_xendcg"},
                            lightgbm.Dataset(x, y, group=[10] * 30), num_boost_round=20)
    model = SentenceRanker([ranked], names)
    got = model.score(x[:20])
    raw = ranked.predict(x[:20], raw_score=True)
    assert np.all((got > 0) & (got < 1))
    assert np.allclose(got, 1 / (1 + np.exp(-raw)), atol=1e-6)
    assert list(np.argsort(got, kind="stable")) == list(np.argsort(raw, kind="stable"))
    # A binary model's score stays its probability.
    binary = lightgbm.train({**params, "objective": "binary"}, lightgbm.Dataset(x, y),
                            num_boost_round=20)
    assert np.allclose(SentenceRanker([binary], names).score(x[:20]), binary.predict(x[:20]),
                       atol=1e-6)


def test_a_bag_scores_only_its_head_fully_when_asked():
    """`head`: the rows the bag's first model ranks highest get the whole bag's mean, exactly
    as without a head; the rest keep the first model's own score."""
    ranker = SentenceRanker.load()
    assert len(ranker.boosters) > 1
    rows = np.random.default_rng(2).random((60, len(ranker.NAMES)), dtype=np.float32)
    full = ranker.raw_scores(rows)
    first = ranker.boosters[0].predict(rows, num_threads=1, raw_score=True)
    cut = ranker.raw_scores(rows, head=10)
    top = np.argsort(-first, kind="stable")[:10]
    rest = np.setdiff1d(np.arange(60), top)
    assert np.array_equal(cut[top], full[top])
    assert np.array_equal(cut[rest], first[rest].astype(np.float32))
    assert np.array_equal(ranker.raw_scores(rows, head=60), full)
    assert np.array_equal(ranker.score(rows, head=10)[top], ranker.score(rows)[top])
    with pytest.raises(ValueError, match="head"):
        ranker.raw_scores(rows, head=0)
