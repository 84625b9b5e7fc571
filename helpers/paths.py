"""Where the workbook keeps things (introduced in 00_setup).

Everything is relative to the repository root, so a notebook runs the same from JupyterLab,
papermill, Colab (after the setup cell clones the repository) or a test.
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
BUILD = ROOT / "build"
NOTEBOOKS = ROOT / "notebooks"


def lessons(folder: Path | None = None) -> list[Path]:
    """The numbered lesson notebooks, in order (``notebooks/0N_*.ipynb``; ``folder`` instead of
    ``notebooks/``, e.g. a copy of the repository)."""
    return sorted((folder or NOTEBOOKS).glob("[0-9][0-9]_*.ipynb"))


def solutions(folder: Path | None = None) -> list[Path]:
    """The worked solutions, in order (``notebooks/solutions/0N_*_solutions.ipynb``)."""
    return sorted(((folder or NOTEBOOKS) / "solutions").glob("[0-9][0-9]_*.ipynb"))


def cache_dir(*parts: str) -> Path:
    """A folder under ``data/cache/`` (gitignored), created on demand (introduced in
    02_training_data).

    ``WORKBOOK_CACHE`` moves the whole cache, e.g. to a USB stick prepared by ``make workshop``.
    """
    base = Path(os.environ.get("WORKBOOK_CACHE", DATA / "cache"))
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def show(path: str | os.PathLike) -> str:
    """A path as a reader should see it: relative to the repository when it lies inside it
    (introduced in 03_fine_tuning)."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return p.name if p.is_absolute() else str(p)


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """The SHA-256 of a file's bytes, read in 1 MB chunks: the workbook's one file-hash helper
    (the bundled model's checksum, "your file is unchanged" in 06)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


# ---- cache files: written atomically, read back or rebuilt ---------------------------------------

STALE_TEMP_SECONDS = 15 * 60  # a temp file this old belongs to a writer that was killed


def _temp_patterns(path: Path) -> list[str]:
    """The names a writer of ``path`` gives its temp files: :func:`write_atomic`'s, then the two
    the workbook's writers used before it (``<stem>.tmp``, ``<stem>.<pid>.tmp``)."""
    name, stem = glob.escape(path.name), glob.escape(path.stem)
    return [f".{name}.*.tmp", f"{stem}.tmp", f"{stem}.[0-9]*.tmp"]


def remove_stale_temps(path: str | os.PathLike, max_age: float = STALE_TEMP_SECONDS) -> list[Path]:
    """Delete the temp files that writers of ``path`` left behind when they were killed (those older
    than ``max_age`` seconds, so a writer still at work keeps its own); return what was removed.
    Only files beside ``path`` named after it are touched."""
    path = Path(path)
    removed, now = [], time.time()
    for pattern in _temp_patterns(path):
        for tmp in path.parent.glob(pattern):
            try:
                if tmp.is_file() and now - tmp.stat().st_mtime > max_age:
                    tmp.unlink()
                    removed.append(tmp)
            except OSError:  # another process removed it first
                pass
    return removed


def write_atomic(path: str | os.PathLike, content: str | bytes, encoding: str = "utf-8") -> Path:
    """Write ``content`` to ``path`` so a reader sees the old file or the new one, never half of one:
    a temp file with a unique name in the same folder, flushed to disk, then ``os.replace``.

    The workbook's one way to write a file that others read (caches, build/results.json). Two
    processes writing at once each use their own temp file; the last replace wins (a read-modify-
    write also needs a lock: ``helpers.results``). Stale temp files of killed writers are removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    data = content.encode(encoding) if isinstance(content, str) else bytes(content)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "xb") as fh:  # "x": a name no other writer holds; the umask's permissions
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def read_cache(path: str | os.PathLike, read: Callable[[Path], T]) -> T | None:
    """``read(path)``, or None when the cache file ``path`` has to be (re)built: there is none, or
    reading or checking it fails in any way (``read`` raises on a wrong shape). A file that cannot be
    used gets one line saying which and why; a folder sitting at its path is moved aside (renamed
    ``<name>.not-a-file-<time>``, nothing in it is deleted). Stale temp files are removed first."""
    path = Path(path)
    remove_stale_temps(path)
    if not os.path.lexists(path):
        return None
    if path.is_dir():
        aside = path.with_name(f"{path.name}.not-a-file-{time.strftime('%Y%m%d-%H%M%S')}")
        path.rename(aside)
        print(f"The cache file {show(path)} was a folder: moved it aside to {aside.name} and "
              "rebuilding the file.")
        return None
    try:
        return read(path)
    except Exception as exc:  # noqa: BLE001 (any failure to read or check a cache file: rebuild)
        print(f"The cache file {show(path)} cannot be used ({brief_error(exc)}): rebuilding it.")
        return None


def brief_error(exc: BaseException) -> str:
    """An exception as a few words for a one-line message."""
    text = " ".join(str(exc).split())
    if isinstance(exc, UnicodeDecodeError):
        text = f"byte {exc.object[exc.start:exc.start + 1]!r} at offset {exc.start} is not UTF-8"
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
    text = text[:150] + ("..." if len(text) > 150 else "")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
