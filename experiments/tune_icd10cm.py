"""Which training recipe should the cpu profile use? Measure, on the icd10cm test split.

Each configuration fine-tunes all-MiniLM-L6-v2 with ``helpers.training.fine_tune`` on the icd10cm
training pairs (optionally with hard negatives mined from the training positives only), then scores
the full test split with ``helpers.metrics.evaluate``. One row per configuration is appended to
``experiments/results.csv``: the configuration, Recall@1/10, MRR@10, NDCG@10, training seconds,
mining seconds, pairs per second and the machine's load average (other work on the machine slows
training; compare seconds only between rows with similar load).

Run one configuration at a time, from the repository root:

    .venv/bin/python experiments/tune_icd10cm.py --list          # the named configurations
    .venv/bin/python experiments/tune_icd10cm.py base mnrl_lr1e-4 mnrl_hn_lr2e-4
    .venv/bin/python experiments/tune_icd10cm.py --all           # every configuration (about an hour)

Trained models go to the workbook's model cache (data/cache/models/), so running a configuration
again reuses it (``--no-cache`` trains again; the CSV row then says ``from_cache``).
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from helpers import data, device, metrics, models, training  # noqa: E402

RESULTS = HERE / "results.csv"
SEED = 42  # --seed changes it

# name -> (loss, hard_negatives, overrides for fine_tune). All use profile="cpu" with the settings
# below replacing the profile's, so a row stays reproducible when the profile's defaults change.
BASE = dict(epochs=1, batch_size=32, learning_rate=1e-4, warmup_ratio=0.1, max_seq_length="auto")
CONFIGS: dict[str, tuple[str | None, bool, dict]] = {
    "base": (None, False, {}),
    # the colleague's recipe, as our defaults would run it (max_seq_length from the data: 32 tokens)
    "mnrl_lr1e-4": ("mnrl", False, dict(BASE)),
    "mnrl_lr1e-4_msl64": ("mnrl", False, dict(BASE, max_seq_length=64)),
    "mnrl_lr2e-4": ("mnrl", False, dict(BASE, learning_rate=2e-4)),
    "mnrl_lr3e-4": ("mnrl", False, dict(BASE, learning_rate=3e-4)),
    "mnrl_bs64_lr2e-4": ("mnrl", False, dict(BASE, batch_size=64, learning_rate=2e-4)),
    "mnrl_bs128_lr3e-4": ("mnrl", False, dict(BASE, batch_size=128, learning_rate=3e-4)),
    "mnrl_sym_lr2e-4": ("mnrl_symmetric", False, dict(BASE, learning_rate=2e-4)),
    "gist_lr2e-4": ("gist", False, dict(BASE, learning_rate=2e-4)),
    "mnrl_hn_lr1e-4": ("mnrl", True, dict(BASE)),
    "mnrl_hn_lr2e-4": ("mnrl", True, dict(BASE, learning_rate=2e-4)),
    "mnrl_hn_lr3e-4": ("mnrl", True, dict(BASE, learning_rate=3e-4)),
    "mnrl_hn_bs64_lr3e-4": ("mnrl", True, dict(BASE, batch_size=64, learning_rate=3e-4)),
    "mnrl_sym_hn_lr2e-4": ("mnrl_symmetric", True, dict(BASE, learning_rate=2e-4)),
    "mnrl_hn_lr2e-4_0.75ep": ("mnrl", True, dict(BASE, learning_rate=2e-4, epochs=0.75)),
    "mnrl_hn_lr3e-4_0.75ep": ("mnrl", True, dict(BASE, learning_rate=3e-4, epochs=0.75)),
    "mnrl_lr2e-4_2ep": ("mnrl", False, dict(BASE, learning_rate=2e-4, epochs=2)),
    "mnrl_hn_lr2e-4_2ep": ("mnrl", True, dict(BASE, learning_rate=2e-4, epochs=2)),
    "mnrl_lr2e-4_3ep": ("mnrl", False, dict(BASE, learning_rate=2e-4, epochs=3)),
    "mnrl_hn_lr2e-4_3ep": ("mnrl", True, dict(BASE, learning_rate=2e-4, epochs=3)),
    "cmnrl_hn_bs256_lr3e-4_3ep": ("cached_mnrl", True, dict(BASE, batch_size=256, learning_rate=3e-4,
                                                            epochs=3, mini_batch_size=64)),
    # bigger batches within one CPU-sized epoch
    "mnrl_bs128_lr2e-4": ("mnrl", False, dict(BASE, batch_size=128, learning_rate=2e-4)),
    "mnrl_bs128_lr3e-4_1.5ep": ("mnrl", False, dict(BASE, batch_size=128, learning_rate=3e-4,
                                                    epochs=1.5)),
    "mnrl_hn_bs128_lr3e-4": ("mnrl", True, dict(BASE, batch_size=128, learning_rate=3e-4)),
    "cmnrl_bs256_lr3e-4": ("cached_mnrl", False, dict(BASE, batch_size=256, learning_rate=3e-4,
                                                      mini_batch_size=64)),
    "cmnrl_hn_bs256_lr3e-4": ("cached_mnrl", True, dict(BASE, batch_size=256, learning_rate=3e-4,
                                                        mini_batch_size=64)),
    "mnrl_lr1e-4_scale30": ("mnrl", False, dict(BASE, scale=30.0)),
    # the gpu profile's recipe candidates (all data, 3 epochs, batch 128)
    "gpu_mnrl_hn_bs128_lr2e-4_3ep": ("mnrl", True, dict(BASE, batch_size=128, learning_rate=2e-4,
                                                        epochs=3)),
    "gpu_mnrl_hn_bs128_lr3e-4_3ep": ("mnrl", True, dict(BASE, batch_size=128, learning_rate=3e-4,
                                                        epochs=3)),
}

FIELDS = ["date", "name", "loss", "hard_negatives", "epochs", "batch_size", "learning_rate",
          "warmup_ratio", "max_seq_length", "seq_len_used", "seed", "train_rows", "recall@1",
          "recall@10", "mrr@10", "ndcg@10", "train_seconds", "mining_seconds", "total_seconds",
          "pairs_per_second", "cpu_seconds", "from_cache", "load_before", "load_after", "device", "versions"]


def load_avg() -> float:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


_TRIPLETS = {}


def hard_negative_triplets(model, bundle):
    """Triplets from the training pairs, negatives mined among the training positives only."""
    if "t" not in _TRIPLETS:
        start = time.perf_counter()
        triplets, stats = data.mine(model, bundle.train, corpus=bundle.train_corpus,
                                    exclude=bundle.test.relevant_texts(), seed=SEED)
        _TRIPLETS["t"] = (triplets, time.perf_counter() - start, stats)
    return _TRIPLETS["t"]


def score(model, split) -> dict:
    table = metrics.evaluate(model, split, ks=(1, 10), show_progress_bar=False)
    d = {f"{m}@{k}": v for m, k, v in table[["metric", "k", "value"]].itertuples(index=False)}
    return {key: round(d[key], 4) for key in ("recall@1", "recall@10", "mrr@10", "ndcg@10")}


def from_snapshot(path):
    """The bundle frozen by device_pack.py (the same rows as data.load("icd10cm") gave there)."""
    import json

    from datasets import Dataset
    snap = json.loads(Path(path).read_text(encoding="utf-8"))
    return data.Bundle("icd10cm", Dataset.from_dict(snap["train"]), data.IRSplit(**snap["test"]),
                       snap["info"], snap["train_corpus"])


def run_one(name: str, bundle, base_model, cache: bool, precision: str | None = None) -> dict:
    loss, hard, overrides = CONFIGS[name]
    if precision:
        overrides = dict(overrides, precision=precision)
    row = {"date": dt.datetime.now().isoformat(timespec="minutes"), "name": name,
           "loss": loss or "-", "hard_negatives": hard, "seed": SEED, "load_before": load_avg(),
           "device": device.detect().name + f" {precision or ''}".rstrip(),
           "versions": " ".join(f"{k}={v}" for k, v in training.versions().items())}
    mining = 0.0
    if loss is None:
        model, seconds, pps, rows_n, cached, seq = base_model, 0.0, float("nan"), 0, False, ""
    else:
        train = bundle.train
        if hard:
            train, mining, stats = hard_negative_triplets(base_model, bundle)
            print(f"  mining: {stats}")
        run = training.fine_tune(base_model, train, loss=loss, profile="cpu", seed=SEED,
                                 cache=cache, **overrides)
        model, seconds, pps, rows_n, cached = (run.model, run.seconds, run.pairs_per_second,
                                               len(train), run.from_cache)
        row["cpu_seconds"] = run.extra.get("cpu_seconds", "")
        seq = run.config.get("seq_len_used", "")
    row.update({k: overrides.get(k, "") for k in ("epochs", "batch_size", "learning_rate",
                                                  "warmup_ratio", "max_seq_length")})
    row.update(score(model, bundle.test))
    row.update({"seq_len_used": seq, "train_rows": rows_n, "train_seconds": round(seconds, 1),
                "mining_seconds": round(mining, 1), "total_seconds": round(seconds + mining, 1),
                "pairs_per_second": round(pps, 1), "from_cache": cached,
                "load_after": load_avg()})
    return row


def append(row: dict, path: Path = RESULTS, fields: list[str] = FIELDS) -> None:
    """Append ``row`` to the CSV ``path`` (its header first when the file is new)."""
    new = not path.exists()
    with path.open("a", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        if new:
            writer.writeheader()
        writer.writerow({k: row.get(k, "") for k in fields})


def main(argv=None) -> None:
    global SEED
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="configurations to run, in order")
    parser.add_argument("--all", action="store_true", help="run every configuration")
    parser.add_argument("--list", action="store_true", help="list the configurations")
    parser.add_argument("--no-cache", action="store_true", help="train even when cached")
    parser.add_argument("--snapshot", help="a JSON snapshot of the bundle (device_pack.py) instead "
                        "of data.load('icd10cm')")
    parser.add_argument("--model", default="all-MiniLM-L6-v2", help="base model name or folder")
    parser.add_argument("--precision", choices=["fp32", "fp16", "bf16"],
                        help="force a training precision (default: from the device)")
    parser.add_argument("--results", default=str(RESULTS), help="the CSV to append to")
    parser.add_argument("--seed", type=int, default=SEED, help="training seed (default 42)")
    args = parser.parse_args(argv)
    SEED = args.seed
    if args.list:
        for name, (loss, hard, ov) in CONFIGS.items():
            print(f"{name:26s} loss={loss} hard_negatives={hard} {ov}")
        return
    names = list(CONFIGS) if args.all else args.names
    unknown = [n for n in names if n not in CONFIGS]
    if unknown or not names:
        parser.error(f"unknown or no configuration(s): {unknown}; see --list")
    bundle = data.load("icd10cm") if not args.snapshot else from_snapshot(args.snapshot)
    print(f"icd10cm: {len(bundle.train):,} train pairs · {len(bundle.test.queries):,} test queries "
          f"· {len(bundle.test.corpus):,} documents")
    base_model = models.load(args.model)
    for name in names:
        print(f"== {name}")
        row = run_one(name, bundle, base_model, cache=not args.no_cache, precision=args.precision)
        append(row, Path(args.results))
        print(f"  R@10 {row['recall@10']:.3f} · MRR@10 {row['mrr@10']:.3f} · NDCG@10 "
              f"{row['ndcg@10']:.3f} · train {row['train_seconds']} s + mining "
              f"{row['mining_seconds']} s · load {row['load_before']} -> {row['load_after']}")


if __name__ == "__main__":
    main()
