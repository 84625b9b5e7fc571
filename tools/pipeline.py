"""Execute the notebooks: ``make run`` (into build/), ``make record`` (in place), and the smoke tests.

    python -m tools.pipeline run [NOTEBOOK ...]      # every lesson into build/notebooks/, results gathered
    python -m tools.pipeline record [NOTEBOOK ...]   # re-execute in place, cpu profile, metadata stripped

One function, :func:`execute`, runs a notebook with papermill for all three uses, so CI, ``make run``
and the committed outputs go through the same code path. Build tooling, kept out of the ``helpers``
package that learners import; the run times it measures go to ``helpers.runtimes``.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
import time
from pathlib import Path

from helpers import device, paths, profiles, results, runtimes

NOTEBOOKS_DIR = paths.NOTEBOOKS
lessons = paths.lessons
solutions = paths.solutions


def execute(source: Path, output: Path, profile: str | None = None, results: Path | None = None,
            timeout: int = 3600, parameters: dict | None = None) -> float:
    """Run ``source`` top to bottom with papermill into ``output``; return the seconds it took.

    ``profile`` and ``results`` reach the kernel as WORKBOOK_PROFILE and WORKBOOK_RESULTS;
    ``parameters`` override the notebook's parameters cell (papermill's ``-p``).
    """
    import papermill as pm

    saved = {k: os.environ.get(k) for k in ("WORKBOOK_PROFILE", "WORKBOOK_RESULTS", "PYDEVD_DISABLE_FILE_VALIDATION")}
    if profile:
        os.environ["WORKBOOK_PROFILE"] = profile
    if results:
        os.environ["WORKBOOK_RESULTS"] = str(Path(results).resolve())  # the kernel runs in notebooks/
    os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        pm.execute_notebook(str(source), str(output), parameters=parameters or {}, kernel_name="python3",
                            cwd=str(source.parent), progress_bar=False, execution_timeout=timeout,
                            log_output=False)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return time.perf_counter() - start


def strip(path: Path) -> None:
    """Remove execution metadata noise (papermill timings, widget state) but keep outputs and counts."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    nb["metadata"].pop("papermill", None)
    nb["metadata"].pop("widgets", None)
    for cell in nb["cells"]:
        meta = cell.get("metadata", {})
        for key in ("papermill", "execution", "ExecuteTime", "collapsed", "scrolled"):
            meta.pop(key, None)
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            # A live widget cannot be stored without its state; keep its plain-text stand-in.
            if "application/vnd.jupyter.widget-view+json" in data and "text/plain" in data:
                del data["application/vnd.jupyter.widget-view+json"]
    path.write_text(json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _pick(names: list[str]) -> list[Path]:
    if not names:
        return lessons()
    chosen = []
    for name in names:
        p = Path(name)
        if not p.exists():
            p = NOTEBOOKS_DIR / name
        if not p.exists():
            matches = [nb for nb in lessons() + solutions() if nb.name.startswith(name)]
            if not matches:
                raise SystemExit(f"No notebook matches {name!r}.")
            p = matches[0]
        chosen.append(p.resolve())
    return chosen


def run(names: list[str], profile: str | None = None) -> int:
    """``make run``: execute lessons into build/notebooks/, gather results, print a summary."""
    profile = profiles.resolve(profile or "auto")
    out_dir = paths.BUILD / "notebooks"
    res_path = paths.BUILD / "results.json"
    chosen = _pick(names)
    print(f"Executing {len(chosen)} notebook(s) with the {profile} profile into {paths.show(out_dir)}/")
    times, failed = {}, []
    for i, nb in enumerate(chosen, 1):
        print(f"[{i}/{len(chosen)}] {nb.name} ...", end=" ", flush=True)
        try:
            secs = execute(nb, out_dir / nb.relative_to(NOTEBOOKS_DIR), profile, res_path)
            times[nb.name] = secs
            print(f"done in {secs:.0f} s", flush=True)
        except Exception as exc:  # papermill raises PapermillExecutionError with the cell's error
            failed.append(nb.name)
            print(f"FAILED ({type(exc).__name__}): see {paths.show(out_dir / nb.name)}", flush=True)
            print(str(exc)[-2000:], file=sys.stderr)
    everything = results.load(res_path)
    everything["_run_times"] = {"profile": profile, "date": _dt.date.today().isoformat(),
                                "hardware": device.detect().summary(),
                                "numbers": {k: round(v, 1) for k, v in times.items()}}
    res_path.parent.mkdir(parents=True, exist_ok=True)
    res_path.write_text(json.dumps(everything, indent=2, sort_keys=True), encoding="utf-8")
    md = paths.BUILD / "results.md"
    md.write_text(results.to_markdown(everything), encoding="utf-8")
    total = sum(times.values())
    print(f"\n{len(times)} notebook(s) ran in {total / 60:.1f} min; {len(failed)} failed.")
    print(f"Executed notebooks: {paths.show(out_dir)}/")
    print(f"Headline numbers:   {paths.show(res_path)} and {paths.show(md)}")
    return 1 if failed else 0


def record(names: list[str], profile: str = "cpu") -> int:
    """``make record``: re-execute notebooks in place so the committed outputs are true."""
    chosen = _pick(names) if names else lessons() + solutions()
    times = {}
    for i, nb in enumerate(chosen, 1):
        print(f"[{i}/{len(chosen)}] recording {paths.show(nb)} ({profile}) ...", end=" ", flush=True)
        secs = execute(nb, nb, profile, paths.BUILD / "results.json")
        strip(nb)
        times[str(nb.relative_to(NOTEBOOKS_DIR))] = secs
        print(f"done in {secs:.0f} s", flush=True)
    runtimes.save(times, profile, device.detect().summary())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "record"])
    parser.add_argument("notebooks", nargs="*", help="file names or prefixes (default: every lesson)")
    parser.add_argument("--profile", default=None, help="smoke, cpu, gpu or auto")
    args = parser.parse_args(argv)
    if args.command == "run":
        return run(args.notebooks, args.profile)
    return record(args.notebooks, args.profile or "cpu")


if __name__ == "__main__":
    sys.exit(main())
