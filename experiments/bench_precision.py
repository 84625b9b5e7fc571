"""fp32 against bf16 for a whole fine-tune on this CPU, side by side (issue 13).

``training.fine_tune`` on the same 1,024 icd10cm training pairs (batch 32, one epoch, the cpu
recipe's settings, ``cache=False``), once in fp32 and once in bf16, back to back, ``--rounds``
times (alternating, so a change in the machine's load hits both). Prints pairs per second of the
training loop as ``fine_tune`` times it, the ratio, the load average, and whether this CPU has bf16
units (``device.cpu_has_bf16``). Then the evaluation side: the base model encodes and scores the
whole icd10cm test split in fp32 (what ``helpers.metrics`` does) and under bf16 autocast, with the
seconds and Recall@10 / MRR@10 / NDCG@10 of each. Nothing is saved.

    .venv/bin/python experiments/bench_precision.py [--pairs 1024] [--rounds 2]
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import time
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers import data, device, metrics, models, runtimes, training  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    info = device.detect()
    print(f"{info.summary()} · bf16 units: {device.cpu_has_bf16()}")
    base = models.load("all-MiniLM-L6-v2", verbose=False)
    pairs = training.subsample(data.load("icd10cm").train, args.pairs, seed=42)
    rates: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for i in range(args.rounds):
        for precision in ("fp32", "bf16"):
            run = training.fine_tune(base, pairs, profile="cpu", precision=precision, cache=False,
                                     verbose=False, progress_bar=False)
            rates[precision].append(run.pairs_per_second)
            print(f"round {i + 1} {precision}: {run.seconds:.1f} s, {run.pairs_per_second:.1f} "
                  f"pairs/s, load {runtimes.load_average(1)}", flush=True)
    fp32, bf16 = statistics.median(rates["fp32"]), statistics.median(rates["bf16"])
    print(f"median: fp32 {fp32:.1f} pairs/s, bf16 {bf16:.1f} pairs/s: bf16 is {bf16 / fp32:.2f}x")

    import torch
    test = data.load("icd10cm").test
    print(f"evaluation: the base model on the icd10cm test split ({test.describe()})")
    for i in range(args.rounds):
        for precision in ("fp32", "bf16"):
            ctx = (torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16"
                   else contextlib.nullcontext())
            start = time.perf_counter()
            with ctx:
                table = metrics.evaluate(base, test, ks=(10,), show_progress_bar=False)
            seconds = time.perf_counter() - start
            got = {f"{r.metric}@{r.k}": r.value for r in table.itertuples()}
            print(f"round {i + 1} encode+search {precision}: {seconds:.1f} s · " + " · ".join(
                f"{m} {got[m]:.4f}" for m in ("recall@10", "mrr@10", "ndcg@10"))
                + f" · load {runtimes.load_average(1)}", flush=True)


if __name__ == "__main__":
    main()
