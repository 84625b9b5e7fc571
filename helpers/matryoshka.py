"""Matryoshka embeddings: quality, storage and search time at each size (introduced in 04_matryoshka).

A Matryoshka model is trained so that the first N numbers of its embedding are a usable embedding on
their own. This module measures what that buys:

* ``truncate_split(embeddings, dims)``: the vectors of :func:`helpers.metrics.encode_split` cut to
  their first ``dims`` numbers and re-normalised, so one encoding serves every size.
* ``truncated(model, dims)``: a ``with`` block in which ``model.encode`` returns ``dims`` numbers
  (sentence-transformers' ``truncate_dim``), restored afterwards.
* ``scores_by_dims(embeddings, split, dims)``: NDCG@10 and Recall@10 (or other metrics) of several
  models at several sizes, with bootstrap confidence intervals, from one encoding per model.
* ``storage_table(dims)``: bytes per vector and megabytes per million vectors in float32, int8 and
  binary, measured on the arrays sentence-transformers' ``quantize_embeddings`` returns.
* ``random_unit_vectors`` and ``search_times``: milliseconds per query of exact search at each size
  on a corpus large enough for the size to matter.
* ``step_seconds(loss, batch)``: the time of one training step's forward and backward pass, to
  compare what MatryoshkaLoss adds to the loss it wraps.

Bad input raises :class:`MatryoshkaError` (an :class:`helpers.errors.InputError`, so also a
``ValueError``) with a plain-words message.
"""
from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from . import metrics
from .errors import InputError, check_whole

if TYPE_CHECKING:
    import datasets
    import pandas as pd
    import torch
    from sentence_transformers import SentenceTransformer

    from .data.containers import IRSplit
    from .metrics import SplitEmbeddings

    Precision = Literal["float32", "int8", "binary"]
    """One of :data:`PRECISIONS`."""

DIMS = (384, 256, 128, 64, 32)
"""The sizes notebook 04 trains and evaluates all-MiniLM-L6-v2 at (384 is its full size)."""

PRECISIONS = ("float32", "int8", "binary")
"""The storage formats of :func:`storage_table`: 4 bytes, 1 byte and 1 bit per number."""


class MatryoshkaError(InputError):
    """Bad input to a function of this module; the message says what is wrong and how to fix it."""


def _check_dims(dims, full=None):
    """A tuple of whole numbers from 1 to ``full``, largest first, each once."""
    if isinstance(dims, (int, np.integer)) and not isinstance(dims, bool):
        dims = (dims,)
    try:
        dims = tuple(dims)
    except TypeError:
        raise MatryoshkaError(f"dims must be a list of sizes such as [384, 128, 64], got {dims!r}.") from None
    if not dims:
        raise MatryoshkaError("Give at least one size in dims, e.g. [384, 128, 64].")
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
            raise MatryoshkaError(f"Each size in dims must be a whole number of 1 or more, got {d!r}.")
        if full is not None and d > full:
            raise MatryoshkaError(f"Size {d} is larger than the embeddings ({full} numbers): a "
                                  f"Matryoshka size keeps the first N numbers, so N can be at most {full}.")
    return tuple(sorted({int(d) for d in dims}, reverse=True))


def _check_split_embeddings(embeddings, name="embeddings"):
    if not isinstance(embeddings, tuple) or len(embeddings) != 4:
        raise MatryoshkaError(f"{name} must come from metrics.encode_split(model, split): "
                              f"(qids, q_emb, doc_ids, d_emb), got {type(embeddings).__name__}.")
    return embeddings


# --------------------------------------------------------------------------------------------------
# Truncation
# --------------------------------------------------------------------------------------------------

def truncate_split(embeddings: SplitEmbeddings, dims: int) -> SplitEmbeddings:
    """The embeddings of :func:`helpers.metrics.encode_split` cut to ``dims`` numbers, re-normalised
    (introduced in 04_matryoshka).

    Returns a new ``SplitEmbeddings`` (the ids are kept), usable wherever the full one is, e.g.
    ``explore.side_by_side(..., embeddings={"name": truncate_split(emb, 64)})``.
    """
    qids, q_emb, doc_ids, d_emb = _check_split_embeddings(embeddings)
    (dims,) = _check_dims(dims, full=np.shape(d_emb)[1])
    return metrics.SplitEmbeddings(list(qids), metrics.truncate(q_emb, dims), list(doc_ids),
                                   metrics.truncate(d_emb, dims))


@contextlib.contextmanager
def truncated(model: SentenceTransformer, dims: int | None) -> Iterator[SentenceTransformer]:
    """Within the block, ``model.encode`` (and encode_query / encode_document) return ``dims``
    numbers (introduced in 04_matryoshka).

    Sets sentence-transformers' ``model.truncate_dim`` and puts the old value back afterwards
    (``dims=None``: the full size). The
    vectors are cut *after* the model's own normalisation, so pass ``normalize_embeddings=True`` to
    get unit vectors again (``helpers.metrics`` and ``helpers.explore`` always do)::

        with matryoshka.truncated(model, 64):
            vectors = model.encode(texts, normalize_embeddings=True)   # 64 numbers, length 1
    """
    if not hasattr(model, "truncate_dim") or not hasattr(model, "encode"):
        raise MatryoshkaError(f"truncated() needs a SentenceTransformer (with truncate_dim), got "
                              f"{type(model).__name__}.")
    full = model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension") else None
    if dims is not None:
        (dims,) = _check_dims(dims, full=full)
    before = model.truncate_dim
    model.truncate_dim = dims
    try:
        yield model
    finally:
        model.truncate_dim = before


# --------------------------------------------------------------------------------------------------
# Quality at each size
# --------------------------------------------------------------------------------------------------

def scores_by_dims(embeddings: Mapping[str, SplitEmbeddings],
                   split: IRSplit | Mapping[str, Mapping], dims: int | Sequence[int] = DIMS,
                   metric_names: str | Sequence[str] = ("ndcg@10", "recall@10"), ci: bool = True,
                   n_resamples: int = 2000, seed: int = 0, alpha: float = 0.05,
                   ) -> tuple[pd.DataFrame, dict[tuple[str, int], pd.DataFrame]]:
    """Each model's metrics at each size, from one full-size encoding per model (04_matryoshka).

    ``embeddings`` maps a model's name to :func:`helpers.metrics.encode_split` of ``split``, e.g.
    ``{"base": encode_split(base, test), "matryoshka": encode_split(mat, test)}``. For every size the
    vectors are cut and re-normalised (``metrics.search_embeddings(..., dims=d)``), never re-encoded.

    ``metric_names`` names the metrics (one or several, each ``<metric>@<k>``).

    Returns ``(table, per_query)``. ``table`` has one row per model and size: columns ``model``,
    ``dims``, each metric's mean, with ``ci=True`` its 95% bootstrap interval
    (``<metric>_ci_low`` / ``_ci_high``), and ``<metric>_kept``, the share of the model's own score at
    its largest size. ``per_query`` maps ``(model, dims)`` to the per-query table (for
    ``metrics.compare``).
    """
    import pandas as pd

    if not isinstance(embeddings, Mapping) or not embeddings:
        raise MatryoshkaError("embeddings must be a dict {model name: metrics.encode_split(model, "
                              "split)}, e.g. {'base': base_emb, 'matryoshka': mat_emb}.")
    names = [metric_names] if isinstance(metric_names, str) else list(metric_names)
    if not names or any("@" not in str(m) for m in names):
        raise MatryoshkaError(f"metric_names are names such as 'ndcg@10' or 'recall@10', got "
                              f"{metric_names!r}.")
    ks = sorted({int(str(m).split("@")[1]) for m in names})
    rows, per_query = [], {}
    for name, emb in embeddings.items():
        _check_split_embeddings(emb, f"embeddings[{name!r}]")
        sizes = _check_dims(dims, full=np.shape(emb[3])[1])
        for d in sizes:
            table = metrics.evaluate_per_query(None, split, ks=ks, dims=d, embeddings=emb).per_query
            missing = [m for m in names if m not in table.columns]
            if missing:
                raise MatryoshkaError(f"Unknown metric {missing[0]!r}; known: "
                                      f"{', '.join(table.columns)}.")
            per_query[(name, d)] = table
            row = {"model": str(name), "dims": d}
            for m in names:
                values = table[m].to_numpy(float)
                row[m] = float(values.mean())
                if ci:
                    row[f"{m}_ci_low"], row[f"{m}_ci_high"] = metrics.bootstrap_ci(
                        values, n_resamples, seed, alpha)
            rows.append(row)
    table = pd.DataFrame(rows)
    for m in names:  # the share of each model's own score at its largest size
        full = table.groupby("model", sort=False)[m].transform("first")
        table[f"{m}_kept"] = table[m] / full.where(full > 0)
    return table, per_query


# --------------------------------------------------------------------------------------------------
# What each size costs: storage and search time
# --------------------------------------------------------------------------------------------------

def random_unit_vectors(n: int, dims: int = 384, seed: int = 0) -> np.ndarray:
    """``n`` random float32 vectors of length 1, a stand-in corpus for timing searches (introduced
    in 04_matryoshka)."""
    check_whole(n, "n", MatryoshkaError)
    check_whole(dims, "dims", MatryoshkaError)
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((int(n), int(dims)), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def quantized_bytes(embeddings: np.ndarray, precision: Precision) -> int:
    """Bytes per vector of ``embeddings`` stored at ``precision`` ("float32", "int8", "binary"),
    measured on what sentence-transformers' ``quantize_embeddings`` returns."""
    from sentence_transformers import quantize_embeddings

    emb = np.asarray(embeddings, dtype=np.float32)
    if emb.ndim != 2 or len(emb) == 0:
        raise MatryoshkaError(f"embeddings must be a non-empty 2-D array, got shape {emb.shape}.")
    if precision not in PRECISIONS:
        raise MatryoshkaError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}.")
    stored = emb if precision == "float32" else quantize_embeddings(emb, precision=precision)
    return int(stored.nbytes // len(stored))


def storage_table(dims: int | Sequence[int] = DIMS, n_vectors: int = 1_000_000,
                  precisions: Precision | Sequence[Precision] = PRECISIONS,
                  sample: np.ndarray | None = None) -> pd.DataFrame:
    """Bytes per vector, and megabytes for ``n_vectors`` vectors, at each size and precision
    (introduced in 04_matryoshka).

    The bytes are measured: a ``sample`` of embeddings (default: 64 random unit vectors) is cut to
    each size and stored with ``quantize_embeddings``. float32 takes 4 bytes per number, int8 one
    byte, binary one bit (8 numbers per byte). Returns one row per size: ``dims``, ``bytes
    <precision>`` and ``MB <precision>`` (for ``n_vectors``; 1 MB = 1,000,000 bytes).
    """
    import pandas as pd

    check_whole(n_vectors, "n_vectors", MatryoshkaError)
    precisions = [precisions] if isinstance(precisions, str) else list(precisions)
    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown or not precisions:
        raise MatryoshkaError(f"precisions must be among {', '.join(PRECISIONS)}, got {precisions!r}.")
    if sample is None:
        sample = random_unit_vectors(64, max(_check_dims(dims)))
    sample = np.asarray(sample, dtype=np.float32)
    if sample.ndim != 2 or len(sample) < 2:
        raise MatryoshkaError("sample must be a 2-D array of at least 2 embeddings (int8 "
                              "quantisation learns each number's range from them).")
    sizes = _check_dims(dims, full=sample.shape[1])
    rows = []
    for d in sizes:
        row = {"dims": d}
        for p in precisions:
            row[f"bytes {p}"] = quantized_bytes(sample[:, :d], p)
        for p in precisions:
            row[f"MB {p}"] = row[f"bytes {p}"] * int(n_vectors) / 1e6
        rows.append(row)
    return pd.DataFrame(rows)


def search_times(query_emb: np.ndarray, corpus_emb: np.ndarray, dims: int | Sequence[int] = DIMS,
                 k: int = 10, repeats: int = 3) -> pd.DataFrame:
    """Milliseconds per query of exact top-``k`` search at each size (04_matryoshka).

    For each size the queries and the corpus are cut and re-normalised first (as a system would store
    them), then ``metrics.search_embeddings`` is timed ``repeats`` times; the fastest run counts (the
    others were slowed by something else on the machine). Returns one row per size: ``dims``,
    ``corpus``, ``queries``, ``seconds`` (all queries), ``ms_per_query`` and ``speedup`` (against the
    largest size).
    """
    import pandas as pd

    queries = np.asarray(query_emb, dtype=np.float32)
    corpus = np.asarray(corpus_emb, dtype=np.float32)
    if queries.ndim != 2 or corpus.ndim != 2 or not len(queries) or not len(corpus):
        raise MatryoshkaError("query_emb and corpus_emb must be non-empty 2-D arrays (one row per text).")
    if queries.shape[1] != corpus.shape[1]:
        raise MatryoshkaError(f"Queries have {queries.shape[1]} numbers but documents "
                              f"{corpus.shape[1]}: encode both with the same model.")
    check_whole(repeats, "repeats", MatryoshkaError)
    rows = []
    for d in _check_dims(dims, full=corpus.shape[1]):
        q, c = metrics.truncate(queries, d), metrics.truncate(corpus, d)
        best = math.inf
        for _ in range(int(repeats)):
            start = time.perf_counter()
            metrics.search_embeddings(q, c, k=k, normalize=False)
            best = min(best, time.perf_counter() - start)
        rows.append({"dims": d, "corpus": len(c), "queries": len(q), "seconds": best,
                     "ms_per_query": 1000 * best / len(q)})
    table = pd.DataFrame(rows)
    table["speedup"] = table["seconds"].iloc[0] / table["seconds"]
    return table


def step_seconds(loss: torch.nn.Module, batch: datasets.Dataset, repeats: int = 3) -> float:
    """Seconds for one training step's forward and backward pass of ``loss`` on ``batch`` (04_matryoshka).

    ``loss`` is a sentence-transformers loss (it knows its model as ``loss.model``); ``batch`` a
    ``datasets.Dataset`` with columns anchor, positive[, negative], taken as one batch. The step is
    run ``repeats`` times and the fastest counts. No optimiser step is taken: the gradients are
    thrown away and the model's weights and train/eval mode are left as they were.
    """
    import torch

    model = getattr(loss, "model", None)
    if model is None or not hasattr(model, "preprocess"):
        raise MatryoshkaError("loss must be a sentence-transformers loss built on a model, e.g. "
                              "losses.MultipleNegativesRankingLoss(model).")
    columns = list(getattr(batch, "column_names", []))
    if columns[:2] != ["anchor", "positive"] or len(batch) < 2:
        raise MatryoshkaError("batch must be a datasets.Dataset of at least 2 rows with columns anchor, "
                              "positive[, negative], e.g. ds.train.select(range(32)).")
    check_whole(repeats, "repeats", MatryoshkaError)
    features = [model.preprocess(list(batch[column])) for column in columns]
    features = [{k: v.to(model.device) if torch.is_tensor(v) else v for k, v in f.items()}
                for f in features]
    was_training = model.training
    model.train()
    best = math.inf
    try:
        for _ in range(int(repeats)):
            model.zero_grad(set_to_none=True)
            start = time.perf_counter()
            loss(features, None).backward()
            best = min(best, time.perf_counter() - start)
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return best
