"""Run profiles: one switch that sizes every lesson (introduced in 00_setup).

``smoke``  CI: every code path runs on tiny subsets, well under a minute per notebook.
``cpu``    a laptop without a GPU, and the committed outputs: real results within minutes.
``gpu``    Colab T4 and up: the full data and more epochs.

``get("auto")`` reads the ``WORKBOOK_PROFILE`` environment variable first (CI sets ``smoke``; nbval
cannot pass papermill parameters, an environment variable reaches both), else picks ``gpu`` where
CUDA is available and ``cpu`` otherwise. Notebooks take sizes from the profile, never from edited
literals.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from .errors import InputError

if TYPE_CHECKING:
    from typing import Literal

    ProfileName = Literal["auto", "smoke", "cpu", "gpu"]
    """A profile by name: one of :data:`NAMES`, or ``"auto"`` (see :func:`resolve`)."""

NAMES = ("smoke", "cpu", "gpu")


class ProfileError(InputError):
    """An unknown profile name; the message lists the known ones."""


@dataclass(frozen=True)
class Profile:
    """The sizes and hyper-parameters of one run profile (``smoke``, ``cpu`` or ``gpu``)."""
    name: str
    # data sizes (None = everything)
    max_train_pairs: int | None
    max_test_queries: int | None
    max_corpus: int | None
    # training
    epochs: float
    batch_size: int
    learning_rate: float
    max_steps: int | None = None           # a hard cap on optimiser steps (smoke only)
    warmup_ratio: float = 0.1              # linear warm-up over this fraction of the steps
    max_seq_length: int | str | None = "auto"  # "auto": 99th percentile of the data's token counts
    hard_negatives: bool = False           # the recipe mines hard negatives before training
    # (training defaults chosen by experiments/tune_icd10cm.py; results in experiments/results.csv)
    # evaluation
    bootstrap: int = 2000                  # paired bootstrap resamples for confidence intervals
    # learning curve (notebook 07)
    curve_sizes: tuple[int, ...] = (25, 50, 100, 250, 500, 1000, 2000)
    curve_seeds: tuple[int, ...] = (0, 1, 2)
    # the learning curve's test subset (notebook 07): queries and corpus documents (None = all)
    curve_eval_queries: int | None = 400
    curve_eval_corpus: int | None = 1500
    # hard-negative mining demo (notebook 02): pairs to mine negatives for (None = all)
    max_mine_pairs: int | None = 1000
    # search-time demo (notebook 04): vectors in the stand-in corpus searched at each size
    timing_corpus: int = 100_000
    # made pairs (notebook 08): documents the generator writes queries for (None = all; on a laptop
    # CPU generation is the slow part), and icd10cm inclusion-term pairs in its human row (None = all)
    synth_generate_limit: int | None = 300
    synth_icd_human_pairs: int | None = 1000
    # beyond one machine (notebook 09): vectors in the index (real ICD-10-CM descriptions, the rest
    # distractors), real descriptions encoded (None = all 97,729), validation queries that choose
    # each index's effort, queries timed one at a time, texts timed for multi-process encoding
    index_vectors: int = 1_000_000
    index_real_texts: int | None = 20_000
    index_validation_queries: int = 500
    index_latency_queries: int = 100
    encode_speed_texts: int = 4_000
    extra: dict = field(default_factory=dict)

    def with_(self, **changes: Any) -> Profile:
        """A copy with some fields changed, e.g. ``profile.with_(epochs=2)``."""
        return replace(self, **changes)

    def describe(self) -> str:
        """One line: the profile's name, data sizes, epochs, batch size and learning rate."""
        def n(v):
            return "all" if v is None else f"{v:,}"
        return (f"profile {self.name}: train pairs {n(self.max_train_pairs)}, test queries "
                f"{n(self.max_test_queries)}, corpus {n(self.max_corpus)}, epochs {self.epochs:g}, "
                f"batch {self.batch_size}, lr {self.learning_rate:g}")


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke", max_train_pairs=64, max_test_queries=40, max_corpus=300,
        epochs=1, batch_size=16, learning_rate=1e-4, max_steps=4, bootstrap=1000,
        curve_sizes=(16, 32), curve_seeds=(0,), curve_eval_queries=40, curve_eval_corpus=300,
        max_mine_pairs=64, timing_corpus=5_000, synth_generate_limit=8,
        index_vectors=20_000, index_real_texts=1_000, index_validation_queries=50,
        index_latency_queries=10, encode_speed_texts=200,
    ),
    # cpu: MNRL on pairs, 1 epoch of batch 32: icd10cm R@10 0.775 -> 0.814, MRR@10 0.573 -> 0.630 in
    # 189 s (fp32) or 119 s (bf16, on a CPU with bf16 units) on a 2-core AMD EPYC; on validation
    # data, batch 128 / lr 2e-4 / 2.5 epochs was measurably better (MRR@10 +0.013) but trains 2.6x
    # as long, so the first run's time kept this recipe (experiments/README.md, issue 13).
    # gpu: + mined hard negatives, batch 128, 3 epochs: R@10 0.828, MRR@10 0.649
    # (experiments/README.md)
    "cpu": Profile(
        name="cpu", max_train_pairs=None, max_test_queries=None, max_corpus=None,
        epochs=1, batch_size=32, learning_rate=1e-4,
    ),
    "gpu": Profile(
        name="gpu", max_train_pairs=None, max_test_queries=None, max_corpus=None,
        epochs=3, batch_size=128, learning_rate=2e-4, hard_negatives=True,
        curve_sizes=(25, 50, 100, 250, 500, 1000, 2000, 4000), curve_seeds=(0, 1, 2, 3, 4),
        curve_eval_queries=None, curve_eval_corpus=None, max_mine_pairs=None,
        synth_generate_limit=None, synth_icd_human_pairs=None,
        index_real_texts=None, encode_speed_texts=20_000,
    ),
}


def resolve(name: str = "auto") -> str:
    """The profile name that ``name`` stands for (``auto`` looks at the environment and the GPU)."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        env = os.environ.get("WORKBOOK_PROFILE", "").strip().lower()
        if env:
            name = env
        else:
            try:
                import torch
                name = "gpu" if torch.cuda.is_available() else "cpu"
            except ImportError:
                name = "cpu"
    if name not in PROFILES:
        raise ProfileError(f"Unknown profile {name!r}: choose one of {', '.join(NAMES)} or 'auto'.")
    return name


def get(name: ProfileName | Profile = "auto") -> Profile:
    """The :class:`Profile` for ``name`` (``"auto"``, ``"smoke"``, ``"cpu"`` or ``"gpu"``)."""
    if isinstance(name, Profile):
        return name
    return PROFILES[resolve(name)]


def start(name: ProfileName | Profile = "auto", seed: int = 42) -> Profile:
    """The first call of every notebook: pick the profile, seed everything, say where this runs
    (introduced in 00_setup).

    Prints the run date, the hardware and the profile, so every committed output says where its
    numbers came from, and returns the :class:`Profile`. It also decides, once, whether the Hugging
    Face hub is reachable (``helpers.network``), before any lesson code can wait on it.
    """
    import datetime
    import random

    import numpy as np

    from . import device, network

    network.is_online()
    profile = get(name)
    random.seed(seed)
    np.random.seed(seed)
    try:
        import torch
        torch.manual_seed(seed)
    except ImportError:
        pass
    print(f"Run on {datetime.date.today().isoformat()} · {device.detect().summary()}")
    print(f"{profile.describe()} · seed {seed}")
    return profile
