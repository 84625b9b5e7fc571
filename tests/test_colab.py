"""Colab: the setup cell run as Colab runs it, the pins it installs, the maintainer commands.

The setup cell (taken from notebooks/00_setup.ipynb, so the real cell is checked) runs in a
subprocess of a bare virtual environment, with a fake ``google.colab`` imported first, a fake
``git`` first on PATH (it "clones" by copying files of this repository, or fails as git does) and a
fake ``pip`` package that shadows the real one for ``python -m pip`` (it records its arguments and
"installs" by writing the workbook's dist-info). Nothing is fetched and torch is never imported.
"""
import json
import os
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import tomllib

from helpers import paths
from tools import colab, colab_setup

ROOT = paths.ROOT
REPO_URL = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def setup_source(path=ROOT / "notebooks" / "00_setup.ipynb") -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    sources = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    return next(s for s in sources if "REPO_URL = " in s)


FAKE_GIT = """\
#!{python}
import json, os, shutil, sys
from pathlib import Path
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps({{"cmd": "git", "args": args,
                          "prompt": os.environ.get("GIT_TERMINAL_PROMPT")}}) + "\\n")
pos, rest = [], iter(args[1:])
for a in rest:
    if a == "--depth":
        next(rest)
    elif not a.startswith("-"):
        pos.append(a)
url, dest = pos
if os.environ.get("FAKE_GIT_FAIL"):
    print(f"Cloning into '{{dest}}'...", file=sys.stderr)
    print(f"fatal: unable to access '{{url}}/': Could not resolve host: github.com",
          file=sys.stderr)
    sys.exit(128)
dest = Path(dest)
if dest.exists() and any(dest.iterdir()):
    print(f"fatal: destination path '{{dest}}' already exists and is not an empty directory.",
          file=sys.stderr)
    sys.exit(128)
src = Path(os.environ["FAKE_GIT_SOURCE"])
skip = shutil.ignore_patterns("__pycache__", "*.pyc")
dest.mkdir(parents=True, exist_ok=True)
for name in ("pyproject.toml", "constraints.txt", "constraints-colab.txt", "README.md"):
    shutil.copy2(src / name, dest / name)
for name in ("helpers", "tools"):
    shutil.copytree(src / name, dest / name, ignore=skip)
(dest / "notebooks").mkdir()
shutil.copy2(src / "notebooks" / "00_setup.ipynb", dest / "notebooks")
"""

FAKE_PIP = """\
import json, os, sys
from pathlib import Path
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps({"cmd": "pip", "args": sys.argv[1:]}) + "\\n")
if os.environ.get("FAKE_PIP_FAIL"):
    for i in range(60):
        print(f"Collecting package-{i}")
    print("ERROR: Could not find a version that satisfies the requirement transformers==5.24.0",
          file=sys.stderr)
    print("ERROR: No matching distribution found for transformers==5.24.0", file=sys.stderr)
    sys.exit(1)
info = Path(os.environ["FAKE_SITE"]) / "finetuning_embeddings_workbook-0.1.0.dist-info"
info.mkdir(parents=True, exist_ok=True)
(info / "METADATA").write_text("Metadata-Version: 2.1\\nName: finetuning-embeddings-workbook\\n"
                               "Version: 0.1.0\\n")
"""

DRIVER = """\
import json, os, sys
if os.environ.get("FAKE_COLAB"):
    import google.colab  # Colab imports it before any cell runs
source = open(sys.argv[1], encoding="utf-8").read()
try:
    exec(compile(source, "setup-cell", "exec"), {"__name__": "__main__"})
except Exception as e:
    result = {"error": type(e).__name__, "message": str(e)}
else:
    import helpers
    result = {"error": None, "helpers": helpers.__file__, "cwd": os.getcwd(),
              "heavy": sorted(m for m in ("torch", "transformers", "pandas") if m in sys.modules)}
print("RESULT " + json.dumps(result))
"""


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    """A virtual environment without pip and without the workbook: Colab before the setup cell."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return venv / "bin" / "python"


class Colab:
    """A fake Colab around one folder: run the setup cell, read what git and pip were asked."""

    def __init__(self, tmp: Path, python: Path):
        self.tmp, self.python = tmp, python
        self.workbook = tmp / "content" / "workbook"
        self.log = tmp / "log.jsonl"
        self.site = tmp / "site"
        bin_dir, fakes = tmp / "bin", tmp / "fakes"
        (fakes / "google" / "colab").mkdir(parents=True)
        (fakes / "google" / "colab" / "__init__.py").write_text('"""Colab\'s package, faked."""\n')
        (fakes / "pip").mkdir()
        (fakes / "pip" / "__init__.py").write_text("")
        (fakes / "pip" / "__main__.py").write_text(FAKE_PIP)
        bin_dir.mkdir()
        git = bin_dir / "git"
        git.write_text(FAKE_GIT.format(python=sys.executable))
        git.chmod(0o755)
        self.site.mkdir()
        (tmp / "cell.py").write_text(setup_source(), encoding="utf-8")
        (tmp / "driver.py").write_text(DRIVER)
        self.env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp),
                    "PYTHONPATH": os.pathsep.join(map(str, (fakes, self.site))),
                    "WORKBOOK_DIR": str(self.workbook), "FAKE_LOG": str(self.log),
                    "FAKE_SITE": str(self.site), "FAKE_GIT_SOURCE": str(ROOT), "FAKE_COLAB": "1",
                    "PYTHONDONTWRITEBYTECODE": "1"}

    def run(self, cwd: Path | None = None, **env) -> tuple[dict, str]:
        cmd = [str(self.python), str(self.tmp / "driver.py"), str(self.tmp / "cell.py")]
        done = subprocess.run(cmd, cwd=cwd or self.tmp, env={**self.env, **env},
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        return json.loads(lines[-1].removeprefix("RESULT ")), "\n".join(lines[:-1])

    def calls(self, cmd: str) -> list[dict]:
        if not self.log.exists():
            return []
        return [c for c in map(json.loads, self.log.read_text().splitlines()) if c["cmd"] == cmd]


@pytest.fixture()
def fake(tmp_path, bare_python):
    return Colab(tmp_path, bare_python)


def test_first_run_clones_installs_with_pins_and_stamps_then_second_run_skips_both(fake):
    result, said = fake.run()
    wb = fake.workbook
    assert result["error"] is None, result
    [git] = fake.calls("git")
    assert git["args"] == ["clone", "--depth", "1", "--quiet", REPO_URL, str(wb)]
    assert git["prompt"] == "0", "git must fail rather than ask for a password nobody can type"
    [pip] = fake.calls("pip")
    assert pip["args"] == ["install", "-q", "-c", str(wb / "constraints-colab.txt"), "-e", str(wb)]
    assert (wb / ".colab-installed").read_text().strip() == colab_setup.fingerprint(wb)
    assert Path(result["helpers"]).resolve() == (wb / "helpers" / "__init__.py").resolve()
    assert Path(result["cwd"]).resolve() == (wb / "notebooks").resolve()
    assert result["heavy"] == [], "the setup cell and `import helpers` import nothing heavy"
    assert "installed" in said

    result, said = fake.run()
    assert result["error"] is None, result
    assert len(fake.calls("git")) == 1 and len(fake.calls("pip")) == 1, "no clone, no install"
    assert "already installed (stamp ok)" in said

    # New pins or dependencies in the clone (a later `git pull`): the stamp no longer matches.
    with open(wb / "constraints-colab.txt", "a") as f:
        f.write("# changed\n")
    result, _ = fake.run()
    assert result["error"] is None and len(fake.calls("pip")) == 2 and len(fake.calls("git")) == 1


def test_a_failed_install_says_why_and_the_next_run_retries_it(fake):
    result, _ = fake.run(FAKE_PIP_FAIL="1")
    assert result["error"] == "InstallError"
    assert "No matching distribution found for transformers==5.24.0" in result["message"]
    assert "run this cell again to retry" in result["message"]
    assert "Collecting package-0\n" not in result["message"], "only the end of pip's output"
    assert not (fake.workbook / ".colab-installed").exists()

    result, _ = fake.run()
    assert result["error"] is None, result
    assert len(fake.calls("git")) == 1 and len(fake.calls("pip")) == 2, "installed, no new clone"
    assert (fake.workbook / ".colab-installed").exists()


def test_an_unreachable_repository_fails_at_once_with_gits_message_and_leaves_nothing(fake):
    start = time.perf_counter()
    result, _ = fake.run(FAKE_GIT_FAIL="1")
    assert time.perf_counter() - start < 10
    assert result["error"] == "RuntimeError"
    assert result["message"].startswith(f"Could not fetch the workbook from {REPO_URL}: ")
    assert "fatal: unable to access" in result["message"]
    assert "Could not resolve host: github.com" in result["message"]
    assert not fake.workbook.exists() and fake.calls("pip") == []

    result, _ = fake.run()
    assert result["error"] is None, result
    assert len(fake.calls("git")) == 2 and len(fake.calls("pip")) == 1


def test_a_folder_that_is_not_the_workbook_is_reported_and_kept(fake):
    fake.workbook.mkdir(parents=True)
    (fake.workbook / "my_notes.txt").write_text("mine")
    result, _ = fake.run()
    assert result["error"] == "RuntimeError"
    assert str(fake.workbook) in result["message"]
    assert "rename or delete it" in result["message"]
    assert (fake.workbook / "my_notes.txt").read_text() == "mine"
    assert fake.calls("git") == [] and fake.calls("pip") == []


def test_outside_colab_the_cell_installs_nothing_and_finds_helpers_above(fake):
    result, _ = fake.run(cwd=ROOT / "notebooks", FAKE_COLAB="")
    assert result["error"] is None, result
    assert Path(result["helpers"]).resolve() == (ROOT / "helpers" / "__init__.py").resolve()
    assert fake.calls("git") == [] and fake.calls("pip") == [] and not fake.workbook.exists()


# ---- ensure_installed in this process: pip's output, a restart after a replaced import -----------

def workbook_copy(tmp_path: Path, pins: str) -> Path:
    wb = tmp_path / "workbook"
    wb.mkdir()
    shutil.copy2(ROOT / "pyproject.toml", wb)
    (wb / colab_setup.CONSTRAINTS).write_text(pins)
    return wb


class FakePip:
    def __init__(self, returncode=0, output="", errors="", then=None):
        self.returncode, self.output, self.errors = returncode, output, errors
        self.then, self.calls = then, []

    def __call__(self, cmd, **kw):
        self.calls.append(cmd)
        if self.then:
            self.then()
        return subprocess.CompletedProcess(cmd, self.returncode, self.output, self.errors)


def test_a_failed_install_keeps_the_last_40_lines_of_pip(tmp_path, monkeypatch):
    monkeypatch.setenv(colab_setup.RESTART_PENDING, "")
    wb = workbook_copy(tmp_path, "numpy==2.0.0\n")
    pip = FakePip(1, "\n".join(f"line {i}" for i in range(99)), "line 99")
    with pytest.raises(colab_setup.InstallError) as err:
        colab_setup.ensure_installed(wb, python="py", run=pip, say=lambda *_: None)
    constraints = str(wb / "constraints-colab.txt")
    assert pip.calls == [["py", "-m", "pip", "install", "-q", "-c", constraints, "-e", str(wb)]]
    message = str(err.value)
    assert "line 99" in message and "line 60" in message and "line 59\n" not in message
    assert "exit status 1" in message and "run this cell again to retry" in message
    assert not (wb / colab_setup.STAMP).exists()


def fake_distribution(site: Path, version: str) -> None:
    info = site / "fakepkg_for_colab-1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakepkg-for-colab\n"
                                   f"Version: {version}\n")
    (info / "top_level.txt").write_text("fakepkg_for_colab\n")


@pytest.mark.parametrize("imported", [True, False])
def test_pip_replacing_an_imported_package_asks_for_a_restart(tmp_path, monkeypatch, imported):
    monkeypatch.setenv(colab_setup.RESTART_PENDING, "")
    site = tmp_path / "site"
    fake_distribution(site, "1.0")
    monkeypatch.syspath_prepend(str(site))
    if imported:
        module = types.ModuleType("fakepkg_for_colab")
        module.__file__, module.__version__ = str(site / "fakepkg_for_colab.py"), "1.0"
        monkeypatch.setitem(sys.modules, "fakepkg_for_colab", module)
    wb = workbook_copy(tmp_path, "fakepkg-for-colab==2.0\nnumpy==2.0.0\n")
    said = []
    pip = FakePip(then=lambda: fake_distribution(site, "2.0"))
    if not imported:
        colab_setup.ensure_installed(wb, python="py", run=pip, say=said.append)
        assert not any("Restart" in s for s in said)
        return
    with pytest.raises(colab_setup.RestartNeeded):
        colab_setup.ensure_installed(wb, python="py", run=pip, say=said.append)
    assert (wb / colab_setup.STAMP).exists(), "installed: after the restart the cell skips pip"
    line = said[-1]
    assert "fakepkg-for-colab 1.0 -> 2.0" in line and "Runtime > Restart session" in line
    assert "\n" not in line
    # Run again without restarting: still stopped, and pip is not run again.
    with pytest.raises(colab_setup.RestartNeeded):
        colab_setup.ensure_installed(wb, python="py", run=pip, say=said.append)
    assert len(pip.calls) == 1


# ---- constraints-colab.txt and the notebooks -----------------------------------------------------

def pins(path: Path) -> dict[str, str]:
    return colab_setup.pinned(path)


def test_colab_constraints_are_current_and_leave_colabs_own_packages_alone(capsys):
    assert colab.main(["constraints", "--check"]) == 0, capsys.readouterr().out
    text = (ROOT / "constraints-colab.txt").read_text()
    assert text.startswith("# GENERATED by `python -m tools.colab constraints`")
    ours, full = pins(ROOT / "constraints-colab.txt"), pins(ROOT / "constraints.txt")
    for name in ("torch", "ipywidgets", "ipython", "ipykernel", "traitlets", "comm", "tornado",
                 "widgetsnbextension", "jupyterlab-widgets", "pyzmq", "prompt-toolkit", "sympy",
                 "networkx"):
        assert name not in ours, f"{name} is Colab's (or only torch's or ipywidgets'): not pinned"
    owned = ("nvidia-", "jupyter", "triton", "torchvision", "torchaudio")
    assert not [n for n in ours if n.startswith(owned)]
    for name in ("transformers", "sentence-transformers", "pandas", "numpy", "datasets"):
        assert ours[name] == full[name]
    assert all(full[n] == v for n, v in ours.items()), "every Colab pin is constraints.txt's"


def test_every_notebook_has_the_templates_setup_cell_and_badge(capsys):
    assert colab.main(["sync", "--check"]) == 0, capsys.readouterr().out
    assert setup_source() == colab.setup_cell(REPO_URL)
    assert colab.SETUP_CELL.splitlines()[0] == ("# extra code – setup: nothing to learn here, "
                                                "it makes the notebook run anywhere")


def test_set_repo_url_rewrites_pyproject_badges_and_setup_cells_only(tmp_path):
    shutil.copy2(ROOT / "pyproject.toml", tmp_path)
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    files = [tmp_path / "pyproject.toml", *colab.notebooks(tmp_path)]
    before = {p: p.read_text(encoding="utf-8") for p in files}
    lessons = paths.lessons(tmp_path / "notebooks")
    assert len(lessons) >= 8 and len(before) == 1 + 2 * len(lessons)  # each with its solutions

    changed = colab.set_repo_url("https://github.com/someone/fork.git/", root=tmp_path)
    assert sorted(changed) == sorted(before)
    assert colab.repo_url(tmp_path) == "https://github.com/someone/fork"
    for path, old in before.items():
        new = path.read_text(encoding="utf-8").splitlines()
        assert len(new) == len(old.splitlines())
        diff = [(a, b) for a, b in zip(old.splitlines(), new) if a != b]
        if path.suffix == ".ipynb":
            rel = path.relative_to(tmp_path / "notebooks").as_posix()
            assert len(diff) == 2, diff
            badge = f"colab.research.google.com/github/someone/fork/blob/main/notebooks/{rel})"
            assert badge in diff[0][1]
            assert 'REPO_URL = \\"https://github.com/someone/fork\\"' in diff[1][1]
        else:
            assert diff == [(f'Repository = "{REPO_URL}"',
                             'Repository = "https://github.com/someone/fork"')]

    colab.set_repo_url(REPO_URL, root=tmp_path)
    assert all(p.read_text(encoding="utf-8") == old for p, old in before.items()), "back, exactly"
    with pytest.raises(SystemExit):
        colab.set_repo_url("https://gitlab.com/someone/fork", root=tmp_path)
