"""helpers.quiet (the one way to hide library chatter) and helpers.runtimes (the one source of run
times): what they hide, that they restore everything, and the run-times table."""
import json
import logging

import pytest

from helpers import paths, quiet, runtimes


class Model:
    """A stand-in with the two encode methods the libraries call with a progress bar."""

    def __init__(self):
        self.bars = []

    def encode_query(self, texts, show_progress_bar=True):
        self.bars.append(show_progress_bar)
        print("library print")
        return texts

    def encode_document(self, texts, show_progress_bar=True):
        self.bars.append(show_progress_bar)
        return texts


def test_libraries_lowers_loggers_and_restores_them():
    lg = logging.getLogger("sentence_transformers")
    lg.setLevel(logging.INFO)
    with quiet.libraries():
        assert all(logging.getLogger(n).level == logging.ERROR for n in quiet.LOGGERS)
    assert lg.level == logging.INFO


def test_bars_and_prints(capsys):
    from transformers.utils import logging as hf_logging
    m = Model()
    hf_logging.enable_progress_bar()
    with quiet.libraries(m, bars=False, prints=False):
        m.encode_query(["a"], show_progress_bar=True)
        m.encode_document(["b"])
        assert not hf_logging.is_progress_bar_enabled()
    assert m.bars == [False, False]
    assert capsys.readouterr().out == ""
    assert hf_logging.is_progress_bar_enabled()
    assert "encode_query" not in vars(m)  # the instance is as it was
    m.encode_query(["c"])
    assert m.bars[-1] is True and "library print" in capsys.readouterr().out


def test_bars_stay_by_default_and_everything_is_restored_after_an_error():
    m = Model()
    with pytest.raises(RuntimeError):
        with quiet.libraries(m):
            m.encode_query(["a"])
            raise RuntimeError("boom")
    assert m.bars == [True] and "encode_query" not in vars(m)


def test_run_times_round_trip_and_table(tmp_path, monkeypatch):
    nb = tmp_path / "notebooks"
    nb.mkdir()
    for name in ("00_setup.ipynb", "01_why.ipynb"):
        (nb / name).write_text("{}")
    monkeypatch.setattr(paths, "NOTEBOOKS", nb)
    monkeypatch.setattr(runtimes, "RUN_TIMES", nb / "run_times.json")
    assert runtimes.load() == {}
    runtimes.save({"00_setup.ipynb": 61.0}, "cpu", "CPU: test")
    runtimes.save({"00_setup.ipynb": 5.04}, "smoke", "CPU: test")
    stored = json.loads((nb / "run_times.json").read_text())
    assert stored["00_setup.ipynb"]["cpu"]["seconds"] == 61.0
    assert stored["00_setup.ipynb"]["smoke"]["hardware"] == "CPU: test"
    table = runtimes.table().set_index("notebook")
    assert table.loc["00_setup.ipynb", "cpu (min)"] == 1.0
    assert table.loc["01_why.ipynb", "cpu (min)"] == "not measured"


def test_the_committed_run_times_cover_every_lesson():
    measured = runtimes.load()
    assert {p.name for p in paths.lessons()} <= set(measured)
    assert all(entry["cpu"]["seconds"] > 0 for name, entry in measured.items() if "cpu" in entry)
