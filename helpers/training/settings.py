"""Training settings, the Trainer's arguments and the checks on training data (03_fine_tuning).

``resolve_settings(profile, **overrides)`` is the one place a run's settings come from: the
profile's sizes and hyper-parameters (``helpers.profiles``), :data:`DEFAULTS` for the rest, then the
caller's overrides (unknown names are refused). ``build_args`` turns them into
``SentenceTransformerTrainingArguments`` for this device.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from .. import device, profiles
from ..errors import InputError
from ..tokens import token_lengths

if TYPE_CHECKING:
    import os

    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainingArguments

    TrainData = Dataset | pd.DataFrame | list[dict[str, str]]
    """Training pairs: a Dataset (anchor, positive[, negative]), or a DataFrame or list of dicts
    with those columns (converted to a Dataset)."""

Loss = Literal["mnrl", "cached_mnrl", "triplet", "mnrl_symmetric", "gist"]
LOSSES = ("mnrl", "cached_mnrl", "triplet", "mnrl_symmetric", "gist")
# Losses that use the other examples of a batch as negatives: they need batches without duplicates.
IN_BATCH_LOSSES = {"mnrl", "cached_mnrl", "mnrl_symmetric", "gist"}

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
    "precision": None,           # None: the device's (DeviceInfo.precision), or fp32/fp16/bf16
}


class TrainingError(InputError):
    """Bad input to :func:`fine_tune` (wrong columns, unknown loss or setting); the message says how
    to fix it."""


def resolve_settings(profile: profiles.ProfileName | profiles.Profile = "auto",
                     **overrides: Any) -> dict[str, Any]:
    """The training settings for ``profile`` with ``overrides`` applied (unknown names are
    refused)."""
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


def build_args(output_dir: str | os.PathLike, settings: dict[str, Any],
               info: device.DeviceInfo | None = None, loss: Loss = "mnrl", seed: int = 42,
               eval_steps: int | None = None) -> SentenceTransformerTrainingArguments:
    """``SentenceTransformerTrainingArguments`` for these settings on this device.

    Precision from the device (:attr:`helpers.device.DeviceInfo.precision`); the warm-up passed as
    ``warmup_steps`` with a float ratio (transformers 5 deprecates ``warmup_ratio``); no checkpoints
    (``save_strategy="no"``), no experiment trackers (``report_to="none"``), a fixed seed.
    """
    from sentence_transformers import SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers

    if info is None:
        info = device.detect()
    precision = settings.get("precision") or info.precision
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


def check_train_data(train: TrainData, loss: Loss = "mnrl") -> Dataset:
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
                f"Training data must be a datasets.Dataset with columns anchor, positive[, "
                f"negative]; got {type(train).__name__}. Build one with datasets.Dataset.from_dict("
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
                f"Column {col!r} has {len(bad)} empty or non-text value(s), e.g. row {bad[0]}. "
                "Drop or fix them first (helpers.data.validate lists them).")
    return train


def subsample(train: Dataset, max_pairs: int | None, seed: int = 42) -> Dataset:
    """At most ``max_pairs`` rows, chosen at random with ``seed`` (the same rows every time;
    introduced in 03_fine_tuning)."""
    if max_pairs is None or len(train) <= max_pairs:
        return train
    return train.shuffle(seed=seed).select(range(int(max_pairs)))


def auto_max_seq_length(model: SentenceTransformer, train: Dataset, percentile: float = 99,
                        multiple: int = 8) -> int:
    """The ``percentile`` of the anchor/positive/negative token counts, rounded up to a multiple of
    ``multiple``, capped by the model's own limit: long enough for nearly every text, no padding
    wasted on the rare long one (introduced in 07_when_to_fine_tune)."""
    import numpy as np
    texts = []
    for col in train.column_names:
        texts.extend(train[col])
    lengths = token_lengths(model, texts, sample=2000)
    value = int(math.ceil(float(np.percentile(lengths, percentile)) / multiple) * multiple)
    cap = int(getattr(model, "max_seq_length", None) or 512)
    return max(multiple, min(value, cap))


def sequence_length(model: SentenceTransformer, train, setting) -> tuple[int, int]:
    """``(train with, give back)``: the max_seq_length to train with for the ``max_seq_length``
    setting ("auto", None or an int) and the model's own limit, restored after training (one rule
    for :func:`helpers.training.fine_tune` and the distributed runs)."""
    original = int(getattr(model, "max_seq_length", None) or 512)
    if setting == "auto":
        return auto_max_seq_length(model, train), original
    if setting is None:
        return original, original
    return min(int(setting), original), original
