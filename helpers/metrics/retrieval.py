"""Exact search over embeddings, and ``evaluate``: a model and a split in, metrics out
(05_evaluation).

``search_embeddings`` (arrays in, a run out) scores the corpus in chunks, so 100,000 documents never
need more than a few hundred MB; ``encode_split`` encodes a split once so several searches (or
Matryoshka sizes) reuse it; ``evaluate`` / ``evaluate_per_query`` search and score in one call;
``wide`` and ``against_thresholds`` reshape the result.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .ranking import (CHUNK_SIZE, METRICS, QUERY_CHUNK_SIZE, THRESHOLDS, MetricsError, check_ks,
                      ir_metrics_per_query)

if TYPE_CHECKING:
    import pandas as pd
    import torch
    from numpy.typing import ArrayLike
    from sentence_transformers import SentenceTransformer

    from ..data.containers import IRSplit
    from .ranking import Run

    Embeddings = np.ndarray | torch.Tensor
    """One embedding per row: a numpy array or a tensor (queries x d, or documents x d)."""
    Split = IRSplit | Mapping[str, Mapping]
    """An IR split: an ``IRSplit``, or a dict of queries, corpus and qrels."""
    Scores = pd.DataFrame | pd.Series | Mapping[str, float]
    """Metric values: a tidy table from ``evaluate``, a row from ``wide``, or a dict."""

# --------------------------------------------------------------------------------------------------
# 3. Exact search over embeddings
# --------------------------------------------------------------------------------------------------

def truncate(embeddings: ArrayLike, dims: int | None = None) -> np.ndarray:
    """Keep the first ``dims`` numbers of each embedding and re-normalise to length 1 (Matryoshka;
    introduced in 04_matryoshka).

    With ``dims=None`` the embeddings are only normalised. Returns a float32 numpy array.
    """
    emb = np.asarray(embeddings, dtype=np.float32)
    if emb.ndim != 2:
        raise MetricsError(f"Embeddings must be a 2-D array (one row per text), got shape "
                           f"{emb.shape}.")
    if dims is not None:
        if (isinstance(dims, bool) or not isinstance(dims, (int, np.integer))
                or not 1 <= dims <= emb.shape[1]):
            raise MetricsError(f"dims must be a whole number from 1 to {emb.shape[1]} (the "
                               f"embedding size), got {dims!r}.")
        emb = emb[:, :dims]
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    return emb / np.maximum(norms, 1e-12)


def _as_rows(array, name, dims, normalize):
    """A float32 CPU tensor of ``array`` (a view when possible), cut to ``dims`` and normalised."""
    import torch

    if not torch.is_tensor(array):
        array = np.asarray(array)
        if not array.flags.writeable:  # torch warns about read-only arrays; copy this chunk
            array = array.copy()
    rows = torch.as_tensor(array).detach().to(device="cpu", dtype=torch.float32)
    if rows.ndim != 2:
        raise MetricsError(f"{name} must be a 2-D array (one row per text), got shape "
                           f"{tuple(rows.shape)}.")
    if dims is not None:
        rows = rows[:, :dims]
    if normalize:
        rows = torch.nn.functional.normalize(rows, dim=1)
    return rows


def _best_first(scores, indices, tie_rank, k):
    """Sort each row of candidates by score descending, then by ``tie_rank`` ascending; keep k."""
    import torch

    order = torch.argsort(tie_rank[indices], dim=1, stable=True)
    scores, indices = scores.gather(1, order), indices.gather(1, order)
    order = torch.argsort(scores, dim=1, descending=True, stable=True)
    return scores.gather(1, order)[:, :k], indices.gather(1, order)[:, :k]


def _chunk_top_k(scores, k, tie_rank):
    """The best k columns of each row of a score block, exactly, with ties decided by ``tie_rank``.

    ``torch.topk`` picks arbitrarily among equal scores. When a row's (k+1)-th best score equals its
    k-th, more documents are tied at the boundary than fit: for that (rare) row all the tied
    candidates are gathered and ordered by ``tie_rank``.
    """
    import torch

    values, indices = torch.topk(scores, min(k + 1, scores.shape[1]), dim=1)
    if values.shape[1] == k:                      # the chunk has only k documents: take them all
        return _best_first(values, indices, tie_rank, k)
    crowded = (values[:, k] == values[:, k - 1]).nonzero().flatten().tolist()
    values, indices = values[:, :k], indices[:, :k]
    kth = values[:, -1:]
    for row in crowded:
        candidates = (scores[row] >= kth[row]).nonzero().flatten().unsqueeze(0)
        best_v, best_i = _best_first(scores[row].unsqueeze(0).gather(1, candidates), candidates,
                                     tie_rank, k)
        values[row], indices[row] = best_v[0], best_i[0]
    return values, indices


def top_k(query_emb: Embeddings, corpus_emb: Embeddings, k: int = 10, dims: int | None = None,
          normalize: bool = True, chunk_size: int = CHUNK_SIZE,
          query_chunk_size: int = QUERY_CHUNK_SIZE,
          tie_rank: ArrayLike | torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-k by dot product (cosine when ``normalize``): returns (scores, indices) tensors.

    Both are (queries, k), best first. The corpus is scored ``chunk_size`` documents at a time for
    ``query_chunk_size`` queries at a time, and each chunk's best k are merged into the running best
    k, so memory stays at one score block, whatever the corpus size. ``tie_rank`` (one integer per
    document, lower wins) orders equal scores; by default the earlier document wins.
    """
    import torch

    for name, size in (("chunk_size", chunk_size), ("query_chunk_size", query_chunk_size),
                       ("k", k)):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise MetricsError(f"{name} must be a whole number of 1 or more, got {size!r}.")
    n_queries, n_docs = len(query_emb), len(corpus_emb)
    if n_docs == 0 or n_queries == 0:
        raise MetricsError(f"Nothing to search: {n_queries} queries and {n_docs} documents.")
    q_width = _as_rows(query_emb[:1], "query_emb", None, False).shape[1]
    width = _as_rows(corpus_emb[:1], "corpus_emb", None, False).shape[1]
    if q_width != width:
        raise MetricsError(f"Queries have {q_width} dimensions but documents {width}; encode both "
                           "with the same model (and the same dims).")
    if dims is not None and (isinstance(dims, bool) or not isinstance(dims, (int, np.integer))
                             or not 1 <= dims <= width):
        raise MetricsError(f"dims must be a whole number from 1 to {width} (the embedding size), "
                           f"got {dims!r}.")
    queries = _as_rows(query_emb, "query_emb", dims, normalize)
    k = min(int(k), n_docs)
    tie_rank = (torch.arange(n_docs) if tie_rank is None
                else torch.as_tensor(tie_rank, dtype=torch.long))

    best_scores = torch.empty((len(queries), 0))
    best_indices = torch.empty((len(queries), 0), dtype=torch.long)
    for start in range(0, n_docs, chunk_size):
        chunk = _as_rows(corpus_emb[start:start + chunk_size], "corpus_emb", dims, normalize)
        merged_scores, merged_indices = [], []
        for q_start in range(0, len(queries), query_chunk_size):
            q_end = q_start + query_chunk_size
            # Score this block of queries against this chunk of documents, keep its best k. The
            # score block is the only large object; it is freed as soon as _chunk_top_k returns.
            values, indices = _chunk_top_k(queries[q_start:q_end] @ chunk.T, min(k, len(chunk)),
                                           tie_rank[start:])
            values = torch.cat([best_scores[q_start:q_end], values], dim=1)
            indices = torch.cat([best_indices[q_start:q_end], indices + start], dim=1)
            values, indices = _best_first(values, indices, tie_rank, k)
            merged_scores.append(values)
            merged_indices.append(indices)
        best_scores, best_indices = torch.cat(merged_scores), torch.cat(merged_indices)
    return best_scores, best_indices


def _tie_rank_for(doc_ids):
    """Integer tie ranks giving trec_eval's order among equal scores: doc_id descending."""
    order = sorted(range(len(doc_ids)), key=doc_ids.__getitem__, reverse=True)
    rank = np.empty(len(doc_ids), dtype=np.int64)
    rank[order] = np.arange(len(doc_ids))
    return rank


def search_embeddings(query_emb: Embeddings, corpus_emb: Embeddings, k: int = 10,
                      query_ids: Iterable[str] | None = None, doc_ids: Iterable[str] | None = None,
                      dims: int | None = None, normalize: bool = True,
                      chunk_size: int = CHUNK_SIZE,
                      query_chunk_size: int = QUERY_CHUNK_SIZE) -> dict[str, dict[str, float]]:
    """Exact cosine search on arrays: returns a run ``{qid: {doc_id: score}}`` of the top k
    (introduced in 04_matryoshka).

    ``query_emb`` (queries x d) and ``corpus_emb`` (documents x d) are numpy arrays or tensors;
    ``query_ids`` / ``doc_ids`` name their rows (default "0", "1", ...). ``dims`` keeps the first
    ``dims`` dimensions and re-normalises (Matryoshka). The corpus is read chunk by chunk and never
    copied whole. Among equal scores the kept documents are those trec_eval would rank first
    (doc_id descending), so the run's metrics do not depend on ``chunk_size``.
    """
    n_queries, n_docs = len(query_emb), len(corpus_emb)
    query_ids = [str(i) for i in range(n_queries)] if query_ids is None else list(query_ids)
    doc_ids = [str(i) for i in range(n_docs)] if doc_ids is None else list(doc_ids)
    if len(query_ids) != n_queries or len(doc_ids) != n_docs:
        raise MetricsError(f"{len(query_ids)} query ids for {n_queries} query rows and "
                           f"{len(doc_ids)} doc ids for {n_docs} document rows: they must match.")
    if len(set(doc_ids)) != n_docs or len(set(query_ids)) != n_queries:
        raise MetricsError("Query ids and doc ids must each be unique.")
    scores, indices = top_k(query_emb, corpus_emb, k, dims=dims, normalize=normalize,
                            chunk_size=chunk_size, query_chunk_size=query_chunk_size,
                            tie_rank=_tie_rank_for(doc_ids))
    run = {}
    for qid, row_scores, row_indices in zip(query_ids, scores.tolist(), indices.tolist()):
        run[qid] = {doc_ids[i]: score for i, score in zip(row_indices, row_scores)}
    return run


def split_part(split: Split, name: str) -> Mapping:
    """``split.name`` or ``split["name"]``: an IR split may be an object or a dict."""
    value = split.get(name) if isinstance(split, Mapping) else getattr(split, name, None)
    if value is None:
        raise MetricsError(f"The split has no {name!r}. An IR split has queries {{qid: text}}, "
                           "corpus {doc_id: text} and qrels {qid: {doc_id: relevance}}.")
    if not isinstance(value, Mapping) or not value:
        raise MetricsError(f"The split's {name!r} must be a non-empty dict, got "
                           f"{type(value).__name__} of length "
                           f"{len(value) if hasattr(value, '__len__') else '?'}.")
    return value


class SplitEmbeddings(NamedTuple):
    """What ``encode_split`` returns: ids and normalised float32 embeddings, row for row."""
    qids: list[str]
    q_emb: np.ndarray
    doc_ids: list[str]
    d_emb: np.ndarray


def encode_split(model: SentenceTransformer, split: Split, dims: int | None = None,
                 batch_size: int = 64, show_progress_bar: bool = True) -> SplitEmbeddings:
    """Encode a split's queries and corpus once, so several searches (or dims) can reuse them
    (introduced in 01_why_fine_tune).

    Returns ``SplitEmbeddings(qids, q_emb, doc_ids, d_emb)`` (unpacks like a tuple), normalised,
    cut to ``dims`` first when given. Queries go through ``model.encode_query`` and documents
    through ``model.encode_document``, which apply a model's query/document prompts if it has any.
    """
    queries, corpus = split_part(split, "queries"), split_part(split, "corpus")
    qids, doc_ids = list(queries), list(corpus)
    encode_query = getattr(model, "encode_query", model.encode)
    encode_document = getattr(model, "encode_document", model.encode)
    options = dict(batch_size=batch_size, show_progress_bar=show_progress_bar,
                   normalize_embeddings=True, convert_to_numpy=True)
    q_emb = encode_query([queries[qid] for qid in qids], **options)
    d_emb = encode_document([corpus[doc_id] for doc_id in doc_ids], **options)
    return SplitEmbeddings(qids, truncate(q_emb, dims), doc_ids, truncate(d_emb, dims))


def search(model: SentenceTransformer | None, split: Split, k: int = 10, dims: int | None = None,
           batch_size: int = 64, show_progress_bar: bool = True, chunk_size: int = CHUNK_SIZE,
           embeddings: SplitEmbeddings | None = None) -> dict[str, dict[str, float]]:
    """Encode the split (or reuse ``embeddings`` from ``encode_split``) and return its top-k run
    (introduced in 01_why_fine_tune).

    ``dims`` keeps the first ``dims`` dimensions and re-normalises (Matryoshka), so one
    ``encode_split`` serves every dimension: ``search(None, split, dims=64, embeddings=emb)``.
    """
    if embeddings is None:
        if model is None:
            raise MetricsError("Pass a model, or embeddings from encode_split(model, split).")
        embeddings = encode_split(model, split, batch_size=batch_size,
                                  show_progress_bar=show_progress_bar)
    qids, q_emb, doc_ids, d_emb = embeddings
    return search_embeddings(q_emb, d_emb, k, query_ids=qids, doc_ids=doc_ids, dims=dims,
                             chunk_size=chunk_size)


# --------------------------------------------------------------------------------------------------
# 4. evaluate(): a tidy table, and two ways to look at it
# --------------------------------------------------------------------------------------------------

def _warn_about_split(split):
    """Warn when the qrels point at queries or documents the split does not have."""
    queries, corpus, qrels = (split_part(split, name) for name in ("queries", "corpus", "qrels"))
    lost_queries = [qid for qid in qrels if qid not in queries]
    lost_docs = {doc for judged in qrels.values() for doc, rel in judged.items()
                 if rel > 0 and doc not in corpus}
    if lost_queries:
        warnings.warn(f"{len(lost_queries)} queries in the qrels have no text in the split's "
                      f"queries, e.g. {lost_queries[0]!r}; they cannot be searched and count as "
                      "misses.",
                      stacklevel=3)
    if lost_docs:
        warnings.warn(f"{len(lost_docs)} relevant documents in the qrels are not in the corpus, "
                      f"e.g. {sorted(lost_docs)[0]!r}; they can never be found, which lowers "
                      "recall.",
                      stacklevel=3)
    return qrels


class Evaluation(NamedTuple):
    """What :func:`evaluate_per_query` returns (unpacks like a tuple): the tidy table of means and
    the per-query scores, indexed by qid, one column per metric@k (keep them for ``compare``)."""
    table: pd.DataFrame
    per_query: pd.DataFrame


def evaluate_per_query(model: SentenceTransformer | None, split: Split,
                       ks: Sequence[int] = (1, 3, 5, 10), dims: int | None = None,
                       run: Run | None = None, *, embeddings: SplitEmbeddings | None = None,
                       batch_size: int = 64, show_progress_bar: bool = True) -> Evaluation:
    """Search the split with the model and score every metric at every k, per query (introduced in
    01_why_fine_tune).

    Returns ``Evaluation(table, per_query)``: the tidy table of :func:`evaluate` and the per-query
    scores it averages. Pass ``run`` to score a run you already have (``model`` may then be None),
    or ``embeddings`` from :func:`encode_split` to skip encoding. ``dims``: Matryoshka truncation.
    """
    import pandas as pd

    ks = check_ks(ks)
    qrels = _warn_about_split(split) if run is None else split_part(split, "qrels")
    if run is None:
        run = search(model, split, k=max(ks), dims=dims, batch_size=batch_size,
                     show_progress_bar=show_progress_bar, embeddings=embeddings)
    scores = ir_metrics_per_query(run, qrels, ks)
    means = scores.mean()
    table = pd.DataFrame([{"metric": metric, "k": k, "value": float(means[f"{metric}@{k}"])}
                          for metric in METRICS for k in ks])
    return Evaluation(table, scores)


def evaluate(model: SentenceTransformer | None, split: Split, ks: Sequence[int] = (1, 3, 5, 10),
             dims: int | None = None, run: Run | None = None, *,
             embeddings: SplitEmbeddings | None = None, batch_size: int = 64,
             show_progress_bar: bool = True) -> pd.DataFrame:
    """Search the split with the model and score every metric at every k (introduced in
    02_training_data).

    Returns a tidy DataFrame with columns ``metric``, ``k``, ``value`` (the mean over queries).
    :func:`evaluate_per_query` also returns the per-query scores (for :func:`compare`). Arguments
    as there.
    """
    return evaluate_per_query(model, split, ks, dims, run, embeddings=embeddings,
                              batch_size=batch_size, show_progress_bar=show_progress_bar).table


def _as_dict(scores):
    """``{"recall@10": value, ...}`` from a tidy table, a one-row wide table, a Series or a dict."""
    import pandas as pd

    if isinstance(scores, pd.DataFrame):
        if {"metric", "k", "value"} <= set(scores.columns):
            return {f"{m}@{k}": float(v) for m, k, v in
                    scores[["metric", "k", "value"]].itertuples(index=False)}
        if len(scores) != 1:
            raise MetricsError(f"Expected a tidy table (metric, k, value) or one row of "
                               f"'recall@10'-style columns; got {len(scores)} rows.")
        scores = scores.iloc[0]
    if isinstance(scores, pd.Series):
        scores = scores.to_dict()
    if not isinstance(scores, Mapping):
        raise MetricsError(f"Expected a table from evaluate() or a dict of metrics, got "
                           f"{type(scores).__name__}.")
    return dict(scores)


def wide(table: Scores, name: str | None = None) -> pd.DataFrame:
    """One row with a column per metric@k ("recall@10", ...): handy to stack several models
    (introduced in 02_training_data).

    ``pd.concat([wide(base, "base"), wide(tuned, "tuned")])`` compares them side by side.
    """
    import pandas as pd

    return pd.DataFrame([_as_dict(table)], index=[name if name is not None else "value"])


def against_thresholds(scores: Scores,
                       thresholds: Mapping[str, float] | None = None) -> pd.DataFrame:
    """The seed tutorial's targets next to our values: metric, value, threshold, pass (bool)
    (introduced in 05_evaluation).

    ``scores`` is a table from :func:`evaluate`, a row from :func:`wide`, or a dict such as
    :func:`ir_metrics` returns. A value passes when it is above its threshold.
    """
    import pandas as pd

    thresholds = THRESHOLDS if thresholds is None else thresholds
    values = _as_dict(scores)
    missing = [name for name in thresholds if name not in values]
    if missing:
        raise MetricsError(f"No value for {', '.join(missing)}; evaluate with ks including 10, "
                           "e.g. ks=(1, 3, 5, 10).")
    rows = [{"metric": name, "value": float(values[name]), "threshold": float(limit),
             "pass": bool(values[name] > limit)} for name, limit in thresholds.items()]
    return pd.DataFrame(rows, columns=["metric", "value", "threshold", "pass"])
