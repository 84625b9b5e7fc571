"""Fine-tune a sentence-embedding model with one call (introduced in 03_fine_tuning).

``fine_tune(model, train, loss="mnrl", profile=PROFILE)`` wraps sentence-transformers'
``SentenceTransformerTrainer`` with the choices a learner would otherwise have to look up:

* the loss: ``"mnrl"`` (MultipleNegativesRankingLoss: in-batch negatives, plus the ``negative``
  column as extra hard negatives when there is one), ``"cached_mnrl"`` (the same loss computed in
  mini-batches, so the batch, and with it the number of negatives, can grow beyond memory),
  ``"triplet"`` (TripletLoss: needs a ``negative`` column), and for comparison
  ``"mnrl_symmetric"`` (MNRL in both directions) and ``"gist"`` (GISTEmbedLoss guided by the frozen
  base model), each optionally wrapped in MatryoshkaLoss (``matryoshka_dims=[256, 128, 64]``);
* the batch sampler: ``NO_DUPLICATES`` for in-batch-negative losses, so a text never appears twice
  in a batch and becomes its own false negative;
* the precision: fp16 on a T4-class GPU, bf16 on Ampere and newer, fp32 on a CPU or Apple GPU;
* the sizes: epochs, batch size, learning rate, warmup and a step cap come from the profile
  (``helpers.profiles``); keyword overrides change any of them;
* ``max_seq_length``: by default from the data (the 99th percentile of the token counts, rounded up
  to a multiple of 8), so a CPU does not spend its time on padding. The saved model gets its
  original limit back, so it reads long texts at inference time just like the base model.

The caller's model is never changed: training works on a copy, so a notebook can compare base and
tuned models side by side. Every result is cached under ``data/cache/models/<key>/``, keyed by a
hash of everything that determines it (base weights, data rows, loss, settings, seed, library
versions): running a notebook again, or another notebook with the same recipe, reuses the trained
model in seconds. The folder is a normal sentence-transformers model: ``models.load(run.path)``
loads it. Its run.json lists every file's sha256, checked before each reuse: a damaged entry is
trained again (``load_run`` raises :class:`DamagedCache`).

The modules, one idea each: ``settings`` (settings, Trainer arguments, data checks), ``losses``,
``callbacks`` (readable progress, evaluation during training), ``cache`` (:class:`Run`, the cache
key, saving and loading runs), ``tune`` (``fine_tune`` and the training steps) and ``distributed``
(``fine_tune_distributed``: the same training over several processes under ``torchrun``, used by
``python -m helpers.train``). Everything a lesson uses is importable from ``helpers.training``
directly.
"""
from .cache import (CACHE_FORMAT, RUN_FILE, DamagedCache, Run, cache_key, cache_root,
                    data_fingerprint, load_run, model_identity, split_fingerprint, versions)
from .distributed import World, batch_plan, fine_tune_distributed
from .losses import batch_loss, build_loss
from .settings import (DEFAULTS, IN_BATCH_LOSSES, LOSSES, SETTINGS, Loss, TrainingError,
                       auto_max_seq_length, build_args, check_train_data, resolve_settings,
                       subsample)
from .tune import Plan, fine_tune, train_now

__all__ = [
    "CACHE_FORMAT", "DEFAULTS", "IN_BATCH_LOSSES", "LOSSES", "Loss", "Plan", "RUN_FILE", "Run",
    "SETTINGS", "DamagedCache", "TrainingError", "World", "auto_max_seq_length", "batch_loss",
    "batch_plan", "build_args", "build_loss", "cache_key", "cache_root", "check_train_data",
    "data_fingerprint", "fine_tune", "fine_tune_distributed", "load_run", "model_identity",
    "resolve_settings", "split_fingerprint", "subsample", "train_now", "versions",
]
