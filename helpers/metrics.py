"""Retrieval metrics, exact search, evaluation and paired comparison (introduced in notebook 05).

The pieces, from small to large:

1. One ranking, one query: ``recall_at_k``, ``precision_at_k``, ``accuracy_at_k``,
   ``reciprocal_rank``, ``ndcg_at_k``, ``average_precision_at_k``. Each is a few plain lines, so a
   notebook can show them on a toy ranking.
2. Many queries: ``ir_metrics(run, qrels, ks)``, where a *run* is ``{qid: {doc_id: score}}`` and the
   *qrels* are ``{qid: {doc_id: relevance}}``.
3. Exact search: ``search_embeddings`` (arrays in, run out) and ``search`` / ``encode_split``
   (a model and an IR split in). The corpus is scored in chunks, so 100,000 documents never need
   more than a few hundred MB.
4. ``evaluate(model, split)``: a tidy table (metric, k, value); ``wide`` and
   ``against_thresholds`` reshape it.
5. ``compare(per_query_a, per_query_b)``: is model B really better than model A on these queries?
   A paired bootstrap confidence interval and a paired randomization test, per metric.

Definitions: trec_eval's, checked against pytrec_eval in ``tests/test_metrics.py``
-------------------------------------------------------------------------------
* A document is relevant when its relevance in the qrels is greater than 0.
* Ranking: score descending, ties broken by doc_id descending (plain string comparison). This is
  trec_eval's order, verified with pytrec_eval (given equal scores, "b" ranks above "a" and "9"
  above "10").
* recall@k = relevant documents in the top k / all relevant documents (trec_eval ``recall_k``).
* precision@k = relevant documents in the top k / k, even when fewer than k were retrieved
  (``P_k``).
* accuracy@k (hit rate) = 1 when at least one relevant document is in the top k, else 0
  (``success_k``).
* mrr@k = 1 / rank of the first relevant document within the top k, else 0 (``recip_rank`` on the
  run cut to its top k).
* ndcg@k: the gain of a document is its relevance grade (linear, not 2**grade - 1), discounted by
  log2(rank + 1); divided by the same sum for the ideal order of all judged documents
  (``ndcg_cut_k``).
* map@k: the precision at the rank of each relevant document found in the top k, summed, divided by
  the number of relevant documents (``map_cut_k``).

Which queries are averaged:

* A query in the qrels that is missing from the run (nothing was retrieved) scores 0 everywhere and
  is counted, as ``trec_eval -c`` does. pytrec_eval leaves such a query out of its output, so a mean
  over its output would be too high.
* A query whose qrels hold no relevant document is left out, with a warning: there is nothing to
  find. pytrec_eval scores it 0 on every measure; sentence-transformers' evaluator and BEIR-style
  splits leave it out, as we do.
* A query in the run but not in the qrels is ignored.

Differences from sentence-transformers' ``InformationRetrievalEvaluator`` (6.x)
--------------------------------------------------------------------------
Read from its source; ``tests/test_metrics.py`` checks each point on a real model and split.

* It takes sets of relevant ids, so every relevant document has gain 1 in its NDCG. Equal to ours
  when every relevance is 1.
* Its MAP@k divides by min(k, number of relevant documents), ours (trec_eval) by the number of
  relevant documents. Equal when no query has more than k relevant documents, e.g. one per query.
* It breaks score ties by ascending corpus id, trec_eval by descending. Only exact ties differ.
* Accuracy@k, Precision@k, Recall@k and MRR@k have the same definitions, and both leave out
  queries without a relevant document.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

METRICS = ("recall", "precision", "accuracy", "mrr", "ndcg", "map")
"""The metrics ``ir_metrics`` and ``evaluate`` report, in the order they report them."""

THRESHOLDS = {"recall@10": 0.90, "mrr@10": 0.70, "ndcg@10": 0.75, "map@10": 0.60}
"""The seed tutorial's "good score" targets: a value must be above its threshold to pass."""

CHUNK_SIZE = 16_384
"""Documents scored at once by ``search_embeddings`` (with 1,024 queries: a 64 MB score block)."""

QUERY_CHUNK_SIZE = 1_024
"""Queries scored at once by ``search_embeddings``."""


class MetricsError(ValueError):
    """Bad input to a metrics function; the message says what is wrong and how to fix it."""


# --------------------------------------------------------------------------------------------------
# 1. One query: a ranked list of doc ids and the ids (or grades) of the relevant documents
# --------------------------------------------------------------------------------------------------

def _top(ranked_ids, k):
    """The first k ids of a ranking, after checking k and that no id appears twice."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise MetricsError(f"k must be a whole number of 1 or more, got {k!r}.")
    top = list(ranked_ids)[:k]
    if len(set(top)) != len(top):
        raise MetricsError("The ranking lists a document twice; a ranking holds each document once.")
    return top


def _relevant_set(relevant):
    """A set of relevant ids from a set/list of ids or a {doc_id: relevance} dict (relevance > 0)."""
    if isinstance(relevant, Mapping):
        relevant = {doc for doc, rel in relevant.items() if rel > 0}
    else:
        relevant = set(relevant)
    if not relevant:
        raise MetricsError("There is no relevant document, so the metric is undefined for this query.")
    return relevant


def recall_at_k(ranked_ids, relevant, k):
    """Share of the relevant documents that appear in the top k.

    >>> recall_at_k(["d3", "d1", "d7"], {"d1", "d9"}, k=3)   # found d1, missed d9
    0.5
    """
    relevant = _relevant_set(relevant)
    found = sum(1 for doc in _top(ranked_ids, k) if doc in relevant)
    return found / len(relevant)


def precision_at_k(ranked_ids, relevant, k):
    """Share of the top k that is relevant (always divided by k, as trec_eval does).

    >>> precision_at_k(["d3", "d1", "d7"], {"d1", "d9"}, k=3)
    0.3333333333333333
    """
    relevant = _relevant_set(relevant)
    found = sum(1 for doc in _top(ranked_ids, k) if doc in relevant)
    return found / k


def accuracy_at_k(ranked_ids, relevant, k):
    """1.0 when at least one relevant document is in the top k, else 0.0 (the "hit rate").

    >>> accuracy_at_k(["d3", "d1", "d7"], {"d1", "d9"}, k=1)
    0.0
    """
    relevant = _relevant_set(relevant)
    return 1.0 if any(doc in relevant for doc in _top(ranked_ids, k)) else 0.0


def reciprocal_rank(ranked_ids, relevant, k=None):
    """1 / rank of the first relevant document (within the top k when k is given), else 0.

    >>> reciprocal_rank(["d3", "d1", "d7"], {"d1", "d9"})   # first relevant at rank 2
    0.5
    """
    relevant = _relevant_set(relevant)
    ranked = list(ranked_ids)
    for rank, doc in enumerate(_top(ranked, k or max(len(ranked), 1)), start=1):
        if doc in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked_ids, relevance, k):
    """Normalised discounted cumulative gain: graded relevance, earlier ranks count more.

    ``relevance`` is ``{doc_id: grade}`` (a set of ids means grade 1 each). A document at rank r
    adds grade / log2(r + 1); the sum is divided by the best possible sum (the judged documents in
    order of grade), so a perfect ranking scores 1.

    >>> round(ndcg_at_k(["d3", "d1", "d7"], {"d1": 2, "d9": 1}, k=3), 4)
    0.4796
    """
    grades = relevance if isinstance(relevance, Mapping) else {doc: 1 for doc in relevance}
    grades = {doc: grade for doc, grade in grades.items() if grade > 0}
    _relevant_set(grades)  # raises when there is nothing relevant
    top = _top(ranked_ids, k)
    dcg = sum(grades.get(doc, 0) / math.log2(rank + 1) for rank, doc in enumerate(top, start=1))
    best = sorted(grades.values(), reverse=True)[:k]
    ideal = sum(grade / math.log2(rank + 1) for rank, grade in enumerate(best, start=1))
    return dcg / ideal


def average_precision_at_k(ranked_ids, relevant, k):
    """Precision at each relevant document found in the top k, summed, over all relevant documents.

    >>> average_precision_at_k(["d1", "d3", "d9"], {"d1", "d9"}, k=3)   # (1/1 + 2/3) / 2
    0.8333333333333333
    """
    relevant = _relevant_set(relevant)
    found, total = 0, 0.0
    for rank, doc in enumerate(_top(ranked_ids, k), start=1):
        if doc in relevant:
            found += 1
            total += found / rank
    return total / len(relevant)


def rank_documents(scores):
    """Doc ids of ``{doc_id: score}`` best first: score descending, ties by doc_id descending.

    That tie order is trec_eval's (checked against pytrec_eval), so our metrics match it even on ties.

    >>> rank_documents({"a": 0.5, "b": 0.9, "c": 0.5})
    ['b', 'c', 'a']
    """
    return sorted(scores, key=lambda doc: (scores[doc], doc), reverse=True)


# --------------------------------------------------------------------------------------------------
# 2. Many queries: a run against qrels
# --------------------------------------------------------------------------------------------------

def _check_ks(ks):
    if isinstance(ks, (int, np.integer)):
        ks = (ks,)
    ks = tuple(ks)
    if not ks or any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1
                     for k in ks):
        raise MetricsError(f"ks must be whole numbers of 1 or more, such as (1, 3, 5, 10); got {ks!r}.")
    return tuple(sorted(set(int(k) for k in ks)))


def _check_run_and_qrels(run, qrels):
    if not isinstance(run, Mapping):
        raise MetricsError("run must be a dict {query_id: {doc_id: score}}, "
                           f"got {type(run).__name__}.")
    if not isinstance(qrels, Mapping) or not qrels:
        raise MetricsError("qrels must be a non-empty dict {query_id: {doc_id: relevance}}.")
    for qid, judged in qrels.items():
        if not isinstance(judged, Mapping):
            raise MetricsError(f"qrels[{qid!r}] must be a dict {{doc_id: relevance}}, got "
                               f"{type(judged).__name__}. A set of ids? Write {{doc_id: 1}}.")
    for qid, scores in run.items():
        if not isinstance(scores, Mapping):
            raise MetricsError(f"run[{qid!r}] must be a dict {{doc_id: score}}, got "
                               f"{type(scores).__name__}.")


def query_metrics(ranked_ids, relevance, ks=(1, 3, 5, 10)):
    """Every metric at every k for one query: ``{"recall@10": ..., ...}``.

    ``ranked_ids`` is the ranking best first; ``relevance`` is the query's ``{doc_id: grade}``.
    """
    relevant = _relevant_set(relevance)
    ranked = list(ranked_ids)[:max(ks)]
    row = {}
    for metric, formula in (("recall", recall_at_k), ("precision", precision_at_k),
                            ("accuracy", accuracy_at_k), ("mrr", reciprocal_rank),
                            ("ndcg", ndcg_at_k), ("map", average_precision_at_k)):
        wanted = relevance if metric == "ndcg" else relevant
        for k in ks:
            row[f"{metric}@{k}"] = formula(ranked, wanted, k)
    return row


def ir_metrics(run, qrels, ks=(1, 3, 5, 10), per_query=False):
    """Recall, precision, accuracy, MRR, NDCG and MAP at each k of a run against qrels.

    Returns the means over the queries as ``{"recall@1": ..., ..., "map@10": ...}``, or with
    ``per_query=True`` a pandas DataFrame indexed by qid with one column per metric@k (what
    :func:`compare` takes). Definitions and which queries count: see the module docstring
    (trec_eval's, equal to pytrec_eval to 1e-6 in the tests).
    """
    import pandas as pd

    ks = _check_ks(ks)
    _check_run_and_qrels(run, qrels)
    rows, no_relevant = {}, []
    for qid, judged in qrels.items():
        if not any(rel > 0 for rel in judged.values()):
            no_relevant.append(qid)
            continue
        ranked = rank_documents(run.get(qid, {}))  # a query missing from the run scores 0
        rows[qid] = query_metrics(ranked, judged, ks)
    if no_relevant:
        warnings.warn(f"{len(no_relevant)} of {len(qrels)} queries in the qrels have no relevant "
                      f"document (relevance > 0), e.g. {no_relevant[0]!r}; they are left out of the "
                      "metrics because there is nothing to find.", stacklevel=2)
    if not rows:
        raise MetricsError("No query in the qrels has a relevant document (relevance > 0), so no "
                           "metric can be computed. Check the qrels.")
    columns = [f"{metric}@{k}" for metric in METRICS for k in ks]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
    table.index.name = "qid"
    if per_query:
        return table
    return {column: float(table[column].mean()) for column in columns}


# --------------------------------------------------------------------------------------------------
# 3. Exact search over embeddings
# --------------------------------------------------------------------------------------------------

def truncate(embeddings, dims=None):
    """Keep the first ``dims`` numbers of each embedding and re-normalise to length 1 (Matryoshka).

    With ``dims=None`` the embeddings are only normalised. Returns a float32 numpy array.
    """
    emb = np.asarray(embeddings, dtype=np.float32)
    if emb.ndim != 2:
        raise MetricsError(f"Embeddings must be a 2-D array (one row per text), got shape {emb.shape}.")
    if dims is not None:
        if isinstance(dims, bool) or not isinstance(dims, (int, np.integer)) or not 1 <= dims <= emb.shape[1]:
            raise MetricsError(f"dims must be a whole number from 1 to {emb.shape[1]} (the embedding "
                               f"size), got {dims!r}.")
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
        raise MetricsError(f"{name} must be a 2-D array (one row per text), got shape {tuple(rows.shape)}.")
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


def top_k(query_emb, corpus_emb, k=10, dims=None, normalize=True, chunk_size=CHUNK_SIZE,
          query_chunk_size=QUERY_CHUNK_SIZE, tie_rank=None):
    """Exact top-k by dot product (cosine when ``normalize``): returns (scores, indices) tensors.

    Both are (queries, k), best first. The corpus is scored ``chunk_size`` documents at a time for
    ``query_chunk_size`` queries at a time, and each chunk's best k are merged into the running best
    k, so memory stays at one score block, whatever the corpus size. ``tie_rank`` (one integer per
    document, lower wins) orders equal scores; by default the earlier document wins.
    """
    import torch

    for name, size in (("chunk_size", chunk_size), ("query_chunk_size", query_chunk_size), ("k", k)):
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
    tie_rank = torch.arange(n_docs) if tie_rank is None else torch.as_tensor(tie_rank, dtype=torch.long)

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


def search_embeddings(query_emb, corpus_emb, k=10, query_ids=None, doc_ids=None, dims=None,
                      normalize=True, chunk_size=CHUNK_SIZE, query_chunk_size=QUERY_CHUNK_SIZE):
    """Exact cosine search on arrays: returns a run ``{qid: {doc_id: score}}`` of the top k.

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


def _split_part(split, name):
    """``split.name`` or ``split["name"]``: an IR split may be an object or a dict."""
    value = split.get(name) if isinstance(split, Mapping) else getattr(split, name, None)
    if value is None:
        raise MetricsError(f"The split has no {name!r}. An IR split has queries {{qid: text}}, "
                           "corpus {doc_id: text} and qrels {qid: {doc_id: relevance}}.")
    if not isinstance(value, Mapping) or not value:
        raise MetricsError(f"The split's {name!r} must be a non-empty dict, got "
                           f"{type(value).__name__} of length {len(value) if hasattr(value, '__len__') else '?'}.")
    return value


class SplitEmbeddings(NamedTuple):
    """What ``encode_split`` returns: ids and normalised float32 embeddings, row for row."""
    qids: list
    q_emb: np.ndarray
    doc_ids: list
    d_emb: np.ndarray


def encode_split(model, split, dims=None, batch_size=64, show_progress_bar=True):
    """Encode a split's queries and corpus once, so several searches (or dims) can reuse them.

    Returns ``SplitEmbeddings(qids, q_emb, doc_ids, d_emb)`` (unpacks like a tuple), normalised,
    cut to ``dims`` first when given. Queries go through ``model.encode_query`` and documents
    through ``model.encode_document``, which apply a model's query/document prompts if it has any.
    """
    queries, corpus = _split_part(split, "queries"), _split_part(split, "corpus")
    qids, doc_ids = list(queries), list(corpus)
    encode_query = getattr(model, "encode_query", model.encode)
    encode_document = getattr(model, "encode_document", model.encode)
    options = dict(batch_size=batch_size, show_progress_bar=show_progress_bar,
                   normalize_embeddings=True, convert_to_numpy=True)
    q_emb = encode_query([queries[qid] for qid in qids], **options)
    d_emb = encode_document([corpus[doc_id] for doc_id in doc_ids], **options)
    return SplitEmbeddings(qids, truncate(q_emb, dims), doc_ids, truncate(d_emb, dims))


def search(model, split, k=10, dims=None, batch_size=64, show_progress_bar=True,
           chunk_size=CHUNK_SIZE, embeddings=None):
    """Encode the split (or reuse ``embeddings`` from ``encode_split``) and return its top-k run.

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
    queries, corpus, qrels = (_split_part(split, name) for name in ("queries", "corpus", "qrels"))
    lost_queries = [qid for qid in qrels if qid not in queries]
    lost_docs = {doc for judged in qrels.values() for doc, rel in judged.items()
                 if rel > 0 and doc not in corpus}
    if lost_queries:
        warnings.warn(f"{len(lost_queries)} queries in the qrels have no text in the split's queries, "
                      f"e.g. {lost_queries[0]!r}; they cannot be searched and count as misses.",
                      stacklevel=3)
    if lost_docs:
        warnings.warn(f"{len(lost_docs)} relevant documents in the qrels are not in the corpus, e.g. "
                      f"{sorted(lost_docs)[0]!r}; they can never be found, which lowers recall.",
                      stacklevel=3)
    return qrels


def evaluate(model, split, ks=(1, 3, 5, 10), dims=None, per_query=False, run=None, *,
             embeddings=None, batch_size=64, show_progress_bar=True):
    """Search the split with the model and score every metric at every k.

    Returns a tidy DataFrame with columns ``metric``, ``k``, ``value`` (the mean over queries);
    with ``per_query=True`` returns ``(table, per_query_df)``, the second indexed by qid (keep it for
    :func:`compare`). Pass ``run`` to score a run you already have (``model`` may then be None), or
    ``embeddings`` from :func:`encode_split` to skip encoding. ``dims``: Matryoshka truncation.
    """
    import pandas as pd

    ks = _check_ks(ks)
    qrels = _warn_about_split(split) if run is None else _split_part(split, "qrels")
    if run is None:
        run = search(model, split, k=max(ks), dims=dims, batch_size=batch_size,
                     show_progress_bar=show_progress_bar, embeddings=embeddings)
    scores = ir_metrics(run, qrels, ks, per_query=True)
    means = scores.mean()
    table = pd.DataFrame([{"metric": metric, "k": k, "value": float(means[f"{metric}@{k}"])}
                          for metric in METRICS for k in ks])
    return (table, scores) if per_query else table


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


def wide(table, name=None):
    """One row with a column per metric@k ("recall@10", ...): handy to stack several models.

    ``pd.concat([wide(base, "base"), wide(tuned, "tuned")])`` compares them side by side.
    """
    import pandas as pd

    return pd.DataFrame([_as_dict(table)], index=[name if name is not None else "value"])


def against_thresholds(scores, thresholds=None):
    """The seed tutorial's targets next to our values: metric, value, threshold, pass (bool).

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


# --------------------------------------------------------------------------------------------------
# 5. Is B better than A? Paired comparison on the same queries
# --------------------------------------------------------------------------------------------------

def _blocks(n_resamples, n, budget=2_000_000):
    """Split n_resamples into blocks of at most ``budget`` numbers each (a few MB)."""
    step = max(1, budget // max(n, 1))
    for start in range(0, n_resamples, step):
        yield min(step, n_resamples - start)


def _check_resamples(n_resamples):
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise MetricsError(f"n_resamples must be a whole number of 1 or more (1,000+ is usual), "
                           f"got {n_resamples!r}.")


def bootstrap_ci(values, n_resamples=2000, seed=0, alpha=0.05):
    """Percentile bootstrap interval for the mean of ``values`` (e.g. per-query differences).

    Draw the queries with replacement ``n_resamples`` times, take each draw's mean, and report the
    alpha/2 and 1 - alpha/2 quantiles of those means: a 95% interval by default.
    """
    _check_resamples(n_resamples)
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = np.concatenate([values[rng.integers(0, len(values), size=(size, len(values)))].mean(axis=1)
                            for size in _blocks(n_resamples, len(values))])
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def randomization_p_value(differences, n_resamples=2000, seed=0):
    """Two-sided paired randomization (sign-flip) test of "the mean difference is zero".

    If A and B were interchangeable, each query's difference would be as likely negative as
    positive. Flip the signs at random ``n_resamples`` times and count how often the mean is at
    least as far from zero as the one observed; (count + 1) / (n_resamples + 1) is the p-value.
    """
    _check_resamples(n_resamples)
    differences = np.asarray(differences, dtype=float)
    observed = abs(differences.mean())
    rng = np.random.default_rng(seed)
    count = 0
    for size in _blocks(n_resamples, len(differences)):
        signs = rng.choice([-1.0, 1.0], size=(size, len(differences)))
        flipped = np.abs((signs * differences).mean(axis=1))
        count += int((flipped >= observed - 1e-12).sum())
    return (count + 1) / (n_resamples + 1)


def verdict(row):
    """Plain words for one comparison row (needs ``ci_low`` and ``ci_high`` of B minus A)."""
    if row["ci_low"] > 0:
        return "better, and the interval excludes zero"
    if row["ci_high"] < 0:
        return "worse, and the interval excludes zero"
    return "no measurable difference"


def _aligned(per_query_a, per_query_b):
    """Both per-query tables on the same qids in the same order, or a clear error."""
    import pandas as pd

    for name, table in (("per_query_a", per_query_a), ("per_query_b", per_query_b)):
        if not isinstance(table, pd.DataFrame) or table.empty:
            raise MetricsError(f"{name} must be a non-empty per-query DataFrame, e.g. from "
                               "evaluate(model, split, per_query=True)[1].")
        if table.index.has_duplicates:
            raise MetricsError(f"{name} lists a query twice; its index must hold each qid once.")
    only_a = per_query_a.index.difference(per_query_b.index)
    only_b = per_query_b.index.difference(per_query_a.index)
    if len(only_a) or len(only_b):
        examples = ", ".join(repr(q) for q in list(only_a[:2]) + list(only_b[:2]))
        raise MetricsError(f"The two per-query tables must cover the same queries: {len(only_a)} "
                           f"are only in A and {len(only_b)} only in B (e.g. {examples}). Evaluate "
                           "both models on the same split.")
    return per_query_a, per_query_b.loc[per_query_a.index]


def compare(per_query_a, per_query_b, metrics=None, n_resamples=2000, seed=0, alpha=0.05):
    """Is model B better than model A on the same queries? One row per metric.

    Columns: metric, mean_a, mean_b, diff (B - A), ci_low / ci_high (paired bootstrap interval of
    the difference, 95% by default), p_value (paired randomization test) and verdict (plain words,
    from the interval). Pairing matters: both models answered the same queries, so we look at the
    per-query differences rather than at two separate averages.
    """
    import pandas as pd

    a, b = _aligned(per_query_a, per_query_b)
    if metrics is None:
        metrics = [column for column in a.columns if column in b.columns]
    elif isinstance(metrics, str):
        metrics = [metrics]
    missing = [m for m in metrics if m not in a.columns or m not in b.columns]
    if missing or not metrics:
        raise MetricsError(f"Metrics {missing or metrics} are not columns of both tables; "
                           f"available: {[c for c in a.columns if c in b.columns]}.")
    rows = []
    for metric in metrics:
        differences = b[metric].to_numpy(float) - a[metric].to_numpy(float)
        low, high = bootstrap_ci(differences, n_resamples, seed, alpha)
        rows.append({"metric": metric, "mean_a": float(a[metric].mean()),
                     "mean_b": float(b[metric].mean()), "diff": float(differences.mean()),
                     "ci_low": low, "ci_high": high,
                     "p_value": randomization_p_value(differences, n_resamples, seed)})
    table = pd.DataFrame(rows)
    table["verdict"] = [verdict(row) for _, row in table.iterrows()]
    return table


def ci_halfwidth(values, n_resamples=2000, seed=0, alpha=0.05):
    """Half the width of the bootstrap interval for the mean of ``values``: the "±" of a result.

    Try it on per-query differences from a small test set: with 10 queries it is often ±0.3.
    """
    low, high = bootstrap_ci(values, n_resamples, seed, alpha)
    return (high - low) / 2


def planned_halfwidth(n_queries, sd=0.5, alpha=0.05):
    """The "±" to expect before collecting data: z * sd / sqrt(n_queries) (normal approximation).

    ``sd`` is the spread of the per-query values; 0.5 is the largest a 0/1 metric such as recall@10
    with one relevant document can have. ``planned_halfwidth(10)`` is about 0.31,
    ``planned_halfwidth(100)`` about 0.10.
    """
    from statistics import NormalDist

    if n_queries < 1:
        raise MetricsError(f"n_queries must be 1 or more, got {n_queries!r}.")
    return NormalDist().inv_cdf(1 - alpha / 2) * sd / math.sqrt(n_queries)
