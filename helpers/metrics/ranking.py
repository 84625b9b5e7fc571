"""Ranking metrics: one query, then many (05_evaluation).

``recall_at_k``, ``precision_at_k``, ``accuracy_at_k``, ``reciprocal_rank``, ``ndcg_at_k`` and
``average_precision_at_k`` score one ranked list against the relevant ids, in a few plain lines
each; ``ir_metrics`` / ``ir_metrics_per_query`` score a whole run (``{qid: {doc_id: score}}``)
against qrels (``{qid: {doc_id: relevance}}``). Definitions: trec_eval's (see ``helpers.metrics``).
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError, check_whole

if TYPE_CHECKING:
    import pandas as pd

    Relevant = Iterable[str] | Mapping[str, float]
    """The relevant documents of one query: a set or list of ids, or ``{doc_id: relevance}``."""
    Run = Mapping[str, Mapping[str, float]]
    """A run: ``{qid: {doc_id: score}}``."""
    Qrels = Mapping[str, Mapping[str, float]]
    """Relevance judgements: ``{qid: {doc_id: relevance}}`` (relevant when above 0)."""

METRICS = ("recall", "precision", "accuracy", "mrr", "ndcg", "map")
"""The metrics ``ir_metrics`` and ``evaluate`` report, in the order they report them."""

THRESHOLDS = {"recall@10": 0.90, "mrr@10": 0.70, "ndcg@10": 0.75, "map@10": 0.60}
"""The seed tutorial's "good score" targets: a value must be above its threshold to pass."""

CHUNK_SIZE = 16_384
"""Documents scored at once by ``search_embeddings`` (with 1,024 queries: a 64 MB score block)."""

QUERY_CHUNK_SIZE = 1_024
"""Queries scored at once by ``search_embeddings``."""


class MetricsError(InputError):
    """Bad input to a metrics function; the message says what is wrong and how to fix it."""


# --------------------------------------------------------------------------------------------------
# 1. One query: a ranked list of doc ids and the ids (or grades) of the relevant documents
# --------------------------------------------------------------------------------------------------

def _top(ranked_ids, k):
    """The first k ids of a ranking, after checking k and that no id appears twice."""
    k = check_whole(k, "k", MetricsError)
    top = list(ranked_ids)[:k]
    if len(set(top)) != len(top):
        raise MetricsError("The ranking lists a document twice; a ranking holds each document "
                           "once.")
    return top


def _relevant_set(relevant):
    """A set of relevant ids from a set/list of ids or a {doc_id: relevance} dict (relevance > 0).
    """
    if isinstance(relevant, Mapping):
        relevant = {doc for doc, rel in relevant.items() if rel > 0}
    else:
        relevant = set(relevant)
    if not relevant:
        raise MetricsError("There is no relevant document, so the metric is undefined for this "
                           "query.")
    return relevant


def recall_at_k(ranked_ids: Iterable[str], relevant: Relevant, k: int) -> float:
    """Share of the relevant documents that appear in the top k.

    >>> recall_at_k(["d3", "d1", "d7"], {"d1", "d9"}, k=3)   # found d1, missed d9
    0.5
    """
    relevant = _relevant_set(relevant)
    found = sum(1 for doc in _top(ranked_ids, k) if doc in relevant)
    return found / len(relevant)


def precision_at_k(ranked_ids: Iterable[str], relevant: Relevant, k: int) -> float:
    """Share of the top k that is relevant (always divided by k, as trec_eval does).

    >>> precision_at_k(["d3", "d1", "d7"], {"d1", "d9"}, k=3)
    0.3333333333333333
    """
    relevant = _relevant_set(relevant)
    found = sum(1 for doc in _top(ranked_ids, k) if doc in relevant)
    return found / k


def accuracy_at_k(ranked_ids: Iterable[str], relevant: Relevant, k: int) -> float:
    """1.0 when at least one relevant document is in the top k, else 0.0 (the "hit rate").

    >>> accuracy_at_k(["d3", "d1", "d7"], {"d1", "d9"}, k=1)
    0.0
    """
    relevant = _relevant_set(relevant)
    return 1.0 if any(doc in relevant for doc in _top(ranked_ids, k)) else 0.0


def reciprocal_rank(ranked_ids: Iterable[str], relevant: Relevant, k: int | None = None) -> float:
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


def ndcg_at_k(ranked_ids: Iterable[str], relevance: Relevant, k: int) -> float:
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


def average_precision_at_k(ranked_ids: Iterable[str], relevant: Relevant, k: int) -> float:
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


def rank_documents(scores: Mapping[str, float]) -> list[str]:
    """Doc ids of ``{doc_id: score}`` best first: score descending, ties by doc_id descending
    (introduced in 05_evaluation).

    That tie order is trec_eval's (checked against pytrec_eval), so our metrics match it even on
    ties.

    >>> rank_documents({"a": 0.5, "b": 0.9, "c": 0.5})
    ['b', 'c', 'a']
    """
    return sorted(scores, key=lambda doc: (scores[doc], doc), reverse=True)


# --------------------------------------------------------------------------------------------------
# 2. Many queries: a run against qrels
# --------------------------------------------------------------------------------------------------

def check_ks(ks: int | Iterable[int]) -> tuple[int, ...]:
    """``ks`` (one k or several) as a sorted tuple of distinct whole numbers of 1 or more; anything
    else raises :class:`MetricsError`."""
    if isinstance(ks, (int, np.integer)):
        ks = (ks,)
    ks = tuple(ks)
    if not ks or any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1
                     for k in ks):
        raise MetricsError(f"ks must be whole numbers of 1 or more, such as (1, 3, 5, 10); got "
                           f"{ks!r}.")
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


def query_metrics(ranked_ids: Iterable[str], relevance: Mapping[str, float],
                  ks: Sequence[int] = (1, 3, 5, 10)) -> dict[str, float]:
    """Every metric at every k for one query: ``{"recall@10": ..., ...}`` (introduced in
    05_evaluation).

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


def ir_metrics_per_query(run: Run, qrels: Qrels,
                         ks: Sequence[int] = (1, 3, 5, 10)) -> pd.DataFrame:
    """Recall, precision, accuracy, MRR, NDCG and MAP at each k of a run against qrels, per query
    (introduced in 05_evaluation).

    Returns a pandas DataFrame indexed by qid with one column per metric@k (what :func:`compare`
    takes). Definitions and which queries count: see the package docstring (trec_eval's, equal to
    pytrec_eval to 1e-6 in the tests). :func:`ir_metrics` gives the means.
    """
    import pandas as pd

    ks = check_ks(ks)
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
                      f"document (relevance > 0), e.g. {no_relevant[0]!r}; they are left out of "
                      "the metrics because there is nothing to find.", stacklevel=2)
    if not rows:
        raise MetricsError("No query in the qrels has a relevant document (relevance > 0), so no "
                           "metric can be computed. Check the qrels.")
    columns = [f"{metric}@{k}" for metric in METRICS for k in ks]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
    table.index.name = "qid"
    return table


def ir_metrics(run: Run, qrels: Qrels, ks: Sequence[int] = (1, 3, 5, 10)) -> dict[str, float]:
    """The means over the queries of :func:`ir_metrics_per_query`, as
    ``{"recall@1": ..., ..., "map@10": ...}`` (introduced in 04_matryoshka)."""
    table = ir_metrics_per_query(run, qrels, ks)
    return {column: float(table[column].mean()) for column in table.columns}
