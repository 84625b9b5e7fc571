"""Install the workbook's helpers on Colab, once, at the tested versions (the setup cell).

The setup cell clones the repository, then runs::

    sys.path.insert(0, workbook)
    from tools.colab_setup import ensure_installed
    ensure_installed(workbook)

This runs before anything is installed, so it uses the standard library only. The install is
``pip install -c constraints-colab.txt -e <workbook>``: Colab's torch, kernel and front end are
kept (``python -m tools.colab constraints`` writes that file and says what it leaves out). A stamp
file in the clone, written only after pip succeeded, makes a second run skip the install; a failed
install leaves no stamp, so running the cell again retries it. When pip replaced a package this
session had already imported, the session must restart before the notebook goes on: the cell stops
with that advice.
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

DIST = "finetuning-embeddings-workbook"
CONSTRAINTS = "constraints-colab.txt"
STAMP = ".colab-installed"
FINGERPRINTED = ("pyproject.toml", CONSTRAINTS)
PIP_TAIL_LINES = 40
# Set in this process when pip replaced an imported package; a restart (a new process) clears it.
RESTART_PENDING = "WORKBOOK_COLAB_RESTART_PENDING"
RESTART_ADVICE = ("Colab must restart the session: Runtime > Restart session, then run this cell "
                  "again (it will skip the install).")


class InstallError(RuntimeError):
    """pip could not install the workbook; the message holds the end of pip's output."""


class RestartNeeded(RuntimeError):
    """pip replaced a package this Python process had already imported."""


def fingerprint(workbook: str | os.PathLike) -> str:
    """sha256 of pyproject.toml and constraints-colab.txt as they are now in ``workbook``."""
    h = hashlib.sha256()
    for name in FINGERPRINTED:
        h.update(name.encode() + b"\0")
        h.update((Path(workbook) / name).read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def is_installed(workbook: str | os.PathLike) -> bool:
    """The package is installed and the stamp matches the current pyproject.toml and pins."""
    try:
        metadata.distribution(DIST)
    except metadata.PackageNotFoundError:
        return False
    stamp = Path(workbook) / STAMP
    try:
        return stamp.read_text(encoding="utf-8").strip() == fingerprint(workbook)
    except OSError:
        return False


def pinned(constraints: str | os.PathLike) -> dict[str, str]:
    """{normalized distribution name: version} from a ``name==version`` constraints file."""
    pins = {}
    for line in Path(constraints).read_text(encoding="utf-8").splitlines():
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)", line)
        if m:
            pins[normalize(m.group(1))] = m.group(2)
    return pins


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _versions(names) -> dict[str, str | None]:
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def replaced_imports(before: dict[str, str | None], after: dict[str, str | None]) -> list[str]:
    """``"numpy 1.26.4 -> 2.0.2"`` for each distribution whose version pip changed and whose module
    this process has already imported (and still holds at another version than the new one)."""
    changed = {d: (before[d], after.get(d)) for d in before
               if before[d] is not None and after.get(d) != before[d]}
    if not changed:
        return []
    stale = []
    for module, dists in metadata.packages_distributions().items():
        loaded = sys.modules.get(module)
        if getattr(loaded, "__file__", None) is None:  # not imported, or a namespace shared by many
            continue
        for dist in {normalize(d) for d in dists} & changed.keys():
            old, new = changed[dist]
            if getattr(loaded, "__version__", None) != new:
                stale.append(f"{dist} {old} -> {new}")
    return sorted(set(stale))


def _tail(text: str, n: int = PIP_TAIL_LINES) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return "\n".join(lines[-n:])


def ensure_installed(workbook: str | os.PathLike, *, python: str = sys.executable,
                     run=subprocess.run, say=print) -> None:
    """Install the workbook's helpers into this Python unless the stamp says it is done.

    Raises :class:`InstallError` (pip's output in the message; run the cell again to retry) or
    :class:`RestartNeeded` (pip replaced a package this session had imported)."""
    workbook = Path(workbook)
    if os.environ.get(RESTART_PENDING):
        _restart(os.environ[RESTART_PENDING], say)
    if is_installed(workbook):
        say("workbook helpers already installed (stamp ok)")
        return
    constraints = workbook / CONSTRAINTS
    pins = pinned(constraints)
    before = _versions(pins)
    (workbook / STAMP).unlink(missing_ok=True)
    say("Installing the workbook helpers at the tested versions (Colab's torch is kept); "
        "this takes a minute or two...")
    start = time.perf_counter()
    cmd = [python, "-m", "pip", "install", "-q", "-c", str(constraints), "-e", str(workbook)]
    done = run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        # stdout, then stderr where pip's errors are (one merged pipe would reorder them: buffering)
        output = f"{done.stdout or ''}\n{done.stderr or ''}"
        raise InstallError(f"pip could not install the workbook helpers (exit status "
                           f"{done.returncode}); run this cell again to retry. The end of pip's "
                           f"output:\n{_tail(output)}")
    (workbook / STAMP).write_text(fingerprint(workbook) + "\n", encoding="utf-8")
    say(f"workbook helpers installed in {time.perf_counter() - start:.0f} s")
    stale = replaced_imports(before, _versions(pins))
    if stale:
        os.environ[RESTART_PENDING] = ", ".join(stale)
        _restart(os.environ[RESTART_PENDING], say)


def _restart(replaced: str, say) -> None:
    say(f"pip replaced {replaced} after this session imported it. {RESTART_ADVICE}")
    raise RestartNeeded(RESTART_ADVICE)
