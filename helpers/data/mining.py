"""Hard negatives: turn (anchor, positive) pairs into triplets (02_training_data, 03_fine_tuning).

``mine_hard_negatives(model, pairs)`` returns the triplets; ``mine(model, pairs)`` returns them with
what happened (how many pairs found a negative, from how many candidates, in how many seconds).
Both wrap sentence-transformers' ``mine_hard_negatives`` with defaults chosen to avoid false
negatives, and never use a test document as a negative.
"""
from __future__ import annotations

import random
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from .. import quiet
from .containers import COLUMNS, DataError, make_dataset, normalize
from .files import as_frame

if TYPE_CHECKING:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer

    from .files import Pairs


class Mined(NamedTuple):
    """What :func:`mine` returns: the triplets (a Dataset) and a dict of what happened."""
    triplets: Dataset
    stats: dict[str, Any]


def mine(model: SentenceTransformer, pairs: Pairs, corpus: Iterable[str] | None = None,
         exclude: Iterable[str] | None = None, num_negatives: int = 1, range_min: int = 3,
         range_max: int = 50, relative_margin: float | None = 0.05, max_score: float | None = None,
         sampling_strategy: Literal["top", "random"] = "top", batch_size: int = 64,
         verbose: bool = False, seed: int = 42) -> Mined:
    """Turn (anchor, positive) pairs into (anchor, positive, negative) triplets (introduced in
    02_training_data).

    A *hard* negative is a document the model ranks high for the anchor that is not its positive.
    The highest-ranked ones are often correct answers in disguise (false negatives: a synonym, a
    sibling code), so by default we skip the top ``range_min`` candidates, look no further than
    ``range_max``, and keep a negative only if it scores at least ``relative_margin`` (5%) below
    the positive (``None``: no margin).

    Why these defaults: on icd10cm (base model, 6,765 training queries against the 3,447 training
    titles) the 5% margin drops most candidates ranked above or level with the positive; among the
    rest, the negative scores on average 0.87 of the positive's score at rank 0, 0.78 after skipping
    3 and 0.70 after skipping 10, while the share of pairs that find a negative stays near 84% (at
    range_max 50). ICD codes are designed not to overlap, so the very top candidates are mostly real
    wrong codes worth learning from; sets whose documents overlap (support articles, your own) have
    more false negatives up there. Skipping 3 is the compromise; raise ``range_min`` when reading
    the triplets shows correct answers among the negatives.

    ``corpus``: where negatives come from; defaults to the training positives. ``exclude``: texts
    never to use as negatives, e.g. the test documents (they are removed from the corpus, and any
    triplet that would use one is dropped). Pairs that find no negative are dropped; a one-line
    summary says how many got one. ``verbose`` shows the library's progress bars and score table.
    Returns ``Mined(triplets, stats)``; :func:`mine_hard_negatives` returns the triplets alone.
    """
    from sentence_transformers.util import mine_hard_negatives as st_mine

    df, _, _ = as_frame(pairs)
    df = df[(df["anchor"].str.strip() != "") & (df["positive"].str.strip() != "")]
    if len(df) == 0:
        raise DataError("No usable pairs to mine negatives for (every anchor or positive is "
                        "empty).")
    base = make_dataset({"anchor": df["anchor"].tolist(), "positive": df["positive"].tolist()})
    banned = {normalize(t) for t in (exclude or [])}
    pool = list(dict.fromkeys(str(t) for t in (corpus if corpus is not None else base["positive"])))
    pool = [t for t in pool if t.strip() and normalize(t) not in banned]
    n_candidates = len(set(pool) | set(base["positive"]))
    range_max = min(range_max, max(n_candidates - 1, 1))
    range_min = min(range_min, max(range_max - num_negatives, 0))
    if range_max - range_min < num_negatives:
        raise DataError(f"Only {n_candidates} documents to draw negatives from: too few for "
                        f"{num_negatives} negative(s) per pair. Give a bigger corpus.")
    random.seed(seed)  # the library samples with `random` when sampling_strategy="random"
    start = time.perf_counter()
    with quiet.libraries(model, bars=verbose, prints=verbose):
        mined = st_mine(base, model, anchor_column_name="anchor", positive_column_name="positive",
                        corpus=pool, range_min=range_min, range_max=range_max,
                        relative_margin=relative_margin, max_score=max_score,
                        num_negatives=num_negatives, sampling_strategy=sampling_strategy,
                        batch_size=batch_size, output_format="triplet", verbose=verbose)
    seconds = time.perf_counter() - start
    rows = [r for r in mined if normalize(r["negative"]) not in banned
            and normalize(r["negative"]) != normalize(r["positive"])]
    dropped_excluded = len(mined) - len(rows)
    triplets = make_dataset({c: [r[c] for r in rows] for c in COLUMNS})
    with_neg = len({(r["anchor"], r["positive"]) for r in rows})
    distinct = len(set(zip(base["anchor"], base["positive"])))
    stats = {"pairs": distinct, "pairs_with_negative": with_neg, "triplets": len(triplets),
             "corpus": len(pool), "range_min": range_min, "range_max": range_max,
             "relative_margin": relative_margin, "dropped_excluded": dropped_excluded,
             "seconds": round(seconds, 1)}
    print(f"Mined hard negatives for {with_neg:,} of {distinct:,} pairs "
          f"({with_neg / max(distinct, 1):.0%}) from {len(pool):,} candidate documents "
          f"(ranks {range_min}-{range_max}, "
          f"{'no margin' if relative_margin is None else f'margin {relative_margin:g}'}) "
          f"in {seconds:.0f} s")
    return Mined(triplets, stats)



def mine_hard_negatives(model: SentenceTransformer, pairs: Pairs,
                        corpus: Iterable[str] | None = None, exclude: Iterable[str] | None = None,
                        **options: Any) -> Dataset:
    """The triplets of :func:`mine` (same arguments), without the statistics (introduced in
    02_training_data)."""
    return mine(model, pairs, corpus, exclude, **options).triplets


__all__ = ["Mined", "mine", "mine_hard_negatives"]
