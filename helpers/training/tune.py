"""``fine_tune``: one call from a base model and pairs to a trained, cached model (03_fine_tuning).

``fine_tune`` resolves the settings, checks the data, and either reuses an identical cached run or
builds a :class:`Plan` and hands it to :func:`train_now`, which reads as the numbered steps of a
sentence-transformers training script: copy the model, build the loss, size the run, set up the
Trainer, train, collect the results.
"""
from __future__ import annotations

import copy
import math
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import device, models, paths, quiet, runtimes
from .cache import (CACHE_FORMAT, DamagedCache, Run, cache_key, cache_root, copy_folder,
                    data_fingerprint, load_run, model_identity, read_run, save_run,
                    split_fingerprint, versions)
from .losses import build_loss
from .settings import (LOSSES, SETTINGS, Loss, TrainingError, build_args,
                       check_train_data, resolve_settings, sequence_length, subsample)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from .. import profiles
    from ..data.containers import IRSplit
    from .settings import TrainData


@dataclass
class Plan:
    """Everything one training run needs, decided before it starts (built by :func:`fine_tune`).

    ``base_model`` is never changed (training works on a copy); ``config`` is what identifies the
    run in the cache; ``settings`` the resolved training settings; ``seq_len`` the max_seq_length to
    train with and ``original_max_len`` the one the saved model gets back.
    """
    base_model: Any
    train: Any
    loss: Loss
    config: dict
    settings: dict
    seq_len: int
    original_max_len: int
    info: Any
    eval_split: Any
    eval_ks: tuple
    seed: int
    verbose: bool


def fine_tune(model: SentenceTransformer | str | os.PathLike, train: TrainData,
              loss: Loss = "mnrl", matryoshka_dims: Sequence[int] | None = None,
              profile: profiles.ProfileName | profiles.Profile = "auto",
              eval_split: IRSplit | None = None, seed: int = 42, cache: bool = True,
              output_dir: str | os.PathLike | None = None, eval_ks: Sequence[int] = (10,),
              verbose: bool = True, **overrides: Any) -> Run:
    """Fine-tune a copy of ``model`` on ``train`` and return a :class:`Run` (introduced in
    03_fine_tuning).

    model            a SentenceTransformer, or a name/path for ``helpers.models.load``
    train            a ``datasets.Dataset`` with columns anchor, positive[, negative]
    loss             "mnrl" (default), "cached_mnrl", "triplet", "mnrl_symmetric" or "gist"
    matryoshka_dims  e.g. [256, 128, 64]: wrap the loss in MatryoshkaLoss
    profile          "auto", "smoke", "cpu", "gpu" or a Profile: sizes and hyper-parameters
    eval_split       an IR split (queries, corpus, qrels) measured with helpers.metrics during
                     training (at the start, a few times, at the end): ``run.eval_history``
    seed             seeds the subsample, the shuffling and the initialisation
    cache            reuse an identical earlier run (``False`` retrains and refreshes the cache)
    output_dir       also save a copy of the trained model (and run.json) there
    overrides        any of :data:`SETTINGS`, e.g. ``epochs=2, batch_size=64, learning_rate=2e-4,
                     max_seq_length=48, warmup_ratio=0.1``
    """
    if loss not in LOSSES:
        raise TrainingError(f"Unknown loss {loss!r}: choose one of {', '.join(LOSSES)}.")
    settings = resolve_settings(profile, **overrides)
    if isinstance(model, (str, os.PathLike)):
        model = models.load(model, verbose=verbose)
    if not hasattr(model, "encode") or not hasattr(model, "tokenizer"):
        raise TrainingError(f"model must be a SentenceTransformer or a model name; got "
                            f"{type(model).__name__}.")
    train = check_train_data(train, loss)
    train = subsample(train, settings["max_train_pairs"], seed)
    info = device.detect()

    seq_len, original_max_len = sequence_length(model, train, settings["max_seq_length"])

    config = {
        "format": CACHE_FORMAT,
        "base_model": model_identity(model),
        "data_sha256": data_fingerprint(train),
        "train_rows": len(train),
        "has_negative": "negative" in train.column_names,
        "loss": loss,
        "matryoshka_dims": sorted({int(d) for d in matryoshka_dims}, reverse=True)
        if matryoshka_dims else None,
        "settings": {k: settings[k] for k in SETTINGS
                     if k not in ("progress_bar", "logging_steps", "eval_steps")},
        "seq_len_used": seq_len,
        "seed": seed,
        "precision": settings["precision"] or info.precision,
        "device": info.kind,
        "versions": versions(),
        "eval": None if eval_split is None else {"ks": list(eval_ks),
                                                 "eval_steps": settings["eval_steps"],
                                                 "split_sha256": split_fingerprint(eval_split)},
    }
    # Evaluating during training does not change the model, so it is not part of the key: a run
    # with an eval history serves callers with and without eval_split alike.
    key = cache_key(config)
    folder = cache_root() / key
    run = reuse(folder, config["eval"] if eval_split is not None else None) if cache else None
    if run is not None:
        if verbose:
            print(f"Reused the cached fine-tuned model {paths.show(folder)} (trained in "
                  f"{run.seconds:.0f} s on {run.extra.get('hardware', 'an earlier run')}); "
                  "cache=False trains again.")
        if output_dir:
            copy_folder(folder, Path(output_dir))
        return run

    plan = Plan(base_model=model, train=train, loss=loss, config=config, settings=settings,
                seq_len=seq_len, original_max_len=original_max_len, info=info,
                eval_split=eval_split, eval_ks=tuple(eval_ks), seed=seed, verbose=verbose)
    run = train_now(plan)
    run.key = key
    save_run(run, folder)
    if output_dir:
        copy_folder(folder, Path(output_dir))
    if verbose:
        print(f"Saved to {paths.show(folder)} · {run.summary()}")
    return run


def reuse(folder: Path, eval_config: dict | None = None) -> Run | None:
    """The cached run in ``folder`` when it is there, verified (:func:`~.cache.load_run`) and, with
    ``eval_config``, holds that eval history; else None, and :func:`fine_tune` trains. A damaged
    entry is never reused: one line (printed even with ``verbose=False``) names it and says what is
    wrong; the run trained instead replaces it."""
    if not os.path.lexists(folder):
        return None
    if eval_config is not None:
        config = (read_run(folder) or {}).get("config")
        if isinstance(config, dict) and config.get("eval") != eval_config:
            return None  # sound, but without the eval history asked for: train with it
    try:
        return load_run(folder, verbose=False)
    except DamagedCache as exc:
        print(f"The cached model {paths.show(folder)} is damaged ({exc.problem}): training it "
              "again; the new one replaces it.")
        return None


def train_now(plan: Plan) -> Run:
    """Train a copy of ``plan.base_model`` now and return the :class:`Run` (not yet saved)."""
    from sentence_transformers import SentenceTransformerTrainer
    from transformers import set_seed
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    from .callbacks import Evaluate, ReadableProgress

    settings, config, info = dict(plan.settings), plan.config, plan.info

    # 1. Copy the base model (the caller's stays as it is) and set the training sequence length.
    set_seed(plan.seed)
    model = copy.deepcopy(plan.base_model)
    model.max_seq_length = plan.seq_len

    # 2. Build the loss (GIST is guided by the frozen base model).
    guide = plan.base_model if plan.loss == "gist" else None
    loss_obj = build_loss(model, plan.loss, config["matryoshka_dims"], settings, guide=guide)

    # 3. Size the run: steps, how often to log, how often to evaluate.
    bs = int(settings["batch_size"])
    steps_per_epoch = math.ceil(len(plan.train) / bs)
    total = (int(settings["max_steps"]) if settings.get("max_steps")
             else max(1, math.ceil(steps_per_epoch * float(settings["epochs"]))))
    if not settings.get("logging_steps"):
        settings["logging_steps"] = max(1, total // 20)
    eval_every = int(settings.get("eval_steps") or max(1, total // 4))
    evaluator = (Evaluate(model, plan.eval_split, eval_every, plan.eval_ks)
                 if plan.eval_split is not None else None)
    if plan.verbose:
        print(f"Training {config['loss']} on {len(plan.train):,} "
              f"{'triplets' if config['has_negative'] else 'pairs'} · {total} steps of "
              f"{bs} · lr {settings['learning_rate']:g} · max_seq_length {plan.seq_len} · "
              f"{config['precision']} on {info.kind}")

    with tempfile.TemporaryDirectory(prefix="trainer-", dir=paths.cache_dir("tmp")) as tmp, \
            quiet.libraries():
        # 4. Set up the Trainer: arguments for this device, readable log lines instead of raw dicts.
        args = build_args(tmp, settings, info, loss=plan.loss, seed=plan.seed)
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=plan.train,
                                             loss=loss_obj)
        plain = [cb for cb in trainer.callback_handler.callbacks
                 if type(cb) in (ProgressCallback, PrinterCallback)]
        for cb in plain:
            trainer.remove_callback(cb)
        if plain:  # (Jupyter keeps its own progress table)
            trainer.add_callback(ReadableProgress(bar=bool(settings.get("progress_bar", True)),
                                                  lines=plan.verbose))
        if evaluator is not None:
            trainer.add_callback(evaluator)

        # 5. Train, timing the training alone (evaluation during training is not counted).
        start, cpu_start = time.perf_counter(), time.process_time()
        output = trainer.train()
        eval_seconds = evaluator.seconds if evaluator is not None else 0.0
        seconds = time.perf_counter() - start - eval_seconds
        cpu_seconds = time.process_time() - cpu_start  # all threads: a load-independent measure

    # 6. Collect the results: examples seen, the loss history, the model ready for inference.
    steps = int(output.global_step)
    examples = steps * bs  # the last batch of an epoch may be smaller:
    if not settings.get("max_steps"):
        examples = min(examples, round(len(plan.train) * float(settings["epochs"])))
    history = pd.DataFrame([{"step": h["step"], "epoch": h.get("epoch"), "loss": h["loss"]}
                            for h in trainer.state.log_history if "loss" in h],
                           columns=["step", "epoch", "loss"])
    eval_history = pd.DataFrame(evaluator.rows) if evaluator is not None else None
    # Mixed precision wraps the model's forward in autocast for training; unwrap it, so the model
    # returned now encodes in fp32 exactly as the saved copy does when it is loaded again.
    from accelerate.utils import extract_model_from_parallel
    model = extract_model_from_parallel(model, keep_fp32_wrapper=False)
    model.max_seq_length = plan.original_max_len  # read long texts at inference like the base
    model.eval()
    model.workbook_name = f"fine-tuned ({plan.loss})"
    model.workbook_source = "trained now"
    return Run(model=model, history=history, eval_history=eval_history, seconds=seconds,
               pairs_per_second=examples / seconds if seconds > 0 else float("nan"),
               config=config, path=None, from_cache=False,
               extra={"hardware": info.summary(), "steps": steps,
                      "cpu_seconds": round(cpu_seconds, 1), "load_avg": runtimes.load_average(2),
                      "examples": examples, "eval_seconds": round(eval_seconds, 2),
                      "date": time.strftime("%Y-%m-%d")})
