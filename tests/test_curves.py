"""helpers.curves: the learning-curve runner (with a stand-in for fine-tuning) and its statistics,
against numbers worked out by hand.

No real model is trained or loaded: a bag-of-words "model" is scored on a toy split, and
``training.fine_tune`` is replaced by a stub that records how it was called.
"""
import math

import numpy as np
import pandas as pd
import pytest
from datasets import Dataset

from helpers import curves, profiles, training

VOCAB = ["apple", "banana", "cherry", "grape", "lemon", "lime"]


class BagOfWords:
    """Counts of VOCAB words (+ a constant); ``boost`` makes 'lemon' weigh more, a "tuned" model."""

    def __init__(self, boost=1.0):
        self.boost = boost
        self.calls = 0

    def encode(self, texts, normalize_embeddings=True, convert_to_numpy=True, **_):
        self.calls += 1
        rows = [[0.1] + [t.lower().split().count(w) * (self.boost if w == "lemon" else 1)
                         for w in VOCAB] for t in texts]
        emb = np.asarray(rows, dtype=np.float32)
        return emb / np.linalg.norm(emb, axis=1, keepdims=True)

    def state_dict(self):
        import torch
        return {"w": torch.tensor([self.boost])}


SPLIT = {
    "corpus": {"d1": "apple banana", "d2": "cherry grape", "d3": "lemon lime"},
    "queries": {"q1": "apple", "q2": "cherry lemon", "q3": "lime grape", "q4": "banana apple"},
    "qrels": {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d3": 1}, "q4": {"d1": 1}},
}


class Split:  # the IRSplit shape, as an object (split_fingerprint reads attributes)
    def __init__(self, d):
        self.queries, self.corpus, self.qrels = d["queries"], d["corpus"], d["qrels"]


def pairs(n):
    return Dataset.from_dict({"anchor": [f"q{i}" for i in range(n)],
                              "positive": [f"d{i}" for i in range(n)]})


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_CACHE", str(tmp_path))
    return tmp_path


@pytest.fixture()
def stub(monkeypatch):
    """Replace training.fine_tune: record the calls, return a Run around a BagOfWords model."""
    calls = []

    def fake_fine_tune(model, train, profile="auto", seed=42, verbose=True, **overrides):
        calls.append({"n": len(train), "seed": seed, "overrides": dict(overrides),
                      "first": train["anchor"][0]})
        prof = profiles.get(profile)
        epochs = overrides.get("epochs", prof.epochs)
        steps = math.ceil(len(train) / prof.batch_size) * epochs
        return training.Run(model=BagOfWords(boost=3.0), history=pd.DataFrame(),
                            eval_history=None, seconds=1.0 + len(train) / 50,
                            pairs_per_second=50.0,
                            config={"settings": {"epochs": epochs}}, path=None,
                            from_cache=False, key=f"k{len(train)}-{seed}-{epochs}",
                            extra={"steps": steps, "examples": len(train) * epochs,
                                   "load_avg": 0.5, "cpu_seconds": 2.0})

    monkeypatch.setattr(training, "fine_tune", fake_fine_tune)
    return calls


# --------------------------------------------------------------------------------------------------
# grid and epochs
# --------------------------------------------------------------------------------------------------
def test_curve_sizes():
    assert curves.curve_sizes((25, 50, 500), 448) == [25, 50, 448]
    assert curves.curve_sizes((50, 25, 25), 1000) == [25, 50, 1000]
    assert curves.curve_sizes((25, 50), 1000, include_all=False) == [25, 50]
    assert curves.curve_sizes((5000,), 100, include_all=False) == [100]  # never empty
    with pytest.raises(curves.CurveError, match="whole and positive"):
        curves.curve_sizes((0, 10), 100)
    with pytest.raises(curves.CurveError, match="no training pairs"):
        curves.curve_sizes((10,), 0)


@pytest.mark.parametrize("n, bs, floor, epochs, want", [
    (25, 32, 10, 1, 10), (50, 32, 10, 1, 5), (100, 32, 10, 1, 3), (250, 32, 10, 1, 2),
    (500, 32, 10, 1, 1), (1000, 32, 10, 1, 1), (25, 32, 0, 1, 1), (25, 128, 10, 3, 10),
    (6765, 32, 10, 1, 1), (2000, 128, 10, 3, 3)])
def test_curve_epochs(n, bs, floor, epochs, want):
    got = curves.curve_epochs(n, bs, floor, epochs)
    assert got == want
    assert math.ceil(n / bs) * got >= floor


def test_curve_epochs_keeps_the_recipe_value_and_type():
    assert curves.curve_epochs(1000, 32, 10, 1) == 1 and isinstance(curves.curve_epochs(1000, 32, 10, 1), int)
    assert curves.curve_epochs(1000, 32, 10, 1.5) == 1.5
    with pytest.raises(curves.CurveError):
        curves.curve_epochs(0, 32)
    with pytest.raises(curves.CurveError):
        curves.curve_epochs(10, 32, min_steps=-1)


# --------------------------------------------------------------------------------------------------
# learning_curve with a stub for fine_tune
# --------------------------------------------------------------------------------------------------
def test_measure_calls_and_tables(stub, cache):
    base = BagOfWords()
    train = pairs(100)
    prof = profiles.get("cpu")  # batch 32, 1 epoch, no step cap
    curve = curves.measure(base, train, {"toy": Split(SPLIT)}, sizes=(10, 40, 500),
                                 seeds=(0, 1), profile=prof, full_seeds=(42,), min_steps=4,
                                 verbose=False)
    # 10 and 40 with two seeds each, then "all" (100) once with the recipe's seed
    assert [(c["n"], c["seed"]) for c in stub] == [(10, 0), (10, 1), (40, 0), (40, 1), (100, 42)]
    # 10 pairs = 1 step per epoch -> 4 epochs; 40 pairs = 2 steps -> 2 epochs; 100 = 4 steps -> as is
    assert [c["overrides"].get("epochs") for c in stub] == [4, 4, 2, 2, None]
    assert all(c["overrides"]["progress_bar"] is False for c in stub)
    # a seed picks the sample; "all" is the training set untouched (the recipe's cache entry)
    assert stub[0]["first"] != stub[1]["first"] and stub[4]["first"] == "q0"
    assert list(curve.runs["n"]) == [10, 10, 40, 40, 100]
    assert set(curve.per_query) == {("toy", n, s) for n, s in
                                    [(10, 0), (10, 1), (40, 0), (40, 1), (100, 42)]}
    pts = curve.points
    assert pts.iloc[0]["n"] == 0 and math.isnan(pts.iloc[0]["seed"])  # the base row comes first
    base_recall = pts.iloc[0]["recall@10"]
    assert base_recall == 1.0  # three documents: everything is in the top 10
    assert "Curve(5 models" in repr(curve)


def test_measure_reuses_cached_scores(stub, cache):
    base = BagOfWords()
    split = Split(SPLIT)
    curves.measure(base, pairs(20), {"toy": split}, (10,), (0,), "cpu", verbose=False)
    assert list((cache / "curves").glob("*.csv")), "per-query scores should be cached"
    base2 = BagOfWords()
    curve = curves.measure(base2, pairs(20), {"toy": split}, (10,), (0,), "cpu",
                                 verbose=False)
    assert base2.calls == 0, "the base model's scores should come from the cache"
    assert curve.base["toy"].index.tolist() == ["q1", "q2", "q3", "q4"]


def test_cached_scores_keep_qids_as_text(cache):
    split = Split({"corpus": {"1": "apple", "2": "lemon"}, "queries": {"007": "apple", "10": "lemon"},
                   "qrels": {"007": {"1": 1}, "10": {"2": 1}}})
    first = curves.per_query_scores(BagOfWords(), split, model_key="m")
    again = curves.per_query_scores(BagOfWords(), split, model_key="m")
    assert list(again.index) == ["007", "10"] == list(first.index)
    assert all(isinstance(q, str) for q in again.index)
    pd.testing.assert_frame_equal(first, again, check_index_type=False)


def test_measure_bad_input(stub, cache):
    with pytest.raises(curves.CurveError, match="splits"):
        curves.measure(BagOfWords(), pairs(5), {}, (2,), (0,), "cpu")
    with pytest.raises(curves.CurveError, match="seed"):
        curves.measure(BagOfWords(), pairs(5), {"toy": Split(SPLIT)}, (2,), (), "cpu")


# --------------------------------------------------------------------------------------------------
# summarise and smallest_significant on synthetic per-query scores
# --------------------------------------------------------------------------------------------------
def synthetic_curve(n_queries=200, gains=None, seeds=(0, 1, 2), seed=0):
    """Base scores 0/1 at random; at each N every seed flips a share of the misses to hits and a
    share of the hits to misses: no change at 25, as many losses as gains at 100, a gain at 1000."""
    gains = gains or {25: (0.0, 0.0), 100: (0.05, 0.05), 1000: (0.3, 0.0)}
    rng = np.random.default_rng(seed)
    qids = [f"q{i}" for i in range(n_queries)]
    base_r = (rng.random(n_queries) < 0.5).astype(float)
    base = pd.DataFrame({"recall@10": base_r, "ndcg@10": base_r * 0.8}, index=qids)
    per_query = {}
    for n, share in gains.items():
        up, down = share
        for s in seeds:
            r = base_r.copy()
            draw = rng.random(n_queries)
            r[(base_r == 0) & (draw < up)] = 1.0
            r[(base_r == 1) & (draw < down)] = 0.0
            per_query[("toy", n, s)] = pd.DataFrame({"recall@10": r, "ndcg@10": r * 0.8},
                                                    index=qids)
    return curves.Curve(points=pd.DataFrame(), per_query=per_query, base={"toy": base},
                       runs=pd.DataFrame({"n": list(gains)}))


def test_summarise_pools_seeds_and_tests():
    curve = synthetic_curve()
    table = curves.summarise(curve, "toy", n_resamples=500)
    assert list(table["n"].unique()) == [25, 100, 1000]
    assert set(table["metric"]) == {"recall@10", "ndcg@10"}
    r = table[table["metric"] == "recall@10"].set_index("n")
    assert r.loc[25, "gain"] == 0 and not r.loc[25, "significant"]
    assert r.loc[1000, "significant"] and r.loc[1000, "ci_low"] > 0
    assert r.loc[1000, "seeds_significant"] == "3/3"
    assert (r["seeds"] == 3).all()
    # the mean over seeds equals the mean of the pooled (seed-averaged) per-query scores
    pooled = sum(curve.per_query[("toy", 1000, s)]["recall@10"] for s in (0, 1, 2)) / 3
    assert r.loc[1000, "mean"] == pytest.approx(pooled.mean())
    assert r.loc[1000, "gain"] == pytest.approx(pooled.mean() - r.loc[1000, "base"])
    assert (r["band_low"] <= r["mean"]).all() and (r["mean"] <= r["band_high"]).all()
    assert (r["seed_min"] <= r["mean"]).all() and (r["mean"] <= r["seed_max"]).all()


def test_smallest_significant():
    table = curves.summarise(synthetic_curve(), "toy", n_resamples=500)
    assert curves.smallest_significant(table, "recall@10") == 1000
    fake = pd.DataFrame({"n": [10, 20, 30, 40], "metric": ["m"] * 4,
                         "significant": [False, True, False, True]})
    assert curves.smallest_significant(fake, "m") == 20
    assert curves.smallest_significant(fake, "m", from_then_on=True) == 40
    assert curves.smallest_significant(fake.assign(significant=False), "m") is None
    with pytest.raises(curves.CurveError, match="No rows"):
        curves.smallest_significant(fake, "ndcg@10")
    with pytest.raises(curves.CurveError, match="summarise"):
        curves.smallest_significant(pd.DataFrame({"n": [1]}))


def test_summarise_bad_input():
    curve = synthetic_curve()
    with pytest.raises(curves.CurveError, match="No split"):
        curves.summarise(curve, "other")
    with pytest.raises(curves.CurveError, match="not measured"):
        curves.summarise(curve, "toy", metric_names=("mrr@10",))
