"""Which Pythons the workbook supports, and the proof.

The claim lives in three places that must agree: pyproject's ``requires-python`` (one floor,
``>=X.Y.Z``, and any single releases a pin excludes, ``!=X.Y.Z``), its
``Programming Language :: Python :: X.Y`` classifiers, and README.md's one sentence ("Both need
only Python X.Y.Z or newer (the pinned versions install on Python ...; not on X.Y or X.Y.Z)").
Those checks are offline.

The proof asks pip, for another Python than the one running the tests, whether the pinned set
resolves: every pin in constraints.txt (as a requirement, so no pin escapes the check and a pin
that cannot be had fails at once instead of sending the resolver backtracking for minutes) plus
the package's runtime, lab and test requirements from pyproject, constrained by constraints.txt,
binary wheels only (``--python-version`` allows nothing else; every pin has wheels):

    pip install --dry-run --ignore-installed --only-binary=:all: --python-version X.Y.Z \
        --target TMP --report TMP/report.json -c constraints.txt -r constraints.txt <requirements>

It must succeed for each classifier's version (at the floor's patch level for the floor's minor
version) and fail for the versions just below the floor (the patch release below it, and the
minor version below it that README names) and for each excluded release. The limits: pip checks
Requires-Python and wheel tags for the given version but evaluates environment markers for the
interpreter running it (pip's documented behaviour), and only for this machine's platform (Linux
x86-64 in CI); macOS and Windows wheels are not checked.

The resolution needs the package index. Without it (a HEAD request to PyPI, 3 s) the tests are
skipped with the reason, except in CI, which reaches the registries and must run them. pip's cache
is used as configured. ``--use-feature=fast-deps`` (where this pip has it) reads a wheel's metadata
with range requests when the index does not serve it separately (PEP 658); PyPI does serve it, a
mirror without it would otherwise download every wheel (torch and its CUDA wheels: minutes).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import skip_or_fail_in_ci
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from helpers import network

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints.txt"
INDEX = "https://pypi.org/simple/"
RESOLVE_LIMIT_S = 300  # one resolution; about 20 s against PyPI
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
README = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
SENTENCE = re.compile(
    r"Python (?P<floor>\d+\.\d+(?:\.\d+)?) or newer \(the pinned versions install on Python "
    r"(?P<versions>[\d., and]+?), so Colab's (?P<colab>\d+\.\d+) works too; "
    r"not on (?P<below>\d+\.\d+)(?: or (?P<excluded>[\d., and]+?))?\)")
CLASSIFIER = re.compile(r"Programming Language :: Python :: (\d+\.\d+)$")


def _specs() -> tuple[Version, list[Version]]:
    """requires-python as (the floor, the single releases it excludes)."""
    specs = list(SpecifierSet(PROJECT["requires-python"]))
    floors = [Version(s.version) for s in specs if s.operator == ">="]
    excluded = sorted(Version(s.version) for s in specs
                      if s.operator == "!=" and "*" not in s.version)
    assert len(floors) == 1 and len(floors) + len(excluded) == len(specs), (
        "requires-python should be one floor (>=X.Y.Z) and maybe single releases (!=X.Y.Z), "
        f"not {PROJECT['requires-python']!r}")
    return floors[0], excluded


def _floor() -> Version:
    return _specs()[0]


def _readme() -> dict[str, str]:
    found = SENTENCE.search(README)
    assert found, "README.md lost its sentence 'Both need only Python X.Y.Z or newer (...)'"
    return found.groupdict()


def _classified() -> list[str]:
    return [m.group(1) for c in PROJECT.get("classifiers", []) if (m := CLASSIFIER.match(c))]


def _minor(version: str | Version) -> tuple[int, int]:
    v = Version(str(version))
    return v.major, v.minor


# ---------------------------------------------------------------- the claim, consistent (offline)

def test_requires_python_and_the_readme_name_the_same_floor():
    assert _readme()["floor"] == str(_floor())


def test_the_classifiers_list_the_readme_versions_from_the_floor_up():
    claimed = _classified()
    said = re.findall(r"\d+\.\d+", _readme()["versions"])
    assert claimed, "pyproject has no 'Programming Language :: Python :: X.Y' classifiers"
    assert claimed == said, f"classifiers {claimed} but README says {said}"
    assert _minor(claimed[0]) == _minor(_floor()), "the first classifier is not the floor's version"
    minors = [_minor(v) for v in claimed]
    assert minors == [(3, n) for n in range(minors[0][1], minors[0][1] + len(minors))], (
        f"the classifiers should be consecutive versions, not {claimed}")
    assert "Programming Language :: Python :: 3 :: Only" in PROJECT["classifiers"]


def test_the_readme_names_colab_among_them_and_what_is_unsupported():
    said = _readme()
    assert said["colab"] in _classified(), f"README says Colab's {said['colab']} works: not claimed"
    floor, excluded = _specs()
    assert said["below"] == f"{floor.major}.{floor.minor - 1}"
    named = re.findall(r"\d+\.\d+\.\d+", said["excluded"] or "")
    assert named == [str(v) for v in excluded], (
        f"requires-python excludes {[str(v) for v in excluded]}, README names {named}")


# ------------------------------------------------------------- the claim, resolved (needs PyPI)

def _pins() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            pins[canonicalize_name(req.name)] = str(req.specifier)
    return pins


def _requirements() -> list[str]:
    """What `make setup` installs from pyproject: the runtime requirements and every extra."""
    reqs = list(PROJECT["dependencies"])
    for group in PROJECT.get("optional-dependencies", {}).values():
        reqs += group
    return list(dict.fromkeys(reqs))


def _targets() -> tuple[list[str], list[str]]:
    """(versions that must resolve, versions that must not), as full X.Y.Z versions."""
    floor, excluded = _specs()
    good = [str(max(floor, Version(f"{v}.0"))) for v in _classified()]
    bad = [f"{floor.major}.{floor.minor - 1}.0"]
    if floor.micro:
        bad.insert(0, f"{floor.major}.{floor.minor}.{floor.micro - 1}")
    return good, bad + [str(v) for v in excluded]


def _index_unreachable() -> str | None:
    if network.reachable(INDEX, timeout=3):
        return None
    return f"PyPI ({INDEX}) could not be reached (a HEAD request, 3 s timeout)"


def _pip(*args: str, timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT, check=False)


def _resolve(version: str, work: Path, fast_deps: bool) -> dict:
    work.mkdir(parents=True)
    report = work / "report.json"
    args = ["install", "--dry-run", "--ignore-installed", "--only-binary=:all:",
            "--python-version", version, "--target", str(work / "target"),
            "--report", str(report), "--progress-bar=off",
            "-c", str(CONSTRAINTS), "-r", str(CONSTRAINTS), *_requirements()]
    if fast_deps:
        args.append("--use-feature=fast-deps")
    start = time.monotonic()
    try:
        done = _pip(*args, timeout=RESOLVE_LIMIT_S)
        rc, out = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        rc, out = None, f"timed out after {RESOLVE_LIMIT_S} s\n{exc.stdout or ''}{exc.stderr or ''}"
    out = "\n".join(line for line in out.splitlines()
                    if not line.startswith("WARNING: Location"))  # pip config's file:// indexes
    installs = {}
    if rc == 0 and report.exists():
        installs = {canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
                    for item in json.loads(report.read_text(encoding="utf-8"))["install"]}
    return {"rc": rc, "output": out, "install": installs, "seconds": time.monotonic() - start}


@pytest.fixture(scope="module")
def resolved(tmp_path_factory) -> dict[str, dict]:
    """Every version's resolution, two at a time (they wait on the index as much as on the CPU)."""
    why = _index_unreachable()
    if why:
        skip_or_fail_in_ci(f"{why}: resolving the pins for other Pythons needs the package index")
    fast_deps = _pip("install", "--use-feature=fast-deps", "--help", timeout=60).returncode == 0
    good, bad = _targets()
    base = tmp_path_factory.mktemp("python-support")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {v: pool.submit(_resolve, v, base / v, fast_deps) for v in good + bad}
        results = {v: f.result() for v, f in futures.items()}
    for v, r in results.items():
        print(f"Python {v}: pip rc={r['rc']} in {r['seconds']:.1f} s")
    return results


def _tail(result: dict, lines: int = 40) -> str:
    return "\n".join(result["output"].splitlines()[-lines:])


@pytest.mark.parametrize("version", _targets()[0])
def test_the_pinned_set_resolves_for_each_claimed_python(resolved, version):
    result = resolved[version]
    assert result["rc"] == 0, f"the pins do not resolve for Python {version}:\n{_tail(result)}"
    wrong = {name: (spec, result["install"].get(name)) for name, spec in _pins().items()
             if result["install"].get(name) is None
             or Version(result["install"][name]) not in SpecifierSet(spec)}
    assert not wrong, f"Python {version}: pins not installed as pinned (pin, got): {wrong}"


@pytest.mark.parametrize("version", _targets()[1])
def test_the_pinned_set_does_not_resolve_where_requires_python_says_no(resolved, version):
    result = resolved[version]
    assert result["rc"] not in (0, None), (
        f"the pins resolve for Python {version}, outside requires-python "
        f"{PROJECT['requires-python']}: widen it (and the README sentence)")
    # A refusal, not a network error or a crash: pip names the pin it cannot install, either as a
    # conflict or, when nothing else is in play, as "Package 'x' requires a different Python".
    output = result["output"]
    assert (("ResolutionImpossible" in output and re.search(r"Cannot install \S+", output))
            or re.search(r"Package '\S+' requires a different Python", output)), _tail(result)
