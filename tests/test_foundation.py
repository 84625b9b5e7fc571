"""Unit tests for helpers.device, helpers.profiles, helpers.results, helpers.models (notebook 00)."""
import json
import socket

import pytest

from helpers import device, models, network, paths, profiles, results


# --- device ---------------------------------------------------------------------------------------
def test_t4_uses_fp16_and_a_big_batch():
    info = device.from_specs("cuda", "Tesla T4", 15.0, (7, 5), cpu_cores=2, colab=True)
    assert (info.precision, info.fp16, info.bf16) == ("fp16", True, False)
    assert info.batch_size == 128
    assert "Tesla T4" in info.summary() and "Colab" in info.summary()
    assert "fp16, batch 128" in info.advice()


def test_a100_uses_bf16():
    info = device.from_specs("cuda", "NVIDIA A100-SXM4-40GB", 40.0, (8, 0))
    assert (info.precision, info.bf16) == ("bf16", True)
    assert info.batch_size == 256


def test_old_gpu_falls_back_to_fp32():
    info = device.from_specs("cuda", "Tesla K80", 12.0, (3, 7))
    assert info.precision == "fp32" and not info.fp16
    assert "no fast half precision" in info.advice()


def test_apple_mps_trains_in_fp32():
    info = device.from_specs("mps", cpu_cores=8)
    assert (info.kind, info.precision, info.fp16, info.bf16) == ("mps", "fp32", False, False)
    assert "Apple" in info.advice()


def test_cpu_only_machine():
    info = device.from_specs("cpu", "CPU: test", cpu_cores=2)
    assert (info.kind, info.precision, info.memory_gb) == ("cpu", "fp32", None)
    assert "CPU only (2 cores)" in info.advice() and "cpu profile" in info.advice()


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown device kind"):
        device.from_specs("tpu")


def test_detect_here_is_cpu():
    info = device.detect(refresh=True)
    assert info.kind in {"cpu", "cuda", "mps"} and info.cpu_cores >= 1


# --- profiles -------------------------------------------------------------------------------------
def test_auto_reads_the_environment(monkeypatch):
    monkeypatch.setenv("WORKBOOK_PROFILE", "smoke")
    assert profiles.get("auto").name == "smoke"
    monkeypatch.setenv("WORKBOOK_PROFILE", "cpu")
    assert profiles.resolve("auto") == "cpu"


def test_auto_without_environment_picks_by_hardware(monkeypatch):
    monkeypatch.delenv("WORKBOOK_PROFILE", raising=False)
    import torch
    assert profiles.resolve("auto") == ("gpu" if torch.cuda.is_available() else "cpu")


def test_unknown_profile_is_a_clear_error():
    with pytest.raises(ValueError, match="choose one of smoke, cpu, gpu"):
        profiles.get("huge")


def test_smoke_is_smaller_than_cpu():
    smoke, cpu = profiles.get("smoke"), profiles.get("cpu")
    assert smoke.max_train_pairs and smoke.max_test_queries and smoke.max_steps
    assert smoke.with_(epochs=2).epochs == 2
    assert "profile smoke" in smoke.describe()
    assert cpu.bootstrap >= 1000 and smoke.bootstrap >= 1000


# --- results --------------------------------------------------------------------------------------
def test_record_merges_and_stamps(results_file):
    import numpy as np
    results.record("01_a", {"recall@10": np.float32(0.81234567), "n": np.int64(5), "lr": 5e-05,
                            "nan": float("nan")}, profile="smoke")
    results.record("02_b", {"rows": [{"k": 1, "v": 0.5}]}, profile="cpu")
    stored = json.loads(results_file.read_text())
    assert stored["01_a"]["numbers"] == {"recall@10": 0.8123, "n": 5, "lr": 5e-05, "nan": None}
    assert stored["01_a"]["profile"] == "smoke" and stored["02_b"]["profile"] == "cpu"
    assert stored["01_a"]["hardware"] and stored["01_a"]["date"]
    md = results.to_markdown(stored)
    assert "## 01_a" in md and "| recall@10 | 0.8123 |" in md and "**rows**" in md


def test_relative_results_path_is_from_the_repository_root(monkeypatch):
    monkeypatch.setenv("WORKBOOK_RESULTS", "build/test-results.json")
    monkeypatch.chdir(paths.ROOT / "notebooks")   # where a notebook's kernel runs
    assert results.results_path() == paths.ROOT / "build" / "test-results.json"


# --- models ---------------------------------------------------------------------------------------
def test_offline_is_decided_fast(monkeypatch):
    import time

    def refuse(*a, **k):
        raise OSError("no network")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)  # CI sets both: test the socket path
    monkeypatch.setattr(socket, "create_connection", refuse)
    t0 = time.perf_counter()
    assert network.is_online(refresh=True) is False
    assert time.perf_counter() - t0 < 1.0


def test_unknown_model_offline_lists_what_was_tried(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(models.ModelNotFound) as err:
        models.load("someone/not-a-model", verbose=False)
    text = str(err.value)
    assert "hub cache" in text and "offline" in text and "bundled" in text


def test_folder_without_a_model_is_refused(tmp_path):
    with pytest.raises(models.ModelNotFound, match="holds no model"):
        models.load(tmp_path, verbose=False)


def test_checksum_mismatch_is_refused(monkeypatch, tmp_path):
    fake = tmp_path / "model"
    fake.mkdir()
    (fake / "model.safetensors").write_bytes(b"not the real weights")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(models, "bundled_path", lambda: fake)
    monkeypatch.setattr(models, "_from_hub", lambda *a, **k: (_ for _ in ()).throw(OSError("no")))
    with pytest.raises(models.ModelNotFound, match="checksum"):
        models.load("all-MiniLM-L6-v2", verbose=False)


def test_bundled_copy_comes_before_the_hub(monkeypatch):
    """Online, the verified bundled weights are used: no second download of the same file."""
    def no_hub(*args, **kwargs):
        raise AssertionError("the hub was asked although the bundled copy verifies")
    monkeypatch.setattr(models, "_from_hub", no_hub)
    monkeypatch.setattr(models.network, "is_online", lambda *a, **k: True)
    model = models.load("sentence-transformers/all-MiniLM-L6-v2", verbose=False)
    assert model.workbook_source == "bundled copy"


def test_damaged_bundled_copy_falls_back_to_the_hub(monkeypatch, tmp_path):
    fake = tmp_path / "model"
    fake.mkdir()
    (fake / "model.safetensors").write_bytes(b"not the real weights")
    monkeypatch.setattr(models, "bundled_path", lambda: fake)
    import types
    monkeypatch.setattr(models, "_from_hub", lambda name, device, local_only: types.SimpleNamespace())
    model = models.load("all-MiniLM-L6-v2", verbose=False)
    assert model.workbook_source == "hub cache" and models.verified(fake) is False


def test_bundled_model_loads_offline_quickly(monkeypatch, capsys):
    import time
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    model = models.load("all-MiniLM-L6-v2")
    seconds = time.perf_counter() - t0
    assert model.workbook_source in {"bundled copy", "hub cache"}
    assert seconds < 10, f"loading took {seconds:.1f} s"
    assert "Loaded sentence-transformers/all-MiniLM-L6-v2" in capsys.readouterr().out
    assert model.get_embedding_dimension() == 384
