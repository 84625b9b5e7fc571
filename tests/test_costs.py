"""helpers.costs: the learning-curve runner (with a stand-in for fine-tuning), its statistics, the
throughput fits, the estimate and the cost table, each against numbers worked out by hand.

No real model is trained or loaded: a bag-of-words "model" is scored on a toy split, and
``training.fine_tune`` is replaced by a stub that records how it was called.
"""
import math

import numpy as np
import pandas as pd
import pytest
from datasets import Dataset

from helpers import costs, profiles, training

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
    assert costs.curve_sizes((25, 50, 500), 448) == [25, 50, 448]
    assert costs.curve_sizes((50, 25, 25), 1000) == [25, 50, 1000]
    assert costs.curve_sizes((25, 50), 1000, include_all=False) == [25, 50]
    assert costs.curve_sizes((5000,), 100, include_all=False) == [100]  # never empty
    with pytest.raises(costs.CostError, match="whole and positive"):
        costs.curve_sizes((0, 10), 100)
    with pytest.raises(costs.CostError, match="no training pairs"):
        costs.curve_sizes((10,), 0)


@pytest.mark.parametrize("n, bs, floor, epochs, want", [
    (25, 32, 10, 1, 10), (50, 32, 10, 1, 5), (100, 32, 10, 1, 3), (250, 32, 10, 1, 2),
    (500, 32, 10, 1, 1), (1000, 32, 10, 1, 1), (25, 32, 0, 1, 1), (25, 128, 10, 3, 10),
    (6765, 32, 10, 1, 1), (2000, 128, 10, 3, 3)])
def test_curve_epochs(n, bs, floor, epochs, want):
    got = costs.curve_epochs(n, bs, floor, epochs)
    assert got == want
    assert math.ceil(n / bs) * got >= floor


def test_curve_epochs_keeps_the_recipe_value_and_type():
    assert costs.curve_epochs(1000, 32, 10, 1) == 1 and isinstance(costs.curve_epochs(1000, 32, 10, 1), int)
    assert costs.curve_epochs(1000, 32, 10, 1.5) == 1.5
    with pytest.raises(costs.CostError):
        costs.curve_epochs(0, 32)
    with pytest.raises(costs.CostError):
        costs.curve_epochs(10, 32, min_steps=-1)


# --------------------------------------------------------------------------------------------------
# learning_curve with a stub for fine_tune
# --------------------------------------------------------------------------------------------------
def test_learning_curve_calls_and_tables(stub, cache):
    base = BagOfWords()
    train = pairs(100)
    prof = profiles.get("cpu")  # batch 32, 1 epoch, no step cap
    curve = costs.learning_curve(base, train, {"toy": Split(SPLIT)}, sizes=(10, 40, 500),
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


def test_learning_curve_reuses_cached_scores(stub, cache):
    base = BagOfWords()
    split = Split(SPLIT)
    costs.learning_curve(base, pairs(20), {"toy": split}, (10,), (0,), "cpu", verbose=False)
    assert list((cache / "curves").glob("*.csv")), "per-query scores should be cached"
    base2 = BagOfWords()
    curve = costs.learning_curve(base2, pairs(20), {"toy": split}, (10,), (0,), "cpu",
                                 verbose=False)
    assert base2.calls == 0, "the base model's scores should come from the cache"
    assert curve.base["toy"].index.tolist() == ["q1", "q2", "q3", "q4"]


def test_cached_scores_keep_qids_as_text(cache):
    split = Split({"corpus": {"1": "apple", "2": "lemon"}, "queries": {"007": "apple", "10": "lemon"},
                   "qrels": {"007": {"1": 1}, "10": {"2": 1}}})
    first = costs.per_query_scores(BagOfWords(), split, model_key="m")
    again = costs.per_query_scores(BagOfWords(), split, model_key="m")
    assert list(again.index) == ["007", "10"] == list(first.index)
    assert all(isinstance(q, str) for q in again.index)
    pd.testing.assert_frame_equal(first, again, check_index_type=False)


def test_learning_curve_bad_input(stub, cache):
    with pytest.raises(costs.CostError, match="splits"):
        costs.learning_curve(BagOfWords(), pairs(5), {}, (2,), (0,), "cpu")
    with pytest.raises(costs.CostError, match="seed"):
        costs.learning_curve(BagOfWords(), pairs(5), {"toy": Split(SPLIT)}, (2,), (), "cpu")


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
    return costs.Curve(points=pd.DataFrame(), per_query=per_query, base={"toy": base},
                       runs=pd.DataFrame({"n": list(gains)}))


def test_summarise_pools_seeds_and_tests():
    curve = synthetic_curve()
    table = costs.summarise(curve, "toy", n_resamples=500)
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
    table = costs.summarise(synthetic_curve(), "toy", n_resamples=500)
    assert costs.smallest_significant(table, "recall@10") == 1000
    fake = pd.DataFrame({"n": [10, 20, 30, 40], "metric": ["m"] * 4,
                         "significant": [False, True, False, True]})
    assert costs.smallest_significant(fake, "m") == 20
    assert costs.smallest_significant(fake, "m", from_then_on=True) == 40
    assert costs.smallest_significant(fake.assign(significant=False), "m") is None
    with pytest.raises(costs.CostError, match="No rows"):
        costs.smallest_significant(fake, "ndcg@10")
    with pytest.raises(costs.CostError, match="summarise"):
        costs.smallest_significant(pd.DataFrame({"n": [1]}))


def test_summarise_bad_input():
    curve = synthetic_curve()
    with pytest.raises(costs.CostError, match="No split"):
        costs.summarise(curve, "other")
    with pytest.raises(costs.CostError, match="not measured"):
        costs.summarise(curve, "toy", metrics=("mrr@10",))


# --------------------------------------------------------------------------------------------------
# throughput: fits and the GPU rows
# --------------------------------------------------------------------------------------------------
def test_fit_step_time():
    fit = costs.fit_step_time([32, 64, 128], [0.03 + 0.0003 * b for b in (32, 64, 128)])
    assert fit["per_step_seconds"] == pytest.approx(0.03)
    assert fit["per_pair_seconds"] == pytest.approx(0.0003)
    with pytest.raises(costs.CostError):
        costs.fit_step_time([32, 32], [0.1, 0.1])


def test_gpu_measurements(tmp_path):
    csv = tmp_path / "results.csv"
    pd.DataFrame([
        {"name": "a", "loss": "mnrl", "hard_negatives": False, "epochs": 1, "batch_size": 32,
         "train_rows": 640, "train_seconds": 2.0, "pairs_per_second": 320.0,
         "device": "NVIDIA H200 fp32"},
        {"name": "b", "loss": "mnrl", "hard_negatives": True, "epochs": 3, "batch_size": 128,
         "train_rows": 1000, "train_seconds": 3.0, "pairs_per_second": 1000.0,
         "device": "NVIDIA H200"},
        {"name": "c", "loss": "mnrl", "hard_negatives": False, "epochs": 1, "batch_size": 32,
         "train_rows": 640, "train_seconds": 60.0, "pairs_per_second": 10.7,
         "device": "CPU: AMD EPYC"},
    ]).to_csv(csv, index=False)
    gpu = costs.gpu_measurements(csv)
    assert list(gpu["name"]) == ["a", "b"]
    assert list(gpu["precision"]) == ["fp32", "bf16"] and set(gpu["device"]) == {"NVIDIA H200"}
    assert list(gpu["steps"]) == [20, 24]  # 640/32 ; ceil(1000/128) = 8 per epoch x 3
    assert gpu.loc[0, "step_seconds"] == pytest.approx(0.1)
    assert list(gpu["examples"]) == [640, 3000]
    with pytest.raises(costs.CostError, match="missing"):
        costs.gpu_measurements(tmp_path / "nope.csv")


def test_gpu_measurements_of_the_repository():
    gpu = costs.gpu_measurements()   # experiments/results.csv is part of the repository
    assert len(gpu) > 0 and (gpu["pairs_per_second"] > 0).all()


# --------------------------------------------------------------------------------------------------
# the estimate
# --------------------------------------------------------------------------------------------------
class FakeTokenizer:
    def __call__(self, texts, add_special_tokens=True, truncation=False):
        return {"input_ids": [[0] * (len(t.split()) + 2) for t in texts]}


class FakeModel:
    """A tokenizer that counts words + 2, and parameters: 1,000 in embeddings, 500 elsewhere."""
    tokenizer = FakeTokenizer()
    max_seq_length = 6

    def named_parameters(self):
        import torch
        return [("embeddings.word_embeddings.weight", torch.zeros(1000)),
                ("encoder.layer.0.weight", torch.zeros(500))]


def test_padded_tokens_and_flops():
    train = Dataset.from_dict({"anchor": ["a", "a b c"], "positive": ["a b c d e f g", "x"]})
    # one batch of 2: anchors padded to 5 tokens, positives to min(9, 6) = 6 -> (5*2 + 6*2) / 2 = 11
    assert costs.padded_tokens_per_example(FakeModel(), train, batch_size=2) == 11
    # batches of 1: anchors 3 and 5, positives 6 and 3 -> (8 + 9) / 2 = 8.5
    assert costs.padded_tokens_per_example(FakeModel(), train, batch_size=1) == 8.5
    assert costs.flops_per_pair(FakeModel(), train, batch_size=2) == 6 * 500 * 11


def test_estimate_pairs_per_second():
    # 1e9 FLOPs per pair, 10 TFLOP/s peak at 50% -> 0.2 ms per pair of arithmetic
    assert costs.estimate_pairs_per_second(1e9, 10, 0.5, batch_size=1) == pytest.approx(5000)
    # + 30 ms per step and 0.3 ms per pair of host time, batch 32
    step = 0.03 + 32 * 0.0003 + 32 * 0.0002
    got = costs.estimate_pairs_per_second(1e9, 10, 0.5, 32, 0.03, 0.0003)
    assert got == pytest.approx(32 / step)
    with pytest.raises(costs.CostError, match="utilisation"):
        costs.estimate_pairs_per_second(1e9, 10, 0)
    with pytest.raises(costs.CostError, match="positive"):
        costs.estimate_pairs_per_second(1e9, -1, 0.5)


# --------------------------------------------------------------------------------------------------
# cost
# --------------------------------------------------------------------------------------------------
def test_cost_table_by_hand():
    jobs = [{"job": "small", "pairs": 1200, "epochs": 1}, {"job": "big", "pairs": 6000, "epochs": 3}]
    machines = [{"machine": "cpu", "pairs_per_second": 20, "price_per_hour": 0.1, "basis": "m"},
                {"machine": "gpu", "pairs_per_second": 600, "price_per_hour": 0.6,
                 "fixed_seconds": 30}]
    t = costs.cost_table(jobs, machines, setup_minutes=5).set_index(["job", "machine"])
    assert t.loc[("small", "cpu"), "train_minutes"] == pytest.approx(1.0)  # 1200 / 20 / 60
    assert t.loc[("small", "cpu"), "billed_minutes"] == pytest.approx(6.0)
    assert t.loc[("small", "cpu"), "cost_usd"] == pytest.approx(0.01)  # 6 min at $0.10/h
    assert t.loc[("big", "gpu"), "train_minutes"] == pytest.approx((30 + 18000 / 600) / 60)
    assert t.loc[("big", "gpu"), "cost_usd"] == pytest.approx((1 + 5) / 60 * 0.6)
    assert t.loc[("small", "cpu"), "basis"] == "m" and t.loc[("small", "gpu"), "basis"] == ""


def test_cost_table_bad_input():
    m = [{"machine": "cpu", "pairs_per_second": 20, "price_per_hour": 0.1}]
    with pytest.raises(costs.CostError, match="at least one"):
        costs.cost_table([], m)
    with pytest.raises(costs.CostError, match="'epochs'"):
        costs.cost_table([{"job": "x", "pairs": 10}], m)
    with pytest.raises(costs.CostError, match="positive"):
        costs.cost_table([{"job": "x", "pairs": 10, "epochs": 1}],
                         [{"machine": "y", "pairs_per_second": 0, "price_per_hour": 1}])
    with pytest.raises(costs.CostError, match="negative"):
        costs.cost_table([{"job": "x", "pairs": 10, "epochs": 1}], m, setup_minutes=-1)


def test_pairs_for_budget_inverts_the_cost():
    n = costs.pairs_for_budget(1.0, pairs_per_second=500, price_per_hour=0.5, setup_minutes=10)
    t = costs.cost_table([{"job": "x", "pairs": n, "epochs": 1}],
                         [{"machine": "T4", "pairs_per_second": 500, "price_per_hour": 0.5}],
                         setup_minutes=10)
    assert t.loc[0, "cost_usd"] == pytest.approx(1.0)
    assert costs.pairs_for_budget(0.01, 500, 0.5, setup_minutes=10) == 0
    assert costs.pairs_for_budget(1, 500, 0) == math.inf


def test_peak_memory():
    gb = costs.peak_memory_gb()
    assert gb is None or 0 < gb < 1000
