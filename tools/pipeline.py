"""Execute the notebooks: ``make run`` (into build/), ``make record`` (in place), and the smoke tests.

    python -m tools.pipeline run [NOTEBOOK ...]      # every lesson into build/notebooks/, results gathered
    python -m tools.pipeline record [NOTEBOOK ...]   # re-execute in place, cpu profile, metadata stripped
    python -m tools.pipeline record --first-run      # the same from an empty model cache: cpu_first_run
    python -m tools.pipeline times [--check]         # write every stated run time from run_times.json
    python -m tools.pipeline gpu-check [NOTEBOOK ...]  # gpu profile into build/gpu/, timed, on a GPU

One function, :func:`execute`, runs a notebook with papermill for all these uses, so CI,
``make run``, the committed outputs and the GPU check go through the same code path. Build tooling,
kept out of the ``helpers`` package that learners import; the run times it measures go to
``helpers.runtimes``.

``times`` writes the run times from ``notebooks/run_times.json`` alone, with ``runtimes.describe``:
the "How long it takes" line of every notebook's header cell, and the run-time column of the tables
between ``<!-- run-times: ... -->`` and ``<!-- /run-times -->`` in README.md and INSTRUCTORS.md.
Each rewrite is a pure function, ``render_notebook`` / ``render_readme`` / ``render_instructors``
(text in, text out), so ``tests/test_run_times.py`` checks agreement without writing anything.

``gpu-check`` executes the lessons one at a time in the gpu profile (WORKBOOK_PROFILE=gpu, as
``record`` sets cpu) into build/gpu/, never in place, and prints each notebook's seconds as it goes,
then a table (seconds, ok / FAILED / TIMEOUT / SKIPPED, GPU, precision, load average, models
trained) and whether the model cache (data/cache/models/) was cold: a cold cache means the times
include the training that later runs reuse. It goes on past a failing notebook and exits 1 if any
did not pass; it refuses (exit 2) when torch sees no CUDA GPU, unless --allow-cpu.
Stored in run_times.json (gpu profile, hardware = the GPU's summary line) after each notebook that
passed: on a CUDA GPU by default (--no-save: nothing), without one only with --save (the hardware
then says CPU); never for another --profile. build/gpu/gpu_check.json holds the same rows, written
after every notebook; --merge FILE stores such a file's times here (a run on a lent machine whose
tree is thrown away). Then ``times`` writes them into the headers, README and INSTRUCTORS, and
``record 00_setup`` refreshes notebook 00's committed run-time table.
--budget (default 540 s) keeps a run inside a 10-minute slot: no notebook starts once it is spent,
and a cell still running when it runs out fails its notebook (TIMEOUT); 0 means no limit.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import re
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from helpers import device, paths, profiles, results, runtimes

NOTEBOOKS_DIR = paths.NOTEBOOKS


def execute(source: Path, output: Path, profile: str | None = None, results: Path | None = None,
            timeout: int = 3600, parameters: dict | None = None,
            progress: str | None = None) -> float:
    """Run ``source`` top to bottom with papermill into ``output``; return the seconds it took.

    ``profile`` and ``results`` reach the kernel as WORKBOOK_PROFILE and WORKBOOK_RESULTS;
    ``parameters`` override the notebook's parameters cell (papermill's ``-p``). ``progress``: the
    text the caller printed on the current line; a status line (cell, elapsed time, the last
    progress bar) follows it while the notebook runs (``tools.progress``). The kernel talks over
    local sockets (no "running over TCP without encryption" warning).
    """
    import papermill as pm

    from tools.progress import IPCKernelManager, Progress

    saved = {k: os.environ.get(k) for k in ("WORKBOOK_PROFILE", "WORKBOOK_RESULTS", "PYDEVD_DISABLE_FILE_VALIDATION")}
    if profile:
        os.environ["WORKBOOK_PROFILE"] = profile
    if results:
        os.environ["WORKBOOK_RESULTS"] = str(Path(results).resolve())  # the kernel runs in notebooks/
    os.environ["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    status = contextlib.nullcontext()
    hooks: dict = {}
    if progress is not None:
        cells = json.loads(Path(source).read_text(encoding="utf-8"))["cells"]
        status = Progress(Path(source).stem, sum(c["cell_type"] == "code" for c in cells),
                          prefix=progress)
        hooks = status.hooks()
    try:
        with status:
            pm.execute_notebook(str(source), str(output), parameters=parameters or {},
                                kernel_name="python3", cwd=str(source.parent), progress_bar=False,
                                execution_timeout=timeout, log_output=False,
                                kernel_manager_class=IPCKernelManager, **hooks)
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
        return paths.lessons()
    chosen = []
    for name in names:
        p = Path(name)
        if not p.exists():
            p = NOTEBOOKS_DIR / name
        if not p.exists():
            matches = [nb for nb in paths.lessons() + paths.solutions() if nb.name.startswith(name)]
            if not matches:
                raise SystemExit(f"No notebook matches {name!r}.")
            p = matches[0]
        chosen.append(p.resolve())
    return chosen


def run(names: list[str], profile: str | None = None) -> int:
    """``make run``: execute lessons into build/notebooks/, gather results, print a summary. A
    notebook that fails keeps its last good numbers in results.json / results.md, marked "FAILED
    on <today>; numbers below from <their date>" (``results.mark_failed``)."""
    profile = profiles.resolve(profile or "auto")
    out_dir = paths.BUILD / "notebooks"
    res_path = paths.BUILD / "results.json"
    chosen = _pick(names)
    print(f"Executing {len(chosen)} notebook(s) with the {profile} profile into {paths.show(out_dir)}/")
    times, failed = {}, []
    for i, nb in enumerate(chosen, 1):
        line = f"[{i}/{len(chosen)}] {nb.name} ... "
        print(line, end="", flush=True)
        try:
            secs = execute(nb, out_dir / nb.relative_to(NOTEBOOKS_DIR), profile, res_path,
                           progress=line)
            times[nb.name] = secs
            print(f"done in {secs:.0f} s", flush=True)
        except Exception as exc:  # papermill raises PapermillExecutionError with the cell's error
            failed.append(nb.name)
            # its entry is marked at once, so its last good numbers are never shown as current
            results.mark_failed(nb.stem, res_path)
            print(f"FAILED ({type(exc).__name__}): see {paths.show(out_dir / nb.name)}; its "
                  f"numbers in {paths.show(res_path)} are marked as failed", flush=True)
            print(str(exc)[-2000:], file=sys.stderr)
    run_times = {"profile": profile, "date": _dt.date.today().isoformat(),
                 "hardware": device.detect().summary(),
                 "numbers": {k: round(v, 1) for k, v in times.items()}}
    everything = results.update(lambda e: e.__setitem__("_run_times", run_times), res_path)
    md = paths.BUILD / "results.md"
    paths.write_atomic(md, results.to_markdown(everything))
    total = sum(times.values())
    print(f"\n{len(times)} notebook(s) ran in {total / 60:.1f} min; {len(failed)} failed.")
    print(f"Executed notebooks: {paths.show(out_dir)}/")
    print(f"Headline numbers:   {paths.show(res_path)} and {paths.show(md)}")
    return 1 if failed else 0


def record(names: list[str], profile: str = "cpu", first_run: bool = False) -> int:
    """``make record``: re-execute notebooks in place so the committed outputs are true, and store
    each one's seconds and the load average at its end in ``run_times.json``.

    ``first_run``: cpu profile from an empty model cache, stored as ``cpu_first_run`` (the time a
    fresh clone pays, training included). When a lesson's time changed, notebook 00 runs once more
    at the end so its run-time table shows the file as saved (its second time is not stored).
    """
    chosen = _pick(names) if names else paths.lessons() + paths.solutions()
    key = profile
    if first_run:
        models = paths.cache_dir("models")
        if profile != "cpu" or any(models.iterdir()):
            raise SystemExit(f"--first-run measures the cpu profile from an empty model cache; "
                             f"move {paths.show(models)}/ away first.")
        key = runtimes.FIRST_RUN
    times, loads, failed = {}, {}, []
    for i, nb in enumerate(chosen, 1):
        line = f"[{i}/{len(chosen)}] recording {paths.show(nb)} ({key}) ... "
        print(line, end="", flush=True)
        name = nb.relative_to(NOTEBOOKS_DIR).as_posix()
        try:
            secs = execute(nb, nb, profile, paths.BUILD / "results.json", progress=line)
        except Exception as exc:  # papermill saved the notebook with the failing cell's error
            failed.append(name)
            print(f"FAILED ({type(exc).__name__}); its time is not stored", flush=True)
            print(str(exc)[-2000:], file=sys.stderr)
            strip(nb)
            continue
        times[name], loads[name] = secs, runtimes.load_average()
        strip(nb)
        print(f"done in {secs:.0f} s (load {loads[name]})", flush=True)
    if times:
        runtimes.save(times, key, device.detect().summary(), loads)
    if failed:
        print(f"{len(failed)} notebook(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    setup = NOTEBOOKS_DIR / "00_setup.ipynb"
    if setup.exists() and any(nb.parent == NOTEBOOKS_DIR for nb in chosen):
        print(f"re-running {paths.show(setup)} so its table shows the times just saved ...",
              flush=True)
        execute(setup, setup, profile, paths.BUILD / "results.json")
        strip(setup)
    return 0


# ---- gpu-check: every lesson in the gpu profile on a GPU, timed --------------------------------

GPU_OUT = paths.BUILD / "gpu"
GPU_SUMMARY = "gpu_check.json"
GPU_BUDGET = 540.0   # seconds: a whole check fits a 10-minute slot on a lent GPU machine
MIN_START = 20.0     # seconds of budget a notebook needs to be worth starting
NO_GPU = ("gpu-check: torch sees no CUDA GPU here (torch.cuda.is_available() is False); run it on "
          "a GPU machine, or add --allow-cpu to test the plumbing (times are then not stored "
          "unless --save).")


def _stores(profile: str, kind: str, save: bool | None) -> bool:
    """Whether gpu-check stores its times: gpu profile only; ``save`` None: only when measured on
    a CUDA GPU; True: also on a CPU; False: never."""
    return profile == "gpu" and (save if save is not None else kind == "cuda")


def _cached_runs() -> set[str]:
    """The trained models in the cache (``fine_tune`` writes ``data/cache/models/<key>/``; a
    folder whose name starts with a dot is a half-written one)."""
    return {p.name for p in paths.cache_dir("models").iterdir()
            if p.is_dir() and not p.name.startswith(".")}


def _cache_line(at_start: int, trained: int) -> str:
    where = paths.show(paths.cache_dir("models")) + "/"
    if not at_start:
        return (f"model cache {where}: cold at the start (empty), so these times include the "
                f"training; {trained} model(s) trained and cached now")
    return (f"model cache {where}: warm at the start ({at_start} cached run(s), reused where they "
            f"match); {trained} model(s) trained now")


def _gpu_table(rows: list[dict], info) -> str:
    gpu = runtimes.machine(info.summary())
    head = ["notebook", "seconds", "status", "GPU", "precision", "load", "trained"]
    body = [[r["notebook"], "-" if r["seconds"] is None else f"{r['seconds']:.1f}", r["status"],
             gpu, info.precision, "-" if r["load_avg"] is None else f"{r['load_avg']:.1f}",
             "-" if r["trained"] is None else str(r["trained"])] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    right = {1, 5, 6}
    fmt = lambda cells: "  ".join(c.rjust(w) if i in right else c.ljust(w)
                                  for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *map(fmt, body)])


def gpu_check(names: list[str], profile: str = "gpu", allow_cpu: bool = False,
              save: bool | None = None, budget: float = GPU_BUDGET,
              out_dir: Path | None = None) -> int:
    """``python -m tools.pipeline gpu-check``: execute lessons in the gpu profile into build/gpu/,
    one at a time, and time them; 0 when all passed, 1 when one did not, 2 when refused."""
    profile = profiles.resolve(profile)
    if save and profile != "gpu":
        print(f"gpu-check: --save stores gpu-profile times; this run uses the {profile} profile "
              "(drop --save or --profile).", file=sys.stderr)
        return 2
    info = device.detect()
    if info.kind != "cuda" and not allow_cpu:
        print(NO_GPU, file=sys.stderr)
        return 2
    out_dir = Path(out_dir or GPU_OUT).resolve()
    nb_dir = Path(NOTEBOOKS_DIR).resolve()
    if out_dir == nb_dir or nb_dir in out_dir.parents:
        print(f"gpu-check: --out {paths.show(out_dir)} lies in the notebooks; executed copies go "
              "elsewhere (default build/gpu/), never over the sources.", file=sys.stderr)
        return 2
    chosen = _pick(names)
    store = _stores(profile, info.kind, save)
    hardware = info.summary()
    before_all = _cached_runs()
    summary = {"profile": profile, "kind": info.kind, "hardware": hardware, "gpu": info.name,
               "precision": info.precision, "budget_s": budget or None,
               "cache_cold": not before_all, "cached_runs_at_start": len(before_all),
               "stored": store, "notebooks": []}
    rows = summary["notebooks"]
    summary_path = out_dir / GPU_SUMMARY
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"gpu-check: {len(chosen)} notebook(s), {profile} profile, into {paths.show(out_dir)}/ "
          f"on {hardware}" + (f"; budget {budget:.0f} s" if budget else ""), flush=True)
    print(f"model cache {paths.show(paths.cache_dir('models'))}/: "
          + (f"{len(before_all)} cached run(s)" if before_all else "cold (empty)"), flush=True)
    start = time.perf_counter()
    for i, nb in enumerate(chosen, 1):
        name = nb.relative_to(NOTEBOOKS_DIR).as_posix()
        row = {"notebook": name, "seconds": None, "status": "SKIPPED", "load_avg": None,
               "trained": None, "date": _dt.date.today().isoformat()}
        left = budget - (time.perf_counter() - start) if budget else None
        if left is not None and left < MIN_START:
            print(f"[{i}/{len(chosen)}] {name}: SKIPPED, the {budget:.0f} s budget is spent",
                  flush=True)
            rows.append(row)
            continue
        line = f"[{i}/{len(chosen)}] {name} ... "
        print(line, end="", flush=True)
        before = _cached_runs()
        t0 = time.perf_counter()
        try:
            secs = execute(nb, out_dir / name, profile, out_dir / "results.json",
                           timeout=int(left) if left is not None else 3600, progress=line)
            row["status"] = "ok"
        except Exception as exc:  # papermill saved the copy with the failing cell's error
            secs = time.perf_counter() - t0
            row["status"] = "TIMEOUT" if "timeout" in type(exc).__name__.lower() else "FAILED"
            print(f"{row['status']} ({type(exc).__name__}): see {paths.show(out_dir / name)}",
                  flush=True)
            print(str(exc)[-2000:], file=sys.stderr)
        row.update(seconds=round(secs, 1), load_avg=runtimes.load_average(),
                   trained=len(_cached_runs() - before), date=_dt.date.today().isoformat())
        rows.append(row)
        if row["status"] == "ok" and store:  # stored at once: a run killed later keeps it
            runtimes.save({name: secs}, profile, hardware, {name: row["load_avg"]})
        paths.write_atomic(summary_path, json.dumps(summary, indent=2) + "\n")
        elapsed = time.perf_counter() - start
        print(f"{row['status']} in {secs:.0f} s · {row['trained']} model(s) trained · load "
              f"{row['load_avg']} · {runtimes.duration(elapsed)} elapsed", flush=True)
    paths.write_atomic(summary_path, json.dumps(summary, indent=2) + "\n")
    trained = len(_cached_runs() - before_all)
    passed = [r for r in rows if r["status"] == "ok"]
    total = time.perf_counter() - start
    print(f"\ngpu-check, {profile} profile, on {hardware}")
    print(_cache_line(len(before_all), trained))
    print(_gpu_table(rows, info))
    counts = {s: sum(r["status"] == s for r in rows) for s in ("FAILED", "TIMEOUT", "SKIPPED")}
    print(f"{len(passed)} of {len(rows)} passed in {runtimes.duration(total)}"
          + "".join(f"; {n} {s}" for s, n in counts.items() if n))
    print(f"executed copies and {GPU_SUMMARY}: {paths.show(out_dir)}/")
    if store and passed:
        print(f"stored in {paths.show(runtimes.RUN_TIMES)} ({profile} profile): "
              f"{len(passed)} notebook(s). Next: python -m tools.pipeline times (headers, README, "
              "INSTRUCTORS), python -m tools.pipeline record 00_setup (notebook 00's table).")
    elif not store:
        why = ("--no-save" if save is False else f"the {profile} profile" if profile != "gpu"
               else "no CUDA GPU (--save stores it anyway)")
        print(f"not stored in {paths.show(runtimes.RUN_TIMES)}: {why}.")
    return 0 if len(passed) == len(rows) else 1


def merge_gpu_check(path: Path, save: bool | None = None) -> int:
    """``gpu-check --merge FILE``: store the times of the notebooks that passed in an earlier
    run's gpu_check.json (e.g. fetched from a lent GPU machine), with that run's hardware and
    dates; the same rule as the run itself decides whether they are stored."""
    summary = json.loads(Path(path).read_text(encoding="utf-8"))
    if not _stores(summary["profile"], summary["kind"], save):
        print(f"gpu-check --merge: {paths.show(path)} is a {summary['profile']}-profile run on "
              f"{summary['kind']}; only gpu-profile runs on a CUDA GPU are stored (--save stores "
              "a gpu-profile run made without one).", file=sys.stderr)
        return 2
    passed = [r for r in summary["notebooks"] if r["status"] == "ok"]
    for r in passed:
        runtimes.save({r["notebook"]: r["seconds"]}, summary["profile"], summary["hardware"],
                      {r["notebook"]: r.get("load_avg")}, date=r.get("date"))
    print(f"stored {len(passed)} {summary['profile']}-profile time(s) from {paths.show(path)} in "
          f"{paths.show(runtimes.RUN_TIMES)} ({runtimes.machine(summary['hardware'])})")
    return 0


# ---- times: every stated run time, written from run_times.json --------------------------------

REGION = re.compile(r"(<!-- run-times:[^>]*-->\n)(.*?)(^<!-- /run-times -->)",
                    re.DOTALL | re.MULTILINE)
CELL_SPLIT = re.compile(r"(?<!\\)\|")
NOTEBOOK_IN_CELL = re.compile(r"`(\d\d_\w+?)(?:\.ipynb)?`")


def render_notebook(text: str, name: str, measured: Mapping | None = None) -> str:
    """``text`` (a notebook's JSON) with its header's ``**How long it takes:**`` line written by
    ``runtimes.header_line(name)``; nothing else changes. No such line: ``text`` unchanged."""
    nb = json.loads(text)
    line = runtimes.header_line(name, measured=measured)
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        src = cell["source"]
        lines = src.splitlines(keepends=True) if isinstance(src, str) else list(src)
        for i, old in enumerate(lines):
            if old.startswith(runtimes.HEADER):
                new = line + ("\n" if old.endswith("\n") else "")
                if new == old:
                    return text
                lines[i] = new
                cell["source"] = "".join(lines) if isinstance(src, str) else lines
                return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"
    return text


def _render_region(text: str, footnote, measured: Mapping | None) -> str:
    """The table between the run-times markers with its "run time..." column written by
    ``runtimes.summary``, then ``footnote(names)`` if given; other lines in the region are dropped
    (the region holds the table and its generated footnote only)."""
    match = REGION.search(text)
    if not match:
        raise ValueError("no <!-- run-times: ... --> ... <!-- /run-times --> region")
    rows = [ln for ln in match[2].splitlines() if ln.startswith("|")]
    header = [c.strip().lower() for c in CELL_SPLIT.split(rows[0])] if rows else []
    col = next((i for i, c in enumerate(header) if c.startswith("run time")), None)
    if col is None:
        raise ValueError("the run-times table has no column whose header starts with 'run time'")
    seen: list[str] = []
    for r, row in enumerate(rows[2:], 2):
        cells = CELL_SPLIT.split(row)
        found = next((m[1] for i, c in enumerate(cells) if i != col
                      for m in [NOTEBOOK_IN_CELL.search(c)] if m), None)
        if found is None:
            continue
        name = found + ".ipynb"
        written = ("(already run)" if name in seen
                   else runtimes.summary(name, gpu=False, measured=measured))
        cells[col] = f" {written} "
        seen.append(name)
        rows[r] = "|".join(cells)
    body = "\n".join(rows) + "\n" + (f"\n{footnote(seen)}\n" if footnote else "")
    return text[:match.start(2)] + body + text[match.end(2):]


def _lessons_total(names: list[str], measured: Mapping | None) -> str:
    measured = runtimes.load() if measured is None else measured
    cpu = [measured[n]["cpu"]["seconds"] for n in names if "cpu" in measured.get(n, {})]
    text = (f"Added up, the {len(cpu)} lessons' cpu-profile times above come to "
            f"{runtimes.duration(sum(cpu))}")
    if len(cpu) < len(names):
        text += f" ({len(names) - len(cpu)} not measured)"
    first = [measured[n][runtimes.FIRST_RUN]["seconds"] for n in names
             if runtimes.FIRST_RUN in measured.get(n, {})]
    if first and len(first) == len(names):
        text += f"; their first-run times to about {max(1, round(sum(first) / 60))} min"
    return text + "."


def render_readme(text: str, measured: Mapping | None = None) -> str:
    """README.md with its lesson table's run-time column and the total under it written from
    ``run_times.json``."""
    return _render_region(text, lambda names: _lessons_total(names, measured), measured)


def render_instructors(text: str, measured: Mapping | None = None) -> str:
    """INSTRUCTORS.md with its agenda's run-time column written from ``run_times.json`` (a notebook
    named again in a later row reads "(already run)")."""
    return _render_region(text, None, measured)


def rewrite_times(root: Path | None = None, write: bool = True) -> list[Path]:
    """``make times``: rewrite every stated run time under ``root`` (default: this repository) from
    its ``notebooks/run_times.json``; return the files that changed (or would, ``write=False``)."""
    root = Path(root) if root else paths.ROOT
    nb_dir = root / "notebooks"
    measured = json.loads((nb_dir / "run_times.json").read_text(encoding="utf-8"))
    jobs = [(nb, lambda t, nb=nb: render_notebook(t, nb.relative_to(nb_dir).as_posix(), measured))
            for nb in paths.lessons(nb_dir) + paths.solutions(nb_dir)]
    jobs += [(root / "README.md", lambda t: render_readme(t, measured)),
             (root / "INSTRUCTORS.md", lambda t: render_instructors(t, measured))]
    changed = []
    for path, render in jobs:
        old = path.read_text(encoding="utf-8")
        new = render(old)
        if new != old:
            changed.append(path)
            if write:
                path.write_text(new, encoding="utf-8")
    verb = "rewrote" if write else "would rewrite"
    print(f"{verb} {len(changed)} of {len(jobs)} file(s)" + "".join(f"\n  {p}" for p in changed))
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["run", "record", "times", "gpu-check"])
    parser.add_argument("notebooks", nargs="*", help="file names or prefixes (default: every lesson)")
    parser.add_argument("--profile", default=None,
                        help="smoke, cpu, gpu or auto (gpu-check: gpu; another one, e.g. smoke "
                             "with --allow-cpu, checks the plumbing and is never stored)")
    parser.add_argument("--first-run", action="store_true",
                        help="record: from an empty model cache, stored as cpu_first_run")
    parser.add_argument("--check", action="store_true",
                        help="times: write nothing; exit 1 when a file disagrees with run_times.json")
    parser.add_argument("--root", type=Path, default=None,
                        help="times: a copy of the repository to rewrite instead of this one")
    parser.add_argument("--allow-cpu", action="store_true",
                        help="gpu-check: run even when torch sees no CUDA GPU (to test the "
                             "plumbing); its times are stored only with --save")
    parser.add_argument("--save", action=argparse.BooleanOptionalAction, default=None,
                        help="gpu-check: store the gpu-profile times in notebooks/run_times.json "
                             "(default: only when run on a CUDA GPU); --no-save stores nothing")
    parser.add_argument("--budget", type=float, default=GPU_BUDGET, metavar="SECONDS",
                        help="gpu-check: wall time for all notebooks (default %(default).0f): none "
                             "starts once it is spent, a cell running past it fails its notebook "
                             "(TIMEOUT); 0: no limit")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="gpu-check: where the executed copies, results.json and "
                             f"{GPU_SUMMARY} go (default build/gpu)")
    parser.add_argument("--merge", type=Path, default=None, metavar="FILE",
                        help=f"gpu-check: run nothing; store the times of an earlier run's "
                             f"{GPU_SUMMARY} (e.g. from a lent GPU machine) in run_times.json")
    args = parser.parse_args(argv)
    if args.command == "gpu-check":
        if args.merge:
            return merge_gpu_check(args.merge, args.save)
        return gpu_check(args.notebooks, args.profile or "gpu", args.allow_cpu, args.save,
                         args.budget, args.out)
    if args.command == "run":
        return run(args.notebooks, args.profile)
    if args.command == "times":
        changed = rewrite_times(args.root, write=not args.check)
        return 1 if args.check and changed else 0
    return record(args.notebooks, args.profile or "cpu", args.first_run)


if __name__ == "__main__":
    sys.exit(main())
