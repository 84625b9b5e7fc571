"""Data-parallel fine-tuning over several processes: ``torchrun`` or ``accelerate launch`` (issue
17, ``python -m helpers.train``; introduced in 09_scale_out).

Under ``torchrun --nproc_per_node N`` every process runs the same script: it loads the model and the
data, takes its own share of the batches (the Trainer and accelerate shard them), and after each
step the gradients are averaged across processes (DDP: gloo on a CPU, nccl on GPUs; the Trainer
picks the backend from the environment). The model stays identical in every process.

What differs from :func:`helpers.training.fine_tune`, and why this is its own function:

* in-batch negatives: each process sees ``batch_size`` pairs per step (the per-device batch), so
  without help an anchor is scored against ``batch_size - 1`` other positives only. With
  ``gather_across_devices`` (sentence-transformers' MNRL, CachedMNRL and GIST losses) the
  embeddings of every process are gathered first, and each anchor meets ``batch_size x N - 1``
  negatives: the global batch, as on one big device (:func:`batch_plan` says how many);
* only process 0 (``World.is_main``) saves the model, its run.json and returns the :class:`Run`;
  the other processes return None;
* the run.json records the world size, each process's steps and examples and the global batch;
* no cache: a distributed run always trains (its config holds ``world_size``, so its key never
  matches a one-process run's), and its model goes to ``output_dir``.

``fine_tune`` itself is left for the one-process case (it caches and reuses runs).
"""
from __future__ import annotations

import copy
import json
import math
import os
import socket
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import device, models, paths, quiet, runtimes
from .cache import (CACHE_FORMAT, Run, cache_key, data_fingerprint, model_identity, save_run,
                    versions)
from .losses import build_loss
from .settings import (IN_BATCH_LOSSES, LOSSES, SETTINGS, Loss, TrainingError,
                       build_args, check_train_data, resolve_settings, sequence_length,
                       subsample)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from .. import profiles
    from .settings import TrainData


LAUNCHER_VARIABLES = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
"""What torchrun / accelerate launch set for each process; a launch starts without them."""


@dataclass(frozen=True)
class World:
    """This process's place among the training processes: ``rank`` (0 .. size-1), ``local_rank``
    (its GPU on this machine) and ``size`` (how many processes train). ``torchrun`` and
    ``accelerate launch`` set ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; a plain ``python`` run is
    the world of one."""
    rank: int = 0
    local_rank: int = 0
    size: int = 1

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> World:
        """The world the launcher described in the environment (one process when it says
        nothing)."""
        env = os.environ if environ is None else environ
        values = {}
        for field, name, default in (("rank", "RANK", 0), ("local_rank", "LOCAL_RANK", 0),
                                     ("size", "WORLD_SIZE", 1)):
            raw = str(env.get(name, "") or "").strip()
            try:
                values[field] = int(raw) if raw else default
            except ValueError:
                raise TrainingError(f"The environment variable {name}={raw!r} is not a whole "
                                    "number; torchrun and accelerate launch set it for you, so "
                                    "unset it for a one-process run.") from None
        world = cls(**values)
        if world.size < 1 or not 0 <= world.rank < world.size or world.local_rank < 0:
            raise TrainingError(f"Inconsistent launcher settings: RANK={world.rank}, "
                                f"WORLD_SIZE={world.size}, LOCAL_RANK={world.local_rank}.")
        return world

    @property
    def is_main(self) -> bool:
        """Process 0: the one that prints, saves and evaluates."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """More than one process trains."""
        return self.size > 1

    def launcher(self, environ: Mapping[str, str] | None = None) -> str:
        """"torchrun", "accelerate launch" or "python" (one process), from the environment."""
        env = os.environ if environ is None else environ
        if any(k.startswith("ACCELERATE_") for k in env) and self.distributed:
            return "accelerate launch"
        if "TORCHELASTIC_RUN_ID" in env or self.distributed:
            return "torchrun"
        return "python"


def batch_plan(per_device_batch: int, world_size: int = 1, loss: Loss = "mnrl",
               gather: bool = True, has_negative: bool = False) -> dict[str, Any]:
    """How big a step is and how many negatives each anchor meets.

    ``global_batch`` = per-device batch x processes (the pairs one optimiser step learns from).
    For an in-batch-negative loss, an anchor is scored against every other positive of the pool it
    sees (and every hard negative, with a ``negative`` column): its own process's batch without
    gathering, the global batch with it. TripletLoss compares each anchor with its own negative
    only.

    >>> plan = batch_plan(16, 2)
    >>> plan["global_batch"], plan["negatives_per_anchor"], plan["negatives_without_gathering"]
    (32, 31, 15)
    """
    per_device, world_size = int(per_device_batch), int(world_size)
    global_batch = per_device * world_size
    in_batch = loss in IN_BATCH_LOSSES
    gathered = bool(gather and in_batch and world_size > 1)

    def negatives(pool: int) -> int:
        if not in_batch:
            return 1
        return pool - 1 + (pool if has_negative else 0)

    return {"per_device_batch": per_device, "world_size": world_size,
            "global_batch": global_batch, "gather_across_devices": gathered,
            "negatives_per_anchor": negatives(global_batch if gathered else per_device),
            "negatives_with_gathering": negatives(global_batch),
            "negatives_without_gathering": negatives(per_device)}


def describe_batch(plan: Mapping[str, Any], backend: str | None = None) -> str:
    """One line about :func:`batch_plan`, e.g. ``2 processes (gloo) x 16 pairs = global batch 32 ·
    gathered across processes: 31 in-batch negatives per anchor (15 without gathering)``."""
    n = plan["world_size"]
    head = (f"{n} process{'es' if n != 1 else ''}{f' ({backend})' if backend else ''} x "
            f"{plan['per_device_batch']} pairs = global batch {plan['global_batch']}")
    if plan["negatives_with_gathering"] == plan["negatives_without_gathering"] == 1:
        return head + " · triplet loss: 1 negative per anchor (its own)"
    if n == 1:
        return head + f" · {plan['negatives_per_anchor']} in-batch negatives per anchor"
    how = "gathered across processes" if plan["gather_across_devices"] else "not gathered"
    return (head + f" · {how}: {plan['negatives_per_anchor']} in-batch negatives per anchor "
            f"(with gathering {plan['negatives_with_gathering']}, without "
            f"{plan['negatives_without_gathering']})")


class _Examples:
    """Counts the examples this process's loss was computed on (a forward pre-hook on the loss)."""

    def __init__(self) -> None:
        self.examples = 0
        self.calls = 0

    def __call__(self, module, args) -> None:
        self.calls += 1
        features = args[0] if args else None
        first = features[0] if features else {}
        for value in first.values():
            if hasattr(value, "shape") and len(value.shape):
                self.examples += int(value.shape[0])
                return


def gather_objects(obj: Any) -> list[Any]:
    """``obj`` from every process, in rank order (just ``[obj]`` when not distributed)."""
    import torch.distributed as dist
    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def backend_name() -> str | None:
    """The torch.distributed backend in use ("gloo", "nccl"), or None when not distributed."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        return str(dist.get_backend())
    return None


def fine_tune_distributed(model: SentenceTransformer | str | os.PathLike, train: TrainData,
                          output_dir: str | os.PathLike, loss: Loss = "mnrl",
                          matryoshka_dims: Sequence[int] | None = None,
                          profile: profiles.ProfileName | profiles.Profile = "auto",
                          seed: int = 42, gather_across_devices: bool = True,
                          world: World | None = None, verbose: bool = True,
                          **overrides: Any) -> Run | None:
    """Fine-tune ``model`` on ``train`` in every process of a ``torchrun`` / ``accelerate launch``
    world (or alone); process 0 saves the model and run.json to ``output_dir`` and returns the
    :class:`Run`, the others return None.

    Arguments as :func:`helpers.training.fine_tune`; ``batch_size`` is per process (the global
    batch is ``batch_size x world size``, :func:`batch_plan`), ``max_steps`` counts each process's
    optimiser steps. ``gather_across_devices`` (default True) gathers the embeddings of every
    process for the in-batch-negative losses.
    """
    from sentence_transformers import SentenceTransformerTrainer
    from transformers import set_seed
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from .callbacks import ReadableProgress

    world = world or World.from_env()
    if loss not in LOSSES:
        raise TrainingError(f"Unknown loss {loss!r}: choose one of {', '.join(LOSSES)}.")
    if output_dir is None:
        raise TrainingError("A distributed run needs output_dir: it is not cached.")
    settings = resolve_settings(profile, **overrides)
    say = verbose and world.is_main
    loaded_here = isinstance(model, (str, os.PathLike))
    if loaded_here:
        where = None
        gpus = device.gpu_count() if world.distributed else 0
        if gpus:
            if world.local_rank >= gpus:
                raise TrainingError(
                    f"{world.size} processes on this machine but {gpus} "
                    "GPU(s): give torchrun --nproc_per_node at most one process per GPU, or hide "
                    "the GPUs (CUDA_VISIBLE_DEVICES=) to train on the CPU cores.")
            where = f"cuda:{world.local_rank}"  # each process on its own GPU from the start
        model = models.load(model, device=where, verbose=say)
    if not hasattr(model, "encode") or not hasattr(model, "tokenizer"):
        raise TrainingError(f"model must be a SentenceTransformer or a model name; got "
                            f"{type(model).__name__}.")
    train = subsample(check_train_data(train, loss), settings["max_train_pairs"], seed)
    info = device.detect()
    seq_len, original_max_len = sequence_length(model, train, settings["max_seq_length"])
    bs = int(settings["batch_size"])
    plan = batch_plan(bs, world.size, loss, gather_across_devices,
                      "negative" in train.column_names)
    config = {
        "format": CACHE_FORMAT, "base_model": model_identity(model),
        "data_sha256": data_fingerprint(train), "train_rows": len(train),
        "has_negative": "negative" in train.column_names, "loss": loss,
        "matryoshka_dims": sorted({int(d) for d in matryoshka_dims}, reverse=True)
        if matryoshka_dims else None,
        "settings": {k: settings[k] for k in SETTINGS
                     if k not in ("progress_bar", "logging_steps", "eval_steps")},
        "seq_len_used": seq_len, "seed": seed,
        "precision": settings["precision"] or info.precision, "device": info.kind,
        "versions": versions(), "eval": None,
        "world_size": world.size, "gather_across_devices": plan["gather_across_devices"],
        "global_batch": plan["global_batch"],
    }

    # 1. The model to train (a copy: the caller's stays as it is, and GIST's guide stays the base)
    #    and its training length.
    set_seed(seed)
    base = model
    if not loaded_here or loss == "gist":
        model = copy.deepcopy(base)
    model.max_seq_length = seq_len
    # 2. The loss, gathering the other processes' embeddings when there are any.
    loss_obj = build_loss(model, loss, config["matryoshka_dims"], settings,
                          guide=base if loss == "gist" else None,
                          gather_across_devices=plan["gather_across_devices"])
    counter = _Examples()
    hook = loss_obj.register_forward_pre_hook(counter)
    # 3. The steps each process takes: its share of the batches (accelerate evens them out).
    batches = math.ceil(len(train) / bs)
    total = (int(settings["max_steps"]) if settings.get("max_steps") else
             max(1, math.ceil(math.ceil(batches / world.size) * float(settings["epochs"]))))
    if not settings.get("logging_steps"):
        settings["logging_steps"] = max(1, total // 20)

    with tempfile.TemporaryDirectory(prefix=f"trainer-rank{world.rank}-",
                                     dir=paths.cache_dir("tmp")) as tmp, quiet.libraries():
        # Two library deprecations about DDP internals the learner can do nothing about.
        warnings.filterwarnings("ignore", message=".*broadcast_buffers.*", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*all_gather is deprecated.*",
                                category=FutureWarning)
        # 4. The Trainer; building its arguments joins the process group (gloo or nccl).
        args = build_args(tmp, settings, info, loss=loss, seed=seed)
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=train,
                                             loss=loss_obj)
        plain = [cb for cb in trainer.callback_handler.callbacks
                 if type(cb) in (ProgressCallback, PrinterCallback)]
        for cb in plain:
            trainer.remove_callback(cb)
        if plain:
            trainer.add_callback(ReadableProgress(
                bar=bool(settings.get("progress_bar", True)) and world.is_main, lines=say))
        if say:
            print(f"Training {loss} on {len(train):,} "
                  f"{'triplets' if config['has_negative'] else 'pairs'} · about {total} steps "
                  f"per process · lr {settings['learning_rate']:g} · max_seq_length {seq_len} · "
                  f"{config['precision']} on {info.kind}", flush=True)
            print(describe_batch(plan, backend_name()), flush=True)
        # 5. Train; each process times itself.
        start, cpu_start = time.perf_counter(), time.process_time()
        output = trainer.train()
        seconds = time.perf_counter() - start
        cpu_seconds = time.process_time() - cpu_start
    hook.remove()

    # 6. What every process did, collected on process 0; only it saves.
    mine = {"rank": world.rank, "local_rank": world.local_rank, "host": socket.gethostname(),
            "device": str(args.device), "steps": int(output.global_step),
            "loss_calls": counter.calls, "examples": counter.examples,
            "seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds, 1)}
    ranks = gather_objects(mine)
    if not world.is_main:
        return None
    from accelerate.utils import extract_model_from_parallel
    model = extract_model_from_parallel(model, keep_fp32_wrapper=False)
    model.max_seq_length = original_max_len
    model.eval()
    model.workbook_name = f"fine-tuned ({loss}, {world.size} processes)"
    model.workbook_source = "trained now"
    examples = sum(r["examples"] for r in ranks)
    history = pd.DataFrame([{"step": h["step"], "epoch": h.get("epoch"), "loss": h["loss"]}
                            for h in trainer.state.log_history if "loss" in h],
                           columns=["step", "epoch", "loss"])
    wall = max(r["seconds"] for r in ranks)
    run = Run(model=model, history=history, eval_history=None, seconds=wall,
              pairs_per_second=examples / wall if wall > 0 else float("nan"), config=config,
              path=None, key=cache_key(config),
              extra={"hardware": info.summary(), "steps": int(output.global_step),
                     "examples": examples, "cpu_seconds": round(sum(r["cpu_seconds"]
                                                                    for r in ranks), 1),
                     "load_avg": runtimes.load_average(2), "date": time.strftime("%Y-%m-%d"),
                     "launcher": world.launcher(), "backend": backend_name(),
                     "world_size": world.size, "processes": len(ranks),
                     "steps_per_rank": [r["steps"] for r in ranks], "ranks": ranks, **plan})
    save_run(run, Path(output_dir))
    if say:
        print(f"Saved to {paths.show(output_dir)} · {run.summary()}", flush=True)
    return run


__all__ = ["World", "backend_name", "batch_plan", "describe_batch", "fine_tune_distributed",
           "gather_objects"]


def gpu_training_measured(folder: str | os.PathLike | None = None,
                          run: str = "MNRL (recipe)") -> dict[str, Any] | None:
    """The newest GPU check's measured training throughput (``make gpu-check`` writes
    ``experiments/gpu_check/*_results.json``): the GPU, its precision and batch, and the pairs a
    second of notebook 03's recipe on one GPU; None where no GPU check was stored."""
    folder = Path(folder) if folder is not None else paths.ROOT / "experiments" / "gpu_check"
    for path in sorted(folder.glob("*_results.json"), reverse=True):
        try:
            lesson = json.loads(path.read_text(encoding="utf-8"))["03_fine_tuning"]
            pairs = float(lesson["numbers"]["training"][run]["pairs_per_second"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        return {"hardware": lesson.get("hardware", "a GPU"), "date": lesson.get("date"),
                "pairs_per_second": pairs, "source": path.name}
    return None


def throughput_table(measured: Sequence[Mapping[str, Any]], one_gpu: Mapping[str, Any] | None,
                     counts: Sequence[int] = (2, 4, 8)) -> pd.DataFrame:
    """Training throughput per number of devices: the ``measured`` rows (``setup``, ``processes``,
    ``pairs_per_second``) as they are, then, from one GPU's measured figure, an *estimate* for
    ``counts`` GPUs: linear scaling, an upper bound (every step also waits for the gradients'
    all-reduce and the gathered embeddings), labelled as such."""
    rows = [{"setup": m["setup"], "processes": int(m["processes"]),
             "pairs/s": float(m["pairs_per_second"]), "kind": "measured"} for m in measured]
    if one_gpu is not None:
        name = one_gpu["hardware"].split(" (")[0]
        rows.append({"setup": f"1 x {name}", "processes": 1,
                     "pairs/s": one_gpu["pairs_per_second"],
                     "kind": f"measured ({one_gpu.get('date')})"})
        rows += [{"setup": f"{n} x {name}", "processes": n,
                  "pairs/s": n * one_gpu["pairs_per_second"],
                  "kind": "estimate (linear, an upper bound)"} for n in counts]
    return pd.DataFrame(rows)
