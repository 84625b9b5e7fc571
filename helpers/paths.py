"""Where the workbook keeps things (introduced in 00_setup).

Everything is relative to the repository root, so a notebook runs the same from JupyterLab,
papermill, Colab (after the setup cell clones the repository) or a test.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

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
