"""Each notebook records its headline numbers here; ``make run`` gathers them (introduced in
00_setup).

``record("03_fine_tuning", {"recall@10": 0.81, ...})`` merges into ``build/results.json`` (or the
file named by ``WORKBOOK_RESULTS``), stamped with the profile, the hardware and the date, so a
number is never separated from where it came from.

Nothing recorded is lost: every change (:func:`update`) reads, changes and rewrites the file under a
lock (``results.json.lock`` beside it), so processes recording at once each keep their entry, and
writes it atomically (``helpers.paths.write_atomic``). A file that cannot be read is kept as
``results.json.broken-<time>``, said in one line, and a new one is started. A notebook that failed
in ``make run`` is marked (:func:`mark_failed`): its entry says when, and from when its numbers are.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
from collections.abc import Callable
from pathlib import Path

from . import paths
from .errors import WorkbookError

LOCK_TIMEOUT = 120.0  # seconds to wait for another process's record before giving up


class ResultsError(WorkbookError):
    """The results file could not be changed (e.g. its lock stayed held); the message says why."""


def results_path() -> Path:
    """``WORKBOOK_RESULTS`` or build/results.json; a relative path is taken from the repository
    root, not from the folder a notebook's kernel runs in (notebooks/)."""
    path = Path(os.environ.get("WORKBOOK_RESULTS", paths.BUILD / "results.json"))
    return path if path.is_absolute() else paths.ROOT / path


def _clean(value):
    """Make numbers JSON-friendly: numpy scalars to Python, floats rounded to 4 decimals (4
    significant digits below 0.01, so a learning rate of 5e-05 stays 5e-05, not 0.0001)."""
    if hasattr(value, "to_dict") and callable(value.to_dict):  # pandas objects
        try:
            return _clean(value.to_dict(orient="records"))
        except TypeError:
            return _clean(value.to_dict())
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        try:
            value = value.item()
        except (ValueError, TypeError):
            pass
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return round(value, 4) if abs(value) >= 0.01 or value == 0 else float(f"{value:.4g}")
    if isinstance(value, (int, str, bool)) or value is None:
        return value
    return str(value)


def _read(path: Path) -> dict:
    """The results file's content; raises ``ValueError`` or ``OSError`` when it cannot be read or
    is not ``{notebook: entry}``."""
    everything = json.loads(path.read_bytes().decode("utf-8"))
    if not isinstance(everything, dict) or not all(isinstance(e, dict)
                                                   for e in everything.values()):
        raise ValueError("it is not {notebook: entry}")
    return everything


def load(path: str | os.PathLike | None = None) -> dict:
    """Everything recorded so far, ``{notebook: entry}``; empty when there is no file, and when it
    cannot be read (one line says so; the next change keeps it as a backup)."""
    path = Path(path) if path else results_path()
    if not os.path.lexists(path):
        return {}
    try:
        return _read(path)
    except (OSError, ValueError) as exc:
        print(f"{paths.show(path)} cannot be read ({paths.brief_error(exc)}); the next record "
              "keeps it as a backup and starts a new file.")
        return {}


def update(change: Callable[[dict], object], path: str | os.PathLike | None = None) -> dict:
    """Apply ``change`` (a function that edits ``{notebook: entry}`` in place) to the results file
    and return the new content: read, changed and written atomically while holding the file's lock,
    so no other process's change is lost. A file that cannot be read is renamed to
    ``<name>.broken-<time>`` first (one line says so) and the change starts a new one."""
    from filelock import FileLock, Timeout  # installed with torch and huggingface_hub

    path = Path(path) if path else results_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(path.name + ".lock")
    try:
        with FileLock(str(lock), timeout=LOCK_TIMEOUT):
            everything = _read_or_keep(path)
            change(everything)
            paths.write_atomic(path, json.dumps(everything, indent=2, sort_keys=True))
    except Timeout as exc:
        raise ResultsError(f"{paths.show(path)} stayed locked for {LOCK_TIMEOUT:.0f} s (another "
                           f"process is writing it, or one was stopped holding {lock.name}); "
                           "nothing was recorded. Try again.") from exc
    return everything


def _read_or_keep(path: Path) -> dict:
    """The results file's content (the lock held); when it cannot be read, it is renamed to a
    backup that is never overwritten and an empty dict is returned."""
    if not os.path.lexists(path):
        return {}
    try:
        return _read(path)
    except (OSError, ValueError) as exc:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        backup = path.with_name(f"{path.name}.broken-{stamp}")
        n = 1
        while os.path.lexists(backup):
            n += 1
            backup = path.with_name(f"{path.name}.broken-{stamp}-{n}")
        os.replace(path, backup)
        print(f"{paths.show(path)} could not be read ({paths.brief_error(exc)}): kept it as "
              f"{backup.name} and started a new file.")
        return {}


def record(notebook: str, numbers: dict, profile: str | None = None,
           path: str | os.PathLike | None = None) -> None:
    """Merge ``numbers`` under ``notebook`` in the results file (read it back with :func:`load`;
    introduced in 00_setup). The entry replaces the notebook's earlier one, failure mark
    included."""
    from . import device, profiles

    path = Path(path) if path else results_path()
    entry = {
        "profile": profiles.resolve(profile or "auto"),
        "hardware": device.detect().summary(),
        "date": _dt.date.today().isoformat(),
        "numbers": _clean(numbers),
    }
    update(lambda everything: everything.__setitem__(notebook, entry), path)
    print(f"Recorded {len(numbers)} headline numbers for {notebook} in {paths.show(path)}")


def mark_failed(notebook: str, path: str | os.PathLike | None = None,
                when: str | None = None) -> None:
    """Mark ``notebook``'s entry as failed on ``when`` (default today), keeping its last good
    numbers and their date: ``make run`` calls it for a notebook that failed, so an old number is
    never shown as current (:func:`to_markdown` says "FAILED on ...; numbers below from ...")."""
    when = when or _dt.date.today().isoformat()

    def change(everything: dict) -> None:
        entry = everything.setdefault(notebook, {"date": None, "numbers": {}})
        entry["failed"] = when
    update(change, path)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def to_markdown(everything: dict) -> str:
    """Render the gathered results as Markdown tables, one section per notebook."""
    lines = ["# Workbook results", ""]
    for nb in sorted(everything):
        entry = everything[nb]
        lines += [f"## {nb}", ""]
        if entry.get("failed"):
            since = (f"numbers below from {entry['date']}" if entry.get("date")
                     else "no numbers recorded before")
            lines += [f"**FAILED on {entry['failed']}; {since}.**", ""]
        if entry.get("date"):
            lines += [(f"profile `{entry.get('profile')}` · {entry.get('hardware')} · "
                       f"{entry['date']}"), ""]
        scalars, tables = {}, {}
        for k, v in (entry.get("numbers") or {}).items():
            if isinstance(v, list) and v and all(isinstance(r, dict) for r in v):
                tables[k] = v
            elif isinstance(v, dict):
                for k2, v2 in v.items():
                    scalars[f"{k}.{k2}"] = v2
            else:
                scalars[k] = v
        if scalars:
            lines += ["| number | value |", "|---|---|"]
            lines += [f"| {k} | {_fmt(v)} |" for k, v in scalars.items()]
            lines.append("")
        for name, rows in tables.items():
            cols = list(dict.fromkeys(c for r in rows for c in r))
            lines += [f"**{name}**", "", "| " + " | ".join(cols) + " |",
                      "|" + "---|" * len(cols)]
            lines += ["| " + " | ".join(_fmt(r.get(c, "")) for c in cols) + " |" for r in rows]
            lines.append("")
    return "\n".join(lines)
