"""Tests for helpers.publish: the model card lists the evaluator's results; an upload that cannot
happen writes the folder it would upload; a real one calls push_to_hub with that folder (faked:
these tests never touch the network)."""
from __future__ import annotations

import socket

import pytest

from helpers import models, network, publish
from helpers.data import IRSplit

TOPICS = ["asthma", "diabetes", "migraine", "fracture of the wrist", "otitis media", "gout",
          "pneumonia", "anaemia", "eczema", "glaucoma", "hepatitis", "tonsillitis"]


@pytest.fixture(scope="module")
def model():
    return models.load("all-MiniLM-L6-v2", device="cpu", verbose=False)


@pytest.fixture()
def split():
    return IRSplit(queries={f"q{i}": f"patient note: symptoms consistent with {t}"
                            for i, t in enumerate(TOPICS)},
                   corpus={**{f"d{i}": f"diagnosis code for {t}" for i, t in enumerate(TOPICS)},
                           **{f"x{i}": f"diagnosis code for {t} in children, with more"
                              for i, t in enumerate(TOPICS)}},  # near misses: not all ranks 1
                   qrels={f"q{i}": {f"d{i}": 1} for i in range(len(TOPICS))})


@pytest.fixture()
def no_network(monkeypatch):
    """Offline for the Hugging Face libraries, and any connection attempt fails the test."""
    from huggingface_hub import constants

    def refuse(*args, **kwargs):
        raise AssertionError("a test of helpers.publish tried to open a connection")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


def test_card_lists_the_evaluators_metrics(model, split, tmp_path, no_network):
    scores = publish.evaluate_for_card(model, split, name="topics")
    ndcg = scores["topics_cosine_ndcg@10"]
    assert 0 < ndcg <= 1 and "topics_cosine_recall@1" in scores
    folder = publish.save_with_card(model, tmp_path / "card", split, split_name="topics",
                                    model_name="me/topics-minilm")
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "model-index" in card and "| **cosine_ndcg@10**" in card  # the metadata and table
    assert 0 < ndcg < 1 and f"value: {ndcg}" in card  # the value the evaluator measured
    assert "me/topics-minilm" in card  # the usage example loads the published name
    again = models.load(folder, device="cpu", verbose=False)
    assert again.get_embedding_dimension() == model.get_embedding_dimension()


def test_offline_push_writes_what_it_would_upload(model, split, tmp_path, monkeypatch, capsys,
                                                  no_network):
    monkeypatch.setattr(network, "is_online", lambda *a, **k: False)
    done = publish.push(model, "me/topics-minilm", token="hf_not_a_real_token",
                        dry_run_folder=tmp_path / "dry", split=split)
    assert not done.uploaded and done.url is None and done.folder == tmp_path / "dry"
    assert (done.folder / "model.safetensors").is_file()
    assert "cosine_ndcg@10" in (done.folder / "README.md").read_text(encoding="utf-8")
    out = capsys.readouterr().out.strip()
    assert out == done.message and len(out.splitlines()) == 1
    assert "Not uploaded (the Hugging Face hub is not reachable" in out
    assert "me/topics-minilm (private)" in out and "dry" in out


def test_no_token_is_a_dry_run_too(model, tmp_path, monkeypatch, no_network):
    import huggingface_hub
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    monkeypatch.setattr(network, "is_online", lambda *a, **k: pytest.fail("no token: no need"))
    done = publish.push(model, "me/x", dry_run_folder=tmp_path / "dry", verbose=False)
    assert not done.uploaded and "no Hugging Face token" in done.message
    assert (tmp_path / "dry" / "README.md").is_file()


def test_online_push_uploads_that_folder(model, split, tmp_path, monkeypatch, no_network):
    calls = []

    def fake_push(repo_id, **kwargs):
        folder = kwargs["local_model_path"]
        calls.append((repo_id, kwargs, (tmp_path / "stage" / "README.md").read_text()
                      if folder == str(tmp_path / "stage") else None))
        return f"https://huggingface.co/{repo_id}/commit/0123abc"

    monkeypatch.setattr(network, "is_online", lambda *a, **k: True)
    monkeypatch.setattr(model, "push_to_hub", fake_push)
    done = publish.push(model, "me/topics-minilm", token="hf_not_a_real_token",
                        dry_run_folder=tmp_path / "stage", split=split, verbose=False)
    assert len(calls) == 1
    repo_id, kwargs, card = calls[0]
    assert repo_id == "me/topics-minilm"
    assert kwargs["token"] == "hf_not_a_real_token" and kwargs["private"] is True
    assert card is not None and "cosine_ndcg@10" in card
    assert done.uploaded and done.url.endswith("0123abc") and "Uploaded to" in done.message


@pytest.mark.parametrize("repo_id", ["no-owner", "a/b/c", " /x", ""])
def test_bad_repo_id(model, repo_id, tmp_path):
    with pytest.raises(publish.PublishError, match="owner/name"):
        publish.push(model, repo_id, dry_run_folder=tmp_path / "dry")


def test_never_replaces_a_folder_that_is_not_a_model(model, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(publish.PublishError, match="not empty"):
        publish.save_with_card(model, tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
