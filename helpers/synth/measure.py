"""Made pairs against human ones, side by side (introduced in 08_make_pairs).

:func:`measure` fine-tunes the base model on each set of pairs (the workbook's recipe,
``training.fine_tune``, cached) and scores every model, the base model too, per query on the same
human-written test queries. :func:`compare_all` compares each model with the base model and with a
reference (the model trained on human pairs) by the workbook's one rule (``metrics.compare``, whose
verdict is ``metrics.verdict``); :func:`side_by_side` is the table to show and :func:`takeaways`
says in words what it shows. A set that could not be made here (no generator) is ``None``: its row
reads "not run here", never a number.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from .. import curves, metrics, profiles, training
from ..data.containers import DataError, make_dataset
from .builders import Made

if TYPE_CHECKING:
    import pandas as pd
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer

    from ..data.containers import IRSplit

BASE = "base model"
"""The name of the base model's row."""
NOT_RUN = "not run here"
"""What a row says when its pairs could not be made on this machine."""
MIN_STEPS = 10
"""The least optimiser steps a run takes (notebook 07: fewer, and the warm-up eats the training)."""


class Measured(NamedTuple):
    """What :func:`measure` returns: per-query scores, pairs trained on and the run, per row name
    (None for a row not run here; the base model's run is None too); ``notes`` says why a row did
    not run."""
    per_query: dict[str, pd.DataFrame | None]
    pairs: dict[str, int | None]
    runs: dict[str, Any]
    notes: dict[str, str]


def as_dataset(pairs: Any) -> Dataset | None:
    """A set of pairs as a Dataset (anchor, positive): a :class:`Made`, a Dataset, or None (not
    made here), returned as None."""
    if pairs is None:
        return None
    if isinstance(pairs, Made):
        return pairs.pairs
    if hasattr(pairs, "column_names") and {"anchor", "positive"} <= set(pairs.column_names):
        return pairs.select_columns(["anchor", "positive"])
    raise DataError(f"A set of pairs is a Made, a Dataset with anchor and positive, or None; got "
                    f"{type(pairs).__name__}.")


def combine(*sets: Any) -> Dataset | None:
    """Several sets of pairs as one Dataset (introduced in 08_make_pairs), e.g. human pairs plus
    generated ones; None when any of them is None (not made here)."""
    parts = [as_dataset(s) for s in sets]
    if any(p is None for p in parts):
        return None
    return make_dataset({c: [t for p in parts for t in p[c]] for c in ("anchor", "positive")})


def measure(base: SentenceTransformer, sets: Mapping[str, Any], split: IRSplit,
            profile: profiles.ProfileName | profiles.Profile = "auto", seed: int = 42,
            ks: Sequence[int] = (10,), min_steps: int = MIN_STEPS) -> Measured:
    """Fine-tune ``base`` on each set of ``sets`` ({row name: pairs, or None when they could not be
    made here}) and score every model, and ``base`` as :data:`BASE`, per query on ``split``.

    Training is ``training.fine_tune`` with the profile's settings (cached), except that a small set
    gets the epochs it needs for ``min_steps`` optimiser steps (``curves.curve_epochs``, notebook
    07). One line per row says what happened."""
    prof = profiles.get(profile)
    per_query: dict[str, pd.DataFrame | None] = {}
    pairs: dict[str, int | None] = {BASE: None}
    runs: dict[str, Any] = {BASE: None}
    notes: dict[str, str] = {}
    per_query[BASE] = metrics.evaluate_per_query(base, split, ks, show_progress_bar=False).per_query
    print(f"{BASE}: scored on {split.describe()}")
    for name, made in sets.items():
        if name == BASE:
            raise DataError(f"{BASE!r} is the base model's row; name the set of pairs otherwise.")
        train = as_dataset(made)
        if train is None or len(train) == 0:
            notes[name] = NOT_RUN if train is None else "no pairs left to train on"
            per_query[name], pairs[name], runs[name] = None, None, None
            print(f"{name}: {notes[name]}")
            continue
        overrides: dict[str, Any] = {"progress_bar": False}
        if not prof.max_steps:  # a profile with a step cap (smoke) ignores epochs anyway
            n = min(len(train), prof.max_train_pairs or len(train))
            epochs = curves.curve_epochs(n, prof.batch_size, min_steps, prof.epochs)
            if epochs != prof.epochs:  # pass only a real change, as notebook 07 does
                overrides["epochs"] = epochs
        run = training.fine_tune(base, train, profile=prof, seed=seed, verbose=False, **overrides)
        per_query[name] = metrics.evaluate_per_query(run.model, split, ks,
                                                     show_progress_bar=False).per_query
        pairs[name], runs[name] = int(run.config["train_rows"]), run
        how = "from the cache" if run.from_cache else f"trained in {run.seconds:.0f} s"
        print(f"{name}: {pairs[name]:,} pairs · {run.extra.get('steps')} steps · {how}")
    return Measured(per_query, pairs, runs, notes)


def compare_all(measured: Measured, metric: str = "ndcg@10", against: Sequence[str] = (BASE,),
                n_resamples: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Every model that ran against each name in ``against``, on ``metric``: one row per (model,
    against) with diff (model minus the other), the paired 95% interval, the p-value and the
    verdict of the workbook's one rule (``metrics.compare``). Rows not run, and a model against
    itself, are left out."""
    import pandas as pd

    rows = []
    for other in against:
        if measured.per_query.get(other) is None:
            continue
        for name, scores in measured.per_query.items():
            if scores is None or name == other:
                continue
            row = metrics.compare(measured.per_query[other], scores, metric, n_resamples,
                                  seed).iloc[0]
            rows.append({"model": name, "against": other, "metric": metric,
                         **{k: row[k] for k in ("diff", "ci_low", "ci_high", "p_value",
                                                 "verdict")}})
    return pd.DataFrame(rows, columns=["model", "against", "metric", "diff", "ci_low", "ci_high",
                                       "p_value", "verdict"])


def side_by_side(measured: Measured, comparisons: pd.DataFrame,
                 also: Sequence[str] = ("recall@10",), digits: int = 3) -> pd.DataFrame:
    """The table to show: one row per model, its pairs, its mean score on the compared metric (and
    on ``also``), then for each reference in ``comparisons`` the difference with its interval
    (``metrics.format_diff``) and the verdict. A row not run reads :data:`NOT_RUN` everywhere."""
    import pandas as pd

    metric = comparisons["metric"].iloc[0] if len(comparisons) else None
    others = list(dict.fromkeys(comparisons["against"]))
    shown = [m for m in [metric, *also] if m]
    rows = []
    for name, scores in measured.per_query.items():
        row: dict[str, Any] = {"pairs from": name}
        if scores is None:
            note = measured.notes.get(name, NOT_RUN)
            rows.append({**row, "pairs": note, **{m: note for m in shown},
                         **{c: note for o in others for c in (f"vs {o}", f"verdict vs {o}")}})
            continue
        row["pairs"] = "" if measured.pairs[name] is None else f"{measured.pairs[name]:,}"
        row.update({m: round(float(scores[m].mean()), digits) for m in shown})
        for other in others:
            hit = comparisons[(comparisons["model"] == name) & (comparisons["against"] == other)]
            if hit.empty:
                row[f"vs {other}"], row[f"verdict vs {other}"] = "", ""
                continue
            c = hit.iloc[0]
            row[f"vs {other}"] = metrics.format_diff(c["diff"], c["ci_low"], c["ci_high"], digits)
            row[f"verdict vs {other}"] = c["verdict"]
        rows.append(row)
    return pd.DataFrame(rows).set_index("pairs from")


_AGAINST = {"better": "better than", "worse": "worse than",
            "no measurable difference": "no measurable difference from"}


def takeaways(measured: Measured, comparisons: pd.DataFrame, reference: str,
              digits: int = 3) -> list[str]:
    """What the table says, in sentences computed from it (never typed by hand): for each model,
    its verdict against the base model and against ``reference`` (the difference with its
    interval), then the sets of pairs grouped by those two verdicts: better than the base model
    and no worse than the reference (enough), better but worse than the reference, no measurable
    difference from the base model, worse than the base model (they hurt)."""
    def verdict_of(name: str, other: str):
        hit = comparisons[(comparisons["model"] == name) & (comparisons["against"] == other)]
        return None if hit.empty else hit.iloc[0]

    def clause(c, other: str) -> str:
        return (f"{_AGAINST[c['verdict']]} the {other} "
                f"({metrics.format_diff(c['diff'], c['ci_low'], c['ci_high'], digits)})")

    metric = comparisons["metric"].iloc[0] if len(comparisons) else "the metric"
    groups: dict[str, list[str]] = {
        f"Better than the base model and no worse than the {reference}": [],
        f"Better than the base model, but worse than the {reference}": [],
        "No measurable difference from the base model": [],
        "Worse than the base model (these pairs hurt)": []}
    keys = list(groups)
    lines = []
    for name in measured.per_query:
        if name == BASE:
            continue
        if measured.per_query[name] is None:
            lines.append(f"{name}: {measured.notes.get(name, NOT_RUN)}.")
            continue
        against_base = verdict_of(name, BASE)
        against_ref = verdict_of(name, reference) if name != reference else None
        parts = [clause(c, other) for c, other in ((against_base, BASE),
                                                   (against_ref, reference)) if c is not None]
        lines.append(f"{name} ({measured.pairs[name]:,} pairs), {metric}: {'; '.join(parts)}.")
        if name == reference or against_base is None:
            continue
        if against_base["verdict"] == "better":
            worse = against_ref is not None and against_ref["verdict"] == "worse"
            groups[keys[1] if worse else keys[0]].append(name)
        else:
            groups[keys[2] if against_base["verdict"] != "worse" else keys[3]].append(name)
    return lines + [f"{key}: {', '.join(names)}." for key, names in groups.items() if names]


__all__ = ["BASE", "MIN_STEPS", "NOT_RUN", "Measured", "as_dataset", "combine", "compare_all",
           "measure", "side_by_side", "takeaways"]
