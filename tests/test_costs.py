"""helpers.costs: the throughput fits, the estimate and the cost table, each against numbers worked
out by hand. (The learning curve is tested in test_curves.py.)
"""
import math

import pandas as pd
import pytest
from datasets import Dataset

from helpers import costs


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
