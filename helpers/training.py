"""Fine-tune a sentence-embedding model with one call (introduced in 03_fine_tuning).

``fine_tune(model, train, loss="mnrl", profile=PROFILE)`` wraps sentence-transformers'
``SentenceTransformerTrainer`` with the choices a learner would otherwise have to look up:

* the loss: ``"mnrl"`` (MultipleNegativesRankingLoss: in-batch negatives, plus the ``negative``
  column as extra hard negatives when there is one), ``"cached_mnrl"`` (the same loss computed in
  mini-batches, so the batch, and with it the number of negatives, can grow beyond memory),
  ``"triplet"`` (TripletLoss: needs a ``negative`` column), and for comparison
  ``"mnrl_symmetric"`` (MNRL in both directions) and ``"gist"`` (GISTEmbedLoss guided by the frozen
  base model), each optionally wrapped in MatryoshkaLoss (``matryoshka_dims=[256, 128, 64]``);
* the batch sampler: ``NO_DUPLICATES`` for in-batch-negative losses, so a text never appears twice in
  a batch and becomes its own false negative;
* the precision: fp16 on a T4-class GPU, bf16 on Ampere and newer, fp32 on a CPU or Apple GPU;
* the sizes: epochs, batch size, learning rate, warmup and a step cap come from the profile
  (``helpers.profiles``); keyword overrides change any of them;
* ``max_seq_length``: by default from the data (the 99th percentile of the token counts, rounded up
  to a multiple of 8), so a CPU does not spend its time on padding. The saved model gets its original
  limit back, so it reads long texts at inference time just like the base model.

The caller's model is never changed: training works on a copy, so a notebook can compare base and
tuned models side by side. Every result is cached under ``data/cache/models/<key>/``, keyed by a hash
of everything that determines it (base weights, data rows, loss, settings, seed, library versions):
running a notebook again, or another notebook with the same recipe, reuses the trained model in
seconds. The folder is a normal sentence-transformers model: ``models.load(run.path)`` loads it.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import paths, profiles

LOSSES = ("mnrl", "cached_mnrl", "triplet", "mnrl_symmetric", "gist")
# Losses that use the other examples of a batch as negatives: they need batches without duplicates.
IN_BATCH_LOSSES = {"mnrl", "cached_mnrl", "mnrl_symmetric", "gist"}
RUN_FILE = "run.json"
CACHE_FORMAT = 1  # bump when the cached folder layout or the meaning of a setting changes

# Training settings a keyword override may change. The profile gives max_train_pairs, epochs,
# batch_size, learning_rate, max_steps, warmup_ratio and max_seq_length (values chosen by
# experiments/tune_icd10cm.py, results in experiments/results.csv); DEFAULTS gives the rest.
SETTINGS = ("max_train_pairs", "epochs", "batch_size", "learning_rate", "max_steps",
            "warmup_ratio", "max_seq_length", "mini_batch_size", "weight_decay", "scheduler",
            "logging_steps", "eval_steps", "progress_bar", "scale", "precision")
DEFAULTS: dict[str, Any] = {
    "warmup_ratio": 0.1,         # linear warm-up over the first 10% of steps
    "max_seq_length": "auto",    # int, "auto" (from the data) or None (the model's own limit)
    "mini_batch_size": 32,       # cached_mnrl only: examples per forward pass
    "weight_decay": 0.01,
    "scheduler": "linear",
    "logging_steps": None,       # None: about 20 log lines per run
    "eval_steps": None,          # None: evaluate 4 times during training (when eval_split is given)
    "progress_bar": True,
    "scale": 20.0,               # MNRL's inverse temperature (similarity * scale -> logits)
    "precision": None,           # None: from the device (training_precision); or "fp32"/"fp16"/"bf16"
}


class TrainingError(ValueError):
    """Bad input to :func:`fine_tune` (wrong columns, unknown loss or setting); the message says how
    to fix it."""


# --------------------------------------------------------------------------------------------------
# The result of a run
# --------------------------------------------------------------------------------------------------
@dataclass
class Run:
    """What :func:`fine_tune` returns.

    ``model`` the trained SentenceTransformer · ``history`` the training loss (step, epoch, loss) ·
    ``eval_history`` the metrics measured during training (None without ``eval_split``) ·
    ``seconds`` training time (for a cache hit: the original run's) · ``pairs_per_second`` training
    examples processed per second · ``config`` everything that determined the result · ``path``
    the saved model folder · ``from_cache`` whether it was reused rather than trained now.
    """
    model: Any
    history: pd.DataFrame
    eval_history: pd.DataFrame | None
    seconds: float
    pairs_per_second: float
    config: dict
    path: Path | None
    from_cache: bool = False
    key: str = ""
    extra: dict = field(default_factory=dict)

    def summary(self) -> str:
        """One line, e.g. ``mnrl · 9,000 pairs · 1 epoch · batch 32 · lr 0.0001 · 231 s (39 pairs/s)
        · loss 0.91 -> 0.21 · cached``."""
        c = self.config
        s = c.get("settings", {})
        bits = [c.get("loss", "?")]
        if c.get("matryoshka_dims"):
            bits[0] += " + matryoshka " + "/".join(str(d) for d in c["matryoshka_dims"])
        bits.append(f"{c.get('train_rows', 0):,} {'triplets' if c.get('has_negative') else 'pairs'}")
        ep = s.get("epochs", 0)
        bits.append(f"{ep:g} epoch{'s' if ep != 1 else ''}")
        if s.get("max_steps"):
            bits.append(f"max {s['max_steps']} steps")
        bits.append(f"batch {s.get('batch_size')}")
        bits.append(f"lr {s.get('learning_rate'):g}")
        bits.append(f"{self.seconds:.0f} s ({self.pairs_per_second:.0f} pairs/s)")
        if len(self.history):
            losses = self.history["loss"].tolist()
            bits.append(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}")
        if self.from_cache:
            bits.append("from cache")
        return " · ".join(bits)

    def __repr__(self) -> str:  # a short repr: the model's own is pages long
        return f"Run({self.summary()})"


# --------------------------------------------------------------------------------------------------
# Small pure functions (tested without a GPU)
# --------------------------------------------------------------------------------------------------
def training_precision(info) -> str:
    """``"bf16"``, ``"fp16"`` or ``"fp32"`` for a :class:`helpers.device.DeviceInfo`.

    bf16 on Ampere and newer (compute capability 8.0+), fp16 mixed precision on Volta/Turing (a T4 is
    7.5), fp32 everywhere else (CPUs, Apple's MPS, older GPUs).
    """
    if getattr(info, "kind", "cpu") != "cuda":
        return "fp32"
    if getattr(info, "bf16", False):
        return "bf16"
    if getattr(info, "fp16", False):
        return "fp16"
    return "fp32"


def resolve_settings(profile="auto", **overrides) -> dict:
    """The training settings for ``profile`` with ``overrides`` applied (unknown names are refused)."""
    prof = profiles.get(profile)
    unknown = sorted(set(overrides) - set(SETTINGS))
    if unknown:
        raise TrainingError(f"Unknown training setting(s) {', '.join(unknown)}. Known: "
                            f"{', '.join(SETTINGS)}.")
    settings = {
        "max_train_pairs": prof.max_train_pairs, "epochs": prof.epochs,
        "batch_size": prof.batch_size, "learning_rate": prof.learning_rate,
        "max_steps": prof.max_steps,
    }
    for name, default in DEFAULTS.items():
        settings[name] = getattr(prof, name, default)
    settings.update(overrides)
    if settings["batch_size"] < 2:
        raise TrainingError("batch_size must be at least 2 (in-batch negatives need company).")
    if not 0 <= settings["warmup_ratio"] < 1:
        raise TrainingError("warmup_ratio is a fraction of the training steps, in [0, 1).")
    if settings["precision"] not in (None, "fp32", "fp16", "bf16"):
        raise TrainingError("precision must be None (from the device), 'fp32', 'fp16' or 'bf16'.")
    msl = settings["max_seq_length"]
    if not (msl is None or msl == "auto" or (isinstance(msl, int) and msl > 0)):
        raise TrainingError("max_seq_length must be a positive int, 'auto' or None.")
    settings["profile"] = prof.name
    return settings


def build_args(output_dir, settings: dict, info=None, loss: str = "mnrl", seed: int = 42,
               eval_steps: int | None = None):
    """``SentenceTransformerTrainingArguments`` for these settings on this device.

    Precision from :func:`training_precision`; the warm-up passed as ``warmup_steps`` with a float
    ratio (transformers 5 deprecates ``warmup_ratio``); no checkpoints (``save_strategy="no"``), no
    experiment trackers (``report_to="none"``), a fixed seed.
    """
    from sentence_transformers import SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers

    if info is None:
        from . import device
        info = device.detect()
    precision = settings.get("precision") or training_precision(info)
    sampler = (BatchSamplers.NO_DUPLICATES if loss in IN_BATCH_LOSSES
               else BatchSamplers.BATCH_SAMPLER)
    logging_steps = settings.get("logging_steps") or 10
    return SentenceTransformerTrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=float(settings["epochs"]),
        max_steps=int(settings["max_steps"]) if settings.get("max_steps") else -1,
        per_device_train_batch_size=int(settings["batch_size"]),
        learning_rate=float(settings["learning_rate"]),
        warmup_steps=float(settings.get("warmup_ratio") or 0.0),
        weight_decay=float(settings.get("weight_decay", 0.0)),
        lr_scheduler_type=settings.get("scheduler", "linear"),
        fp16=precision == "fp16",
        bf16=precision == "bf16",
        batch_sampler=sampler,
        logging_strategy="steps",
        logging_steps=int(logging_steps),
        logging_first_step=True,
        save_strategy="no",
        eval_strategy="no",
        report_to="none",
        seed=seed,
        data_seed=seed,
        disable_tqdm=not settings.get("progress_bar", True),
        dataloader_num_workers=0,
        use_cpu=getattr(info, "kind", "cpu") == "cpu",
    )


def check_train_data(train, loss: str = "mnrl"):
    """Check that ``train`` is a ``datasets.Dataset`` with anchor, positive[, negative] columns in
    that order, non-empty strings; raise :class:`TrainingError` with a fix otherwise. Returns the
    dataset reduced to those columns."""
    try:
        from datasets import Dataset
    except ImportError:  # pragma: no cover
        Dataset = None
    if Dataset is not None and not isinstance(train, Dataset):
        if isinstance(train, pd.DataFrame):
            train = Dataset.from_pandas(train, preserve_index=False)
        elif isinstance(train, list) and train and isinstance(train[0], dict):
            train = Dataset.from_list(train)
        else:
            raise TrainingError(
                f"Training data must be a datasets.Dataset with columns anchor, positive[, negative]; "
                f"got {type(train).__name__}. Build one with datasets.Dataset.from_dict("
                "{'anchor': [...], 'positive': [...]}) or use helpers.data.load(...).train.")
    cols = list(train.column_names)
    missing = [c for c in ("anchor", "positive") if c not in cols]
    if missing:
        raise TrainingError(
            f"Training data needs columns 'anchor' and 'positive' (found {cols}); missing "
            f"{missing}. Rename yours, e.g. dataset.rename_column('query', 'anchor').")
    wanted = ["anchor", "positive"] + (["negative"] if "negative" in cols else [])
    if loss == "triplet" and "negative" not in cols:
        raise TrainingError(
            "loss='triplet' needs a 'negative' column (anchor, positive, negative); this data has "
            f"only {cols}. Mine one with helpers.data.mine_hard_negatives(model, pairs), or use "
            "loss='mnrl', which needs only pairs.")
    if len(train) == 0:
        raise TrainingError("The training data is empty.")
    if cols != wanted:  # keep our columns, in the order sentence-transformers reads them
        train = train.select_columns(wanted)
    for col in wanted:
        values = train[col]
        bad = [i for i, v in enumerate(values) if not isinstance(v, str) or not v.strip()]
        if bad:
            raise TrainingError(
                f"Column {col!r} has {len(bad)} empty or non-text value(s), e.g. row {bad[0]}. Drop "
                "or fix them first (helpers.data.validate lists them).")
    return train


def subsample(train, max_pairs: int | None, seed: int = 42):
    """At most ``max_pairs`` rows, chosen at random with ``seed`` (the same rows every time)."""
    if max_pairs is None or len(train) <= max_pairs:
        return train
    return train.shuffle(seed=seed).select(range(int(max_pairs)))


def data_fingerprint(train) -> str:
    """A sha256 of the rows (column names and texts, in order): the data's identity for the cache."""
    h = hashlib.sha256()
    for col in train.column_names:
        h.update(b"\x00col\x00" + col.encode())
        for v in train[col]:
            h.update(str(v).encode("utf-8") + b"\x1f")
    return h.hexdigest()


def model_identity(model) -> dict:
    """The base model's name and a sha256 of its weights (so a changed model never hits the cache)."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu()
        if t.dtype.is_floating_point:
            t = t.float()  # bf16 has no numpy form
        h.update(name.encode())
        h.update(t.contiguous().numpy().tobytes())
    name = getattr(model, "workbook_name", None) or getattr(
        getattr(model, "model_card_data", None), "base_model", None) or type(model).__name__
    name = str(name)
    if os.path.isabs(name) or os.path.isdir(name):
        name = Path(name).name  # a local folder: its name, not where this checkout happens to be
    return {"name": name, "weights_sha256": h.hexdigest()}


def token_lengths(model, texts, sample: int = 2000, seed: int = 0) -> list[int]:
    """Token counts (with the special tokens) of up to ``sample`` texts, chosen with ``seed``."""
    import random
    texts = list(texts)
    if len(texts) > sample:
        texts = random.Random(seed).sample(texts, sample)
    tok = model.tokenizer
    return [len(ids) for ids in tok(texts, add_special_tokens=True, truncation=False)["input_ids"]]


def auto_max_seq_length(model, train, percentile: float = 99, multiple: int = 8) -> int:
    """The ``percentile`` of the anchor/positive/negative token counts, rounded up to a multiple of
    ``multiple``, capped by the model's own limit: long enough for nearly every text, no padding
    wasted on the rare long one."""
    import numpy as np
    texts = []
    for col in train.column_names:
        texts.extend(train[col])
    lengths = token_lengths(model, texts)
    value = int(math.ceil(float(np.percentile(lengths, percentile)) / multiple) * multiple)
    cap = int(getattr(model, "max_seq_length", None) or 512)
    return max(multiple, min(value, cap))


def split_fingerprint(split) -> str:
    """A sha256 of an IR split's queries, corpus and qrels (which eval history a cached run has)."""
    blob = json.dumps([getattr(split, "queries", None), getattr(split, "corpus", None),
                       getattr(split, "qrels", None)], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def versions() -> dict:
    import sentence_transformers
    import torch
    import transformers
    return {"sentence_transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__, "torch": torch.__version__.split("+")[0]}


def cache_key(config: dict) -> str:
    """A short, stable hash of a run's config: what decides whether the cache hits. The ``eval``
    entry is left out (evaluating during training does not change the model)."""
    blob = json.dumps({k: v for k, v in config.items() if k != "eval"}, sort_keys=True,
                      default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def build_loss(model, loss: str = "mnrl", matryoshka_dims=None, settings: dict | None = None,
               guide=None):
    """The sentence-transformers loss object for ``loss`` (see :data:`LOSSES`), optionally wrapped in
    MatryoshkaLoss. ``guide`` is the frozen base model for ``"gist"``."""
    from sentence_transformers.sentence_transformer import losses

    settings = settings or {}
    scale = float(settings.get("scale", 20.0))
    if loss == "mnrl":
        base = losses.MultipleNegativesRankingLoss(model, scale=scale)
    elif loss == "mnrl_symmetric":
        base = losses.MultipleNegativesRankingLoss(
            model, scale=scale, directions=("query_to_doc", "doc_to_query"))
    elif loss == "cached_mnrl":
        base = losses.CachedMultipleNegativesRankingLoss(
            model, scale=scale, mini_batch_size=int(settings.get("mini_batch_size", 32)))
    elif loss == "triplet":
        base = losses.TripletLoss(model)
    elif loss == "gist":
        if guide is None:
            raise TrainingError("loss='gist' needs a guide model (the frozen base model).")
        base = losses.GISTEmbedLoss(model, guide)
    else:
        raise TrainingError(f"Unknown loss {loss!r}: choose one of {', '.join(LOSSES)}.")
    if matryoshka_dims:
        dims = sorted({int(d) for d in matryoshka_dims}, reverse=True)
        full = model.get_embedding_dimension()
        if any(d <= 0 or d > full for d in dims):
            raise TrainingError(f"matryoshka_dims must lie between 1 and the model's {full} "
                                f"dimensions; got {list(matryoshka_dims)}.")
        base = losses.MatryoshkaLoss(model, base, matryoshka_dims=dims)
    return base


def batch_loss(model, data, loss: str = "mnrl") -> float:
    """The loss of ``model`` on the rows of ``data`` taken as one batch, without training (dropout
    off). Handy to show that training lowered it: compare before and after on the same rows."""
    import torch

    data = check_train_data(data, loss)
    loss_obj = build_loss(model, loss)
    was_training = model.training
    model.eval()
    try:
        features = [model.preprocess(list(data[col])) for col in data.column_names]
        features = [{k: v.to(model.device) if hasattr(v, "to") else v for k, v in f.items()}
                    for f in features]
        with torch.no_grad():
            value = loss_obj(features, None)
    finally:
        model.train(was_training)
    return float(value)


# --------------------------------------------------------------------------------------------------
# Quiet libraries, readable logs
# --------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def quiet_libraries():
    """Hide library chatter that tells a learner nothing (info logs, the DataParallel hint on a
    CPU, the model card's "could not determine" notes); warnings that matter still show."""
    names = ("transformers", "sentence_transformers", "datasets", "accelerate", "huggingface_hub")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    try:
        from transformers.utils import logging as hf_logging
        hf_level = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
    except Exception:  # pragma: no cover
        hf_logging, hf_level = None, None
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:  # the model card's "Computing widget examples" bar: one step, left at 0% in a notebook
        from sentence_transformers.base import model_card
        card_tqdm = model_card.tqdm
        model_card.tqdm = lambda iterable, *args, **kwargs: iterable
    except (ImportError, AttributeError):  # pragma: no cover - another sentence-transformers layout
        model_card = None
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*pin_memory.*no accelerator.*")
            yield
    finally:
        if model_card is not None:
            model_card.tqdm = card_tqdm
        for lg, lvl in zip(loggers, levels):
            lg.setLevel(lvl)
        if hf_logging is not None:
            hf_logging.set_verbosity(hf_level)


def _make_callbacks(total_steps, eval_split, eval_every, ks, timer):
    """A readable log line instead of the raw dict, and (optionally) periodic evaluation."""
    from transformers import TrainerCallback
    from transformers.trainer_callback import ProgressCallback

    class ReadableProgress(ProgressCallback):
        """tqdm progress bar (when on); each log line reads
        ``step 20/230 · epoch 0.09 · loss 0.8123 · lr 1.00e-04``."""

        def __init__(self, bar: bool = True, lines: bool = True):
            super().__init__()
            self.bar, self.lines = bar, lines

        def on_train_begin(self, args, state, control, **kwargs):
            if self.bar:
                super().on_train_begin(args, state, control, **kwargs)

        def on_step_end(self, args, state, control, **kwargs):
            if self.bar:
                super().on_step_end(args, state, control, **kwargs)

        def on_train_end(self, args, state, control, **kwargs):
            if self.bar and self.training_bar is not None:
                super().on_train_end(args, state, control, **kwargs)

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not self.lines or not state.is_world_process_zero or not logs or "loss" not in logs:
                return
            line = (f"step {state.global_step}/{state.max_steps} · epoch "
                    f"{logs.get('epoch', state.epoch or 0):.2f} · loss {logs['loss']:.4f} · lr "
                    f"{logs.get('learning_rate', 0):.2e}")
            if self.bar and self.training_bar is not None:
                self.training_bar.write(line)
            else:
                print(line, flush=True)

    class Evaluate(TrainerCallback):
        """Measure retrieval quality on ``eval_split`` every ``eval_every`` steps (and at 0, end)."""

        def __init__(self):
            self.rows = []
            self.model = None

        def _run(self, state, model):
            from . import metrics
            start = time.perf_counter()
            was_training = model.training
            model.eval()  # no dropout while measuring
            try:
                table = metrics.evaluate(model, eval_split, ks=ks, show_progress_bar=False)
            finally:
                model.train(was_training)
            row = {"step": state.global_step, "epoch": round(float(state.epoch or 0), 4)}
            for r in table.itertuples(index=False):
                k = getattr(r, "k", None)
                name = r.metric if k is None or k != k else f"{r.metric}@{int(k)}"
                row[name] = float(r.value)
            self.rows.append(row)
            timer["eval_seconds"] += time.perf_counter() - start

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            self._run(state, self.model)

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if state.global_step % eval_every == 0 and state.global_step < state.max_steps:
                self._run(state, self.model)

        def on_train_end(self, args, state, control, model=None, **kwargs):
            self._run(state, self.model)

    evaluator = Evaluate() if eval_split is not None else None
    return ReadableProgress, evaluator


# --------------------------------------------------------------------------------------------------
# The cache
# --------------------------------------------------------------------------------------------------
def cache_root() -> Path:
    """Where trained models are cached (``data/cache/models``, moved by ``WORKBOOK_CACHE``)."""
    return paths.cache_dir("models")


def _read_run(folder: Path) -> dict | None:
    try:
        return json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _frame(records, columns) -> pd.DataFrame:
    return pd.DataFrame(records or [], columns=None if records else columns)


def load_run(folder, verbose: bool = True) -> Run:
    """A :class:`Run` from a folder :func:`fine_tune` saved (the model and its run.json)."""
    from . import models
    folder = Path(folder)
    info = _read_run(folder)
    if info is None:
        raise TrainingError(f"{paths.show(folder)} holds no {RUN_FILE}: not a fine_tune() result.")
    model = models.load(folder, verbose=verbose)
    model.workbook_name = f"fine-tuned ({info['config'].get('loss')})"
    eval_hist = info.get("eval_history")
    return Run(model=model, history=_frame(info.get("history"), ["step", "epoch", "loss"]),
               eval_history=None if eval_hist is None else pd.DataFrame(eval_hist),
               seconds=float(info["seconds"]), pairs_per_second=float(info["pairs_per_second"]),
               config=info["config"], path=folder, from_cache=True, key=info.get("key", ""),
               extra=info.get("extra", {}))


# --------------------------------------------------------------------------------------------------
# fine_tune
# --------------------------------------------------------------------------------------------------
def fine_tune(model, train, loss: str = "mnrl", matryoshka_dims=None, profile="auto",
              eval_split=None, seed: int = 42, cache: bool = True, output_dir=None,
              eval_ks=(10,), verbose: bool = True, **overrides) -> Run:
    """Fine-tune a copy of ``model`` on ``train`` and return a :class:`Run` (notebook 03).

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
    from . import device as _device
    from . import models as _models

    if loss not in LOSSES:
        raise TrainingError(f"Unknown loss {loss!r}: choose one of {', '.join(LOSSES)}.")
    settings = resolve_settings(profile, **overrides)
    if isinstance(model, (str, os.PathLike)):
        model = _models.load(model, verbose=verbose)
    if not hasattr(model, "encode") or not hasattr(model, "tokenizer"):
        raise TrainingError(f"model must be a SentenceTransformer or a model name; got "
                            f"{type(model).__name__}.")
    train = check_train_data(train, loss)
    train = subsample(train, settings["max_train_pairs"], seed)
    info = _device.detect()

    original_max_len = int(getattr(model, "max_seq_length", None) or 512)
    msl = settings["max_seq_length"]
    if msl == "auto":
        seq_len = auto_max_seq_length(model, train)
    elif msl is None:
        seq_len = original_max_len
    else:
        seq_len = min(int(msl), original_max_len)

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
        "precision": settings["precision"] or training_precision(info),
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
    cached = _read_run(folder) if cache else None
    if cached is not None and (eval_split is None
                               or cached.get("config", {}).get("eval") == config["eval"]):
        run = load_run(folder, verbose=False)
        if verbose:
            print(f"Reused the cached fine-tuned model {paths.show(folder)} (trained in "
                  f"{run.seconds:.0f} s on {run.extra.get('hardware', 'an earlier run')}); "
                  "cache=False trains again.")
        if output_dir:
            _copy_folder(folder, Path(output_dir))
        return run

    run = _train(model, train, loss, config, settings, seq_len, original_max_len, info,
                 eval_split, eval_ks, seed, verbose)
    run.key = key
    _save(run, folder)
    if output_dir:
        _copy_folder(folder, Path(output_dir))
    if verbose:
        print(f"Saved to {paths.show(folder)} · {run.summary()}")
    return run


def _train(base_model, train, loss, config, settings, seq_len, original_max_len, info,
           eval_split, eval_ks, seed, verbose) -> Run:
    from sentence_transformers import SentenceTransformerTrainer
    from transformers import set_seed
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    set_seed(seed)
    model = copy.deepcopy(base_model)  # never touch the caller's model
    model.max_seq_length = seq_len
    guide = base_model if loss == "gist" else None
    loss_obj = build_loss(model, loss, config["matryoshka_dims"], settings, guide=guide)

    bs = int(settings["batch_size"])
    steps_per_epoch = math.ceil(len(train) / bs)
    total = (int(settings["max_steps"]) if settings.get("max_steps")
             else max(1, math.ceil(steps_per_epoch * float(settings["epochs"]))))
    settings = dict(settings)
    if not settings.get("logging_steps"):
        settings["logging_steps"] = max(1, total // 20)
    eval_every = int(settings.get("eval_steps") or max(1, total // 4))

    timer = {"eval_seconds": 0.0}
    progress_cls, evaluator = _make_callbacks(total, eval_split, eval_every, tuple(eval_ks), timer)
    if verbose:
        print(f"Training {config['loss']} on {len(train):,} "
              f"{'triplets' if config['has_negative'] else 'pairs'} · {total} steps of "
              f"{bs} · lr {settings['learning_rate']:g} · max_seq_length {seq_len} · "
              f"{config['precision']} on {info.kind}")

    with tempfile.TemporaryDirectory(prefix="trainer-", dir=paths.cache_dir("tmp")) as tmp, \
            quiet_libraries():
        args = build_args(tmp, settings, info, loss=loss, seed=seed)
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=train,
                                             loss=loss_obj)
        # Swap the raw-dict log printer for readable lines (Jupyter keeps its own progress table).
        plain = [cb for cb in trainer.callback_handler.callbacks
                 if type(cb) in (ProgressCallback, PrinterCallback)]
        for cb in plain:
            trainer.remove_callback(cb)
        if plain:
            trainer.add_callback(progress_cls(bar=bool(settings.get("progress_bar", True)),
                                             lines=verbose))
        if evaluator is not None:
            evaluator.model = model
            trainer.add_callback(evaluator)
        start, cpu_start = time.perf_counter(), time.process_time()
        output = trainer.train()
        seconds = time.perf_counter() - start - timer["eval_seconds"]
        cpu_seconds = time.process_time() - cpu_start  # all threads: a load-independent measure

    steps = int(output.global_step)
    examples = steps * bs  # the last batch of an epoch may be smaller:
    if not settings.get("max_steps"):
        examples = min(examples, round(len(train) * float(settings["epochs"])))
    history = pd.DataFrame([{"step": h["step"], "epoch": h.get("epoch"), "loss": h["loss"]}
                            for h in trainer.state.log_history if "loss" in h],
                           columns=["step", "epoch", "loss"])
    eval_history = pd.DataFrame(evaluator.rows) if evaluator is not None else None
    model.max_seq_length = original_max_len  # read long texts at inference like the base model
    model.eval()
    model.workbook_name = f"fine-tuned ({loss})"
    model.workbook_source = "trained now"
    return Run(model=model, history=history, eval_history=eval_history, seconds=seconds,
               pairs_per_second=examples / seconds if seconds > 0 else float("nan"),
               config=config, path=None, from_cache=False,
               extra={"hardware": info.summary(), "steps": steps,
                      "cpu_seconds": round(cpu_seconds, 1), "load_avg": _load_avg(),
                      "examples": examples, "eval_seconds": round(timer["eval_seconds"], 2),
                      "date": time.strftime("%Y-%m-%d")})


def _load_avg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def _save(run: Run, folder: Path) -> None:
    """Save the model and run.json into ``folder`` atomically (a half-written folder never hits)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        from .models import _quiet_loading
        with quiet_libraries(), _quiet_loading():  # no "Writing model shards" bar either
            run.model.save(str(tmp))
        payload = {
            "key": folder.name, "config": run.config, "seconds": run.seconds,
            "pairs_per_second": run.pairs_per_second,
            "history": run.history.to_dict(orient="records"),
            "eval_history": None if run.eval_history is None
            else run.eval_history.to_dict(orient="records"),
            "extra": run.extra,
        }
        (tmp / RUN_FILE).write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    run.path = folder


def _copy_folder(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        target = dst / item.name
        if item.is_dir():
            shutil.copytree(item, target, dirs_exist_ok=True)
        else:
            shutil.copy2(item, target)
