"""Run times: one source (``notebooks/run_times.json``), one formatter (``runtimes.describe``), and
every place that states a run time agrees with it: each notebook's "How long it takes" line,
README.md's lesson table, INSTRUCTORS.md's agenda and notebook 00's table.

A disagreement is fixed by ``make times`` (``python -m tools.pipeline times``) after ``make record``,
never by hand: the agreement tests below fail exactly when that rewrite would change a file.
"""
import json
import os
import re

import pytest

from helpers import paths, runtimes
from tools import pipeline

CPU = "CPU: AMD EPYC (cpu) · fp32 · batch 32 · 2 CPU cores"
T4 = "Tesla T4 (cuda, 15 GB, cc 7.5) · fp16 · batch 128 · 2 CPU cores · Colab"
FAKE = {
    "00_setup.ipynb": {"cpu": {"seconds": 84.4, "hardware": CPU, "date": "2026-11-29",
                               "load_avg": 1.1}},
    "03_fine_tuning.ipynb": {
        "cpu": {"seconds": 166.3, "hardware": CPU, "date": "2026-11-29", "load_avg": 0.4},
        "cpu_first_run": {"seconds": 470.0, "hardware": CPU, "date": "2026-11-28", "load_avg": 1.9},
        "gpu": {"seconds": 41.0, "hardware": T4, "date": "2026-11-30", "load_avg": 0.2}},
    # an entry from before load averages were stored
    "solutions/03_fine_tuning_solutions.ipynb": {"cpu": {"seconds": 403.4, "hardware": CPU,
                                                         "date": "2026-11-27"}},
}
CPU_HERE = "on CPU: AMD EPYC, 2 CPU cores"


def dump(nb: dict) -> str:
    """A notebook's JSON as the repository stores it."""
    return json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


@pytest.fixture()
def fake(tmp_path, monkeypatch):
    nb = tmp_path / "notebooks"
    (nb / "solutions").mkdir(parents=True)
    for name in ("00_setup.ipynb", "03_fine_tuning.ipynb"):
        (nb / name).write_text("{}")
    (nb / "run_times.json").write_text(json.dumps(FAKE), encoding="utf-8")
    monkeypatch.setattr(paths, "NOTEBOOKS", nb)
    monkeypatch.setattr(runtimes, "RUN_TIMES", nb / "run_times.json")
    return nb


# ---- the formatter ------------------------------------------------------------------------------

def test_describe_writes_seconds_minutes_hardware_and_load(fake):
    assert runtimes.describe("00_setup.ipynb") == (
        f"84 s (cpu profile, measured 2026-11-29 {CPU_HERE}, load 1.1)")
    assert runtimes.describe("03_fine_tuning.ipynb") == (
        f"2.8 min (cpu profile, measured 2026-11-29 {CPU_HERE}, load 0.4)")
    assert runtimes.describe("solutions/03_fine_tuning_solutions.ipynb") == (
        f"6.7 min (cpu profile, measured 2026-11-27 {CPU_HERE})")


def test_describe_says_what_was_not_measured(fake):
    assert runtimes.describe("07_unknown.ipynb") == "not measured"
    assert runtimes.describe("00_setup.ipynb", "smoke") == "not measured"
    assert runtimes.describe("00_setup.ipynb", "gpu") == "not measured on a GPU"
    assert runtimes.describe("03_fine_tuning.ipynb", "gpu") == (
        "41 s (gpu profile, measured 2026-11-30 on Tesla T4, Colab, load 0.2)")


def test_first_run_time(fake):
    assert runtimes.describe("03_fine_tuning.ipynb", runtimes.FIRST_RUN) == (
        "7.8 min the first time (measured, load 1.9)")
    other = {"03_fine_tuning.ipynb": {**FAKE["03_fine_tuning.ipynb"],
                                      "cpu_first_run": {"seconds": 30.0, "hardware": T4,
                                                        "date": "2026-11-28"}}}
    assert runtimes.describe("03_fine_tuning.ipynb", runtimes.FIRST_RUN, measured=other) == (
        "30 s the first time (measured on Tesla T4, Colab)")


@pytest.mark.parametrize("seconds, written", [(0.4, "0 s"), (84.4, "84 s"), (119.4, "119 s"),
                                              (119.6, "2.0 min"), (166.3, "2.8 min"),
                                              (1063.0, "17.7 min")])
def test_duration(seconds, written):
    assert runtimes.duration(seconds) == written


def test_header_line_for_a_lesson_and_a_solution(fake):
    assert runtimes.header_line("00_setup.ipynb") == (
        f"**How long it takes:** 84 s (cpu profile, measured 2026-11-29 {CPU_HERE}, load 1.1); "
        "not measured on a GPU.")
    assert runtimes.header_line("03_fine_tuning.ipynb") == (
        f"**How long it takes:** 2.8 min (cpu profile, measured 2026-11-29 {CPU_HERE}, load 0.4); "
        "7.8 min the first time (measured, load 1.9); "
        "41 s (gpu profile, measured 2026-11-30 on Tesla T4, Colab, load 0.2).")
    assert runtimes.header_line("solutions/03_fine_tuning_solutions.ipynb") == (
        f"**How long it takes:** 6.7 min (cpu profile, measured 2026-11-27 {CPU_HERE}); "
        "not measured on a GPU.")
    # a table cell leaves out the GPU unless it was measured
    assert runtimes.summary("00_setup.ipynb", gpu=False) == runtimes.describe("00_setup.ipynb")


def test_save_stores_the_load_average_per_notebook(tmp_path, monkeypatch):
    monkeypatch.setattr(runtimes, "RUN_TIMES", tmp_path / "run_times.json")
    runtimes.save({"a.ipynb": 10.04, "b.ipynb": 20.0}, "cpu", CPU, {"a.ipynb": 1.26, "b.ipynb": None})
    runtimes.save({"c.ipynb": 5.0}, "gpu", T4, 0.3)
    runtimes.save({"d.ipynb": 5.0}, "cpu", CPU)
    stored = runtimes.load()
    assert stored["a.ipynb"]["cpu"] == {"seconds": 10.0, "hardware": CPU, "load_avg": 1.3,
                                        "date": stored["a.ipynb"]["cpu"]["date"]}
    assert "load_avg" not in stored["b.ipynb"]["cpu"] and "load_avg" not in stored["d.ipynb"]["cpu"]
    assert stored["c.ipynb"]["gpu"]["load_avg"] == 0.3


def test_the_table_shows_a_first_run_column_once_one_was_measured(fake):
    table = runtimes.table().set_index("notebook")
    assert table.loc["03_fine_tuning.ipynb", "cpu first run (min)"] == 7.8
    assert table.loc["00_setup.ipynb", "cpu first run (min)"] == "not measured"


def test_record_stores_each_notebooks_seconds_and_load_and_reruns_00(fake, monkeypatch):
    calls = []
    monkeypatch.setattr(pipeline, "NOTEBOOKS_DIR", fake)
    monkeypatch.setattr(pipeline, "execute",
                        lambda src, out, *a, **k: calls.append(src.name) or 12.0)
    monkeypatch.setattr(pipeline, "strip", lambda path: None)
    fake_device = type("Device", (), {"summary": lambda self: CPU})()
    monkeypatch.setattr(pipeline.device, "detect", lambda: fake_device)
    monkeypatch.setattr(os, "getloadavg", lambda: (1.26, 0.5, 0.4))
    assert pipeline.record(["03_fine_tuning.ipynb"]) == 0
    entry = runtimes.load()["03_fine_tuning.ipynb"]["cpu"]
    assert (entry["seconds"], entry["load_avg"], entry["hardware"]) == (12.0, 1.3, CPU)
    assert calls == ["03_fine_tuning.ipynb", "00_setup.ipynb"]  # 00 again: its table is fresh


# ---- the rewrite, as pure functions ------------------------------------------------------------

HEADER_CELL = ["# 03 Fine-tuning\n", "\n", "**What you need:** no GPU.\n", "\n",
               "**How long it takes:** about 8 minutes, or under a minute on a Colab T4.\n", "\n",
               "Next line.\n"]


def fake_notebook(source=HEADER_CELL) -> dict:
    return {"cells": [{"cell_type": "markdown", "metadata": {}, "source": list(source)},
                      {"cell_type": "code", "execution_count": 1, "metadata": {},
                       "outputs": [{"name": "stdout", "output_type": "stream", "text": ["ok\n"]}],
                       "source": ["print('ok')"]}],
            "metadata": {"kernelspec": {"name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}


def test_render_notebook_rewrites_only_the_header_line(fake):
    before = fake_notebook()
    text = pipeline.render_notebook(dump(before), "03_fine_tuning.ipynb")
    after = json.loads(text)
    expected = fake_notebook()
    expected["cells"][0]["source"][4] = runtimes.header_line("03_fine_tuning.ipynb") + "\n"
    assert after == expected and text == dump(expected)
    assert pipeline.render_notebook(text, "03_fine_tuning.ipynb") == text  # idempotent


def test_render_notebook_with_a_string_source_or_no_header(fake):
    nb = fake_notebook()
    nb["cells"][0]["source"] = "".join(HEADER_CELL)
    after = json.loads(pipeline.render_notebook(dump(nb), "00_setup.ipynb"))
    assert after["cells"][0]["source"].replace(runtimes.header_line("00_setup.ipynb"), "X") == (
        "".join(HEADER_CELL).replace(HEADER_CELL[4].rstrip("\n"), "X"))
    bare = dump(fake_notebook(["# no header here\n"]))
    assert pipeline.render_notebook(bare, "00_setup.ipynb") == bare


README = """# Title

<!-- run-times: generated by python -m tools.pipeline times from notebooks/run_times.json -->
| notebook | what it teaches | run time (measured) |
|---|---|---|
| `00_setup` | setup | 9 s |
| `03_fine_tuning` | MNRL | about 8 min, estimated |
| `05_other` | not measured yet | 1 min |

Summed, a first `make run` takes about 40 minutes.
<!-- /run-times -->

After.
"""

AGENDA = """Before.

<!-- run-times: generated by python -m tools.pipeline times from notebooks/run_times.json -->
| time | block | notebook | run time, 2-core CPU | while it runs |
|---|---|---|---|---|
| 0:00 | Welcome | `00_setup` | 9 s | check |
| 1:05 | Fine-tuning | `03_fine_tuning` | 8 min | **start it first** |
| 1:45 | Break | `03_fine_tuning` still running | 3 min | break |
| 2:00 | Talk | (none) | - | - |
<!-- /run-times -->
After.
"""


def test_render_readme_writes_the_column_and_the_total(fake):
    text = pipeline.render_readme(README)
    rows = text.splitlines()
    assert rows[5] == f"| `00_setup` | setup | {runtimes.describe('00_setup.ipynb')} |"
    cell = runtimes.summary("03_fine_tuning.ipynb", gpu=False)
    assert rows[6] == f"| `03_fine_tuning` | MNRL | {cell} |"
    assert "41 s (gpu profile" in rows[6]  # measured, so shown
    assert rows[7] == "| `05_other` | not measured yet | not measured |"
    assert "40 minutes" not in text
    assert "Added up, the 2 lessons' cpu-profile times above come to 4.2 min (1 not measured)." in text
    assert text.startswith("# Title\n\n<!-- run-times:")
    assert text.endswith("<!-- /run-times -->\n\nAfter.\n")
    assert pipeline.render_readme(text) == text


def test_render_instructors_writes_the_column_once_per_notebook(fake):
    text = pipeline.render_instructors(AGENDA)
    rows = text.splitlines()
    assert rows[5] == f"| 0:00 | Welcome | `00_setup` | {runtimes.describe('00_setup.ipynb')} | check |"
    assert "| `03_fine_tuning` | 2.8 min (cpu profile" in rows[6]
    assert rows[6].endswith("| **start it first** |")
    assert rows[7] == "| 1:45 | Break | `03_fine_tuning` still running | (already run) | break |"
    assert rows[8] == "| 2:00 | Talk | (none) | - | - |"
    assert text.endswith("<!-- /run-times -->\nAfter.\n") and pipeline.render_instructors(text) == text


def test_a_document_without_the_markers_is_an_error(fake):
    with pytest.raises(ValueError, match="run-times"):
        pipeline.render_readme("| notebook | run time |\n|---|---|\n| `00_setup` | 9 s |\n")


def test_rewrite_times_on_a_copy_writes_only_with_write(fake, tmp_path):
    root = fake.parent
    (root / "README.md").write_text(README, encoding="utf-8")
    (root / "INSTRUCTORS.md").write_text(AGENDA, encoding="utf-8")
    for name in ("00_setup.ipynb", "03_fine_tuning.ipynb"):
        (fake / name).write_text(dump(fake_notebook()), encoding="utf-8")
    assert len(pipeline.rewrite_times(root, write=False)) == 4
    assert (root / "README.md").read_text(encoding="utf-8") == README
    assert len(pipeline.rewrite_times(root)) == 4 and pipeline.rewrite_times(root) == []


# ---- no GPU time unless one was measured ------------------------------------------------------

DURATION = re.compile(r"\b(?:\d+(?:\.\d+)?|an?|one|few)\s*"
                      r"(?:s|secs?|seconds?|mins?|minutes?|h|hours?)\b", re.IGNORECASE)
GPU_WORD = re.compile(r"\b(?:T4|A100|H100|H200|L4|V100|GPUs?|cuda|Colab)\b", re.IGNORECASE)


def gpu_time_claims(line: str) -> list[str]:
    """The clauses of a header line (split at ; and ,) that name a GPU next to a duration."""
    return [c.strip() for c in re.split(r"[;,]", line) if GPU_WORD.search(c) and DURATION.search(c)]


OLD_00_SOLUTIONS = ("**How long it takes:** under a minute on a laptop CPU (cpu profile), under a "
                    "minute on a Colab T4 (gpu profile).")
GENERATED = (f"**How long it takes:** 2.8 min (cpu profile, measured 2026-11-29 {CPU_HERE}, "
             "load 0.4); not measured on a GPU.")


@pytest.mark.parametrize("line, claims", [
    (OLD_00_SOLUTIONS, True),
    ("**How long it takes:** about 5 minutes on a T4.", True),
    (GENERATED, False),
    ("**How long it takes:** 9 s (cpu profile); not measured on a Colab T4 (gpu profile).", False),
])
def test_gpu_time_claims(line, claims):
    assert bool(gpu_time_claims(line)) is claims


# ---- the committed files agree with notebooks/run_times.json -----------------------------------

NOTEBOOKS = paths.lessons() + paths.solutions()


def name_of(path) -> str:
    return path.relative_to(paths.NOTEBOOKS).as_posix()


def header_lines(path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [line for c in cells if c["cell_type"] == "markdown"
            for line in "".join(c["source"]).splitlines() if line.startswith(runtimes.HEADER)]


HOW_TO_FIX = "; run `make times` (python -m tools.pipeline times) after `make record`"


def test_every_notebook_has_a_cpu_entry():
    measured = runtimes.load()
    missing = [name_of(p) for p in NOTEBOOKS if "cpu" not in measured.get(name_of(p), {})]
    assert NOTEBOOKS and not missing, f"no cpu run time in run_times.json for {missing}; run make record"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=name_of)
def test_each_notebook_has_one_header_line(path):
    assert len(header_lines(path)) == 1, f"{name_of(path)}: expected one '{runtimes.HEADER}' line"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=name_of)
def test_the_header_line_agrees_with_run_times_json(path):
    text = path.read_text(encoding="utf-8")
    assert pipeline.render_notebook(text, name_of(path)) == text, (
        f"{name_of(path)}: {header_lines(path)} should read {runtimes.header_line(name_of(path))!r}"
        + HOW_TO_FIX)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=name_of)
def test_no_header_claims_an_unmeasured_gpu_time(path):
    if "gpu" in runtimes.load().get(name_of(path), {}):
        return
    claims = [c for line in header_lines(path) for c in gpu_time_claims(line)]
    assert not claims, f"{name_of(path)} states a GPU time run_times.json does not hold: {claims}"


@pytest.mark.parametrize("doc, render", [("README.md", pipeline.render_readme),
                                         ("INSTRUCTORS.md", pipeline.render_instructors)])
def test_the_run_time_tables_agree_with_run_times_json(doc, render):
    text = (paths.ROOT / doc).read_text(encoding="utf-8")
    assert render(text) == text, f"{doc}'s run-time table disagrees with run_times.json" + HOW_TO_FIX


def test_notebook_00s_table_shows_run_times_json():
    cells = json.loads((paths.NOTEBOOKS / "00_setup.ipynb").read_text(encoding="utf-8"))["cells"]
    [cell] = [c for c in cells if c["cell_type"] == "code" and "runtimes.table()" in "".join(c["source"])]
    html = "".join("".join(o["data"]["text/html"]) for o in cell["outputs"]
                   if "text/html" in o.get("data", {}))
    shown = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", html, re.DOTALL)]
    table = runtimes.table()
    assert [r for r in shown if r] == [[str(v) for v in row] for row in table.values.tolist()], (
        "notebook 00's committed table is not run_times.json's; `make record` re-runs 00 last")
    assert re.findall(r"<th>(.*?)</th>", html)[1:len(table.columns) + 1] == list(table.columns)
