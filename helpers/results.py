"""Each notebook records its headline numbers here; ``make run`` gathers them (introduced in
00_setup).

``record("03_fine_tuning", {"recall@10": 0.81, ...})`` merges into ``build/results.json`` (or the
file named by ``WORKBOOK_RESULTS``), stamped with the profile, the hardware and the date, so a
number is never separated from where it came from.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
from pathlib import Path

from . import paths


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


def load(path: str | os.PathLike | None = None) -> dict:
    """Everything recorded so far, ``{notebook: entry}``; empty when there is no (readable) file."""
    path = Path(path) if path else results_path()
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return {}


def record(notebook: str, numbers: dict, profile: str | None = None,
           path: str | os.PathLike | None = None) -> None:
    """Merge ``numbers`` under ``notebook`` in the results file (read it back with :func:`load`;
    introduced in 00_setup)."""
    from . import device, profiles

    path = Path(path) if path else results_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    everything = load(path)
    entry = {
        "profile": profiles.resolve(profile or "auto"),
        "hardware": device.detect().summary(),
        "date": _dt.date.today().isoformat(),
        "numbers": _clean(numbers),
    }
    everything[notebook] = entry
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(everything, indent=2, sort_keys=True), encoding="utf-8")
    tmp.replace(path)
    print(f"Recorded {len(numbers)} headline numbers for {notebook} in {paths.show(path)}")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def to_markdown(everything: dict) -> str:
    """Render the gathered results as Markdown tables, one section per notebook."""
    lines = ["# Workbook results", ""]
    for nb in sorted(everything):
        entry = everything[nb]
        lines += [f"## {nb}", "",
                  f"profile `{entry.get('profile')}` · {entry.get('hardware')} · "
                  f"{entry.get('date')}", ""]
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
