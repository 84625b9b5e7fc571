"""What training costs, in time and money (introduced in 07_when_to_fine_tune).

* ``measure_throughput(base, train)``: time a short run with each profile's settings, now.
* ``gpu_measurements()``: the throughput of the runs in ``experiments/results.csv`` made on a lent
  GPU (an NVIDIA H200, fp32 and bf16).
* ``flops_per_pair`` and ``estimate_pairs_per_second``: an estimate for a GPU we did not have,
  time per step = host time (fitted to the measured GPU runs with ``fit_step_time``) + the
  training FLOPs / (peak FLOP/s x utilisation). The precision each GPU trains in is
  ``helpers.device.gpu(name).precision``, the workbook's one precision rule.
* ``cost_table(jobs, machines, setup_minutes)``: minutes and dollars for each run on each machine.

How many pairs are needed (the learning curve) is ``helpers.curves``.
"""
from __future__ import annotations

import gc
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import paths, profiles, tokens, training
from .errors import InputError

if TYPE_CHECKING:
    import os

    from datasets import Dataset
    from numpy.typing import ArrayLike
    from sentence_transformers import SentenceTransformer

    from .profiles import Profile, ProfileName

PEAK_TFLOPS = {
    # dense (no sparsity) peak throughput from NVIDIA's data sheets, in TFLOP/s
    "T4": {"fp32": 8.1, "fp16": 65.0},
    "A100": {"fp32": 19.5, "bf16": 312.0, "fp16": 312.0},
    "H200": {"fp32": 67.0, "bf16": 989.0, "fp16": 989.0},
}
"""Spec-sheet peak TFLOP/s per GPU and precision (T4: 65 fp16 tensor-core TFLOP/s; A100 and H200
SXM: 312 and 989 bf16). A model reaches only a fraction of these: that fraction is the
``utilisation`` of :func:`estimate_pairs_per_second`."""


class CostError(InputError):
    """Bad input to a learning-curve or cost function; the message says how to fix it."""


def measure_throughput(base: SentenceTransformer, train: Dataset,
                       profile_names: Sequence[ProfileName | Profile] = ("cpu", "gpu"),
                       pairs: int = 512, seed: int = 0, verbose: bool = False) -> pd.DataFrame:
    """Train ``pairs`` pairs for one epoch with each profile's batch size and learning rate, now, on
    this machine, and report how fast it went (one row per profile; introduced in
    07_when_to_fine_tune).

    The runs are never taken from the cache (``cache=False``): the point is to time this machine.
    Columns: profile, batch_size, pairs, steps, seconds, pairs_per_second, cpu_seconds (all
    threads), load_avg (the 1-minute load average after the run: above the number of cores, other
    programs were competing), hardware.
    """
    if pairs < 2:
        raise CostError("Measure with at least a few dozen pairs (e.g. 512).")
    sample = training.subsample(train, pairs, seed)
    rows = []
    for name in profile_names:
        prof = profiles.get(name)
        run = training.fine_tune(base, sample, profile=prof, seed=seed, cache=False,
                                 verbose=verbose, epochs=1, max_steps=None, progress_bar=False)
        rows.append({"profile": prof.name, "batch_size": prof.batch_size, "pairs": len(sample),
                     "steps": run.extra.get("steps"), "seconds": round(run.seconds, 1),
                     "pairs_per_second": round(run.pairs_per_second, 1),
                     "cpu_seconds": run.extra.get("cpu_seconds"),
                     "load_avg": run.extra.get("load_avg"), "hardware": run.extra.get("hardware")})
        del run
        gc.collect()
    return pd.DataFrame(rows)


def gpu_measurements(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The runs of ``experiments/results.csv`` that trained on a GPU, with their throughput
    (introduced in 07_when_to_fine_tune).

    Columns: name, device, precision ("fp32" when the device column says so, else "bf16"), loss,
    hard_negatives, batch_size, epochs, examples, steps, train_seconds, pairs_per_second,
    step_seconds. ``examples`` counts training examples (a triplet is one example with three texts).
    """
    path = Path(path) if path else paths.ROOT / "experiments" / "results.csv"
    if not path.exists():
        raise CostError(f"{paths.show(path)} is missing: it holds the measured GPU runs.")
    df = pd.read_csv(path)
    trained = (pd.to_numeric(df["train_rows"], errors="coerce") > 0) & \
        (pd.to_numeric(df["train_seconds"], errors="coerce") > 0)  # not the "base" rows
    gpu = df[df["device"].astype(str).str.contains("NVIDIA") & trained].copy()
    if gpu.empty:
        raise CostError(f"{paths.show(path)} has no GPU rows (device containing 'NVIDIA').")
    gpu["precision"] = np.where(gpu["device"].str.contains("fp32"), "fp32", "bf16")
    gpu["device"] = gpu["device"].str.replace(" fp32", "", regex=False)
    gpu["examples"] = (gpu["train_rows"] * gpu["epochs"].astype(float)).round().astype(int)
    gpu["steps"] = [math.ceil(r / b) * float(e) for r, b, e in
                    zip(gpu["train_rows"], gpu["batch_size"], gpu["epochs"])]
    gpu["step_seconds"] = gpu["train_seconds"] / gpu["steps"]
    cols = ["name", "device", "precision", "loss", "hard_negatives", "batch_size", "epochs",
            "examples", "steps", "train_seconds", "pairs_per_second", "step_seconds"]
    return gpu[cols].reset_index(drop=True)


def fit_step_time(batch_sizes: ArrayLike, step_seconds: ArrayLike) -> dict[str, float]:
    """Fit step seconds = per_step + per_pair x batch size to measured GPU runs (introduced in
    07_when_to_fine_tune).

    Returns ``{"per_step_seconds", "per_pair_seconds", "runs"}``. On a small model the GPU finishes
    its arithmetic quickly and most of a step is the host's work (Python, tokenising, launching
    kernels, the optimiser): these two numbers describe that work, so they carry over, roughly, to
    another GPU with a similar host.
    """
    x = np.asarray(batch_sizes, dtype=float)
    y = np.asarray(step_seconds, dtype=float)
    if x.shape != y.shape or x.size < 2 or np.ptp(x) == 0:
        raise CostError("fit_step_time needs runs with at least two different batch sizes.")
    slope, intercept = np.polyfit(x, y, 1)
    return {"per_step_seconds": float(max(intercept, 0.0)),
            "per_pair_seconds": float(max(slope, 0.0)), "runs": int(x.size)}


# --------------------------------------------------------------------------------------------------
# Throughput: estimated
# --------------------------------------------------------------------------------------------------
def padded_tokens_per_example(model: SentenceTransformer, train: Dataset, batch_size: int = 32,
                              max_seq_length: int | None = None, sample: int = 2048,
                              seed: int = 0) -> float:
    """Tokens one training example costs, padding included: for each text column, random batches
    are padded to their longest text (capped at ``max_seq_length``), as the trainer does
    (introduced in 07_when_to_fine_tune)."""
    rng = np.random.default_rng(seed)
    n = len(train)
    idx = rng.permutation(n)[:min(sample, n)]
    cap = int(max_seq_length or getattr(model, "max_seq_length", None) or 512)
    sub = train.select(idx)
    total = 0.0
    for col in train.column_names:
        lengths = np.minimum(tokens.token_lengths(model, sub[col]), cap).tolist()
        batches = [lengths[i:i + batch_size] for i in range(0, len(lengths), batch_size)]
        total += sum(max(b) * len(b) for b in batches) / max(len(lengths), 1)
    return float(total)


def flops_per_pair(model: SentenceTransformer, train: Dataset, batch_size: int = 32,
                   max_seq_length: int | None = None) -> float:
    """Training FLOPs per example: 6 x the non-embedding parameters x the (padded) tokens
    (introduced in 07_when_to_fine_tune).

    6 = 2 for the forward pass (a multiply and an add per weight and token) + 4 for the backward
    pass. Embedding lookups cost no multiplications and attention's own products are small for short
    texts, so both are left out: a rough, standard estimate (Kaplan et al., 2020).
    """
    params = sum(p.numel() for name, p in model.named_parameters() if "embeddings" not in name)
    tokens = padded_tokens_per_example(model, train, batch_size, max_seq_length)
    return 6.0 * params * tokens


def estimate_pairs_per_second(flops_per_example: float, peak_tflops: float, utilisation: float,
                              batch_size: int = 32, per_step_seconds: float = 0.0,
                              per_pair_seconds: float = 0.0) -> float:
    """Estimated training examples per second on a GPU (introduced in 07_when_to_fine_tune).

    One step of ``batch_size`` examples takes the host's time (``per_step_seconds`` +
    ``per_pair_seconds`` x batch, see :func:`fit_step_time`) plus the arithmetic,
    ``batch_size x flops_per_example / (peak_tflops x 1e12 x utilisation)``.
    """
    if not 0 < utilisation <= 1:
        raise CostError("utilisation is the share of the peak the model reaches, in (0, 1].")
    if peak_tflops <= 0 or flops_per_example <= 0 or batch_size < 1:
        raise CostError("peak_tflops, flops_per_example and batch_size must be positive.")
    compute = batch_size * flops_per_example / (peak_tflops * 1e12 * utilisation)
    step = per_step_seconds + per_pair_seconds * batch_size + compute
    return batch_size / step


# --------------------------------------------------------------------------------------------------
# Cost
# --------------------------------------------------------------------------------------------------
def cost_table(jobs: Sequence[Mapping[str, Any]], machines: Sequence[Mapping[str, Any]],
               setup_minutes: float = 0.0) -> pd.DataFrame:
    """Time and money of each job on each machine, one row per (job, machine) (introduced in
    07_when_to_fine_tune).

    jobs      ``[{"job": "6,765 pairs x 1 epoch", "pairs": 6765, "epochs": 1}, ...]``
    machines  ``[{"machine": "T4", "pairs_per_second": 700, "price_per_hour": 0.5,
              "basis": "estimated: ..."}, ...]`` (``fixed_seconds`` optional: paid once per run)
    setup_minutes  billed time around the training itself: starting the machine, installing,
              loading the model, evaluating

    Columns: job, machine, pairs_per_second, train_minutes, billed_minutes, cost_usd, basis.
    """
    if not jobs or not machines:
        raise CostError("cost_table needs at least one job and one machine.")
    if setup_minutes < 0:
        raise CostError("setup_minutes cannot be negative.")
    rows = []
    for job in jobs:
        for key in ("job", "pairs", "epochs"):
            if key not in job:
                raise CostError(f"Each job needs 'job', 'pairs' and 'epochs'; {dict(job)} has no "
                                f"{key!r}.")
        if job["pairs"] <= 0 or job["epochs"] <= 0:
            raise CostError(f"Job {job['job']!r}: pairs and epochs must be positive.")
        for m in machines:
            for key in ("machine", "pairs_per_second", "price_per_hour"):
                if key not in m:
                    raise CostError(f"Each machine needs 'machine', 'pairs_per_second' and "
                                    f"'price_per_hour'; {dict(m)} has no {key!r}.")
            rate = float(m["pairs_per_second"])
            if rate <= 0 or m["price_per_hour"] < 0:
                raise CostError(f"Machine {m['machine']!r}: pairs_per_second must be positive and "
                                "the price not negative.")
            seconds = float(m.get("fixed_seconds", 0.0)) + job["pairs"] * job["epochs"] / rate
            billed = seconds / 60 + setup_minutes
            rows.append({"job": job["job"], "machine": m["machine"], "pairs_per_second": rate,
                         "train_minutes": seconds / 60, "billed_minutes": billed,
                         "cost_usd": billed / 60 * float(m["price_per_hour"]),
                         "basis": m.get("basis", "")})
    return pd.DataFrame(rows)


def pairs_for_budget(dollars: float, pairs_per_second: float, price_per_hour: float,
                     setup_minutes: float = 0.0) -> float:
    """How many training examples (pairs x epochs) ``dollars`` buy on a machine: the inverse of
    :func:`cost_table` (0 when the setup alone costs more; introduced in 07_when_to_fine_tune)."""
    if price_per_hour <= 0:
        return math.inf
    minutes = dollars / price_per_hour * 60 - setup_minutes
    return max(0.0, minutes * 60 * pairs_per_second)


def peak_memory_gb() -> float | None:
    """The largest resident memory this process has used so far, in GB (None where unknown;
    introduced in 07_when_to_fine_tune)."""
    try:
        import resource
        import sys
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 1e9 if sys.platform == "darwin" else peak * 1024 / 1e9
    except (ImportError, OSError):  # pragma: no cover (Windows)
        return None


__all__ = ["CostError", "PEAK_TFLOPS", "cost_table", "estimate_pairs_per_second", "fit_step_time",
           "flops_per_pair", "gpu_measurements", "measure_throughput", "padded_tokens_per_example",
           "pairs_for_budget", "peak_memory_gb"]
