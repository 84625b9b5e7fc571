"""The training cache: what a run is, what identifies it, where it is kept (03_fine_tuning).

Every ``fine_tune`` result is saved under ``data/cache/models/<key>/``: a normal
sentence-transformers model folder plus ``run.json`` (settings, loss history, timing). The key is a
hash of everything that determines the result (:func:`cache_key` over the base weights' hash, the
data's hash, the loss, the settings, the seed and the library versions), so an identical run is
reused in seconds and a changed one never is.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import models, paths, quiet
from .settings import TrainingError

if TYPE_CHECKING:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer

    from ..data.containers import IRSplit

RUN_FILE = "run.json"
CACHE_FORMAT = 1  # bump when the cached folder layout or the meaning of a setting changes


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
        · training loss 0.91 -> 0.21 (mean of the first and last 10% of logged steps) · from
        cache``. The loss of a single batch jumps around; the two means (:meth:`loss_trend`) say
        whether it fell."""
        c = self.config
        s = c.get("settings", {})
        bits = [c.get("loss", "?")]
        if c.get("matryoshka_dims"):
            bits[0] += " + matryoshka " + "/".join(str(d) for d in c["matryoshka_dims"])
        bits.append(f"{c.get('train_rows', 0):,} "
                    f"{'triplets' if c.get('has_negative') else 'pairs'}")
        ep = s.get("epochs", 0)
        bits.append(f"{ep:g} epoch{'s' if ep != 1 else ''}")
        if s.get("max_steps"):
            bits.append(f"max {s['max_steps']} steps")
        bits.append(f"batch {s.get('batch_size')}")
        bits.append(f"lr {s.get('learning_rate'):g}")
        bits.append(f"{self.seconds:.0f} s ({self.pairs_per_second:.0f} pairs/s)")
        trend = self.loss_trend()
        if trend is not None:
            start, end, k = trend
            bits.append(f"training loss {start:.3f} -> {end:.3f} (mean of the first and last "
                        f"{'logged step' if k == 1 else f'{k} logged steps'})")
        if self.from_cache:
            bits.append("from cache")
        return " · ".join(bits)

    def loss_trend(self, share: float = 0.1) -> tuple[float, float, int] | None:
        """``(start, end, k)``: the mean training loss of the first and of the last ``k`` logged
        steps, ``k`` being ``share`` of them (at least one, at most half); None without a
        history."""
        losses = [float(x) for x in self.history["loss"]] if len(self.history) else []
        if not losses:
            return None
        k = min(max(1, round(len(losses) * share)), max(1, len(losses) // 2))
        return sum(losses[:k]) / k, sum(losses[-k:]) / k, k

    def __repr__(self) -> str:  # a short repr: the model's own is pages long
        return f"Run({self.summary()})"


def data_fingerprint(train: Dataset) -> str:
    """A sha256 of the rows (column names and texts, in order): the data's identity for the
    cache."""
    h = hashlib.sha256()
    for col in train.column_names:
        h.update(b"\x00col\x00" + col.encode())
        for v in train[col]:
            h.update(str(v).encode("utf-8") + b"\x1f")
    return h.hexdigest()


def model_identity(model: SentenceTransformer) -> dict[str, str]:
    """The base model's name and a sha256 of its weights (so a changed model never hits the
    cache)."""
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


def split_fingerprint(split: IRSplit) -> str:
    """A sha256 of an IR split's queries, corpus and qrels (which eval history a cached run has)."""
    blob = json.dumps([getattr(split, "queries", None), getattr(split, "corpus", None),
                       getattr(split, "qrels", None)], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def versions() -> dict[str, str]:
    """The library versions that are part of a run's identity (a new version may train
    differently)."""
    import sentence_transformers
    import torch
    import transformers
    return {"sentence_transformers": sentence_transformers.__version__,
            "transformers": transformers.__version__, "torch": torch.__version__.split("+")[0]}


def cache_key(config: dict[str, Any]) -> str:
    """A short, stable hash of a run's config: what decides whether the cache hits. The ``eval``
    entry is left out (evaluating during training does not change the model)."""
    blob = json.dumps({k: v for k, v in config.items() if k != "eval"}, sort_keys=True,
                      default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def cache_root() -> Path:
    """Where trained models are cached (``data/cache/models``, moved by ``WORKBOOK_CACHE``)."""
    return paths.cache_dir("models")


def read_run(folder: Path) -> dict[str, Any] | None:
    """The run.json of a cached run as a dict, or None when there is none or it cannot be read."""
    try:
        return json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _history_frame(records, columns) -> pd.DataFrame:
    return pd.DataFrame(records or [], columns=None if records else columns)


def load_run(folder: str | os.PathLike, verbose: bool = True) -> Run:
    """A :class:`Run` from a folder :func:`fine_tune` saved (the model and its run.json)."""
    folder = Path(folder)
    info = read_run(folder)
    if info is None:
        raise TrainingError(f"{paths.show(folder)} holds no {RUN_FILE}: not a fine_tune() result.")
    model = models.load(folder, verbose=verbose)
    model.workbook_name = f"fine-tuned ({info['config'].get('loss')})"
    eval_hist = info.get("eval_history")
    return Run(model=model, history=_history_frame(info.get("history"), ["step", "epoch", "loss"]),
               eval_history=None if eval_hist is None else pd.DataFrame(eval_hist),
               seconds=float(info["seconds"]), pairs_per_second=float(info["pairs_per_second"]),
               config=info["config"], path=folder, from_cache=True, key=info.get("key", ""),
               extra=info.get("extra", {}))


def save_run(run: Run, folder: Path) -> None:
    """Save the model and run.json into ``folder`` atomically (a half-written folder never hits)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        with quiet.libraries(bars=False):  # no "Writing model shards" bar either
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


def copy_folder(src: Path, dst: Path) -> None:
    """Copy the files and folders of ``src`` into ``dst`` (created if needed), replacing files."""
    dst.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        target = dst / item.name
        if item.is_dir():
            shutil.copytree(item, target, dirs_exist_ok=True)
        else:
            shutil.copy2(item, target)
