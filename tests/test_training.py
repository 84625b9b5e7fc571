"""Tests for helpers.training: a few real training steps on 32 tiny pairs, the precision rules on
faked devices, the cache, and clear errors. The real model is loaded once for the module."""
from __future__ import annotations

import warnings

import datasets
import pytest
import torch

from helpers import device, models, tokens, training

TOPICS = ["asthma", "diabetes", "migraine", "fracture of the wrist", "otitis media", "gout",
          "pneumonia", "anaemia", "eczema", "glaucoma", "hepatitis", "tonsillitis", "scoliosis",
          "cystitis", "bronchitis", "psoriasis"]


def tiny_pairs(n: int = 32):
    anchors, positives = [], []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        variant = i // len(TOPICS)
        anchors.append(f"patient note {i}: symptoms consistent with {topic}, visit {variant}")
        positives.append(f"diagnosis code for {topic} (variant {variant})")
    return datasets.Dataset.from_dict({"anchor": anchors, "positive": positives})


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory):
    """A private WORKBOOK_CACHE for the whole module (paths.cache_dir reads it on every call)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("WORKBOOK_CACHE", str(tmp_path_factory.mktemp("cache")))
    mp.setenv("WORKBOOK_PROFILE", "smoke")
    yield
    mp.undo()


@pytest.fixture(scope="module")
def model():
    return models.load("all-MiniLM-L6-v2", device="cpu", verbose=False)


@pytest.fixture(scope="module")
def pairs():
    return tiny_pairs()


TINY = dict(max_steps=6, batch_size=8, learning_rate=2e-4, progress_bar=False, warmup_ratio=0.0)


@pytest.fixture(scope="module")
def first_run(cache_env, model, pairs):
    """One tiny training, with every warning recorded."""
    weights_before = {k: v.clone() for k, v in model.state_dict().items()}
    loss_before = training.batch_loss(model, pairs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = training.fine_tune(model, pairs, profile="smoke", verbose=False, **TINY)
    return {"run": run, "loss_before": loss_before, "warnings": caught,
            "weights_before": weights_before}


# ---------------------------------------------------------------------------- precision and args
@pytest.mark.parametrize("info, expected", [
    (device.from_specs("cuda", "Tesla T4", 15, (7, 5)), "fp16"),
    (device.from_specs("cuda", "NVIDIA A100", 40, (8, 0)), "bf16"),
    (device.from_specs("cuda", "Tesla K80", 12, (3, 7)), "fp32"),
    (device.from_specs("mps"), "fp32"),
    (device.from_specs("cpu"), "fp32"),
])
def test_training_precision(info, expected):
    """One precision rule: the device's, which build_args and fine_tune read."""
    assert info.precision == expected


def test_build_args_on_cpu(tmp_path):
    from sentence_transformers.base.sampler import BatchSamplers

    settings = training.resolve_settings("cpu", warmup_ratio=0.1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        args = training.build_args(tmp_path, settings, device.from_specs("cpu"), loss="mnrl")
    assert not args.fp16 and not args.bf16
    assert args.batch_sampler == BatchSamplers.NO_DUPLICATES
    assert args.warmup_steps == pytest.approx(0.1)   # a float ratio, not the deprecated warmup_ratio
    assert getattr(args, "warmup_ratio", None) in (None, 0.0)
    assert args.report_to in ("none", [], ["none"]) or not args.report_to
    assert getattr(args.save_strategy, "value", args.save_strategy) == "no"
    assert args.seed == 42
    assert not [w for w in caught if issubclass(w.category, (DeprecationWarning, FutureWarning))]
    triplet_args = training.build_args(tmp_path, settings, device.from_specs("cpu"), loss="triplet")
    assert triplet_args.batch_sampler == BatchSamplers.BATCH_SAMPLER


def test_settings_from_profile_and_overrides():
    s = training.resolve_settings("smoke", epochs=2, learning_rate=3e-4)
    assert s["epochs"] == 2 and s["learning_rate"] == 3e-4 and s["profile"] == "smoke"
    with pytest.raises(training.TrainingError, match="Unknown training setting"):
        training.resolve_settings("smoke", epocs=2)
    with pytest.raises(ValueError, match="warmup_ratio"):
        training.resolve_settings("smoke", warmup_ratio=1.5)


# ---------------------------------------------------------------------------- bad input
def test_triplet_without_negative_is_a_clear_error(model, pairs):
    with pytest.raises(training.TrainingError, match="needs a 'negative' column"):
        training.fine_tune(model, pairs, loss="triplet", profile="smoke", cache=False)


def test_bad_columns_and_loss_are_clear_errors(model, pairs):
    bad = datasets.Dataset.from_dict({"query": ["a", "b"], "document": ["c", "d"]})
    with pytest.raises(ValueError, match="anchor.*positive"):
        training.fine_tune(model, bad, profile="smoke")
    with pytest.raises(ValueError, match="Unknown loss"):
        training.fine_tune(model, pairs, loss="contrastive-ish", profile="smoke")
    empty = datasets.Dataset.from_dict({"anchor": ["a", " "], "positive": ["c", "d"]})
    with pytest.raises(ValueError, match="empty"):
        training.check_train_data(empty)
    with pytest.raises(ValueError, match="datasets.Dataset"):
        training.check_train_data([("a", "b")])


def test_columns_reordered_to_anchor_positive_negative():
    ds = datasets.Dataset.from_dict({"negative": ["n"], "positive": ["p"], "anchor": ["a"],
                                     "id": [1]})
    assert training.check_train_data(ds).column_names == ["anchor", "positive", "negative"]


def test_matryoshka_loss_and_bad_dims(model):
    from sentence_transformers.sentence_transformer import losses
    wrapped = training.build_loss(model, "mnrl", matryoshka_dims=[64, 384, 128])
    assert isinstance(wrapped, losses.MatryoshkaLoss)
    assert list(wrapped.matryoshka_dims) == [384, 128, 64]
    assert isinstance(training.build_loss(model, "cached_mnrl"),
                      losses.CachedMultipleNegativesRankingLoss)
    with pytest.raises(ValueError, match="matryoshka_dims"):
        training.build_loss(model, "mnrl", matryoshka_dims=[1024])


def test_auto_max_seq_length(model, pairs):
    n = training.auto_max_seq_length(model, pairs)
    assert n % 8 == 0 and 8 <= n <= model.max_seq_length
    longest = max(tokens.token_lengths(model, list(pairs["anchor"]) + list(pairs["positive"])))
    assert n >= longest  # 32 rows: the 99th percentile is (nearly) the longest


def test_subsample_is_seeded(pairs):
    a = training.subsample(pairs, 10, seed=1)["anchor"]
    assert a == training.subsample(pairs, 10, seed=1)["anchor"] and len(a) == 10
    assert a != training.subsample(pairs, 10, seed=2)["anchor"]
    assert len(training.subsample(pairs, None)) == len(pairs)


# ---------------------------------------------------------------------------- real training
def test_training_lowers_the_loss(first_run, pairs):
    run = first_run["run"]
    after = training.batch_loss(run.model, pairs)
    assert after < first_run["loss_before"] - 0.05, (first_run["loss_before"], after)
    assert list(run.history.columns) == ["step", "epoch", "loss"] and len(run.history) >= 2
    assert run.seconds > 0 and run.pairs_per_second > 0
    assert not run.from_cache
    assert "mnrl" in run.summary() and "32 pairs" in run.summary()


def test_base_model_is_not_changed(first_run, model):
    for name, value in model.state_dict().items():
        assert torch.equal(value, first_run["weights_before"][name]), name


def test_no_deprecation_or_future_warnings(first_run):
    bad = [f"{w.category.__name__}: {w.message}" for w in first_run["warnings"]
           if issubclass(w.category, (DeprecationWarning, FutureWarning))]
    assert not bad, bad


def test_saved_folder_is_a_normal_model(first_run, pairs):
    run = first_run["run"]
    assert (run.path / "modules.json").exists() and (run.path / "run.json").exists()
    assert (run.path / "README.md").exists()  # the generated model card
    again = models.load(run.path, device="cpu", verbose=False)
    text = [pairs["anchor"][0]]
    assert torch.allclose(torch.tensor(again.encode(text)), torch.tensor(run.model.encode(text)),
                          atol=1e-5)
    # the saved model reads long texts like the base model: training-time truncation is not kept
    assert again.max_seq_length == 256


def test_a_bf16_run_encodes_in_fp32_like_its_saved_copy(cache_env, model, pairs, tmp_path):
    """Mixed precision wraps forward in autocast while training; the returned model must not keep
    that wrapper, or the first run (in memory) and later runs (from the cache) would disagree."""
    run = training.fine_tune(model, pairs, profile="smoke", verbose=False, precision="bf16",
                             cache=False, output_dir=tmp_path / "bf16", **TINY)
    assert run.config["precision"] == "bf16"
    assert "_original_forward" not in vars(run.model)
    assert not hasattr(getattr(run.model.forward, "__func__", run.model.forward), "__wrapped__")
    again = models.load(tmp_path / "bf16", device="cpu", verbose=False)
    text = [pairs["anchor"][0]]
    assert torch.allclose(torch.tensor(again.encode(text)), torch.tensor(run.model.encode(text)),
                          atol=1e-5)


def test_cache_hits_on_identical_config_and_misses_on_change(first_run, model, pairs, capsys):
    run = first_run["run"]
    hit = training.fine_tune(model, pairs, profile="smoke", **TINY)
    assert hit.from_cache and hit.path == run.path
    assert hit.seconds == pytest.approx(run.seconds)  # the original training time
    assert hit.history["loss"].tolist() == pytest.approx(run.history["loss"].tolist())
    assert "Reused the cached" in capsys.readouterr().out
    changed = dict(TINY, learning_rate=1e-4, max_steps=1)
    miss = training.fine_tune(model, pairs, profile="smoke", verbose=False, **changed)
    assert not miss.from_cache and miss.path != run.path
    # a different seed or different rows are different results too
    config = dict(run.config)
    assert training.cache_key(config) == run.key
    assert training.cache_key(dict(config, seed=7)) != run.key
    assert training.data_fingerprint(pairs) != training.data_fingerprint(pairs.select(range(31)))


def test_model_by_name_and_cache_false(cache_env, pairs, capfd):
    from sentence_transformers.base import model_card

    card_tqdm = model_card.tqdm
    run = training.fine_tune("all-MiniLM-L6-v2", pairs.select(range(16)), profile="smoke",
                             cache=False, verbose=False, max_steps=1, batch_size=8,
                             progress_bar=False)
    # no stray one-step "Computing widget examples" bar, and the library is left as it was
    assert "Computing widget examples" not in capfd.readouterr().err
    assert model_card.tqdm is card_tqdm
    assert not run.from_cache and run.path is not None and run.path.exists()
    assert run.config["base_model"]["name"].endswith("all-MiniLM-L6-v2")


def test_eval_history_with_metrics(cache_env, model, pairs):
    from types import SimpleNamespace
    split = SimpleNamespace(queries={f"q{i}": pairs["anchor"][i] for i in range(8)},
                            corpus={f"d{i}": pairs["positive"][i] for i in range(16)},
                            qrels={f"q{i}": {f"d{i}": 1} for i in range(8)})
    settings = dict(max_steps=2, batch_size=8, progress_bar=False)
    run = training.fine_tune(model, pairs, profile="smoke", eval_split=split, verbose=False,
                             cache=False, eval_steps=1, **settings)
    eh = run.eval_history
    assert eh is not None and eh["step"].tolist() == [0, 1, 2]
    assert "recall@10" in eh.columns and eh["recall@10"].between(0, 1).all()
    # evaluating does not change the model: the same recipe without eval_split reuses it
    again = training.fine_tune(model, pairs, profile="smoke", verbose=False, **settings)
    assert again.from_cache and again.path == run.path


def test_summary_reports_smoothed_start_and_end():
    """The first and last raw log points can read "0.199 -> 0.377" on a loss that fell; the summary
    averages the first and last 10% of logged steps and says so."""
    import pandas as pd
    losses = [0.2, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.35, 0.25, 0.3, 0.2, 0.25, 0.15, 0.2,
              0.1, 0.15, 0.1, 0.4]
    config = {"loss": "mnrl", "train_rows": 32,
              "settings": {"epochs": 1, "batch_size": 8, "learning_rate": 1e-4}}
    run = training.Run(model=None, history=pd.DataFrame({"step": range(20), "epoch": 0.0,
                                                         "loss": losses}),
                       eval_history=None, seconds=10.0, pairs_per_second=3.2, config=config,
                       path=None)
    start, end, k = run.loss_trend()
    assert k == 2 and start == pytest.approx(0.6) and end == pytest.approx(0.25)
    assert "training loss 0.600 -> 0.250 (mean of the first and last 2 logged steps)" in run.summary()
    one = training.Run(model=None, history=pd.DataFrame({"step": [1], "epoch": [1.0], "loss": [0.5]}),
                       eval_history=None, seconds=1.0, pairs_per_second=1.0, config=config, path=None)
    assert one.loss_trend() == (0.5, 0.5, 1)
    empty = training.Run(model=None, history=pd.DataFrame(columns=["step", "epoch", "loss"]),
                         eval_history=None, seconds=1.0, pairs_per_second=1.0, config=config, path=None)
    assert empty.loss_trend() is None and "training loss" not in empty.summary()
