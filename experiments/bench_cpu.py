"""How fast does training run on this CPU? A short, load-aware throughput benchmark.

Full training runs on a shared machine take as long as the other work lets them, so their wall time
says little. This script trains a few dozen steps of each setting on the icd10cm pairs and records
both the wall time and the process's CPU time (all threads). On an otherwise idle machine, wall
time is about CPU time / the number of torch threads, so ``quiet_pairs_per_s`` estimates the
throughput a learner's idle laptop with this CPU would see; ``est_epoch_s`` the seconds one epoch of
the icd10cm training pairs (6,765) would take. Rows are appended to ``experiments/bench.csv``.

On a busy machine even CPU time is inflated (threads spin while they wait for each other), so
``--threads 1`` measures with one torch thread: its CPU time is the work itself, and an idle
two-core machine does it about 1.6 times faster (``--speedup``: calibrated here against a full
run on the idle machine, 36 pairs/s, and an earlier idle run with max_seq_length 64, 29 pairs/s).

    .venv/bin/python experiments/bench_cpu.py                 # every setting below
    .venv/bin/python experiments/bench_cpu.py bs32 bs128      # some of them
    .venv/bin/python experiments/bench_cpu.py --threads 1 bs32 bs128
"""
from __future__ import annotations

import csv
import datetime as dt
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

EXAMPLES = 768  # training examples per measurement (the same for every batch size)
SETTINGS = {
    # name: (batch_size, max_seq_length, with hard negatives)
    "bs32": (32, "auto", False),
    "bs32_msl64": (32, 64, False),
    "bs128": (128, "auto", False),
    "bs32_hn": (32, "auto", True),
    "bs128_hn": (128, "auto", True),
}
FIELDS = ["date", "name", "batch_size", "max_seq_length", "seq_len_used", "hard_negatives", "steps",
          "examples", "wall_s", "cpu_s", "threads", "speedup", "pairs_per_s", "quiet_pairs_per_s",
          "est_epoch_s", "load_before", "load_after", "cpu"]


def main(names, threads=None, speedup=1.6) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)

    from helpers import data, device, models, training

    os.environ["WORKBOOK_CACHE"] = tempfile.mkdtemp(prefix="bench-cache-")  # keep no models
    bundle = data.load("icd10cm")
    model = models.load("all-MiniLM-L6-v2")
    train_pairs = bundle.train.shuffle(seed=0).select(range(EXAMPLES * 2))
    triplets = None
    threads = torch.get_num_threads()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    out = HERE / "bench.csv"
    for name in names:
        bs, msl, hard = SETTINGS[name]
        train = train_pairs
        if hard:
            if triplets is None:
                triplets = data.mine_hard_negatives(model, train_pairs, corpus=bundle.train_corpus)
            train = triplets
        steps = max(2, EXAMPLES // bs)
        # one warm-up step so first-call costs (allocations, thread pools) are not measured
        training.fine_tune(model, train, profile="cpu", cache=False, verbose=False, max_steps=1,
                           batch_size=bs, max_seq_length=msl, progress_bar=False)
        load_before = round(os.getloadavg()[0], 2)
        run = training.fine_tune(model, train, profile="cpu", cache=False, verbose=False,
                                 max_steps=steps, batch_size=bs, max_seq_length=msl,
                                 progress_bar=False)
        wall, cpu = run.seconds, run.extra["cpu_seconds"]
        # idle machine: all cores busy (one thread: the measured work, sped up by `speedup`)
        factor = speedup if threads < cores else 1.0
        quiet = run.extra["examples"] / (cpu / threads) * factor
        row = {"date": dt.datetime.now().isoformat(timespec="minutes"), "name": name,
               "batch_size": bs, "max_seq_length": msl, "seq_len_used": run.config["seq_len_used"],
               "hard_negatives": hard, "steps": steps, "examples": run.extra["examples"],
               "wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "threads": threads, "speedup": factor,
               "pairs_per_s": round(run.pairs_per_second, 1),
               "quiet_pairs_per_s": round(quiet, 1),
               "est_epoch_s": round(len(bundle.train) / quiet),
               "load_before": load_before, "load_after": round(os.getloadavg()[0], 2),
               "cpu": device.detect().name}
        new = not out.exists()
        with out.open("a", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=FIELDS)
            if new:
                writer.writeheader()
            writer.writerow(row)
        print(f"{name}: {row['pairs_per_s']} pairs/s now (load {load_before}), about "
              f"{row['quiet_pairs_per_s']} pairs/s on an idle machine -> one epoch ≈ "
              f"{row['est_epoch_s']} s", flush=True)


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help=f"settings to measure: {', '.join(SETTINGS)}")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--speedup", type=float, default=1.6,
                        help="idle all-core speed-up over one thread (used with --threads 1)")
    args = parser.parse_args()
    bad = [n for n in args.names if n not in SETTINGS]
    if bad:
        parser.error(f"unknown setting(s) {bad}; choose from {list(SETTINGS)}")
    main(args.names or list(SETTINGS), args.threads, args.speedup)
