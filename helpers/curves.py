"""Learning curves: how many pairs before fine-tuning helps? (introduced in 07_when_to_fine_tune)

``measure(base, train, splits, sizes, seeds, profile)`` fine-tunes the base model on N training
pairs for every N in ``sizes`` (a different random N-pair sample and training order per seed),
through :func:`helpers.training.fine_tune`, so every run is cached and a second pass only re-loads
and re-scores. Every model is scored per query on every split (the scores are cached too, under
``data/cache/curves/``). ``summarise`` then gives, per N and metric, the mean over seeds, a 95%
band, and a paired test against the base model on the same queries; ``smallest_significant`` reads
off the smallest N whose gain is significant. (``helpers.plots.learning_curve`` draws the result.)

Tiny training sets need a floor on the number of optimiser steps: with the recipe's one epoch at
batch 32, 25 pairs are a single step, and with a linear warm-up that step has learning rate 0 (the
model does not change at all). ``curve_epochs`` adds epochs until a run has at least ``min_steps``
steps.
"""
from __future__ import annotations

import gc
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import metrics, paths, profiles, training
from .errors import InputError

if TYPE_CHECKING:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer

    from .data.containers import IRSplit

CURVE_METRICS = ("recall@10", "ndcg@10")
"""The metrics a learning curve reports by default."""


class CurveError(InputError):
    """Bad input to a learning-curve function; the message says how to fix it."""


def curve_sizes(sizes: Sequence[int], available: int, include_all: bool = True) -> list[int]:
    """The grid sizes smaller than ``available`` (the pairs there are), in order, plus
    ``available`` itself (the "all" point) when ``include_all`` (introduced in
    07_when_to_fine_tune).

    ``curve_sizes((25, 50, 500), 448)`` is ``[25, 50, 448]``.
    """
    if available < 1:
        raise CurveError("There are no training pairs: a learning curve needs at least one.")
    bad = [n for n in sizes if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1]
    if bad:
        raise CurveError(f"Curve sizes are numbers of pairs, whole and positive; got {bad}.")
    grid = sorted({int(n) for n in sizes if n < available})
    if include_all or not grid:
        grid.append(int(available))
    return grid


def curve_epochs(n_pairs: int, batch_size: int, min_steps: int = 0, epochs: float = 1) -> float:
    """Epochs for a run on ``n_pairs`` so that it takes at least ``min_steps`` optimiser steps
    (introduced in 07_when_to_fine_tune).

    ``epochs`` (the recipe's) is returned unchanged when it already gives enough steps; otherwise
    the smallest whole number of epochs that does. ``curve_epochs(25, 32, min_steps=10)`` is 10
    (one step per epoch), ``curve_epochs(250, 32, 10)`` is 2 (8 steps per epoch),
    ``curve_epochs(1000, 32, 10)`` is 1.
    """
    if n_pairs < 1 or batch_size < 1:
        raise CurveError("n_pairs and batch_size must be at least 1.")
    if min_steps < 0:
        raise CurveError("min_steps must be 0 (no floor) or more.")
    per_epoch = math.ceil(n_pairs / batch_size)
    if per_epoch * epochs >= min_steps:
        return epochs
    return int(math.ceil(min_steps / per_epoch))


@dataclass
class Curve:
    """What :func:`measure` returns.

    ``points``: one row per (split, n, seed) with the mean metrics and the epochs and steps trained
    (n = 0: the base model) · ``per_query``: ``{(split, n, seed):
    per-query DataFrame}`` · ``base``: ``{split: per-query DataFrame of the base model}`` ·
    ``runs``: one row per trained model (n, seed, key, seconds, examples, pairs/s, load average).
    """
    points: pd.DataFrame
    per_query: dict[tuple[str, int, int], pd.DataFrame]
    base: dict[str, pd.DataFrame]
    runs: pd.DataFrame
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        n = sorted(int(v) for v in self.runs["n"].unique()) if len(self.runs) else []
        return (f"Curve({len(self.runs)} models, sizes {n}, splits {sorted(self.base)}, "
                f"{self.seconds:.0f} s)")


def _scores_path(model_key: str, split, ks) -> Path:
    tag = training.split_fingerprint(split)[:16]
    return paths.cache_dir("curves") / f"{model_key}-{tag}-k{'_'.join(map(str, ks))}.csv"


def per_query_scores(model: SentenceTransformer, split: IRSplit, ks: Sequence[int] = (10,),
                     model_key: str | None = None, cache: bool = True) -> pd.DataFrame:
    """Per-query metrics (index qid, a column per metric@k) of ``model`` on ``split``.

    With ``model_key`` (e.g. a fine-tuning run's key) and ``cache=True`` the table is kept under
    ``data/cache/curves/`` and read back next time instead of encoding the split again.
    """
    path = _scores_path(model_key, split, ks) if model_key else None
    if cache and path is not None:
        stored = paths.read_cache(path, lambda p: _read_scores(p, split))
        if stored is not None:
            return stored
    scores = metrics.evaluate_per_query(model, split, ks=ks, show_progress_bar=False).per_query
    scores = scores.copy()
    scores.index = scores.index.astype(str)
    scores.index.name = "qid"
    if cache and path is not None:
        paths.write_atomic(path, scores.to_csv())
    return scores


def _read_scores(path: Path, split: IRSplit) -> pd.DataFrame:
    """The cached per-query table at ``path``; raises ``ValueError`` when it is not one row of
    numbers per query of ``split``."""
    scores = pd.read_csv(path, dtype={"qid": str}, encoding="utf-8").set_index("qid")
    if sorted(scores.index) != sorted(str(q) for q in split.queries):
        raise ValueError("its rows are not the split's queries")
    if not len(scores.columns) or not all(pd.api.types.is_numeric_dtype(t) for t in scores.dtypes):
        raise ValueError("it holds no metric columns or a column that is not numbers")
    return scores


def measure(base: SentenceTransformer, train: Dataset, splits: Mapping[str, IRSplit],
            sizes: Sequence[int], seeds: Sequence[int],
            profile: profiles.ProfileName | profiles.Profile = "auto", *,
            full_seeds: Sequence[int] | None = None, min_steps: int = 0,
            include_all: bool = True, ks: Sequence[int] = (10,), cache_scores: bool = True,
            verbose: bool = True) -> Curve:
    """Fine-tune ``base`` on N pairs of ``train`` for each N and seed; score every model per query
    (introduced in 07_when_to_fine_tune).

    base        the base SentenceTransformer (it is never changed)
    train       the training pairs (a ``datasets.Dataset``, anchor, positive[, negative])
    splits      ``{name: IRSplit}``: where to measure, e.g.
                ``{"icd10cm": test, "general": general}``
    sizes       the grid of N; sizes at or above ``len(train)`` are replaced by one "all" point
    seeds       one run per seed for each N: the seed picks the N pairs and the training order
    profile     the training settings (``helpers.profiles``), as in ``training.fine_tune``
    full_seeds  the seeds for the "all" point (default ``seeds``); e.g. ``(42,)`` reuses the
                workbook recipe's cached model instead of training the full set again
    min_steps   a floor on optimiser steps (see :func:`curve_epochs`); 0 keeps the recipe's epochs

    Every run goes through ``training.fine_tune`` (cached). The "all" point is trained on ``train``
    exactly as given, so with the recipe's seed it is the recipe's model.
    """
    if not isinstance(splits, Mapping) or not splits:
        raise CurveError("splits must be a dict {name: IRSplit} with at least one split.")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise CurveError("Give at least one seed.")
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
                # pass only a real change: the cache key stays the recipe's
                if epochs != prof.epochs:
                    overrides["epochs"] = epochs
            t0 = time.perf_counter()
            run = training.fine_tune(base, pairs, profile=prof, seed=seed, verbose=False,
                                     **overrides)
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
                      + " · ".join(f"{m} {got[m].mean():.3f}" for m in CURVE_METRICS if m in got))
            del run
            gc.collect()
    return Curve(points=pd.DataFrame(points), per_query=per_query, base=base_scores,
                 runs=pd.DataFrame(runs), seconds=time.perf_counter() - start,
                 extra={"grid": grid, "seeds": seeds, "full_seeds": full, "min_steps": min_steps})


def summarise(curve: Curve, split: str, metric_names: str | Sequence[str] = CURVE_METRICS,
              n_resamples: int = 2000, seed: int = 0, alpha: float = 0.05) -> pd.DataFrame:
    """One row per (n, metric): how the fine-tuned models compare with the base on ``split``
    (introduced in 07_when_to_fine_tune).

    Columns: ``n``, ``metric``, ``seeds`` (how many runs), ``base``, ``mean`` (the metric averaged
    over seeds), ``seed_min`` / ``seed_max``, ``band_low`` / ``band_high`` (95% bootstrap interval
    of ``mean`` over the test queries), ``gain`` (mean - base), ``ci_low`` / ``ci_high`` and
    ``p_value`` (the paired comparison ``helpers.metrics.compare`` of the base model's per-query
    scores with the seed-averaged per-query scores: the seeds are pooled by averaging each query's
    score over them), ``significant`` (a gain by the workbook's one rule: ``metrics.verdict`` says "better") and
    ``seeds_significant`` (how many single seeds pass the same test on their own, e.g. "2/3").
    """
    if split not in curve.base:
        raise CurveError(f"No split {split!r} in this curve; it has {sorted(curve.base)}.")
    names = [metric_names] if isinstance(metric_names, str) else list(metric_names)
    base = curve.base[split]
    missing = [m for m in names if m not in base.columns]
    if missing:
        raise CurveError(f"Metrics {missing} were not measured; available: {list(base.columns)}.")
    rows = []
    for n in sorted({k[1] for k in curve.per_query if k[0] == split}):
        tables = [t for (s, nn, _), t in curve.per_query.items() if s == split and nn == n]
        pooled = sum(t[names] for t in tables) / len(tables)
        table = metrics.compare(base[names], pooled, names, n_resamples=n_resamples,
                                seed=seed, alpha=alpha).set_index("metric")
        singles = [metrics.compare(base[names], t[names], names, n_resamples=n_resamples,
                                   seed=seed, alpha=alpha).set_index("metric") for t in tables]
        for m in names:
            low, high = metrics.bootstrap_ci(pooled[m].to_numpy(float), n_resamples, seed, alpha)
            seed_means = [float(t[m].mean()) for t in tables]
            r = table.loc[m]
            passed = sum(metrics.verdict(s.loc[m], alpha) == "better" for s in singles)
            rows.append({"n": int(n), "metric": m, "seeds": len(tables),
                         "base": float(base[m].mean()), "mean": float(np.mean(seed_means)),
                         "seed_min": min(seed_means), "seed_max": max(seed_means),
                         "band_low": low, "band_high": high,
                         "gain": float(r["diff"]), "ci_low": float(r["ci_low"]),
                         "ci_high": float(r["ci_high"]), "p_value": float(r["p_value"]),
                         "significant": metrics.verdict(r, alpha) == "better",
                         "seeds_significant": f"{passed}/{len(tables)}"})
    return pd.DataFrame(rows)


def smallest_significant(summary: pd.DataFrame, metric: str = "recall@10",
                         from_then_on: bool = False) -> int | None:
    """The smallest N whose gain in ``metric`` is significant in a :func:`summarise` table, or None
    (introduced in 07_when_to_fine_tune).

    ``from_then_on=True`` asks for more: the smallest N from which every larger N in the grid is
    significant too (a single lucky size does not count).
    """
    needed = {"n", "metric", "significant"}
    if not isinstance(summary, pd.DataFrame) or not needed <= set(summary.columns):
        raise CurveError("smallest_significant reads the table of curves.summarise(curve, split).")
    rows = summary[summary["metric"] == metric].sort_values("n")
    if rows.empty:
        raise CurveError(f"No rows for metric {metric!r}; the table has "
                        f"{sorted(summary['metric'].unique())}.")
    flags = rows["significant"].tolist()
    for i, (n, ok) in enumerate(zip(rows["n"], flags)):
        if ok and (not from_then_on or all(flags[i:])):
            return int(n)
    return None


__all__ = ["CURVE_METRICS", "Curve", "CurveError", "curve_epochs", "curve_sizes", "measure",
           "per_query_scores", "smallest_significant", "summarise"]
