"""The fp16 / bf16 / fp32 code paths and the gpu-check command, on faked devices, without a GPU.

``helpers.device`` holds the one precision rule (bf16 from compute capability 8.0, fp16 from 7.0,
else fp32); ``helpers.training`` turns it into the Trainer's arguments and the cache key;
``helpers.costs`` and notebook 07 read it for the GPUs in ``device.GPUS``. ``python -m
tools.pipeline gpu-check`` executes the lessons in the gpu profile on a GPU: here papermill is
replaced by a fake, so its plumbing (refusal, outputs, stored times, failures, budget, cache state)
runs in well under a second and never touches the real notebooks/run_times.json or build/.
(test_foundation and test_training check the T4 / A100 / K80 / MPS / CPU precision and the CPU
arguments; test_run_times the formatter and ``record``.)
"""
from __future__ import annotations

import json
import os
import types

import pytest

from helpers import costs, device, paths, profiles, runtimes, training
from tools import pipeline

# ---- devices -------------------------------------------------------------------------------------

# name: (from_specs arguments, precision, fp16, bf16, batch advice)
DEVICES = {
    "T4": (("cuda", "Tesla T4", 15.0, (7, 5), 2, True), "fp16", True, False, 128),
    "A100": (("cuda", "NVIDIA A100-SXM4-40GB", 40.0, (8, 0), 8), "bf16", True, True, 256),
    "H200": (("cuda", "NVIDIA H200", 139.8, (9, 0), 16), "bf16", True, True, 256),
    "GTX 1080 (cc 6.1)": (("cuda", "NVIDIA GeForce GTX 1080", 8.0, (6, 1), 4), "fp32", False,
                          False, 64),
    "MPS": (("mps", "Apple MPS", None, None, 8), "fp32", False, False, 64),
    "CPU": (("cpu", "CPU: test", None, None, 2), "fp32", False, False, 32),
    "CPU with bf16 units": (("cpu", "CPU: test", None, None, 2, False, True), "bf16", False, True,
                            32),
}


def make(name: str) -> device.DeviceInfo:
    return device.from_specs(*DEVICES[name][0])


@pytest.mark.parametrize("name", DEVICES)
def test_from_specs_flags_precision_and_batch_advice(name):
    _, precision, fp16, bf16, batch = DEVICES[name]
    info = make(name)
    assert (info.precision, info.fp16, info.bf16, info.batch_size) == (precision, fp16, bf16, batch)
    assert f"· {precision} ·" in info.summary()  # every recorded run time says its precision


@pytest.mark.parametrize("cc, precision", [
    (None, "fp32"), ((5, 2), "fp32"), ((6, 0), "fp32"), ((6, 1), "fp32"), ((7, 0), "fp16"),
    ((7, 5), "fp16"), ((8, 0), "bf16"), ((8, 6), "bf16"), ((8, 9), "bf16"), ((9, 0), "bf16"),
    ((10, 0), "bf16"), ((12, 0), "bf16"), ([8, 0], "bf16"),  # a list, as a JSON round trip gives
])
def test_the_precision_rule_at_every_compute_capability(cc, precision):
    assert device.from_specs("cuda", "GPU", 16.0, cc).precision == precision


# /proc/cpuinfo excerpts: an x86 line with AVX512-BF16 (this workbook's AMD EPYC), one with AMX, one
# with AVX-512 but no native bf16 (Skylake-X), an Arm Features line with and without BF16.
CPUINFO = {
    "EPYC": "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_bf16 avx512_vnni\n",
    "Sapphire Rapids": "flags\t: avx512f avx512bw amx_bf16 amx_tile amx_int8\n",
    "Skylake-X": "flags\t: fpu sse2 avx2 avx512f avx512bw avx512vl avx512dq\n",
    "Graviton3": "Features\t: fp asimd sve bf16 i8mm\n",
    "Graviton2": "Features\t: fp asimd atomics\n",
    "none": "",
}


@pytest.mark.parametrize("cpu, onednn, expected", [
    ("EPYC", True, True), ("Sapphire Rapids", True, True), ("Graviton3", True, True),
    ("Skylake-X", True, False),   # AVX-512 alone emulates bf16: slower than fp32
    ("Graviton2", True, False), ("none", True, False),
    ("EPYC", False, False),       # a torch without oneDNN bf16 kernels: fp32
])
def test_cpu_bf16_needs_native_units_and_onednn(cpu, onednn, expected, monkeypatch):
    monkeypatch.delenv("WORKBOOK_CPU_BF16", raising=False)
    flags = device.cpu_flags(CPUINFO[cpu])
    assert device.cpu_has_bf16(flags, onednn_bf16=onednn) is expected
    info = device.from_specs("cpu", "CPU: test", cpu_cores=2, cpu_bf16=expected)
    assert info.precision == ("bf16" if expected else "fp32") and info.bf16 is expected
    assert ("bf16 units" in info.summary()) is expected
    assert ("runs in bf16" if expected else "runs in fp32") in info.advice()


def test_cpu_bf16_override_and_detect(monkeypatch):
    flags = device.cpu_flags(CPUINFO["EPYC"])
    monkeypatch.setenv("WORKBOOK_CPU_BF16", "0")
    assert device.cpu_has_bf16(flags, onednn_bf16=True) is False
    monkeypatch.setenv("WORKBOOK_CPU_BF16", "1")
    assert device.cpu_has_bf16(device.cpu_flags(CPUINFO["Skylake-X"]), onednn_bf16=False) is True
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("WORKBOOK_CPU_BF16", "0")
    assert device.detect(refresh=True).precision == "fp32"
    monkeypatch.setenv("WORKBOOK_CPU_BF16", "1")
    assert device.detect(refresh=True).precision == "bf16"
    monkeypatch.delenv("WORKBOOK_CPU_BF16")
    device.detect(refresh=True)  # back to this machine's own answer


def test_a_cpu_bf16_summary_still_gives_the_short_machine_name():
    info = device.from_specs("cpu", "CPU: AMD EPYC", cpu_cores=2, cpu_bf16=True)
    assert runtimes.machine(info.summary()) == "CPU: AMD EPYC, 2 CPU cores"


@pytest.mark.parametrize("gpu, precision", [("T4", "fp16"), ("A100", "bf16"), ("H200", "bf16")])
def test_gpu_advice_for_the_named_gpus(gpu, precision):
    assert device.gpu(gpu).precision == precision and device.gpu(gpu).kind == "cuda"


def fake_cuda(monkeypatch, name: str, memory_gib: float, cc: tuple[int, int]) -> None:
    """torch as a machine with one CUDA GPU would answer it."""
    import torch

    props = types.SimpleNamespace(name=name, total_memory=int(memory_gib * 1024**3),
                                  major=cc[0], minor=cc[1])
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index=0: props)
    monkeypatch.setattr(device, "_CACHED", None)


def test_detect_on_a_faked_h200(monkeypatch):
    fake_cuda(monkeypatch, "NVIDIA H200", 139.8, (9, 0))
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    info = device.detect(refresh=True)
    assert (info.kind, info.precision, info.batch_size, info.compute_capability) == (
        "cuda", "bf16", 256, (9, 0))
    assert info.summary().startswith("NVIDIA H200 (cuda, 140 GB, cc 9.0) · bf16 · batch 256 · ")
    assert runtimes.machine(info.summary()) == "NVIDIA H200"  # the name run_times.json shows
    monkeypatch.delenv("WORKBOOK_PROFILE", raising=False)
    assert profiles.resolve("auto") == "gpu"


def test_detect_on_a_faked_colab_t4(monkeypatch):
    fake_cuda(monkeypatch, "Tesla T4", 14.7, (7, 5))
    monkeypatch.setenv("COLAB_RELEASE_TAG", "test")
    info = device.detect(refresh=True)
    assert (info.precision, info.fp16, info.bf16, info.is_colab) == ("fp16", True, False, True)
    assert runtimes.machine(info.summary()) == "Tesla T4, Colab"


# ---- the Trainer's arguments ---------------------------------------------------------------------

@pytest.fixture()
def bf16_gpu(monkeypatch):
    """transformers refuses bf16=True unless torch sees a bf16 GPU: make it see one."""
    import transformers.training_args as ta
    monkeypatch.setattr(ta, "is_torch_bf16_gpu_available", lambda: True)


@pytest.mark.parametrize("name", DEVICES)
def test_build_args_for_each_device(name, tmp_path, bf16_gpu):
    _, precision, *_ = DEVICES[name]
    info = make(name)
    settings = training.resolve_settings("gpu")
    args = training.build_args(tmp_path, settings, info)
    assert (args.fp16, args.bf16) == (precision == "fp16", precision == "bf16")
    assert args.mixed_precision == {"fp16": "fp16", "bf16": "bf16"}.get(precision, "no")
    assert args.use_cpu == (info.kind == "cpu")
    assert args.dataloader_pin_memory == (info.kind != "cpu")  # transformers turns it off on CPU
    assert args.tf32 is None  # left to torch's default; only the precision flags change
    # the batch is the profile's (the gpu profile: 128), not the device's advice
    assert args.per_device_train_batch_size == profiles.get("gpu").batch_size == 128
    assert args.dataloader_num_workers == 0 and args.learning_rate == 2e-4


@pytest.mark.parametrize("name, override, fp16, bf16", [
    ("H200", "fp32", False, False),   # an explicit fp32 beats the device's bf16
    ("A100", "fp16", True, False),
    ("T4", "fp32", False, False),
    ("CPU", "bf16", False, True),     # bf16 autocast on a CPU with AMX (the guide's measurement)
])
def test_a_precision_setting_overrides_the_device(name, override, fp16, bf16, tmp_path, bf16_gpu):
    args = training.build_args(tmp_path, training.resolve_settings("cpu", precision=override),
                               make(name))
    assert (args.fp16, args.bf16) == (fp16, bf16)
    assert args.use_cpu == (name == "CPU")


def test_without_a_bf16_gpu_transformers_refuses_bf16_arguments(tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ValueError, match="bf16"):
        training.build_args(tmp_path, training.resolve_settings("gpu"), make("H200"))


class FakeModel:
    """Just enough of a SentenceTransformer for fine_tune to build its plan."""
    max_seq_length = 128
    tokenizer = object()
    workbook_name = "fake"

    def encode(self, texts):
        raise AssertionError("not called")

    def state_dict(self):
        import torch
        return {"w": torch.zeros(2)}


@pytest.fixture()
def plans(tmp_path, monkeypatch):
    """fine_tune up to the point where it would train: the plans it hands to train_now."""
    from helpers.training import tune

    monkeypatch.setenv("WORKBOOK_CACHE", str(tmp_path / "cache"))
    seen = []

    def train_now(plan):
        seen.append(plan)
        return types.SimpleNamespace(key="", path=None)

    monkeypatch.setattr(tune, "train_now", train_now)
    monkeypatch.setattr(tune, "save_run", lambda run, folder: None)
    return seen


@pytest.mark.parametrize("name, override, expected", [
    ("T4", None, "fp16"), ("H200", None, "bf16"), ("GTX 1080 (cc 6.1)", None, "fp32"),
    ("CPU", None, "fp32"), ("H200", "fp32", "fp32"),
])
def test_fine_tune_trains_and_caches_in_the_devices_precision(name, override, expected, plans,
                                                              monkeypatch, tmp_path, bf16_gpu):
    import datasets

    info = make(name)
    monkeypatch.setattr(device, "detect", lambda refresh=False: info)
    pairs = datasets.Dataset.from_dict({"anchor": ["a one", "a two"], "positive": ["p1", "p2"]})
    overrides = {"precision": override} if override else {}
    training.fine_tune(FakeModel(), pairs, profile="gpu", verbose=False, max_seq_length=16,
                       **overrides)
    [plan] = plans
    assert (plan.config["precision"], plan.config["device"], plan.info) == (expected, info.kind,
                                                                           info)
    args = training.build_args(tmp_path, plan.settings, plan.info)
    assert (args.fp16, args.bf16) == (expected == "fp16", expected == "bf16")


def test_another_precision_is_another_cache_entry(plans, monkeypatch):
    import datasets

    from helpers.training import cache

    pairs = datasets.Dataset.from_dict({"anchor": ["a one", "a two"], "positive": ["p1", "p2"]})
    for name in ("T4", "A100", "H200"):
        info = make(name)
        monkeypatch.setattr(device, "detect", lambda refresh=False, info=info: info)
        training.fine_tune(FakeModel(), pairs, profile="gpu", verbose=False, max_seq_length=16)
    keys = [cache.cache_key(p.config) for p in plans]
    assert keys[0] != keys[1] == keys[2]  # fp16 vs bf16 differ; two bf16 GPUs share a model


# ---- what reads the precision: costs and notebook 07 ----------------------------------------------

@pytest.mark.parametrize("gpu", device.GPUS)
def test_every_named_gpu_has_a_peak_for_its_precision(gpu):
    """Notebook 07 reads PEAK_TFLOPS[gpu][device.gpu(gpu).precision] and [gpu]["fp32"]."""
    peaks = costs.PEAK_TFLOPS[gpu]
    assert peaks[device.gpu(gpu).precision] > peaks["fp32"] > 0


def test_the_measured_gpu_runs_are_labelled_with_the_rules_precision():
    runs = costs.gpu_measurements()
    assert set(runs["device"]) == {"NVIDIA H200"}
    assert set(runs["precision"]) == {"fp32", device.gpu("H200").precision}


# ---- gpu-check, with papermill replaced --------------------------------------------------------

LESSONS = ["00_setup.ipynb", "01_why_fine_tune.ipynb", "03_fine_tuning.ipynb"]
CPU_ENTRY = {"seconds": 170.1, "hardware": "CPU: AMD EPYC (cpu) · fp32 · batch 32 · 2 CPU cores",
             "date": "2026-11-29", "load_avg": 2.0}


class Clock:
    """A stand-in for the time module in tools.pipeline: each notebook takes ``step`` seconds."""

    def __init__(self, step: float = 12.0):
        self.now, self.step = 1000.0, step

    def perf_counter(self):
        return self.now


@pytest.fixture()
def repo(tmp_path, monkeypatch):
    """A repository in tmp_path: three lessons and a solution, run_times.json with one cpu entry,
    an empty model cache, build/gpu/ as the output; a fake papermill that "trains" a model in 03."""
    nb = tmp_path / "notebooks"
    (nb / "solutions").mkdir(parents=True)
    for name in LESSONS + ["solutions/03_fine_tuning_solutions.ipynb"]:
        (nb / name).write_text("{}", encoding="utf-8")
    (nb / "run_times.json").write_text(json.dumps({"03_fine_tuning.ipynb": {"cpu": CPU_ENTRY}}),
                                       encoding="utf-8")
    monkeypatch.setattr(paths, "NOTEBOOKS", nb)
    monkeypatch.setattr(pipeline, "NOTEBOOKS_DIR", nb)
    monkeypatch.setattr(runtimes, "RUN_TIMES", nb / "run_times.json")
    monkeypatch.setattr(pipeline, "GPU_OUT", tmp_path / "build" / "gpu")
    monkeypatch.setenv("WORKBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(os, "getloadavg", lambda: (1.26, 0.5, 0.4))
    clock = Clock()
    monkeypatch.setattr(pipeline, "time", clock)
    state = types.SimpleNamespace(root=tmp_path, nb=nb, calls=[], fail={}, clock=clock,
                                  env=[])

    def fake_execute(source, output, profile=None, results=None, timeout=3600, parameters=None,
                     progress=None):
        state.calls.append({"name": source.name, "output": output, "profile": profile,
                            "results": results, "timeout": timeout})
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text("{}", encoding="utf-8")
        clock.now += clock.step
        if source.name == "03_fine_tuning.ipynb":  # trains a model into the cache
            (paths.cache_dir("models") / "abc123").mkdir(exist_ok=True)
            (paths.cache_dir("models") / ".abc-tmp").mkdir(exist_ok=True)  # half-written
        if source.name in state.fail:
            raise state.fail[source.name]
        return float(clock.step)

    monkeypatch.setattr(pipeline, "execute", fake_execute)
    return state


def on(monkeypatch, name: str) -> device.DeviceInfo:
    info = make(name)
    monkeypatch.setattr(pipeline.device, "detect", lambda refresh=False: info)
    return info


def stored() -> dict:
    return json.loads(runtimes.RUN_TIMES.read_text(encoding="utf-8"))


def gpu_entries() -> set[str]:
    return {name for name, entry in stored().items() if "gpu" in entry}


def summary_file(repo) -> dict:
    return json.loads((repo.root / "build" / "gpu" / pipeline.GPU_SUMMARY).read_text())


def test_refuses_in_one_line_without_a_gpu(repo, monkeypatch, capsys):
    on(monkeypatch, "CPU")
    before = runtimes.RUN_TIMES.read_text(encoding="utf-8")
    assert pipeline.main(["gpu-check"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no CUDA GPU" in err and "--allow-cpu" in err
    assert repo.calls == [] and not (repo.root / "build").exists()
    assert runtimes.RUN_TIMES.read_text(encoding="utf-8") == before
    on(monkeypatch, "MPS")  # an Apple GPU is not a CUDA GPU either
    assert pipeline.main(["gpu-check"]) == 2


def test_allow_cpu_runs_the_named_notebooks_into_build_gpu_and_stores_nothing(repo, monkeypatch,
                                                                               capsys):
    on(monkeypatch, "CPU")
    before = runtimes.RUN_TIMES.read_text(encoding="utf-8")
    assert pipeline.main(["gpu-check", "03", "00_setup.ipynb", "--allow-cpu"]) == 0
    assert [c["name"] for c in repo.calls] == ["03_fine_tuning.ipynb", "00_setup.ipynb"]
    out_dir = repo.root / "build" / "gpu"
    for call in repo.calls:
        assert call["profile"] == "gpu" and call["output"] == out_dir / call["name"]
        assert call["results"] == out_dir / "results.json" and call["output"].exists()
    assert sorted(p.name for p in repo.nb.iterdir()) == sorted(
        ["solutions", "run_times.json", *LESSONS])  # nothing executed in place
    assert runtimes.RUN_TIMES.read_text(encoding="utf-8") == before
    out = capsys.readouterr().out
    assert "[1/2] 03_fine_tuning.ipynb ... ok in 12 s" in out and "24 s elapsed" in out
    assert "not stored in" in out and "no CUDA GPU" in out
    summary = summary_file(repo)
    assert (summary["kind"], summary["stored"], summary["precision"]) == ("cpu", False, "fp32")


def test_on_a_cuda_gpu_every_lesson_is_timed_and_stored_with_the_gpus_name(repo, monkeypatch,
                                                                            capsys):
    info = on(monkeypatch, "H200")
    assert pipeline.main(["gpu-check"]) == 0
    assert [c["name"] for c in repo.calls] == LESSONS  # the lessons, not the solutions
    times = stored()
    assert set(times) == set(LESSONS)
    entry = times["03_fine_tuning.ipynb"]["gpu"]
    assert (entry["seconds"], entry["hardware"], entry["load_avg"]) == (12.0, info.summary(), 1.3)
    assert times["03_fine_tuning.ipynb"]["cpu"] == CPU_ENTRY  # the cpu time is kept
    # what `tools.pipeline times` then writes into the header, README and INSTRUCTORS
    gpu_text = f"12 s (gpu profile, measured {entry['date']} on NVIDIA H200, load 1.3)"
    assert runtimes.describe("03_fine_tuning.ipynb", "gpu") == gpu_text
    assert runtimes.header_line("03_fine_tuning.ipynb").endswith(f"; {gpu_text}.")
    assert gpu_text in runtimes.summary("03_fine_tuning.ipynb", gpu=False)
    out = capsys.readouterr().out
    table = out[out.index("notebook "):]
    assert "03_fine_tuning.ipynb" in table and "NVIDIA H200" in table and "bf16" in table
    assert "1.3" in table and "3 of 3 passed in 36 s" in out
    assert "python -m tools.pipeline times" in out and "record 00_setup" in out


def test_a_failing_notebook_is_reported_and_the_rest_still_run(repo, monkeypatch, capsys):
    from nbclient.exceptions import CellTimeoutError
    from papermill.exceptions import PapermillExecutionError

    on(monkeypatch, "T4")
    repo.fail["00_setup.ipynb"] = PapermillExecutionError(3, 4, "x = 1 / 0", "ValueError", "bad",
                                                                 ["ValueError: boom"])
    repo.fail["01_why_fine_tune.ipynb"] = CellTimeoutError("cell timed out")
    assert pipeline.main(["gpu-check"]) == 1
    assert [c["name"] for c in repo.calls] == LESSONS
    assert gpu_entries() == {"03_fine_tuning.ipynb"}  # only what passed is stored
    assert stored()["03_fine_tuning.ipynb"]["gpu"]["hardware"].startswith("Tesla T4 (cuda")
    statuses = {r["notebook"]: r["status"] for r in summary_file(repo)["notebooks"]}
    assert statuses == {"00_setup.ipynb": "FAILED", "01_why_fine_tune.ipynb": "TIMEOUT",
                        "03_fine_tuning.ipynb": "ok"}
    captured = capsys.readouterr()
    assert "1 of 3 passed" in captured.out and "1 FAILED; 1 TIMEOUT" in captured.out
    assert "fp16" in captured.out and "boom" in captured.err


def test_the_budget_bounds_each_notebook_and_skips_the_rest(repo, monkeypatch, capsys):
    on(monkeypatch, "H200")
    repo.clock.step = 30.0
    assert pipeline.main(["gpu-check", "--budget", "70"]) == 1
    assert [c["timeout"] for c in repo.calls] == [70, 40]  # a cell may use what is left
    rows = summary_file(repo)["notebooks"]
    assert [r["status"] for r in rows] == ["ok", "ok", "SKIPPED"]
    assert gpu_entries() == {"00_setup.ipynb", "01_why_fine_tune.ipynb"}
    assert "SKIPPED, the 70 s budget is spent" in capsys.readouterr().out
    repo.calls.clear()
    assert pipeline.main(["gpu-check", "00", "--budget", "0", "--no-save"]) == 0
    assert repo.calls[0]["timeout"] == 3600  # no budget: papermill's hour per cell


def test_the_summary_says_whether_the_model_cache_was_cold(repo, monkeypatch, capsys):
    on(monkeypatch, "H200")
    assert pipeline.main(["gpu-check", "--no-save"]) == 0
    summary = summary_file(repo)
    assert (summary["cache_cold"], summary["cached_runs_at_start"]) == (True, 0)
    assert [r["trained"] for r in summary["notebooks"]] == [0, 0, 1]
    out = capsys.readouterr().out
    assert "cold at the start (empty), so these times include the training; 1 model(s)" in out
    assert "not stored in" in out and "--no-save" in out
    assert gpu_entries() == set()
    (paths.cache_dir("models") / "abc123").rmdir()
    (paths.cache_dir("models") / "earlier").mkdir()
    assert pipeline.main(["gpu-check", "01", "--no-save"]) == 0
    assert summary_file(repo)["cache_cold"] is False
    assert "warm at the start (1 cached run(s)" in capsys.readouterr().out


def test_allow_cpu_with_save_stores_a_cpu_measured_gpu_profile(repo, monkeypatch):
    info = on(monkeypatch, "CPU")
    assert pipeline.main(["gpu-check", "00", "--allow-cpu", "--save"]) == 0
    entry = stored()["00_setup.ipynb"]["gpu"]
    assert entry["hardware"] == info.summary()
    assert "on CPU: test, 2 CPU cores" in runtimes.describe("00_setup.ipynb", "gpu")


def test_another_profile_checks_the_plumbing_and_is_never_stored(repo, monkeypatch, capsys):
    on(monkeypatch, "H200")
    before = runtimes.RUN_TIMES.read_text(encoding="utf-8")
    assert pipeline.main(["gpu-check", "00", "--profile", "smoke"]) == 0
    assert repo.calls[0]["profile"] == "smoke"
    assert runtimes.RUN_TIMES.read_text(encoding="utf-8") == before
    assert "not stored in" in capsys.readouterr().out
    assert pipeline.main(["gpu-check", "00", "--profile", "smoke", "--save"]) == 2
    assert pipeline.main(["gpu-check", "--out", str(repo.nb / "gpu")]) == 2  # never in the sources


def test_merge_stores_a_lent_machines_run_with_its_dates(repo, monkeypatch, tmp_path):
    info = on(monkeypatch, "H200")
    out = tmp_path / "from_device"
    assert pipeline.main(["gpu-check", "--no-save", "--out", str(out)]) == 0
    assert gpu_entries() == set()
    summary = json.loads((out / pipeline.GPU_SUMMARY).read_text())
    summary["notebooks"][0]["date"] = "2026-12-01"
    (out / pipeline.GPU_SUMMARY).write_text(json.dumps(summary))
    repo.calls.clear()
    assert pipeline.main(["gpu-check", "--merge", str(out / pipeline.GPU_SUMMARY)]) == 0
    assert repo.calls == []  # runs nothing
    times = stored()
    assert gpu_entries() == set(LESSONS)
    assert times["00_setup.ipynb"]["gpu"]["date"] == "2026-12-01"
    assert times["01_why_fine_tune.ipynb"]["gpu"]["hardware"] == info.summary()


def test_merge_refuses_a_cpu_run_unless_save(repo, monkeypatch):
    on(monkeypatch, "CPU")
    assert pipeline.main(["gpu-check", "00", "--allow-cpu"]) == 0
    path = str(repo.root / "build" / "gpu" / pipeline.GPU_SUMMARY)
    assert pipeline.main(["gpu-check", "--merge", path]) == 2
    assert "gpu" not in stored().get("00_setup.ipynb", {})
    assert pipeline.main(["gpu-check", "--merge", path, "--save"]) == 0
    assert "gpu" in stored()["00_setup.ipynb"]
