"""How long each notebook takes to run: one source, ``notebooks/run_times.json`` (00_setup).

``make record`` (``tools/pipeline.py``) measures every notebook it executes and writes the seconds,
the hardware and the date here with :func:`save`; notebook 00's table comes from :func:`table`.
Only measured times are ever stored.
"""
from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from . import paths

if TYPE_CHECKING:
    import pandas as pd

RUN_TIMES = paths.NOTEBOOKS / "run_times.json"
PROFILES = ("smoke", "cpu", "gpu")


def load() -> dict:
    """``{notebook: {profile: {"seconds", "hardware", "date"}}}``; empty when nothing was
    measured."""
    return json.loads(RUN_TIMES.read_text(encoding="utf-8")) if RUN_TIMES.exists() else {}


def save(times: Mapping[str, float], profile: str, hardware: str) -> None:
    """Store measured ``{notebook: seconds}`` for ``profile`` on ``hardware`` (keeps the others)."""
    measured = load()
    for name, secs in times.items():
        measured.setdefault(name, {})[profile] = {"seconds": round(secs, 1), "hardware": hardware,
                                                  "date": _dt.date.today().isoformat()}
    RUN_TIMES.write_text(json.dumps(measured, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def table() -> pd.DataFrame:
    """The measured run time of every lesson in minutes, per profile, as a DataFrame (introduced in
    00_setup)."""
    import pandas as pd

    measured = load()
    rows = []
    for nb in paths.lessons():
        entry = measured.get(nb.name, {})
        row = {"notebook": nb.name}
        for prof in PROFILES:
            if prof in entry:
                row[f"{prof} (min)"] = round(entry[prof]["seconds"] / 60, 1)
        rows.append(row)
    return pd.DataFrame(rows).astype(object).fillna("not measured")


__all__ = ["PROFILES", "RUN_TIMES", "load", "save", "table"]
