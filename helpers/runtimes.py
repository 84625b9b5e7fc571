"""How long each notebook takes to run: one source, ``notebooks/run_times.json`` (00_setup).

``make record`` (``tools/pipeline.py``) measures every notebook it executes and writes the seconds,
the hardware, the date and the 1-minute load average at the end of the run here with :func:`save`.
Everything that states a run time is written from this file by one formatter, :func:`describe`:
notebook 00's :func:`table`, each notebook's "How long it takes" line (:func:`header_line`), and
the tables of README.md and INSTRUCTORS.md (``make times``). Only measured times are ever stored.

Profiles: ``smoke``, ``cpu`` and ``gpu`` as ``make record --profile`` ran them, and
``cpu_first_run``: a cpu run that started from an empty model cache (``record --first-run``), so
it includes the training that later runs reuse.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from . import paths

if TYPE_CHECKING:
    import pandas as pd

RUN_TIMES = paths.NOTEBOOKS / "run_times.json"
PROFILES = ("smoke", "cpu", "gpu")
FIRST_RUN = "cpu_first_run"
HEADER = "**How long it takes:**"


def load_average(digits: int = 1) -> float | None:
    """The 1-minute load average now, rounded (None where the platform has none, e.g. Windows):
    printed beside every measured time, since other work on the machine slows it."""
    try:
        return round(os.getloadavg()[0], digits)
    except (AttributeError, OSError):
        return None


def load() -> dict:
    """``{notebook: {profile: {"seconds", "hardware", "date", "load_avg"}}}``; empty when nothing
    was measured. Notebooks are named by their path under ``notebooks/``
    (``03_fine_tuning.ipynb``, ``solutions/03_fine_tuning_solutions.ipynb``)."""
    return json.loads(RUN_TIMES.read_text(encoding="utf-8")) if RUN_TIMES.exists() else {}


def save(times: Mapping[str, float], profile: str, hardware: str,
         load_avg: Mapping[str, float | None] | float | None = None, *,
         date: str | None = None) -> None:
    """Store measured ``{notebook: seconds}`` for ``profile`` on ``hardware`` (keeps the others).

    ``load_avg``: the 1-minute load average at the end of each notebook's run, ``{notebook: load}``
    (or one number for all); stored as ``load_avg`` where known. ``date``: the day it was measured
    (default today; ``gpu-check --merge`` keeps the day of a run on a lent GPU machine).
    """
    measured = load()
    for name, secs in times.items():
        entry = {"seconds": round(secs, 1), "hardware": hardware,
                 "date": date or _dt.date.today().isoformat()}
        load_ = load_avg.get(name) if isinstance(load_avg, Mapping) else load_avg
        if load_ is not None:
            entry["load_avg"] = round(float(load_), 1)
        measured.setdefault(name, {})[profile] = entry
    paths.write_atomic(RUN_TIMES, json.dumps(measured, indent=2, sort_keys=True) + "\n")


def duration(seconds: float) -> str:
    """``84 s`` under two minutes, else minutes with one decimal (``2.8 min``)."""
    if round(seconds) < 120:
        return f"{round(seconds)} s"
    return f"{seconds / 60:.1f} min"


def machine(hardware: str) -> str:
    """The short form of a :func:`helpers.device` summary: ``CPU: AMD EPYC, 2 CPU cores`` for
    ``CPU: AMD EPYC (cpu, bf16 units) · bf16 · batch 32 · 2 CPU cores`` (or ``(cpu)``, without such
    units), ``Tesla T4, Colab`` on a Colab GPU."""
    parts = [p.strip() for p in hardware.split("·")]
    name = re.sub(r"\s*\([^()]*\)$", "", parts[0])
    on_cpu = re.search(r"\(cpu(, [^()]*)?\)$", parts[0]) is not None
    extra = [p for p in parts[1:] if (on_cpu and p.endswith("CPU cores")) or p == "Colab"]
    return ", ".join([name, *extra])


def _entry(name: str, profile: str, measured: Mapping | None) -> dict | None:
    measured = load() if measured is None else measured
    return measured.get(name, {}).get(profile)


def describe(name: str, profile: str = "cpu", *, measured: Mapping | None = None) -> str:
    """The one way a run time is written, from ``run_times.json`` (or ``measured``), e.g.
    ``84 s (cpu profile, measured 2026-11-29 on CPU: AMD EPYC, 2 CPU cores, load 1.1)``.

    ``not measured`` where there is no entry (``not measured on a GPU`` for the gpu profile);
    ``cpu_first_run`` reads ``9.7 min the first time (measured, load 2.8)``.
    """
    entry = _entry(name, profile, measured)
    if entry is None:
        return "not measured on a GPU" if profile == "gpu" else "not measured"
    load_ = f", load {entry['load_avg']:.1f}" if entry.get("load_avg") is not None else ""
    if profile == FIRST_RUN:
        cpu = _entry(name, "cpu", measured)
        same = cpu is not None and cpu["hardware"] == entry["hardware"]
        where = "" if same else f" on {machine(entry['hardware'])}"
        return f"{duration(entry['seconds'])} the first time (measured{where}{load_})"
    return (f"{duration(entry['seconds'])} ({profile} profile, measured {entry['date']} "
            f"on {machine(entry['hardware'])}{load_})")


def summary(name: str, *, gpu: bool = True, measured: Mapping | None = None) -> str:
    """Everything measured for a notebook, joined by ``;``: the cpu time, the first-run time where
    measured, and the gpu time (``not measured on a GPU`` unless ``gpu=False``, which leaves it out
    when it was not measured)."""
    parts = [describe(name, "cpu", measured=measured)]
    if _entry(name, FIRST_RUN, measured):
        parts.append(describe(name, FIRST_RUN, measured=measured))
    if gpu or _entry(name, "gpu", measured):
        parts.append(describe(name, "gpu", measured=measured))
    return "; ".join(parts)


def header_line(name: str, *, measured: Mapping | None = None) -> str:
    """The full ``**How long it takes:** ...`` line of a notebook's header cell; ``name`` as in
    ``run_times.json`` (``04_matryoshka.ipynb``, ``solutions/04_matryoshka_solutions.ipynb``)."""
    return f"{HEADER} {summary(name, measured=measured)}."


def table() -> pd.DataFrame:
    """The measured run time of every lesson in minutes, per profile, as a DataFrame (introduced in
    00_setup)."""
    import pandas as pd

    measured = load()
    profiles = PROFILES + ((FIRST_RUN,) if any(FIRST_RUN in e for e in measured.values()) else ())
    rows = []
    for nb in paths.lessons():
        entry = measured.get(nb.name, {})
        row = {"notebook": nb.name}
        for prof in profiles:
            if prof in entry:
                row[f"{prof.replace('_', ' ')} (min)"] = round(entry[prof]["seconds"] / 60, 1)
        rows.append(row)
    return pd.DataFrame(rows).astype(object).fillna("not measured")


__all__ = ["FIRST_RUN", "HEADER", "PROFILES", "RUN_TIMES", "describe", "duration", "header_line",
           "load", "machine", "save", "summary", "table"]
