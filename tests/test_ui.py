"""helpers.ui and the upload of 06: ipywidgets 8 (the project's), ipywidgets 7.7.1 (Colab's, run for
real in a subprocess), no usable ipywidgets, and Colab's own upload dialog (a fake google.colab)."""
from __future__ import annotations

import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pandas as pd
import pytest

from helpers import network, paths, ui

GOOD_CSV = ("anchor,positive\n" + "".join(f"question {i} about bikes,answer number {i} for the shop\n"
                                          for i in range(12))).encode()


def render_twice(query, size=None):
    return f"header {query} {size}", pd.DataFrame({"hit": [query.upper()], "size": [size]})


def test_explorer_draws_at_once_and_on_every_change():
    panel = ui.explorer(render_twice, "tyre", choices=[384, 32], choice_label="dims:")
    slider, box = panel.children[0].children
    shown = panel.children[1]
    assert shown.outputs[0]["text"] == "header tyre 384\n"
    box.value = "chain"
    assert shown.outputs[0]["text"] == "header chain 384\n"
    slider.value = 32
    assert shown.outputs[0]["text"] == "header chain 32\n"
    assert "CHAIN" in shown.outputs[1]["data"]["text/plain"]
    box.value = "   "
    assert shown.outputs == ()


def test_explorer_without_a_slider_and_a_bad_query():
    def render(query):
        if query == "boom":
            raise KeyError("no such qid")
        return render_twice(query)
    panel = ui.explorer(render, "tyre")
    box, shown = panel.children
    box.value = "boom"
    assert shown.outputs[0]["text"].startswith("KeyError")


def test_explorer_refuses_bad_arguments():
    with pytest.raises(ValueError, match="starting query"):
        ui.explorer(render_twice, "  ")
    with pytest.raises(ValueError, match="not one of"):
        ui.explorer(render_twice, "x", choices=[1, 2], choice=3)


def test_explorer_falls_back_to_plain_output(monkeypatch, capsys):
    monkeypatch.setattr(ui, "widget_library", lambda: (None, "ipywidgets is not installed"))
    assert ui.explorer(render_twice, "tyre", choices=[64]) is None
    out = capsys.readouterr().out
    assert "No interactive box here (ipywidgets is not installed)" in out
    assert "header tyre 64" in out and "TYRE" in out


def test_widget_library_refuses_an_old_ipywidgets(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", types.SimpleNamespace(__version__="7.6.5"))
    widgets, why = ui.widget_library()
    assert widgets is None and "7.6.5 is older than 7.7" in why


def test_uploaded_files_reads_both_formats():
    eight = ({"name": "a.csv", "type": "text/csv", "size": 3, "content": memoryview(b"abc"),
              "last_modified": 0},)
    seven = {"a.csv": {"metadata": {"name": "a.csv", "type": "text/csv", "size": 3},
                       "content": b"abc"}}
    assert ui.uploaded_files(eight) == ui.uploaded_files(seven) == [("a.csv", b"abc")]
    assert ui.uploaded_files(()) == ui.uploaded_files({}) == []


def test_upload_button_in_both_formats(tmp_path):
    uploader = ui.Uploader(folder=tmp_path / "up")
    uploader.show()
    assert uploader.button is not None and uploader.widget is not None
    uploader._on_upload({"new": {"bikes.csv": {"metadata": {"name": "bikes.csv"},
                                               "content": GOOD_CSV}}})
    first = uploader.path
    assert first.read_bytes() == GOOD_CSV
    assert "Saved a copy" in uploader.output.outputs[0]["text"]
    assert "12 pairs" in uploader.output.outputs[-1]["text"]
    uploader._on_upload({"new": ({"name": "bikes.csv", "content": memoryview(GOOD_CSV)},)})
    assert uploader.path != first and first.exists(), "a second upload never replaces the first"


@pytest.fixture
def fake_colab(monkeypatch, tmp_path):
    """A google.colab whose files.upload writes into the current folder, as Colab's does."""
    calls = {"manager": 0, "answer": {"pairs.csv": GOOD_CSV}, "cwd": None}

    def upload():
        calls["cwd"] = Path.cwd()
        for name, content in calls["answer"].items():
            (calls["cwd"] / name).write_bytes(content)
        return dict(calls["answer"])

    def enable_custom_widget_manager():
        calls["manager"] += 1

    google = types.ModuleType("google")
    colab = types.ModuleType("google.colab")
    colab.files = types.SimpleNamespace(upload=upload)
    colab.output = types.SimpleNamespace(enable_custom_widget_manager=enable_custom_widget_manager)
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setitem(sys.modules, "google.colab.files", colab.files)
    monkeypatch.setitem(sys.modules, "google.colab.output", colab.output)
    monkeypatch.chdir(tmp_path)
    return calls


def test_colab_upload_keeps_a_copy_and_leaves_the_folder_alone(fake_colab, tmp_path, capsys):
    (tmp_path / "pairs.csv").write_text("mine, not to be touched")
    uploader = ui.Uploader(folder=tmp_path / "up")
    uploader.show()
    assert uploader.path.parent == tmp_path / "up" and uploader.path.read_bytes() == GOOD_CSV
    assert (tmp_path / "pairs.csv").read_text() == "mine, not to be touched"
    assert fake_colab["cwd"] != tmp_path and not fake_colab["cwd"].exists(), "scratch folder removed"
    assert Path.cwd() == tmp_path
    assert "Saved a copy" in capsys.readouterr().out


def test_colab_upload_cancelled(fake_colab, tmp_path, capsys):
    fake_colab["answer"] = {}
    uploader = ui.Uploader(folder=tmp_path / "up")
    uploader.show()
    assert uploader.choose("data/x.csv") == "data/x.csv"
    assert "No file uploaded: PAIRS_FILE is used." in capsys.readouterr().out


def test_colab_with_ipywidgets_8_switches_on_its_widget_manager(fake_colab):
    widgets, _ = ui.widget_library()
    assert widgets is not None and fake_colab["manager"] == 1


# --------------------------------------------------------------------------------------------------
# ipywidgets 7.7.1, Colab's version, for real (installed from the package index into build/)
# --------------------------------------------------------------------------------------------------

IPYWIDGETS_7 = ["ipywidgets==7.7.1", "widgetsnbextension==3.6.1", "jupyterlab_widgets==1.1.1",
                "ipython_genutils==0.2.0"]


@pytest.fixture(scope="module")
def ipywidgets7():
    target = paths.BUILD / "ipywidgets-7.7.1"
    if not (target / "ipywidgets" / "__init__.py").exists():
        if not network.reachable("https://pypi.org/simple/ipywidgets/", timeout=3):
            pytest.skip("the package index is not reachable: cannot install ipywidgets 7.7.1")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                        "--target", str(target), *IPYWIDGETS_7], check=True, timeout=300)
    return target


def test_the_widgets_work_with_ipywidgets_7(ipywidgets7, tmp_path):
    script = textwrap.dedent(f"""
        import pandas as pd, ipywidgets
        assert ipywidgets.__version__ == "7.7.1", ipywidgets.__version__
        from helpers import tryit, ui

        def render(query, size):
            return f"header {{query}} {{size}}", pd.DataFrame({{"hit": [query]}})

        panel = ui.explorer(render, "tyre", choices=[384, 32])
        slider, box = panel.children[0].children
        shown = panel.children[1]
        box.value = "chain"
        slider.value = 32
        assert shown.outputs[0]["text"] == "header chain 32\\n", shown.outputs
        uploader = ui.Uploader(folder={str(tmp_path / "up")!r})
        uploader.show()
        uploader._on_upload({{"new": {{"bikes.csv": {{"metadata": {{"name": "bikes.csv"}},
                                                       "content": {GOOD_CSV!r}}}}}}})
        assert uploader.path is not None and "12 pairs" in uploader.output.outputs[-1]["text"]
        print("ipywidgets 7.7.1 ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**__import__("os").environ, "PYTHONPATH": f"{ipywidgets7}:{paths.ROOT}"},
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ipywidgets 7.7.1 ok" in done.stdout
