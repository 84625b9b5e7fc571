"""Where the workbook keeps things (introduced in 00_setup).

Everything is relative to the repository root, so a notebook runs the same from JupyterLab, papermill,
Colab (after the setup cell clones the repository) or a test.
"""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
BUILD = ROOT / "build"


def cache_dir(*parts: str) -> Path:
    """A folder under ``data/cache/`` (gitignored), created on demand.

    ``WORKBOOK_CACHE`` moves the whole cache, e.g. to a USB stick prepared by ``make workshop``.
    """
    base = Path(os.environ.get("WORKBOOK_CACHE", DATA / "cache"))
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def show(path: str | os.PathLike) -> str:
    """A path as a reader should see it: relative to the repository when it lies inside it."""
    p = Path(path).resolve()
    try:
        return str(p.relative_to(ROOT))
    except ValueError:
        return p.name if p.is_absolute() else str(p)
