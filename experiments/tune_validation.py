"""Which cpu recipe, chosen on validation data (issue 13)? A held-out part of the training codes.

The first recipes (``tune_icd10cm.py``) were compared on the icd10cm test split. This script never
looks at it while choosing: 15% of the training pairs, whole groups of a title and its synonyms at
a time (``data.split_groups``, so no title or query is on both sides), become a validation split
whose corpus is every training title; the configurations train on the other 85%. Hard negatives
are mined among the 85%'s titles only. One row per configuration goes to
``experiments/validation.csv`` (precision, seconds, pairs/s and the load average beside them).
``--compare REF NAME...`` compares configurations (already trained: they come from the cache) with
REF on the validation queries, with the workbook's paired intervals and its one significance rule.
``--test NAME`` scores one configuration, trained on the whole training split, on the test split:
run it once, for the configuration validation chose.

    .venv/bin/python experiments/tune_validation.py --list
    .venv/bin/python experiments/tune_validation.py --precision bf16 mnrl_bs32_lr1e-4_1ep ...
    .venv/bin/python experiments/tune_validation.py --compare mnrl_bs32_lr1e-4_1ep mnrl_bs64_lr2e-4_2ep
    .venv/bin/python experiments/tune_validation.py --precision bf16 --test mnrl_bs128_lr2e-4_3ep
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from experiments.tune_icd10cm import append as append_csv  # noqa: E402
from experiments.tune_icd10cm import load_avg, score  # noqa: E402
from helpers import data, device, metrics, models, training  # noqa: E402
from helpers.data.containers import split_groups  # noqa: E402

RESULTS = HERE / "validation.csv"
SEED = 42
VALIDATION_SHARE = 0.15
BASE = dict(warmup_ratio=0.1, max_seq_length="auto")
# name -> (loss, hard negatives, overrides for fine_tune). Hard negatives: True mines them with the
# base model (data.mine); "siblings" takes them from the ICD-10-CM hierarchy instead: the title of
# another leaf code under the same parent (the confusable neighbour a coder must tell apart), no
# model needed.
CONFIGS: dict[str, tuple[str | None, bool | str, dict]] = {
    "base": (None, False, {}),
    "mnrl_bs32_lr1e-4_1ep": ("mnrl", False, dict(BASE, batch_size=32, learning_rate=1e-4, epochs=1)),
    "mnrl_bs32_lr1e-4_3ep": ("mnrl", False, dict(BASE, batch_size=32, learning_rate=1e-4, epochs=3)),
    "mnrl_bs64_lr2e-4_3ep": ("mnrl", False, dict(BASE, batch_size=64, learning_rate=2e-4, epochs=3)),
    "mnrl_bs128_lr3e-4_1.5ep": ("mnrl", False, dict(BASE, batch_size=128, learning_rate=3e-4,
                                                    epochs=1.5)),
    "mnrl_bs128_lr2e-4_3ep": ("mnrl", False, dict(BASE, batch_size=128, learning_rate=2e-4,
                                                  epochs=3)),
    "mnrl_bs64_lr2e-4_2ep": ("mnrl", False, dict(BASE, batch_size=64, learning_rate=2e-4, epochs=2)),
    "mnrl_bs128_lr2e-4_2.5ep": ("mnrl", False, dict(BASE, batch_size=128, learning_rate=2e-4,
                                                    epochs=2.5)),
    "mnrl_hn_bs128_lr2e-4_1.5ep": ("mnrl", True, dict(BASE, batch_size=128, learning_rate=2e-4,
                                                      epochs=1.5)),
    "mnrl_hn_bs128_lr2e-4_3ep": ("mnrl", True, dict(BASE, batch_size=128, learning_rate=2e-4,
                                                    epochs=3)),
    "mnrl_sib_bs32_lr1e-4_1ep": ("mnrl", "siblings", dict(BASE, batch_size=32, learning_rate=1e-4,
                                                          epochs=1)),
    "mnrl_sib_bs64_lr2e-4_2ep": ("mnrl", "siblings", dict(BASE, batch_size=64, learning_rate=2e-4,
                                                          epochs=2)),
    "mnrl_sibup_bs32_lr1e-4_1ep": ("mnrl", "siblings_up", dict(BASE, batch_size=32,
                                                               learning_rate=1e-4, epochs=1)),
    "cmnrl_hn_bs256_lr3e-4_3ep": ("cached_mnrl", True, dict(BASE, batch_size=256,
                                                            learning_rate=3e-4, epochs=3,
                                                            mini_batch_size=64)),
}
FIELDS = ["date", "name", "split", "loss", "hard_negatives", "epochs", "batch_size",
          "learning_rate", "precision", "seed", "train_rows", "queries", "documents", "recall@1",
          "recall@10", "mrr@10", "ndcg@10", "train_seconds", "mining_seconds", "pairs_per_second",
          "from_cache", "load_before", "load_after", "device", "versions"]


def validation_split(bundle):
    """(the 85% training pairs, the validation IRSplit, the 85%'s titles)."""
    train = bundle.train
    items = [(f"q:{data.normalize(a)}", f"d:{data.normalize(p)}")
             for a, p in zip(train["anchor"], train["positive"])]
    keep, held = split_groups(items, VALIDATION_SHARE, SEED)
    fit = train.select(sorted(keep))
    val_pairs = train.select(sorted(held))
    split = data.ir_split_from_pairs(val_pairs, extra_documents=bundle.train_corpus)
    held_titles = set(val_pairs["positive"])
    fit_titles = [t for t in bundle.train_corpus if t not in held_titles]
    return fit, split, fit_titles


def sibling_triplets(train, titles, seed=SEED, climb=False):
    """(anchor, positive, negative) with the negative the title of a sibling leaf code (same
    parent in ICD-10-CM), chosen at random among ``titles`` (the training side's only). A pair whose
    code has no sibling there is dropped (counted), or with ``climb`` takes its negative from the
    nearest ancestor (grandparent, then further up) that has other training titles under it."""
    import random

    from datasets import Dataset

    from helpers.data.bundled import icd10cm_module, icd10cm_pairs
    cm = icd10cm_module()
    _, code_title, _ = icd10cm_pairs()
    allowed = set(titles)
    code_of = {t: c for c, t in code_title.items() if t in allowed}
    def ancestors(code):
        """Parent, grandparent, ... up to the chapter. (A block named like its only category,
        e.g. C7A, is its own parent by name: stop at a repeat.)"""
        chain, node = [], code
        while True:
            node = cm.get_parent(node)
            if not node or node in chain or node == code:
                return chain
            chain.append(node)

    family: dict[str, list[str]] = {}
    for title, code in code_of.items():
        for node in ancestors(code):  # every ancestor knows the training titles below it
            family.setdefault(node, []).append(title)
    rng = random.Random(seed)
    rows, dropped = {"anchor": [], "positive": [], "negative": []}, 0
    for a, p in zip(train["anchor"], train["positive"]):
        code = code_of.get(p)
        options = []
        for node in (ancestors(code) if code else [])[:None if climb else 1]:
            options = [t for t in family.get(node, []) if t != p]
            if options:
                break
        if not options:
            dropped += 1
            continue
        rows["anchor"].append(a)
        rows["positive"].append(p)
        rows["negative"].append(rng.choice(sorted(options)))
    print(f"  sibling negatives: {len(rows['anchor']):,} triplets, {dropped:,} pairs without a "
          "sibling title dropped")
    return Dataset.from_dict(rows)


def training_rows(hard, base_model, train, titles, exclude):
    """The rows a configuration trains on, and the seconds spent making them."""
    start = time.perf_counter()
    if hard in ("siblings", "siblings_up"):
        rows = sibling_triplets(train, titles, climb=hard == "siblings_up")
    elif hard:
        mined = data.mine(base_model, train, corpus=titles, exclude=exclude, seed=SEED)
        print(f"  mining: {mined.stats}")
        rows = mined.triplets
    else:
        return train, 0.0
    return rows, time.perf_counter() - start


def run_one(name, train, split, titles, exclude, base_model, precision, split_name) -> dict:
    loss, hard, overrides = CONFIGS[name]
    row = {"date": dt.datetime.now().isoformat(timespec="minutes"), "name": name,
           "split": split_name, "loss": loss or "-", "hard_negatives": hard, "seed": SEED,
           "precision": precision, "queries": len(split.queries), "documents": len(split.corpus),
           "load_before": load_avg(), "device": device.detect().name,
           "versions": " ".join(f"{k}={v}" for k, v in training.versions().items())}
    row.update({k: overrides.get(k, "") for k in ("epochs", "batch_size", "learning_rate")})
    model, mining, seconds, pps, cached = base_model, 0.0, 0.0, float("nan"), False
    if loss is not None:
        rows, mining = training_rows(hard, base_model, train, titles, exclude)
        run = training.fine_tune(base_model, rows, loss=loss, profile="cpu", seed=SEED,
                                 precision=precision, **overrides)
        model, seconds, pps, cached = run.model, run.seconds, run.pairs_per_second, run.from_cache
        row["train_rows"] = len(rows)
    row.update(score(model, split))
    row.update({"train_seconds": round(seconds, 1), "mining_seconds": round(mining, 1),
                "pairs_per_second": round(pps, 1), "from_cache": cached,
                "load_after": load_avg()})
    return row


def trained(name, train, titles, exclude, base_model, precision):
    """The model of configuration ``name`` (from the cache when it was trained before)."""
    loss, hard, overrides = CONFIGS[name]
    if loss is None:
        return base_model
    rows, _ = training_rows(hard, base_model, train, titles, exclude)
    return training.fine_tune(base_model, rows, loss=loss, profile="cpu", seed=SEED,
                              precision=precision, verbose=False, **overrides).model


def compare(names, train, split, titles, exclude, base_model, precision) -> None:
    """Each configuration against the first, paired, on the same validation queries."""
    shown = ("recall@10", "mrr@10", "ndcg@10")
    per_query = {}
    for name in names:
        model = trained(name, train, titles, exclude, base_model, precision)
        per_query[name] = metrics.evaluate_per_query(model, split, ks=(10,),
                                                     show_progress_bar=False).per_query
    ref = names[0]
    print(f"against {ref} on {len(split.queries):,} validation queries (B - A, 95% interval):")
    for name in names[1:]:
        table = metrics.compare(per_query[ref], per_query[name], metric_names=shown)
        cells = [f"{row.metric} {metrics.format_diff(row.diff, row.ci_low, row.ci_high)} "
                 f"{metrics.verdict(row._asdict())}" for row in table.itertuples(index=False)]
        print(f"  {name}: " + " · ".join(cells), flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    parser.add_argument("--compare", action="store_true",
                        help="compare the configurations with the first, paired, on validation")
    parser.add_argument("--test", action="store_true",
                        help="train on the whole training split and score the test split")
    args = parser.parse_args(argv)
    if args.list:
        for name, (loss, hard, ov) in CONFIGS.items():
            print(f"{name:28s} loss={loss} hard_negatives={hard} {ov}")
        return
    unknown = [n for n in args.names if n not in CONFIGS]
    if unknown or not args.names:
        parser.error(f"unknown or no configuration(s): {unknown}; see --list")
    bundle = data.load("icd10cm")
    base_model = models.load("all-MiniLM-L6-v2")
    if args.test:
        train, split, titles = bundle.train, bundle.test, bundle.train_corpus
        exclude, split_name = bundle.test.relevant_texts(), "test"
    else:
        train, split, titles = validation_split(bundle)
        exclude, split_name = split.relevant_texts(), "validation"
    if args.compare:
        compare(args.names, train, split, titles, exclude, base_model, args.precision)
        return
    print(f"{split_name}: {len(train):,} training pairs · {len(split.queries):,} queries · "
          f"{len(split.corpus):,} documents · precision {args.precision}")
    for name in args.names:
        print(f"== {name}", flush=True)
        row = run_one(name, train, split, titles, exclude, base_model, args.precision, split_name)
        append_csv(row, RESULTS, FIELDS)
        print(f"  R@10 {row['recall@10']:.4f} · MRR@10 {row['mrr@10']:.4f} · NDCG@10 "
              f"{row['ndcg@10']:.4f} · train {row['train_seconds']} s ({row['pairs_per_second']} "
              f"pairs/s) + mining {row['mining_seconds']} s · load {row['load_before']} -> "
              f"{row['load_after']}", flush=True)


if __name__ == "__main__":
    main()
