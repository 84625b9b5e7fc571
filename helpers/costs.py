"""Learning curves and what training costs (introduced in 07_when_to_fine_tune).

Two questions decide whether fine-tuning is worth it: *how many pairs do I need before it helps?* and
*what does a run cost in time and money?* This module answers both with measurements.

Learning curve
--------------
``learning_curve(base, train, splits, sizes, seeds, profile)`` fine-tunes the base model on N
training pairs for every N in ``sizes`` (a different random N-pair sample and training order per
seed), through :func:`helpers.training.fine_tune`, so every run is cached and a second pass only
re-loads and re-scores. Every model is scored per query on every split (the scores are cached too,
under ``data/cache/curves/``). ``summarise`` then gives, per N and metric, the mean over seeds, a
95% band, and a paired test against the base model on the same queries; ``smallest_significant``
reads off the smallest N whose gain is significant.

Tiny training sets need a floor on the number of optimiser steps: with the recipe's one epoch at
batch 32, 25 pairs are a single step, and with a linear warm-up that step has learning rate 0 (the
model does not change at all). ``curve_epochs`` adds epochs until a run has at least ``min_steps``
steps.

Cost model
----------
* ``measure_throughput(base, train)``: time a short run with each profile's settings, now.
* ``gpu_measurements()``: the throughput of the runs in ``experiments/results.csv`` made on a lent
  GPU (an NVIDIA H200, fp32 and bf16).
* ``flops_per_pair`` and ``estimate_pairs_per_second``: an estimate for a GPU we did not have,
  time per step = host time (fitted to the measured GPU runs with ``fit_step_time``) + the
  training FLOPs / (peak FLOP/s x utilisation).
* ``cost_table(jobs, machines, setup_minutes)``: minutes and dollars for each run on each machine.
"""
from __future__ import annotations

import gc
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import paths

METRICS = ("recall@10", "ndcg@10")
"""The metrics the learning curve reports by default."""

PEAK_TFLOPS = {
    # dense (no sparsity) peak throughput from NVIDIA's data sheets, in TFLOP/s
    "T4": {"fp32": 8.1, "fp16": 65.0},
    "A100": {"fp32": 19.5, "bf16": 312.0, "fp16": 312.0},
    "H200": {"fp32": 67.0, "bf16": 989.0, "fp16": 989.0},
}
"""Spec-sheet peak TFLOP/s per GPU and precision (T4: 65 fp16 tensor-core TFLOP/s; A100 and H200
SXM: 312 and 989 bf16). A model reaches only a fraction of these: that fraction is the
``utilisation`` of :func:`estimate_pairs_per_second`."""

RECIPE_PRECISION = {"T4": "fp16", "A100": "bf16", "H200": "bf16"}
"""The precision ``helpers.training`` picks on each GPU (fp16 on a T4, bf16 on Ampere and newer)."""


class CostError(ValueError):
    """Bad input to a learning-curve or cost function; the message says how to fix it."""


# --------------------------------------------------------------------------------------------------
# Learning curve
# --------------------------------------------------------------------------------------------------
def curve_sizes(sizes: Sequence[int], available: int, include_all: bool = True) -> list[int]:
    """The grid sizes smaller than ``available`` (the pairs there are), in order, plus
    ``available`` itself (the "all" point) when ``include_all``.

    ``curve_sizes((25, 50, 500), 448)`` is ``[25, 50, 448]``.
    """
    if available < 1:
        raise CostError("There are no training pairs: a learning curve needs at least one.")
    bad = [n for n in sizes if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1]
    if bad:
        raise CostError(f"Curve sizes are numbers of pairs, whole and positive; got {bad}.")
    grid = sorted({int(n) for n in sizes if n < available})
    if include_all or not grid:
        grid.append(int(available))
    return grid


def curve_epochs(n_pairs: int, batch_size: int, min_steps: int = 0, epochs: float = 1):
    """Epochs for a run on ``n_pairs`` so that it takes at least ``min_steps`` optimiser steps.

    ``epochs`` (the recipe's) is returned unchanged when it already gives enough steps; otherwise the
    smallest whole number of epochs that does. ``curve_epochs(25, 32, min_steps=10)`` is 10 (one step
    per epoch), ``curve_epochs(250, 32, 10)`` is 2 (8 steps per epoch), ``curve_epochs(1000, 32, 10)``
    is 1.
    """
    if n_pairs < 1 or batch_size < 1:
        raise CostError("n_pairs and batch_size must be at least 1.")
    if min_steps < 0:
        raise CostError("min_steps must be 0 (no floor) or more.")
    per_epoch = math.ceil(n_pairs / batch_size)
    if per_epoch * epochs >= min_steps:
        return epochs
    return int(math.ceil(min_steps / per_epoch))


@dataclass
class Curve:
    """What :func:`learning_curve` returns.

    ``points``: one row per (split, n, seed) with the mean metrics and the epochs and steps trained
    (n = 0: the base model) · ``per_query``: ``{(split, n, seed):
    per-query DataFrame}`` · ``base``: ``{split: per-query DataFrame of the base model}`` ·
    ``runs``: one row per trained model (n, seed, key, seconds, examples, pairs/s, load average).
    """
    points: pd.DataFrame
    per_query: dict
    base: dict
    runs: pd.DataFrame
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        n = sorted(int(v) for v in self.runs["n"].unique()) if len(self.runs) else []
        return (f"Curve({len(self.runs)} models, sizes {n}, splits {sorted(self.base)}, "
                f"{self.seconds:.0f} s)")


def _scores_path(model_key: str, split, ks) -> Path:
    from . import training
    tag = training.split_fingerprint(split)[:16]
    return paths.cache_dir("curves") / f"{model_key}-{tag}-k{'_'.join(map(str, ks))}.csv"


def per_query_scores(model, split, ks=(10,), model_key: str | None = None,
                     cache: bool = True) -> pd.DataFrame:
    """Per-query metrics (index qid, a column per metric@k) of ``model`` on ``split``.

    With ``model_key`` (e.g. a fine-tuning run's key) and ``cache=True`` the table is kept under
    ``data/cache/curves/`` and read back next time instead of encoding the split again.
    """
    from . import metrics

    path = _scores_path(model_key, split, ks) if model_key else None
    if cache and path is not None and path.exists():
        return pd.read_csv(path, dtype={"qid": str}).set_index("qid")
    _, scores = metrics.evaluate(model, split, ks=ks, per_query=True, show_progress_bar=False)
    scores = scores.copy()
    scores.index = scores.index.astype(str)
    scores.index.name = "qid"
    if cache and path is not None:
        tmp = path.with_suffix(".tmp")
        scores.to_csv(tmp)
        tmp.replace(path)
    return scores


def learning_curve(base, train, splits: Mapping, sizes: Sequence[int], seeds: Sequence[int],
                   profile="auto", *, full_seeds: Sequence[int] | None = None, min_steps: int = 0,
                   include_all: bool = True, ks=(10,), cache_scores: bool = True,
                   verbose: bool = True) -> Curve:
    """Fine-tune ``base`` on N pairs of ``train`` for each N and seed; score every model per query.

    base        the base SentenceTransformer (it is never changed)
    train       the training pairs (a ``datasets.Dataset``, anchor, positive[, negative])
    splits      ``{name: IRSplit}``: where to measure, e.g. ``{"icd10cm": test, "general": general}``
    sizes       the grid of N; sizes at or above ``len(train)`` are replaced by one "all" point
    seeds       one run per seed for each N: the seed picks the N pairs and the training order
    profile     the training settings (``helpers.profiles``), as in ``training.fine_tune``
    full_seeds  the seeds for the "all" point (default ``seeds``); e.g. ``(42,)`` reuses the
                workbook recipe's cached model instead of training the full set again
    min_steps   a floor on optimiser steps (see :func:`curve_epochs`); 0 keeps the recipe's epochs

    Every run goes through ``training.fine_tune`` (cached). The "all" point is trained on ``train``
    exactly as given, so with the recipe's seed it is the recipe's model.
    """
    from . import profiles, training

    if not isinstance(splits, Mapping) or not splits:
        raise CostError("splits must be a dict {name: IRSplit} with at least one split.")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise CostError("Give at least one seed.")
    prof = profiles.get(profile)
    grid = curve_sizes(sizes, len(train), include_all=include_all)
    full = [int(s) for s in (full_seeds if full_seeds is not None else seeds)]
    start = time.perf_counter()

    base_key = "base-" + training.model_identity(base)["weights_sha256"][:20]
    base_scores = {name: per_query_scores(base, split, ks, base_key, cache_scores)
                   for name, split in splits.items()}
    points, runs, per_query = [], [], {}
    for name, scores in base_scores.items():
        points.append({"split": name, "n": 0, "seed": None, "epochs": 0, "steps": 0,
                       **scores.mean().to_dict()})

    for n in grid:
        is_all = n >= len(train)
        for seed in (full if is_all else seeds):
            pairs = train if is_all else training.subsample(train, n, seed)
            overrides = {"progress_bar": False}
            if not prof.max_steps:  # a profile with a step cap (smoke) ignores epochs anyway
                epochs = curve_epochs(len(pairs), prof.batch_size, min_steps, prof.epochs)
                if epochs != prof.epochs:  # pass only a real change: the cache key stays the recipe's
                    overrides["epochs"] = epochs
            t0 = time.perf_counter()
            run = training.fine_tune(base, pairs, profile=prof, seed=seed, verbose=False, **overrides)
            settings = run.config.get("settings", {})
            row = {"n": len(pairs), "seed": seed, "epochs": settings.get("epochs"),
                   "steps": run.extra.get("steps"), "examples": run.extra.get("examples"),
                   "train_seconds": round(run.seconds, 2),
                   "pairs_per_second": round(run.pairs_per_second, 2),
                   "cpu_seconds": run.extra.get("cpu_seconds"),
                   "load_avg": run.extra.get("load_avg"), "hardware": run.extra.get("hardware"),
                   "from_cache": run.from_cache, "key": run.key}
            for name, split in splits.items():
                scores = per_query_scores(run.model, split, ks, run.key, cache_scores)
                per_query[(name, len(pairs), seed)] = scores
                points.append({"split": name, "n": len(pairs), "seed": seed,
                               "epochs": row["epochs"], "steps": row["steps"],
                               **scores.mean().to_dict()})
            row["wall_seconds"] = round(time.perf_counter() - t0, 2)
            runs.append(row)
            if verbose:
                how = "cached" if run.from_cache else f"trained in {run.seconds:.0f} s"
                main = next(iter(splits))
                got = per_query[(main, len(pairs), seed)]
                print(f"N={len(pairs):>5,} seed {seed}: {row['steps']} steps, {how} · {main} "
                      + " · ".join(f"{m} {got[m].mean():.3f}" for m in METRICS if m in got))
            del run
            gc.collect()
    return Curve(points=pd.DataFrame(points), per_query=per_query, base=base_scores,
                 runs=pd.DataFrame(runs), seconds=time.perf_counter() - start,
                 extra={"grid": grid, "seeds": seeds, "full_seeds": full, "min_steps": min_steps})


def summarise(curve: Curve, split: str, metrics=METRICS, n_resamples: int = 2000, seed: int = 0,
              alpha: float = 0.05) -> pd.DataFrame:
    """One row per (n, metric): how the fine-tuned models compare with the base on ``split``.

    Columns: ``n``, ``metric``, ``seeds`` (how many runs), ``base``, ``mean`` (the metric averaged
    over seeds), ``seed_min`` / ``seed_max``, ``band_low`` / ``band_high`` (95% bootstrap interval
    of ``mean`` over the test queries), ``gain`` (mean - base), ``ci_low`` / ``ci_high`` and
    ``p_value`` (the paired comparison ``helpers.metrics.compare`` of the base model's per-query
    scores with the seed-averaged per-query scores: the seeds are pooled by averaging each query's
    score over them), ``significant`` (interval above zero and p < alpha) and
    ``seeds_significant`` (how many single seeds pass the same test on their own, e.g. "2/3").
    """
    from . import metrics as _metrics

    if split not in curve.base:
        raise CostError(f"No split {split!r} in this curve; it has {sorted(curve.base)}.")
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    base = curve.base[split]
    missing = [m for m in metrics if m not in base.columns]
    if missing:
        raise CostError(f"Metrics {missing} were not measured; available: {list(base.columns)}.")
    rows = []
    for n in sorted({k[1] for k in curve.per_query if k[0] == split}):
        tables = [t for (s, nn, _), t in curve.per_query.items() if s == split and nn == n]
        pooled = sum(t[metrics] for t in tables) / len(tables)
        table = _metrics.compare(base[metrics], pooled, metrics, n_resamples=n_resamples,
                                 seed=seed, alpha=alpha).set_index("metric")
        singles = [_metrics.compare(base[metrics], t[metrics], metrics, n_resamples=n_resamples,
                                    seed=seed, alpha=alpha).set_index("metric") for t in tables]
        for m in metrics:
            low, high = _metrics.bootstrap_ci(pooled[m].to_numpy(float), n_resamples, seed, alpha)
            seed_means = [float(t[m].mean()) for t in tables]
            r = table.loc[m]
            passed = sum(_significant(s.loc[m], alpha) for s in singles)
            rows.append({"n": int(n), "metric": m, "seeds": len(tables),
                         "base": float(base[m].mean()), "mean": float(np.mean(seed_means)),
                         "seed_min": min(seed_means), "seed_max": max(seed_means),
                         "band_low": low, "band_high": high,
                         "gain": float(r["diff"]), "ci_low": float(r["ci_low"]),
                         "ci_high": float(r["ci_high"]), "p_value": float(r["p_value"]),
                         "significant": _significant(r, alpha),
                         "seeds_significant": f"{passed}/{len(tables)}"})
    return pd.DataFrame(rows)


def _significant(row, alpha: float) -> bool:
    """A gain counts when its whole paired interval lies above zero and the randomization test agrees."""
    return bool(row["ci_low"] > 0 and row["p_value"] < alpha)


def smallest_significant(summary: pd.DataFrame, metric: str = "recall@10",
                         from_then_on: bool = False):
    """The smallest N whose gain in ``metric`` is significant in a :func:`summarise` table, or None.

    ``from_then_on=True`` asks for more: the smallest N from which every larger N in the grid is
    significant too (a single lucky size does not count).
    """
    needed = {"n", "metric", "significant"}
    if not isinstance(summary, pd.DataFrame) or not needed <= set(summary.columns):
        raise CostError("smallest_significant reads the table of costs.summarise(curve, split).")
    rows = summary[summary["metric"] == metric].sort_values("n")
    if rows.empty:
        raise CostError(f"No rows for metric {metric!r}; the table has "
                        f"{sorted(summary['metric'].unique())}.")
    flags = rows["significant"].tolist()
    for i, (n, ok) in enumerate(zip(rows["n"], flags)):
        if ok and (not from_then_on or all(flags[i:])):
            return int(n)
    return None


# --------------------------------------------------------------------------------------------------
# Throughput: measured
# --------------------------------------------------------------------------------------------------
def measure_throughput(base, train, profile_names=("cpu", "gpu"), pairs: int = 512, seed: int = 0,
                       verbose: bool = False) -> pd.DataFrame:
    """Train ``pairs`` pairs for one epoch with each profile's batch size and learning rate, now, on
    this machine, and report how fast it went (one row per profile).

    The runs are never taken from the cache (``cache=False``): the point is to time this machine.
    Columns: profile, batch_size, pairs, steps, seconds, pairs_per_second, cpu_seconds (all threads),
    load_avg (the 1-minute load average after the run: above the number of cores, other programs
    were competing), hardware.
    """
    from . import profiles, training

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


def gpu_measurements(path=None) -> pd.DataFrame:
    """The runs of ``experiments/results.csv`` that trained on a GPU, with their throughput.

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


def fit_step_time(batch_sizes, step_seconds) -> dict:
    """Fit step seconds = per_step + per_pair x batch size to measured GPU runs.

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
    return {"per_step_seconds": float(max(intercept, 0.0)), "per_pair_seconds": float(max(slope, 0.0)),
            "runs": int(x.size)}


# --------------------------------------------------------------------------------------------------
# Throughput: estimated
# --------------------------------------------------------------------------------------------------
def padded_tokens_per_example(model, train, batch_size: int = 32, max_seq_length: int | None = None,
                              sample: int = 2048, seed: int = 0) -> float:
    """Tokens one training example costs, padding included: for each text column, random batches
    are padded to their longest text (capped at ``max_seq_length``), as the trainer does."""
    rng = np.random.default_rng(seed)
    n = len(train)
    idx = rng.permutation(n)[:min(sample, n)]
    cap = int(max_seq_length or getattr(model, "max_seq_length", None) or 512)
    from . import data

    sub = train.select(idx)
    total = 0.0
    for col in train.column_names:
        lengths = np.minimum(data.token_lengths(model, sub[col]), cap).tolist()
        batches = [lengths[i:i + batch_size] for i in range(0, len(lengths), batch_size)]
        total += sum(max(b) * len(b) for b in batches) / max(len(lengths), 1)
    return float(total)


def flops_per_pair(model, train, batch_size: int = 32, max_seq_length: int | None = None) -> float:
    """Training FLOPs per example: 6 x the non-embedding parameters x the (padded) tokens.

    6 = 2 for the forward pass (a multiply and an add per weight and token) + 4 for the backward pass.
    Embedding lookups cost no multiplications and attention's own products are small for short texts,
    so both are left out: a rough, standard estimate (Kaplan et al., 2020).
    """
    params = sum(p.numel() for name, p in model.named_parameters() if "embeddings" not in name)
    tokens = padded_tokens_per_example(model, train, batch_size, max_seq_length)
    return 6.0 * params * tokens


def estimate_pairs_per_second(flops_per_example: float, peak_tflops: float, utilisation: float,
                              batch_size: int = 32, per_step_seconds: float = 0.0,
                              per_pair_seconds: float = 0.0) -> float:
    """Estimated training examples per second on a GPU.

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
def cost_table(jobs: Sequence[Mapping], machines: Sequence[Mapping], setup_minutes: float = 0.0,
               ) -> pd.DataFrame:
    """Time and money of each job on each machine, one row per (job, machine).

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
    :func:`cost_table` (0 when the setup alone costs more)."""
    if price_per_hour <= 0:
        return math.inf
    minutes = dollars / price_per_hour * 60 - setup_minutes
    return max(0.0, minutes * 60 * pairs_per_second)


def peak_memory_gb() -> float | None:
    """The largest resident memory this process has used so far, in GB (None where unknown)."""
    try:
        import resource
        import sys
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 1e9 if sys.platform == "darwin" else peak * 1024 / 1e9
    except (ImportError, OSError):  # pragma: no cover (Windows)
        return None


__all__ = ["Curve", "CostError", "METRICS", "PEAK_TFLOPS", "RECIPE_PRECISION", "cost_table",
           "curve_epochs", "curve_sizes", "estimate_pairs_per_second", "fit_step_time",
           "flops_per_pair", "gpu_measurements", "learning_curve", "measure_throughput",
           "padded_tokens_per_example", "pairs_for_budget", "peak_memory_gb", "per_query_scores",
           "smallest_significant", "summarise"]

