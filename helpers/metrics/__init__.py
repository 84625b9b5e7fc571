"""Retrieval metrics, exact search, evaluation and paired comparison (introduced in notebook 05).

The pieces, from small to large:

1. One ranking, one query: ``recall_at_k``, ``precision_at_k``, ``accuracy_at_k``,
   ``reciprocal_rank``, ``ndcg_at_k``, ``average_precision_at_k``. Each is a few plain lines, so a
   notebook can show them on a toy ranking.
2. Many queries: ``ir_metrics(run, qrels, ks)`` (means) and ``ir_metrics_per_query``, where a
   *run* is ``{qid: {doc_id: score}}`` and the *qrels* are ``{qid: {doc_id: relevance}}``.
3. Exact search: ``search_embeddings`` (arrays in, run out) and ``search`` / ``encode_split``
   (a model and an IR split in). The corpus is scored in chunks, so 100,000 documents never need
   more than a few hundred MB.
4. ``evaluate(model, split)``: a tidy table (metric, k, value); ``evaluate_per_query`` also returns
   the per-query scores; ``wide`` and ``against_thresholds`` reshape the table.
5. ``compare(per_query_a, per_query_b)``: is model B really better than model A on these queries?
   A paired bootstrap confidence interval and a paired randomization test, per metric, and the
   verdict of the workbook's one significance rule (``verdict``: both must agree), written with
   the one formatter ``format_diff``.

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

The modules: ``ranking`` (1 and 2), ``retrieval`` (3 and 4), ``stats`` (5). Everything is importable
from ``helpers.metrics`` directly.
"""
from .ranking import (CHUNK_SIZE, METRICS, QUERY_CHUNK_SIZE, THRESHOLDS, MetricsError,
                      accuracy_at_k, average_precision_at_k, check_ks, ir_metrics,
                      ir_metrics_per_query, ndcg_at_k, precision_at_k, query_metrics,
                      rank_documents, recall_at_k, reciprocal_rank)
from .retrieval import (Evaluation, SplitEmbeddings, against_thresholds, encode_split, evaluate,
                        evaluate_per_query, search, search_embeddings, split_part, top_k, truncate,
                        wide)
from .stats import (ALPHA, VERDICTS, WORST_SD, Verdict, bootstrap_ci, ci_halfwidth, compare,
                    format_diff, is_significant, planned_halfwidth, randomization_p_value, verdict)

__all__ = [
    "ALPHA", "VERDICTS", "Verdict", "WORST_SD", "format_diff", "is_significant",
    "CHUNK_SIZE", "Evaluation", "METRICS", "MetricsError", "QUERY_CHUNK_SIZE", "SplitEmbeddings",
    "THRESHOLDS", "accuracy_at_k", "against_thresholds", "average_precision_at_k", "bootstrap_ci",
    "check_ks", "ci_halfwidth", "compare", "encode_split", "evaluate", "evaluate_per_query",
    "ir_metrics", "ir_metrics_per_query", "ndcg_at_k", "planned_halfwidth", "precision_at_k",
    "query_metrics", "randomization_p_value", "rank_documents", "recall_at_k", "reciprocal_rank",
    "search", "search_embeddings", "split_part", "top_k", "truncate", "verdict", "wide",
]
