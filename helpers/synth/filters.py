"""Filters for made pairs (08_make_pairs): :func:`dedupe`, :func:`drop_copies`, :func:`round_trip`
(the one with a model), and :func:`clean` for all three; each says what it removed and why.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from .. import metrics, quiet
from ..data.containers import DataError, normalize
from ..data.files import as_frame
from ..errors import check_whole
from .builders import Made, collect, starts_with, words

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from ..data.files import Pairs


def _rows(pairs: Made | Pairs) -> list[dict]:
    """Pairs in any form (a Made keeps its origins) as dicts: anchor, positive, origin."""
    if isinstance(pairs, Made):
        return pairs.table().to_dict("records")
    df, _, label = as_frame(pairs)
    if "anchor" not in df.columns or "positive" not in df.columns:
        raise DataError(f"{label} has no anchor/positive columns (query/document work too).")
    return df[["anchor", "positive"]].assign(origin="").to_dict("records")


def dedupe(pairs: Made | Pairs) -> Made:
    """Remove repeated queries, compared exactly and after normalising (case, Unicode form,
    punctuation, spaces) (introduced in 08_make_pairs). The first of equal queries for one document
    is kept. A query asked of two or more different documents is removed every time: too generic
    to point to one, and training it towards each pulls it between them."""
    rows, docs, seen, kept, removed = _rows(pairs), {}, {}, [], []
    for r in rows:
        docs.setdefault(" ".join(words(r["anchor"])), set()).add(normalize(r["positive"]))
    for r in rows:
        if len(docs[key := " ".join(words(r["anchor"]))]) > 1:
            removed.append({**r, "reason": f"the same query for {len(docs[key])} documents"})
        elif key in seen:
            removed.append({**r, "reason": "repeats an earlier query" + (
                "" if seen[key] == r["anchor"] else " (after normalising)")})
        else:
            seen[key] = r["anchor"]
            kept.append(r)
    return collect(kept, removed, method="dedupe")


def copy_overlap(query: str, document: str, n: int = 3) -> float | None:
    """The share of the query's word n-grams found word for word in the document (0 to 1), or None
    when the query has fewer than ``n`` words (introduced in 08_make_pairs)."""
    q, d = words(query), words(document)
    grams = {tuple(q[i:i + n]) for i in range(len(q) - n + 1)}
    found = {tuple(d[i:i + n]) for i in range(len(d) - n + 1)}
    return len(grams & found) / len(grams) if grams else None


def drop_copies(pairs: Made | Pairs, max_overlap: float = 0.6, n: int = 3) -> Made:
    """Remove queries that copy their document (introduced in 08_make_pairs): its words are the
    document's first words, or more than ``max_overlap`` of its word ``n``-grams (``n`` words in a
    row, as :func:`words` reads them) are in the document (:func:`copy_overlap`). Queries under
    ``n`` words face the first rule only (two words of the document are a keyword search, not a
    copy). Copies teach word matching, which the base model does already, not how people ask."""
    if not 0 <= max_overlap <= 1:
        raise DataError(f"max_overlap must be a share from 0 to 1, got {max_overlap!r}.")
    n, kept, removed = check_whole(n, "n", DataError), [], []
    for r in _rows(pairs):
        overlap = copy_overlap(r["anchor"], r["positive"], n) or 0
        if starts_with(words(r["positive"]), words(r["anchor"])):
            removed.append({**r, "reason": "the query is the document's first words"})
        elif overlap > max_overlap:
            removed.append({**r, "reason": f"over {max_overlap:.0%} of its {n}-word runs are in "
                                           "the document"})
        else:
            kept.append(r)
    return collect(kept, removed, method="drop_copies", max_overlap=max_overlap, n=n)


def round_trip(pairs: Made | Pairs, model: SentenceTransformer,
               corpus: Iterable[str] | Mapping[str, str] | None = None, k: int = 5,
               progress: bool = False) -> Made:
    """Keep a query only if the retrieval ``model`` (``metrics.search``) finds its own document in
    its top ``k``: round-trip consistency, as in Promptagator (introduced in 08_make_pairs).
    ``corpus``: all your documents (texts or {id: text}; the positives are added), so a query that
    fits another document better is removed."""
    k, rows = check_whole(k, "k", DataError), _rows(pairs)
    texts = list(corpus.values()) if isinstance(corpus, Mapping) else list(corpus or [])
    texts = dict.fromkeys(texts + [r["positive"] for r in rows])
    doc_ids = {t: f"d{i}" for i, t in enumerate(texts)}
    run = {}
    if rows:
        split = {"queries": {f"q{i}": r["anchor"] for i, r in enumerate(rows)},
                 "corpus": {i: t for t, i in doc_ids.items()}}
        with quiet.libraries(model, bars=progress):
            run = metrics.search(model, split, k=k, show_progress_bar=progress)
    found = [doc_ids[r["positive"]] in run.get(f"q{i}", {}) for i, r in enumerate(rows)]
    kept = [r for r, ok in zip(rows, found) if ok]
    removed = [{**r, "reason": f"its document is not in the top {k}"}
               for r, ok in zip(rows, found) if not ok]
    return collect(kept, removed, method="round_trip", k=k, corpus=len(doc_ids))


def clean(pairs: Made | Pairs, model: SentenceTransformer,
          corpus: Iterable[str] | Mapping[str, str] | None = None, k: int = 5,
          max_overlap: float = 0.6, progress: bool = False) -> Made:
    """``dedupe``, ``drop_copies``, then ``round_trip`` (the one with a model, on what is left)
    (introduced in 08_make_pairs). ``removed`` has a ``step`` column (the filter);
    ``stats["removed_by"]`` counts per filter."""
    import pandas as pd

    steps = [("dedupe", dedupe), ("drop_copies", lambda p: drop_copies(p, max_overlap)),
             ("round_trip", lambda p: round_trip(p, model, corpus, k, progress))]
    made, removed, counts, start = pairs, [], {}, len(_rows(pairs))
    for name, step in steps:
        made = step(made)
        removed += [{**r, "step": name} for r in made.removed.to_dict("records")]
        counts[name] = len(made.removed)
    stats = {**made.stats, "method": "clean", "start": start, "removed": len(removed),
             "removed_by": counts,
             "reasons": dict(Counter(r["reason"] for r in removed).most_common())}
    table = pd.DataFrame(removed, columns=["anchor", "positive", "reason", "origin", "step"])
    return Made(made.pairs, table, stats, made.origin)
