"""The notebooks: lint (guide §5), one shared setup cell, and a papermill run of each in the smoke profile.

nbval (`pytest --nbval-lax notebooks/`, run by `make test`) then checks the cells marked
``# NBVAL_CHECK_OUTPUT`` against the committed outputs.
"""
import json
import re

import nbformat
import pytest
import tomllib

from helpers import paths
from tools import pipeline

LESSONS = paths.lessons()
ALL = LESSONS + paths.solutions()
IDS = [str(p.relative_to(pipeline.NOTEBOOKS_DIR)) for p in ALL]
REPO_URL = tomllib.loads((paths.ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
MACHINE_PATH = re.compile(r"/(root|work|tmp|home|Users|content)/")
NOISE = re.compile(r"(DeprecationWarning|FutureWarning|Traceback \(most recent call last\))")


def load(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    return nb


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def test_there_are_lessons():
    assert LESSONS and LESSONS[0].name == "00_setup.ipynb"
    numbers = [p.name[:2] for p in LESSONS]
    assert numbers == sorted(set(numbers)), "lesson numbers must be unique and ordered"


@pytest.mark.parametrize("path", ALL, ids=IDS)
def test_lint(path):
    nb = load(path)
    num = path.name[:2]
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith(f"# {num} · "), \
        "the first cell is the title '# NN · ...' with the file's number"
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    code = code_cells(nb)
    assert any("parameters" in c.metadata.get("tags", []) for c in code), "no cell tagged 'parameters'"
    params = next(c for c in code if "parameters" in c.metadata.get("tags", []))
    assert 'PROFILE = "auto"' in params.source and "SEED = " in params.source
    counts = [c.execution_count for c in code if c.source.strip()]
    if any(counts):
        assert None not in counts and counts == sorted(counts), "outputs are not from one top-to-bottom run"
    for c in code:
        for out in c.get("outputs", []):
            assert out.output_type != "error", f"an error output: {out.get('ename')}"
            text = json.dumps(out)
            assert not MACHINE_PATH.search(text), f"an output shows a machine path: {MACHINE_PATH.search(text)[0]}"
            assert not NOISE.search(text), f"an output shows {NOISE.search(text)[0]}"
    assert not nb.metadata.get("papermill") and not nb.metadata.get("widgets"), "metadata noise: run make record"


@pytest.mark.parametrize("path", ALL, ids=IDS)
def test_helper_modules_are_imported_and_never_shadowed(path):
    """Every ``helpers`` module a notebook uses is imported, and no variable takes a module's name
    (a local ``curves = {}`` would hide ``helpers.curves`` in every later cell)."""
    import ast

    code = "\n".join(c.source for c in code_cells(load(path)) if not c.source.lstrip().startswith("%"))
    tree = ast.parse(code)
    imported = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                and n.module == "helpers" for a in n.names}
    modules = {p.stem for p in (paths.ROOT / "helpers").iterdir()
               if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()}
    used = {n.value.id for n in ast.walk(tree) if isinstance(n, ast.Attribute)
            and isinstance(n.value, ast.Name) and n.value.id in modules}
    assigned = {t.id for n in ast.walk(tree) if isinstance(n, (ast.Assign, ast.For, ast.AugAssign))
                for t in ast.walk(n.targets[0] if isinstance(n, ast.Assign) else n.target)
                if isinstance(t, ast.Name)}
    assert used <= imported, f"used without import: {sorted(used - imported)}"
    assert not (assigned & imported), f"a variable shadows a helpers module: {sorted(assigned & imported)}"


@pytest.mark.parametrize("path", ALL, ids=IDS)
def test_shape_badge_setup_and_record(path):
    nb = load(path)
    rel = path.relative_to(pipeline.NOTEBOOKS_DIR).as_posix()
    text = "\n".join(c.source for c in nb.cells)
    slug = REPO_URL.split("github.com/")[1]
    assert f"colab.research.google.com/github/{slug}/blob/main/notebooks/{rel}" in text, "Colab badge"
    setup = [c for c in code_cells(nb) if "REPO_URL = " in c.source]
    assert len(setup) == 1, "exactly one setup cell"
    canonical = next(c for c in code_cells(load(LESSONS[0])) if "REPO_URL = " in c.source).source
    assert setup[0].source == canonical, "every notebook's setup cell is the same as 00_setup's"
    assert f'REPO_URL = "{REPO_URL}"' in setup[0].source, "setup cell and pyproject agree on the URL"
    if path in LESSONS:
        assert "## Exercises" in text and f"**Exercise {int(path.name[:2])}.1**" in text
        assert "results.record(" in code_cells(nb)[-1].source, "the last cell records the headline numbers"


@pytest.mark.parametrize("path", ALL, ids=IDS)
def test_runs_in_smoke_profile(path, tmp_path):
    out = tmp_path / path.name
    # a cell that hangs fails within 10 minutes instead of holding CI for the default hour
    seconds = pipeline.execute(path, out, profile="smoke", results=tmp_path / "results.json", timeout=600)
    nb = load(out)
    for c in code_cells(nb):
        for o in c.get("outputs", []):
            assert o.output_type != "error"
            assert not NOISE.search(json.dumps(o)), f"{path.name}: {NOISE.search(json.dumps(o))[0]} in output"
    if path in LESSONS:
        stored = json.loads((tmp_path / "results.json").read_text())
        assert stored, "the notebook recorded no headline numbers"
    print(f"{path.name}: {seconds:.0f} s in the smoke profile")
