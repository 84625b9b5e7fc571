"""The training cache: what a run is, what identifies it, where it is kept (03_fine_tuning).

Every ``fine_tune`` result is saved under ``data/cache/models/<key>/``: a normal
sentence-transformers model folder plus ``run.json`` (settings, loss history, timing). The key is a
hash of everything that determines the result (:func:`cache_key` over the base weights' hash, the
data's hash, the loss, the settings, the seed and the library versions), so an identical run is
reused in seconds and a changed one never is.

A cached folder is verified before it is reused: ``run.json`` lists every file of the saved model
with its size and sha256 (:func:`folder_files`), and :func:`load_run` checks them all (about 0.1 s
for all-MiniLM-L6-v2's 88 MB). A damaged entry (a file changed, missing, truncated or added, a
run.json that cannot be read or lacks a field) raises :class:`DamagedCache`; ``fine_tune`` says so in
one line and trains again, and the new folder replaces the damaged one in one rename.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import models, paths, quiet
from ..errors import WorkbookError

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


class DamagedCache(WorkbookError):
    """A saved fine-tuned model folder that fails its checks (a file changed, missing or added since
    it was saved, or a run.json that cannot be read). ``folder`` and ``problem`` say which and what;
    the message says what to delete. ``fine_tune`` catches it and trains again."""

    def __init__(self, folder: str | os.PathLike, problem: str):
        self.folder, self.problem = Path(folder), problem
        super().__init__(f"The saved model {paths.show(folder)} is damaged: {problem}. Delete the "
                         f"folder {paths.show(folder)}; fine_tune() with the same settings trains "
                         "and saves it again.")


# What run.json must hold, and the type each field must have, for a run to be loaded from it.
RUN_FIELDS: dict[str, type | tuple[type, ...]] = {
    "config": dict, "seconds": (int, float), "pairs_per_second": (int, float), "history": list,
    "eval_history": (list, type(None)), "extra": dict}
_HIDDEN = re.compile(r"(^|/)\.")  # .DS_Store and the like: not part of a model, never checked
_TEMP_FOLDER = re.compile(r"^\.[0-9a-f]{20}-")  # save_run's temp folders: .<key>-...


def read_run(folder: Path) -> dict[str, Any] | None:
    """The run.json of a cached run as a dict, or None when there is none or it cannot be read."""
    try:
        info = json.loads((Path(folder) / RUN_FILE).read_bytes().decode("utf-8"))
    except (OSError, ValueError):  # ValueError: JSONDecodeError, UnicodeDecodeError
        return None
    return info if isinstance(info, dict) else None


def run_info(folder: str | os.PathLike) -> dict[str, Any]:
    """The run.json of a saved run, checked to hold every field of :data:`RUN_FIELDS` with the
    right type; raises :class:`DamagedCache` saying what is wrong."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DamagedCache(folder, "it is not a folder" if os.path.lexists(folder)
                           else "it does not exist")
    try:
        info = json.loads((folder / RUN_FILE).read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise DamagedCache(folder, f"{RUN_FILE} is missing") from None
    except (OSError, ValueError) as exc:
        raise DamagedCache(folder, f"{RUN_FILE} cannot be read ({paths.brief_error(exc)})") from None
    if not isinstance(info, dict):
        raise DamagedCache(folder, f"{RUN_FILE} holds a JSON {type(info).__name__}, not an object")
    lacking = [k for k, t in RUN_FIELDS.items()
               if k not in info or not isinstance(info[k], t) or isinstance(info[k], bool)]
    if lacking:
        raise DamagedCache(folder, f"{RUN_FILE} lacks {', '.join(lacking)} (or has the wrong type)")
    return info


def folder_files(folder: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """``{relative path: {"bytes": size, "sha256": digest}}`` for every file of a saved model
    folder but run.json itself and hidden files: what run.json records and :func:`check_files`
    compares."""
    folder = Path(folder)
    files = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if rel == RUN_FILE or _HIDDEN.search(rel) or not p.is_file():
            continue
        files[rel] = {"bytes": p.stat().st_size, "sha256": paths.file_sha256(p)}
    return files


def check_files(folder: str | os.PathLike, files: Any) -> str | None:
    """What is wrong with ``folder`` compared with ``files`` (as :func:`folder_files` recorded it
    at save), or None when every file is there with its size and sha256 and no other was added.
    Sizes first (a missing or truncated file is found without reading 90 MB), then the hashes."""
    folder = Path(folder)
    if not isinstance(files, dict) or not files or not all(
            isinstance(e, dict) and isinstance(e.get("bytes"), int)
            and isinstance(e.get("sha256"), str) for e in files.values()):
        return f"the file list in {RUN_FILE} is damaged"
    for rel, entry in files.items():
        if rel.startswith("/") or ".." in rel.split("/"):
            return f"{RUN_FILE} lists {rel!r}, outside the folder"
        p = folder / rel
        if not p.is_file():
            return f"{rel} is missing" + (" (a folder is in its place)" if p.is_dir() else "")
        size = p.stat().st_size
        if size != entry["bytes"]:
            return f"{rel} has {size:,} bytes, not the {entry['bytes']:,} it was saved with"
    extra = sorted(rel for rel in _visible_files(folder) if rel not in files)
    if extra:
        return f"{extra[0]} was not part of the saved model"
    for rel, entry in files.items():
        try:
            digest = paths.file_sha256(folder / rel)
        except OSError as exc:
            return f"{rel} cannot be read ({paths.brief_error(exc)})"
        if digest != entry["sha256"]:
            return f"{rel} has changed since it was saved (its sha256 differs)"
    return None


def _visible_files(folder: Path) -> list[str]:
    rels = (p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    return [r for r in rels if r != RUN_FILE and not _HIDDEN.search(r)]


def _model_problem(model: Any) -> str | None:
    """For a model loaded from a folder saved before checksums: weights that are not finite, or a
    tokenizer that reads ordinary words as unknown."""
    import torch
    for name, tensor in model.state_dict().items():
        if tensor.dtype.is_floating_point and not bool(torch.isfinite(tensor).all()):
            return f"the weight {name} holds NaN or infinite values"
    tok = getattr(model, "tokenizer", None)
    unk = getattr(tok, "unk_token_id", None)
    if tok is not None and unk is not None:
        ids = tok("the patient has a fever", add_special_tokens=False)["input_ids"]
        if not ids or all(i == unk for i in ids):
            return "its tokenizer reads every word as unknown"
    return None


def load_run(folder: str | os.PathLike, verbose: bool = True) -> Run:
    """A :class:`Run` from a folder :func:`fine_tune` saved (the model and its run.json), after
    checking every file against the sizes and sha256 digests in run.json; raises
    :class:`DamagedCache` naming the folder and what is wrong.

    A folder saved before run.json listed its files is checked as far as it can be (the files a
    model needs are there, it loads, its weights are finite, its tokenizer knows ordinary words),
    then adopted: one line says so and, in the model cache, its file list is written into run.json
    so it is verified like any other from then on.
    """
    folder = Path(folder)
    info = run_info(folder)
    legacy = "files" not in info
    problem = models.folder_problem(folder) if legacy else check_files(folder, info["files"])
    if problem:
        raise DamagedCache(folder, problem)
    try:
        model = models.load(folder, verbose=verbose)
    except Exception as exc:  # whatever the loader raises for a damaged file
        raise DamagedCache(folder, f"the model does not load ({paths.brief_error(exc)})") from exc
    if legacy:
        problem = _model_problem(model)
        if problem:
            raise DamagedCache(folder, problem)
        _adopt(folder, info)
    model.workbook_name = f"fine-tuned ({info['config'].get('loss')})"
    eval_hist = info.get("eval_history")
    return Run(model=model, history=_history_frame(info.get("history"), ["step", "epoch", "loss"]),
               eval_history=None if eval_hist is None else pd.DataFrame(eval_hist),
               seconds=float(info["seconds"]), pairs_per_second=float(info["pairs_per_second"]),
               config=info["config"], path=folder, from_cache=True, key=str(info.get("key", "")),
               extra=info["extra"])


def _adopt(folder: Path, info: dict) -> None:
    """Accept a folder saved before checksums (it passed :func:`load_run`'s checks): in the model
    cache, record its files in run.json; elsewhere (a folder of yours) change nothing."""
    note = " (nothing was changed)."
    if folder.resolve().parent == cache_root().resolve():
        try:
            paths.write_atomic(folder / RUN_FILE, json.dumps(dict(info, files=folder_files(folder)),
                                                             indent=2, default=str))
            note = " and its checksums are recorded now."
        except OSError as exc:  # e.g. a read-only copy of the cache
            note = f" (its checksums could not be recorded: {paths.brief_error(exc)})."
    print(f"{paths.show(folder)} was saved before fine-tuned models carried checksums; its files "
          "and weights look sound, so it is reused" + note)


def _history_frame(records, columns) -> pd.DataFrame:
    return pd.DataFrame(records or [], columns=None if records else columns)


def save_run(run: Run, folder: Path) -> None:
    """Save the model and run.json (with every file's size and sha256) into ``folder`` atomically:
    written into a temp folder beside it, then renamed into place, replacing what was there; a
    half-written folder never hits. Temp folders of killed writers are removed."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temp_folders(folder.parent)
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
            "files": folder_files(tmp),
        }
        (tmp / RUN_FILE).write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
        _replace_folder(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    run.path = folder


def _replace_folder(new: Path, folder: Path) -> None:
    """Put the folder ``new`` at ``folder``: what was there is first renamed aside (then deleted),
    so ``folder`` is always the old or the new one, whole, and for a moment absent (no portable
    rename swaps two folders). Should another process put its copy there in that moment, it is
    moved aside in turn (identical settings: an identical model)."""
    for _ in range(5):
        old = None
        if os.path.lexists(folder):
            old = folder.with_name(f".{folder.name}-old-{secrets.token_hex(4)}")
            os.replace(folder, old)
        try:
            os.rename(new, folder)
            return
        except OSError:
            if not os.path.lexists(folder):
                raise
        finally:
            if old is not None:
                _remove(old)
    raise OSError(f"could not put the trained model at {paths.show(folder)}: another process "
                  "keeps writing there")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def _remove_stale_temp_folders(root: Path, max_age: float = paths.STALE_TEMP_SECONDS) -> None:
    """Delete the temp folders (``.<key>-...``) that :func:`save_run` calls killed mid-write left
    in the model cache, once they are older than ``max_age`` seconds."""
    now = time.time()
    for p in root.iterdir():
        try:
            if _TEMP_FOLDER.match(p.name) and now - p.stat().st_mtime > max_age:
                _remove(p)
        except OSError:
            pass


def copy_folder(src: Path, dst: Path) -> None:
    """Copy the files and folders of ``src`` into ``dst`` (created if needed), replacing files."""
    dst.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        target = dst / item.name
        if item.is_dir():
            shutil.copytree(item, target, dirs_exist_ok=True)
        else:
            shutil.copy2(item, target)
