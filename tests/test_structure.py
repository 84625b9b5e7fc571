"""The shape of the package: one module per idea, no reaching into another module's private names,
``device`` free of the rest, no network on import, one base for every error, tools outside."""
import ast
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import errors, paths

PACKAGE = paths.ROOT / "helpers"
MODULES = sorted(PACKAGE.rglob("*.py"))
# A module may run past this only with a reason written here.
MAX_LINES = 560
LONGER_ALLOWED: dict[str, str] = {}


def rel(path: Path) -> str:
    return path.relative_to(paths.ROOT).as_posix()


def imports(path: Path):
    """(module, name) for every ``from X import name`` in a file (relative modules resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(paths.ROOT).with_suffix("").parts[:-1])
    if path.name == "__init__.py":
        package = ".".join(path.relative_to(paths.ROOT).parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                yield base, alias.name


def test_no_module_imports_a_private_name_from_another():
    offenders = [f"{rel(p)}: from {mod} import {name}" for p in MODULES for mod, name in imports(p)
                 if name.startswith("_") and mod.startswith("helpers") and name != "__version__"]
    assert not offenders, offenders


def test_no_module_reaches_into_a_private_attribute_of_another():
    offenders = []
    for p in MODULES:
        tree = ast.parse(p.read_text(encoding="utf-8"))
        imported = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                    and (n.level or (n.module or "").startswith("helpers")) for a in n.names}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                    and not node.attr.startswith("__") and isinstance(node.value, ast.Name)
                    and node.value.id in imported):
                offenders.append(f"{rel(p)}:{node.lineno}: {node.value.id}.{node.attr}")
    assert not offenders, offenders


def test_device_imports_nothing_from_the_package():
    found = [(m, n) for m, n in imports(PACKAGE / "device.py") if m.startswith("helpers")]
    assert not found, found


@pytest.mark.parametrize("path", MODULES, ids=rel)
def test_modules_stay_small(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_LINES or rel(path) in LONGER_ALLOWED, f"{rel(path)} has {n} lines"


def test_tools_are_outside_the_package():
    assert not (PACKAGE / "pipeline.py").exists() and not (PACKAGE / "workshop.py").exists()
    assert (paths.ROOT / "tools" / "pipeline.py").exists()
    assert all("helpers" not in m or m.startswith("helpers") for p in MODULES for m, _ in imports(p))
    assert not [rel(p) for p in MODULES for m, _ in imports(p) if m.startswith("tools")]


def test_import_helpers_opens_no_connection(tmp_path):
    """Importing every module must not touch the network (the decision waits for profiles.start)."""
    code = (
        "import socket\n"
        "def refuse(*a, **k):\n"
        "    raise SystemExit('a connection was attempted on import')\n"
        "socket.create_connection = refuse\n"
        "socket.socket.connect = refuse\n"
        "import helpers, helpers.data, helpers.training, helpers.metrics, helpers.curves\n"
        "import helpers.costs, helpers.explore, helpers.plots, helpers.tryit, helpers.matryoshka\n"
        "import helpers.synth, helpers.ui\n"
        "import helpers.environment, helpers.runtimes, helpers.quiet, helpers.network\n"
        "print('ok')\n")
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


@pytest.mark.parametrize("value, offline", [("1", True), ("True", True), ("yes", True),
                                            ("ON", True), ("0", False), ("", False)])
def test_offline_setting_is_read_in_any_case(monkeypatch, value, offline):
    from helpers import network
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    assert network.offline_by_setting() is offline


def test_going_offline_reaches_an_imported_hub_library(monkeypatch):
    import huggingface_hub.constants as constants

    from helpers import network
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)  # CI sets both
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: (_ for _ in ()).throw(OSError()))
    assert network.is_online(refresh=True) is False
    assert constants.HF_HUB_OFFLINE is True and os.environ["HF_HUB_OFFLINE"] == "1"


def test_every_error_derives_from_workbook_error():
    from helpers import (
        costs,
        curves,
        data,
        explore,
        matryoshka,
        metrics,
        models,
        plots,
        profiles,
        training,
    )
    classes = [data.DataError, metrics.MetricsError, training.TrainingError, costs.CostError,
               curves.CurveError, explore.ExploreError, matryoshka.MatryoshkaError,
               plots.PlotError, profiles.ProfileError, models.ModelNotFound]
    for cls in classes:
        assert issubclass(cls, errors.WorkbookError), cls
    # The ones about bad input stay ValueErrors too (code written against them keeps working).
    assert all(issubclass(c, ValueError) for c in classes if c is not models.ModelNotFound)
    assert issubclass(models.ModelNotFound, OSError)


def test_one_file_hash(tmp_path):
    import hashlib
    f = tmp_path / "x.bin"
    f.write_bytes(b"workbook" * 300_000)
    assert paths.file_sha256(f) == hashlib.sha256(f.read_bytes()).hexdigest()


def test_one_precision_rule():
    from helpers import device
    assert device.gpu("T4").precision == "fp16"
    assert device.gpu("A100").precision == "bf16" and device.gpu("H200").precision == "bf16"
    with pytest.raises(ValueError, match="Unknown GPU"):
        device.gpu("V100X")


def test_return_types_do_not_depend_on_a_flag():
    import inspect

    from helpers import data, metrics
    for fn in (metrics.evaluate, metrics.evaluate_per_query, metrics.ir_metrics,
               metrics.ir_metrics_per_query, data.mine, data.mine_hard_negatives):
        params = inspect.signature(fn).parameters
        assert "per_query" not in params and "return_stats" not in params, fn.__name__


def test_no_parameter_shadows_the_metrics_module():
    """A parameter called ``metrics`` hid the module inside the function; they are metric_names."""
    offenders = []
    for p in MODULES:
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names = [a.arg for a in node.args.args + node.args.kwonlyargs]
                if "metrics" in names:
                    offenders.append(f"{rel(p)}:{node.lineno} {node.name}")
    assert not offenders, offenders
