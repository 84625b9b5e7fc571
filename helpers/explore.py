"""Look inside a retrieval result: what came back and where the answer was.

Introduced in 01_why_fine_tune, reused where a lesson compares models query by query (03, 05, 06).

* ``top_hits(model_or_run, split, query)``: the top k documents for one query (a qid of the split
  or any text you type), each marked relevant or not.
* ``rank_of_relevant(model_or_run, split)``: for each query, the rank of its first relevant document
  (missing when it is not in the top ``depth``).
* ``worst_queries`` and ``failures``: the queries a model gets wrong, with what it returned instead.
* ``format_hits``: those tables as a few lines of plain text, easy to read in a notebook.
* ``score_table``: mean metrics per dataset (or per model) with bootstrap confidence intervals.
(How the tokenizer cuts up words is ``helpers.tokens``.)

A *model* is a SentenceTransformer (anything with ``encode``); a *run* is ``{qid: {doc_id: score}}``
as :func:`helpers.metrics.search` returns. Every function that encodes accepts ``embeddings`` from
:func:`helpers.metrics.encode_split`, so a large corpus is encoded once, not once per call.

Bad input raises :class:`ExploreError` (an :class:`helpers.errors.InputError`, so also a
``ValueError``) with a plain-words message.
"""
from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from . import metrics
from .errors import InputError, check_whole

if TYPE_CHECKING:
    import pandas as pd
    from sentence_transformers import SentenceTransformer

    from .data.containers import IRSplit
    from .metrics import SplitEmbeddings

    Run = Mapping[str, Mapping[str, float]]
    """A run: ``{qid: {doc_id: score}}``."""
    Split = IRSplit | Mapping[str, Mapping]
    """An IR split: an ``IRSplit``, or a dict of queries, corpus and qrels."""

DEPTH = 100
"""How far down the ranking ``rank_of_relevant`` looks by default."""


class ExploreError(InputError):
    """Bad input to an explore function; the message says what is wrong and how to fix it."""


# --------------------------------------------------------------------------------------------------
# Small shared pieces
# --------------------------------------------------------------------------------------------------

def _short(text, width):
    """``text`` on one line, cut to ``width`` characters with an ellipsis (None keeps it whole)."""
    text = " ".join(str(text).split())
    if width is None or len(text) <= width:
        return text
    return text[: max(1, width - 1)].rstrip() + "…"


def _parts(split):
    """(queries, corpus, qrels) of an IR split given as an object or a dict, checked."""
    try:
        return tuple(metrics.split_part(split, name) for name in ("queries", "corpus", "qrels"))
    except metrics.MetricsError as exc:
        raise ExploreError(str(exc)) from None


def _relevant(qrels, qid):
    return {doc for doc, rel in qrels.get(qid, {}).items() if rel > 0}


def _is_run(model_or_run):
    return isinstance(model_or_run, Mapping)


def _check_k(k, name="k"):
    return check_whole(k, name, ExploreError)


def _check_embeddings(embeddings, corpus):
    """The embeddings must be from encode_split on this split (same documents, same order)."""
    if embeddings is None:
        return None
    if list(embeddings.doc_ids) != list(corpus):
        raise ExploreError("These embeddings were made from another corpus. Pass "
                           "embeddings=metrics.encode_split(model, split) for this same split.")
    return embeddings


def _check_model(model):
    if isinstance(model, (str, bytes)) or not hasattr(model, "encode"):
        raise ExploreError(f"Expected a model (with .encode) or a run {{qid: {{doc_id: score}}}}, "
                           f"got {type(model).__name__}. Load one with models.load(...).")


def _encode(model, texts, kind):
    """Normalised embeddings of ``texts`` as queries (``kind="query"``) or documents."""
    _check_model(model)
    encode = getattr(model, f"encode_{kind}", model.encode)
    emb = encode(list(texts), normalize_embeddings=True, convert_to_numpy=True,
                 show_progress_bar=False)
    return metrics.truncate(emb)


# --------------------------------------------------------------------------------------------------
# One query at a time
# --------------------------------------------------------------------------------------------------

def top_hits(model_or_run: SentenceTransformer | Run, split: Split, query: str, k: int = 3, *,
             relevant: str | Iterable[str] | None = None, with_answer: bool = False,
             embeddings: SplitEmbeddings | None = None, width: int | None = 90) -> pd.DataFrame:
    """The top ``k`` documents for one query, best first (introduced in 01_why_fine_tune).

    ``query`` is a qid of ``split`` (its relevant documents come from the qrels) or any text you
    type (then ``relevant`` may name the doc ids that answer it; otherwise the column shows <NA>).
    ``model_or_run``: a model, which encodes the query and the corpus (or reuses ``embeddings``
    from :func:`helpers.metrics.encode_split`), or a run ``{qid: {doc_id: score}}``, which only
    knows the qids it was made for.

    ``with_answer=True`` adds one more row when the first relevant document is not in the top
    ``k``: that document with its rank (if a run does not hold it, rank and score are <NA>).

    Returns a DataFrame with columns rank, doc_id, score, text (cut to ``width`` characters) and
    relevant; ``table.attrs`` holds the query's text and qid.
    """
    import pandas as pd

    queries, corpus, qrels = _parts(split)
    k = _check_k(k)
    query = str(query)
    qid = query if query in queries else None
    text = queries[qid] if qid is not None else query
    if not text.strip():
        raise ExploreError("The query is empty: give a qid of the split or a question to search.")
    if relevant is None:
        wanted = _relevant(qrels, qid) if qid is not None else None
    else:
        wanted = {relevant} if isinstance(relevant, str) else set(relevant)
        unknown = sorted(wanted - set(corpus))
        if unknown:
            raise ExploreError(f"relevant names documents that are not in the corpus: {unknown[:3]}.")

    if _is_run(model_or_run):
        if qid is None or qid not in model_or_run:
            raise ExploreError(f"The run has no results for {query!r}: a run only knows the qids it "
                               "was made for. Pass the model instead to search any text.")
        scores = model_or_run[qid]
        found = [(doc, float(scores[doc])) for doc in metrics.rank_documents(scores)]
    else:
        embeddings = _check_embeddings(embeddings, corpus)
        if embeddings is not None and qid is not None and qid in embeddings.qids:
            q_emb = embeddings.q_emb[[embeddings.qids.index(qid)]]
        else:
            q_emb = _encode(model_or_run, [text], "query")
        if embeddings is None:
            doc_ids, d_emb = list(corpus), _encode(model_or_run, corpus.values(), "document")
        else:
            doc_ids, d_emb = list(embeddings.doc_ids), embeddings.d_emb
        depth = len(doc_ids) if with_answer and wanted else min(k, len(doc_ids))
        run = metrics.search_embeddings(q_emb, d_emb, k=depth, query_ids=["q"],
                                        doc_ids=doc_ids)["q"]
        found = [(doc, float(run[doc])) for doc in metrics.rank_documents(run)]

    shown = list(enumerate(found, 1))[:k]
    if with_answer and wanted and not any(doc in wanted for _, (doc, _) in shown):
        beyond = [(rank, hit) for rank, hit in enumerate(found, 1) if hit[0] in wanted][:1]
        shown += beyond or [(None, (sorted(wanted)[0], None))]
    rows = [{"rank": rank, "doc_id": doc, "score": None if score is None else round(score, 3),
             "text": _short(corpus[doc], width),
             "relevant": (doc in wanted) if wanted is not None else pd.NA}
            for rank, (doc, score) in shown]
    table = pd.DataFrame(rows, columns=["rank", "doc_id", "score", "text", "relevant"])
    table["rank"] = table["rank"].astype("Int64")
    table["relevant"] = table["relevant"].astype("boolean")
    table.attrs.update(query=text, qid=qid)
    return table


# --------------------------------------------------------------------------------------------------
# Every query: where did the answer end up?
# --------------------------------------------------------------------------------------------------

def _run_for(model_or_run, split, depth, embeddings):
    """A run at least ``depth`` deep: the one given, or a fresh search with the model."""
    if _is_run(model_or_run):
        return model_or_run
    _, corpus, _ = _parts(split)
    embeddings = _check_embeddings(embeddings, corpus)
    if embeddings is None:
        _check_model(model_or_run)
        embeddings = metrics.encode_split(model_or_run, split, show_progress_bar=False)
    return metrics.search(None, split, k=depth, embeddings=embeddings)


def rank_of_relevant(model_or_run: SentenceTransformer | Run, split: Split,
                     qids: str | Iterable[str] | None = None, depth: int = DEPTH, *,
                     embeddings: SplitEmbeddings | None = None,
                     width: int | None = 90) -> pd.DataFrame:
    """For each query, the rank of its first relevant document (introduced in 01_why_fine_tune).

    Returns a DataFrame with columns qid, query, doc_id (the relevant document found first, or the
    first one the qrels name), relevant_text and rank: 1 is a perfect hit; <NA> means the answer was
    not in the top ``depth`` (with a run: not in the run at all). ``qids`` limits the queries
    (default: every query in the qrels with a relevant document).
    """
    import pandas as pd

    queries, corpus, qrels = _parts(split)
    depth = _check_k(depth, "depth")
    if qids is None:
        qids = [q for q in qrels if _relevant(qrels, q)]
    else:
        qids = [qids] if isinstance(qids, str) else list(qids)
        unknown = [q for q in qids if q not in queries]
        if unknown:
            raise ExploreError(f"{len(unknown)} qids are not queries of this split, e.g. {unknown[0]!r}.")
    run = _run_for(model_or_run, split, depth, embeddings)
    rows = []
    for qid in qids:
        wanted = _relevant(qrels, qid)
        ranked = metrics.rank_documents(run.get(qid, {}))[:depth]
        rank = next((i for i, doc in enumerate(ranked, 1) if doc in wanted), None)
        doc = ranked[rank - 1] if rank else (sorted(wanted)[0] if wanted else None)
        rows.append({"qid": qid, "query": queries.get(qid, ""), "doc_id": doc,
                     "relevant_text": _short(corpus[doc], width) if doc in corpus else "",
                     "rank": rank})
    table = pd.DataFrame(rows, columns=["qid", "query", "doc_id", "relevant_text", "rank"])
    table["rank"] = table["rank"].astype("Int64")
    table.attrs["depth"] = depth
    return table


def worst_queries(model_or_run: SentenceTransformer | Run, split: Split, n: int = 5,
                  depth: int = DEPTH, *, qids: str | Iterable[str] | None = None,
                  embeddings: SplitEmbeddings | None = None,
                  width: int | None = 90) -> pd.DataFrame:
    """The ``n`` queries whose answer ranked lowest (not found first), worst first (01_why_fine_tune).

    The same columns as :func:`rank_of_relevant`; a query whose answer is beyond ``depth`` counts as
    the worst of all. Ties keep the split's query order, so the result is deterministic.
    """
    ranks = rank_of_relevant(model_or_run, split, qids=qids, depth=depth, embeddings=embeddings,
                             width=width)
    order = ranks["rank"].fillna(depth + 1).astype(int)
    worst = ranks.assign(_order=order).sort_values("_order", ascending=False, kind="stable")
    return worst.drop(columns="_order").head(_check_k(n, "n")).reset_index(drop=True)


def failures(model_or_run: SentenceTransformer | Run, split: Split, n: int = 5, seed: int = 0,
             k: int = 3, depth: int = DEPTH, *, qids: str | Iterable[str] | None = None,
             embeddings: SplitEmbeddings | None = None, width: int | None = 90) -> pd.DataFrame:
    """A seeded handful of queries the model misses, with what it returned (01_why_fine_tune).

    A miss is a query whose first relevant document is not at rank 1. For ``n`` of them, drawn at
    random with ``seed``, the table lists the model's top ``k`` and, when the answer is not among
    them, one more row with the answer and its rank (rank <NA>: beyond ``depth``). Columns: qid,
    query, rank, doc_id, score, text, relevant. Read it with :func:`format_hits`.
    """
    import pandas as pd

    queries, corpus, qrels = _parts(split)
    k, n = _check_k(k), _check_k(n, "n")
    run = _run_for(model_or_run, split, max(depth, k), embeddings)
    ranks = rank_of_relevant(run, split, qids=qids, depth=depth)
    missed = ranks[ranks["rank"].isna() | (ranks["rank"] > 1)]
    chosen = list(missed["qid"])
    if len(chosen) > n:
        chosen = sorted(random.Random(seed).sample(chosen, n), key=list(missed["qid"]).index)
    rank_by_qid = dict(zip(ranks["qid"], ranks["rank"]))
    doc_by_qid = dict(zip(ranks["qid"], ranks["doc_id"]))
    rows = []
    for qid in chosen:
        scores = run.get(qid, {})
        wanted = _relevant(qrels, qid)
        for rank, doc in enumerate(metrics.rank_documents(scores)[:k], 1):
            rows.append({"qid": qid, "query": queries[qid], "rank": rank, "doc_id": doc,
                         "score": round(float(scores[doc]), 3), "text": _short(corpus[doc], width),
                         "relevant": doc in wanted})
        answer_rank = rank_by_qid[qid]
        if pd.isna(answer_rank) or answer_rank > k:
            doc = doc_by_qid[qid]
            score = scores.get(doc)
            rows.append({"qid": qid, "query": queries[qid],
                         "rank": None if pd.isna(answer_rank) else int(answer_rank), "doc_id": doc,
                         "score": None if score is None else round(float(score), 3),
                         "text": _short(corpus[doc], width), "relevant": True})
    table = pd.DataFrame(rows, columns=["qid", "query", "rank", "doc_id", "score", "text", "relevant"])
    table["rank"] = table["rank"].astype("Int64")
    table.attrs.update(depth=depth, misses=len(missed), queries=len(ranks))
    return table


def format_hits(table: pd.DataFrame, query: str | None = None) -> str:
    """Plain text for a table from :func:`top_hits` or :func:`failures` (01_why_fine_tune).

    One block per query: the query, then one line per document, ``>>`` marking the relevant one::

        Q0306  earn Feathers in a Loft   (right answer at rank 4)
             1  0.612  A130  Feathers loyalty points ...
          >> 4  0.551  A077  Shop and online prices ...
    """
    import pandas as pd

    if not isinstance(table, pd.DataFrame) or not {"rank", "doc_id", "text"} <= set(table.columns):
        raise ExploreError("format_hits reads a table from top_hits() or failures().")
    if "qid" not in table.columns:
        table = table.assign(qid=table.attrs.get("qid") or "",
                             query=query or table.attrs.get("query", ""))
    depth = table.attrs.get("depth", DEPTH)
    lines = []
    for qid, rows in table.groupby("qid", sort=False):
        answer = rows[rows["relevant"].fillna(False).astype(bool)]
        if answer.empty:
            where = "" if rows["relevant"].isna().all() else "   (no relevant document shown)"
        elif answer["rank"].isna().all():
            where = f"   (right answer not in the top {depth})"
        else:
            where = f"   (right answer at rank {int(answer['rank'].min())})"
        lines.append(f"{qid}  {_short(rows['query'].iloc[0], 110)}{where}".strip())
        for _, row in rows.iterrows():
            mark = ">>" if not pd.isna(row["relevant"]) and bool(row["relevant"]) else "  "
            rank = "-" if pd.isna(row["rank"]) else str(int(row["rank"]))
            score = "  n/a" if pd.isna(row.get("score")) else f"{row['score']:.3f}"
            lines.append(f"  {mark} {rank:>3}  {score}  {row['doc_id']}  {row['text']}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------------------------------
# Many datasets or models: one table of means with confidence intervals
# --------------------------------------------------------------------------------------------------

def score_table(per_query: Mapping[str, pd.DataFrame],
                metric_names: str | Sequence[str] = ("recall@1", "recall@10", "mrr@10", "ndcg@10"),
                ci: bool = True, n_resamples: int = 2000, seed: int = 0,
                alpha: float = 0.05) -> pd.DataFrame:
    """Mean of each metric per name, with a bootstrap interval (introduced in 01_why_fine_tune).

    ``per_query`` maps a name (a dataset, a model) to its per-query table from
    ``metrics.evaluate_per_query(...).per_query``; ``metric_names`` are the columns to average
    (one name or several). Returns one row per name with a ``queries`` column,
    each metric's mean, and with ``ci=True`` the columns ``<metric>_ci_low`` / ``<metric>_ci_high``
    (a 95% percentile bootstrap interval of the mean by default), which
    :func:`helpers.plots.metric_bars` draws as error bars.
    """
    import pandas as pd

    if not isinstance(per_query, Mapping) or not per_query:
        raise ExploreError("per_query must be a dict {name: per-query table}, e.g. "
                           "{'support': metrics.evaluate_per_query(model, split).per_query}.")
    names = [metric_names] if isinstance(metric_names, str) else list(metric_names)
    rows = {}
    for name, table in per_query.items():
        missing = [m for m in names if m not in getattr(table, "columns", [])]
        if missing:
            raise ExploreError(f"The table for {name!r} has no column {missing[0]!r}; evaluate with "
                               "ks that include it, e.g. ks=(1, 3, 5, 10).")
        row = {"queries": len(table)}
        for m in names:
            values = table[m].to_numpy(float)
            row[m] = float(values.mean())
            if ci:
                low, high = metrics.bootstrap_ci(values, n_resamples, seed, alpha)
                row[f"{m}_ci_low"], row[f"{m}_ci_high"] = low, high
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")


# --------------------------------------------------------------------------------------------------
# Two models on the same queries (introduced in 03_fine_tuning, the heart of 05_evaluation)
# --------------------------------------------------------------------------------------------------

def rank_changes(before: SentenceTransformer | Run, after: SentenceTransformer | Run, split: Split,
                 names: Sequence[str] = ("base", "tuned"), depth: int = DEPTH, *,
                 embeddings: tuple[SplitEmbeddings | None, SplitEmbeddings | None] | None = None,
                 width: int | None = 90) -> pd.DataFrame:
    """Where each query's right answer ranked before and after, e.g. base vs fine-tuned
    (introduced in 03_fine_tuning, used again in 05_evaluation and 06_try_it_yourself).

    ``before`` and ``after`` are each a model or a run ``{qid: {doc_id: score}}``; ``embeddings``
    may be a pair ``(embeddings_before, embeddings_after)`` from :func:`helpers.metrics.encode_split`
    so nothing is encoded twice. ``names`` label the two rank columns.

    Returns one row per query (the split's order) with columns qid, query, answer (the text of the
    first relevant document the qrels name), ``rank_<name>`` for both names (<NA>: not in the top
    ``depth``), ``rr_change`` (1/rank after minus 1/rank before, a missing rank counting 0: the
    query's change in reciprocal rank, so a jump from rank 2 to 1 weighs 0.5 and 50 to 1 weighs
    0.98) and ``change`` ("better", "worse" or "same" rank).
    ``table.nlargest(5, "rr_change")`` lists the queries that gained most,
    ``table.nsmallest(5, "rr_change")`` those that lost most.
    """
    names = tuple(str(n) for n in names)
    if len(names) != 2 or names[0] == names[1]:
        raise ExploreError(f"names must be two different labels, e.g. ('base', 'tuned'); got {names!r}.")
    if embeddings is None:
        embeddings = (None, None)
    elif isinstance(embeddings, tuple) and len(embeddings) == 2 and not hasattr(embeddings, "qids"):
        embeddings = tuple(embeddings)
    else:
        raise ExploreError("embeddings must be a pair (embeddings_before, embeddings_after), each "
                           "from metrics.encode_split(model, split) or None.")
    queries, corpus, qrels = _parts(split)
    depth = _check_k(depth, "depth")
    ranks = [rank_of_relevant(model_or_run, split, depth=depth, embeddings=emb, width=width)
             for model_or_run, emb in zip((before, after), embeddings)]
    table = ranks[0][["qid", "query"]].copy()
    table["answer"] = [_short(corpus[sorted(_relevant(qrels, q))[0]], width) for q in table["qid"]]
    a, b = (f"rank_{n}" for n in names)
    table[a] = ranks[0]["rank"].to_numpy()
    table[b] = ranks[1].set_index("qid").loc[table["qid"], "rank"].to_numpy()
    table[a], table[b] = table[a].astype("Int64"), table[b].astype("Int64")

    def reciprocal(ranks_column):
        return (1.0 / ranks_column.astype("Float64")).fillna(0.0).astype(float)

    table["rr_change"] = reciprocal(table[b]) - reciprocal(table[a])
    before_rank = table[a].fillna(depth + 1).astype(int)
    after_rank = table[b].fillna(depth + 1).astype(int)
    table["change"] = np.select([after_rank < before_rank, after_rank > before_rank],
                                ["better", "worse"], default="same")
    table.attrs.update(depth=depth, names=names)
    return table


def side_by_side(models: Mapping[str, SentenceTransformer | Run], split: Split, query: str,
                 k: int = 5, *, embeddings: Mapping[str, SplitEmbeddings] | None = None,
                 width: int | None = 60) -> pd.DataFrame:
    """One query, several models: their top ``k`` next to each other (introduced in 03_fine_tuning;
    the query explorer of 05_evaluation).

    ``models`` maps a name to a model or a run, e.g. ``{"base": base, "fine-tuned": tuned}``;
    ``embeddings`` maps the same names to :func:`helpers.metrics.encode_split` results (recommended:
    then only the query is encoded). ``query`` is a qid of the split or any text.

    Returns a DataFrame indexed by rank (1..k) with two columns per model: ``<name>`` (the document,
    ``✓`` in front when it answers the query) and ``<name> score``. ``table.attrs`` holds the query
    text, its qid (None for typed text) and ``answer_rank`` {name: rank of the first relevant
    document, <NA> beyond the search depth; None when the query has no known answer}.
    """
    import pandas as pd

    if not isinstance(models, Mapping) or not models:
        raise ExploreError("models must be a dict {name: model or run}, e.g. "
                           "{'base': base_model, 'fine-tuned': tuned_model}.")
    embeddings = embeddings or {}
    if not isinstance(embeddings, Mapping):
        raise ExploreError("embeddings must be a dict {name: metrics.encode_split(model, split)}.")
    unknown = sorted(set(embeddings) - set(models))
    if unknown:
        raise ExploreError(f"embeddings names {unknown[0]!r}, which is not one of the models "
                           f"({', '.join(map(repr, models))}).")
    k = _check_k(k)
    columns, answer_rank, attrs = {}, {}, {}
    for name, model_or_run in models.items():
        hits = top_hits(model_or_run, split, query, k=k, with_answer=True,
                        embeddings=embeddings.get(name), width=width)
        attrs = hits.attrs
        top = hits.head(k)
        marks = ["✓ " if (not pd.isna(r) and bool(r)) else "" for r in top["relevant"]]
        columns[str(name)] = [m + t for m, t in zip(marks, top["text"])]
        columns[f"{name} score"] = top["score"].tolist()
        if hits["relevant"].isna().all():
            answer_rank[str(name)] = None
        else:
            found = hits.loc[hits["relevant"].fillna(False).astype(bool), "rank"]
            answer_rank[str(name)] = found.iloc[0] if len(found) else pd.NA
    size = max(len(v) for v in columns.values())
    table = pd.DataFrame({c: list(v) + [None] * (size - len(v)) for c, v in columns.items()},
                         index=pd.RangeIndex(1, size + 1, name="rank"))
    table.attrs.update(query=attrs.get("query"), qid=attrs.get("qid"), answer_rank=answer_rank)
    return table
