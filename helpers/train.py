"""Fine-tune from a config file, on one process or many: ``python -m helpers.train CONFIG`` or the
``workbook-train CONFIG`` command (issue 17; introduced in 09_scale_out).

The config is a TOML file holding what :func:`helpers.training.fine_tune` takes::

    model = "sentence-transformers/all-MiniLM-L6-v2"
    data = "icd10cm"               # a bundled dataset, or a CSV/JSONL file of pairs
    loss = "mnrl"
    profile = "cpu"
    seed = 42
    output = "models/icd10cm_cpu"

    [settings]                     # any of helpers.training.SETTINGS (over the profile's)
    batch_size = 32                # per process: the global batch is batch_size x processes

    [eval]                         # evaluate on the test split at the end (optional)
    max_queries = 400
    baseline = true                # the base model too, with the paired comparison

The same file runs unchanged as one process (``python -m helpers.train cfg.toml``) or data-parallel
(``torchrun --nproc_per_node N -m helpers.train cfg.toml``: gloo on CPU cores, nccl on GPUs; or on
GPUs ``accelerate launch --multi_gpu --num_processes N -m helpers.train cfg.toml``): one process
trains with ``fine_tune`` (and its cache), several with
:func:`helpers.training.distributed.fine_tune_distributed` (DDP, in-batch negatives gathered
across processes, never cached). ``--check`` reads the config and prints the batch plan
(``--processes N``: for N processes) without training. Only process 0 writes ``output``::

    model/              the fine-tuned model (models.load(...) reads it) and its run.json
    train_record.json   processes, world size, steps and examples per process, global batch
    results.json        the metrics (and with baseline, the base model's and the comparison)
    per_query.csv       per-query scores of the fine-tuned model (base_per_query.csv: the base's)

A ``[publish]`` table (``repo_id``, ``private``, ``dry_run_folder``) also publishes the model with
its model card (:func:`helpers.publish.push`). Relative paths are read from the current folder
(data files also from the repository root). A mistake in the config is one plain message naming
the file, the key and what is allowed, never a traceback.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import paths, profiles
from .errors import InputError, WorkbookError

if TYPE_CHECKING:
    from .training import Run
    from .training.distributed import World

TOP_KEYS = {
    "model": "the base model: a name or a folder (default all-MiniLM-L6-v2)",
    "data": "a bundled dataset (icd10cm, support) or a CSV/JSONL file of pairs",
    "test_data": "a separate CSV/JSONL file of test pairs for your own data",
    "test_size": "the share of your pairs held out for testing (default 0.2)",
    "loss": "mnrl, cached_mnrl, triplet, mnrl_symmetric or gist",
    "matryoshka_dims": "e.g. [256, 128, 64]: train for truncated embeddings too",
    "profile": "auto, smoke, cpu or gpu: the sizes and hyper-parameters",
    "seed": "seeds the subsample, the shuffling and the initialisation",
    "output": "the folder for the model, train_record.json and the results",
    "cache": "one process: reuse an identical cached run (default true)",
    "gather_across_devices": "several processes: gather in-batch negatives (default true)",
    "settings": "a table of training settings (helpers.training.SETTINGS)",
    "eval": "a table: evaluate on the test split at the end",
    "publish": "a table: publish the model with its model card",
}
EVAL_KEYS = {"max_queries": "int", "max_corpus": "int", "ks": "ints", "baseline": "bool",
             "seed": "int0"}
PUBLISH_KEYS = {"repo_id": "str", "private": "bool", "dry_run_folder": "str"}
# The type each training setting takes in the file; TOML has no null: the string "none" is None.
SETTING_TYPES = {
    "max_train_pairs": "int?", "epochs": "number", "batch_size": "int", "learning_rate": "number",
    "max_steps": "int?", "warmup_ratio": "number", "max_seq_length": "int|auto?",
    "mini_batch_size": "int", "weight_decay": "number", "scheduler": "str",
    "logging_steps": "int?", "eval_steps": "int?", "progress_bar": "bool", "scale": "number",
    "precision": "str?",
}
KIND_WORDS = {"int": "a whole number of 1 or more", "int0": "a whole number", "number": "a number",
              "str": "a text in quotes", "bool": "true or false",
              "ints": "a list of whole numbers of 1 or more, e.g. [1, 3, 5, 10]",
              "int|auto": "a whole number or \"auto\""}


class ConfigError(InputError):
    """A mistake in a training config file; the message names the file, the key and the fix."""


@dataclass
class EvalConfig:
    """The ``[eval]`` table: a seeded subset of the test split; sizes left out are the profile's
    (the whole split in the cpu and gpu profiles, 40 queries and 300 documents in smoke)."""
    max_queries: int | None = None
    max_corpus: int | None = None
    ks: tuple[int, ...] = (1, 3, 5, 10)
    baseline: bool = False
    seed: int = 0


@dataclass
class PublishConfig:
    """The ``[publish]`` table (see :func:`helpers.publish.push`)."""
    repo_id: str
    private: bool = True
    dry_run_folder: str | None = None


@dataclass
class TrainConfig:
    """A checked training config (:func:`read_config`)."""
    data: str
    output: str
    model: str = "sentence-transformers/all-MiniLM-L6-v2"
    test_data: str | None = None
    test_size: float = 0.2
    loss: str = "mnrl"
    matryoshka_dims: list[int] | None = None
    profile: str = "auto"
    seed: int = 42
    cache: bool = True
    gather_across_devices: bool = True
    settings: dict[str, Any] = field(default_factory=dict)
    eval: EvalConfig | None = None
    publish: PublishConfig | None = None
    source: str = "config"

    def as_dict(self) -> dict[str, Any]:
        """The config as plain data (for train_record.json)."""
        return asdict(self)


def _fits(value: Any, kind: str) -> bool:
    if kind.endswith("?") and value is None:
        return True
    kind = kind.rstrip("?")
    if kind == "int|auto":
        return value == "auto" or _fits(value, "int")
    if kind in ("int", "int0"):
        return (isinstance(value, int) and not isinstance(value, bool)
                and value >= (1 if kind == "int" else 0))
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "ints":
        return (isinstance(value, list) and bool(value)
                and all(_fits(v, "int") for v in value))
    return isinstance(value, {"str": str, "bool": bool}[kind])


def _check(where: str, key: str, value: Any, kind: str) -> Any:
    if isinstance(value, str) and value.strip().lower() == "none" and kind.endswith("?"):
        value = None
    if not _fits(value, kind):
        word = KIND_WORDS[kind.rstrip("?")]
        if kind.endswith("?"):
            word += ' or "none"'
        raise ConfigError(f"{where}: {key} must be {word}, got {value!r}.")
    if kind.rstrip("?") == "str" and value is not None and not value.strip():
        raise ConfigError(f"{where}: {key} is empty.")
    return value


def _unknown(where: str, table: dict, allowed, what: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join(map(repr, unknown))}{' ' + what if what else ''}. "
                          f"Allowed: {', '.join(allowed)}.")


def _table(where: str, raw: dict, name: str) -> dict | None:
    if name not in raw:
        return None
    if not isinstance(raw[name], dict):
        raise ConfigError(f"{where}: {name} must be a table ([{name}] with keys under it), got "
                          f"{raw[name]!r}.")
    return raw[name]


def parse_config(raw: dict[str, Any], source: str = "config") -> TrainConfig:
    """A :class:`TrainConfig` from the parsed TOML ``raw``; raises :class:`ConfigError` on an
    unknown key, a missing one or a wrong value, naming ``source``."""
    from .training import LOSSES, TrainingError, resolve_settings

    _unknown(source, raw, list(TOP_KEYS), "at the top level")
    for key in ("data", "output"):
        if key not in raw:
            raise ConfigError(f"{source}: {key} is missing ({TOP_KEYS[key]}).")
    kinds = {"model": "str", "data": "str", "test_data": "str", "test_size": "number",
             "loss": "str", "profile": "str", "seed": "int0", "output": "str", "cache": "bool",
             "gather_across_devices": "bool"}
    values = {k: _check(source, k, raw[k], kind) for k, kind in kinds.items() if k in raw}
    if values.get("loss", "mnrl") not in LOSSES:
        raise ConfigError(f"{source}: loss must be one of {', '.join(LOSSES)}; got "
                          f"{values['loss']!r}.")
    if not 0 < values.get("test_size", 0.2) < 1:
        raise ConfigError(f"{source}: test_size is a share between 0 and 1, e.g. 0.2.")
    profile = values.get("profile", "auto")
    if profile not in (*profiles.NAMES, "auto"):
        raise ConfigError(f"{source}: profile must be one of auto, {', '.join(profiles.NAMES)}; "
                          f"got {profile!r}.")
    if "matryoshka_dims" in raw:
        dims = raw["matryoshka_dims"]
        values["matryoshka_dims"] = (_check(source, "matryoshka_dims", dims, "ints")
                                     if dims != [] else None)
    settings = _table(source, raw, "settings") or {}
    _unknown(f"{source} [settings]", settings, list(SETTING_TYPES), "(training settings)")
    settings = {k: _check(f"{source} [settings]", k, v, SETTING_TYPES[k])
                for k, v in settings.items()}
    try:
        resolve_settings(profile, **settings)
    except TrainingError as exc:
        raise ConfigError(f"{source} [settings]: {exc}") from None
    config = TrainConfig(**values, settings=settings, source=source)
    ev = _table(source, raw, "eval")
    if ev is not None:
        _unknown(f"{source} [eval]", ev, list(EVAL_KEYS), "")
        checked = {k: _check(f"{source} [eval]", k, v, EVAL_KEYS[k]) for k, v in ev.items()}
        if "ks" in checked:
            checked["ks"] = tuple(sorted(set(checked["ks"])))
        config.eval = EvalConfig(**checked)
    pub = _table(source, raw, "publish")
    if pub is not None:
        _unknown(f"{source} [publish]", pub, list(PUBLISH_KEYS), "")
        if "repo_id" not in pub:
            raise ConfigError(f"{source} [publish]: repo_id is missing (e.g. \"you/icd10cm-"
                              "minilm\").")
        config.publish = PublishConfig(**{k: _check(f"{source} [publish]", k, v, PUBLISH_KEYS[k])
                                          for k, v in pub.items()})
    return config


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str], source: str) -> dict[str, Any]:
    """``raw`` with each ``KEY=VALUE`` of ``overrides`` set (``--set settings.batch_size=16``,
    ``--set output="models/two"``): a dotted key names a table, the value is read as TOML (a bare
    word that is not TOML is taken as a string). The checks of :func:`parse_config` still apply."""
    raw = copy.deepcopy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: write KEY=VALUE, e.g. settings.batch_size=16.")
        try:
            value = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        *tables, name = key.split(".")
        where = raw
        for table in tables:
            where = where.setdefault(table, {})
            if not isinstance(where, dict):
                raise ConfigError(f"--set {item!r}: {table} is not a table in {source}.")
        where[name] = value
    return raw


def read_config(path: str | os.PathLike, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read and check a TOML training config (see the module docstring), with ``overrides``
    (``KEY=VALUE``, see :func:`apply_overrides`) applied; a missing file, a TOML syntax error or
    a wrong key is a :class:`ConfigError` naming the file."""
    path = Path(path)
    source = paths.show(path) if path.is_absolute() else str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{source}: no such config file.") from None
    except IsADirectoryError:
        raise ConfigError(f"{source} is a folder; give the path of a .toml config file.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{source} cannot be read ({paths.brief_error(exc)}).") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML: {exc}.") from None
    if overrides:
        raw = apply_overrides(raw, overrides, source)
        source = f"{source} (with --set {' '.join(overrides)})"
    return parse_config(raw, source)


# ------------------------------------------------------------------------------------ running
def train_record(config: TrainConfig, run: Run, world: World) -> dict[str, Any]:
    """What train_record.json holds: who trained how (processes, world size, per-process steps and
    examples, the global batch and the negatives each anchor met), from the run's record."""
    from .training.distributed import batch_plan

    extra = run.extra
    if "ranks" in extra:
        ranks = extra["ranks"]
        plan = {k: extra[k] for k in ("per_device_batch", "world_size", "global_batch",
                                      "gather_across_devices", "negatives_per_anchor",
                                      "negatives_with_gathering", "negatives_without_gathering")}
    else:  # one process, through fine_tune (maybe from its cache)
        ranks = [{"rank": 0, "steps": extra.get("steps"), "examples": extra.get("examples"),
                  "seconds": round(run.seconds, 2), "cpu_seconds": extra.get("cpu_seconds")}]
        plan = batch_plan(int(run.config["settings"]["batch_size"]), 1, run.config["loss"],
                          config.gather_across_devices, bool(run.config.get("has_negative")))
    return {"config_file": config.source, "config": config.as_dict(),
            "launcher": world.launcher(), "processes": len(ranks), **plan,
            "steps_per_rank": [r.get("steps") for r in ranks], "ranks": ranks,
            "backend": extra.get("backend"), "from_cache": run.from_cache,
            "train_rows": run.config.get("train_rows"), "seconds": round(run.seconds, 2),
            "pairs_per_second": round(run.pairs_per_second, 2),
            "hardware": extra.get("hardware"), "date": time.strftime("%Y-%m-%d %H:%M"),
            "model": "model"}


def eval_split(bundle, ev: EvalConfig, profile: str = "auto"):
    """The test subset ``[eval]`` asks for: its sizes, else the profile's test sizes."""
    prof = profiles.get(profile)
    return bundle.test.subset(prof.max_test_queries if ev.max_queries is None else ev.max_queries,
                              prof.max_corpus if ev.max_corpus is None else ev.max_corpus,
                              seed=ev.seed)


def evaluate(model, bundle, ev: EvalConfig, out: Path, base_name: str,
             profile: str = "auto") -> dict[str, Any]:
    """Evaluate ``model`` (and, with ``baseline``, the base model) on the test subset; write
    results.json and the per-query tables into ``out``; print a short summary."""
    from . import metrics, models

    split = eval_split(bundle, ev, profile)
    tuned = metrics.evaluate_per_query(model, split, ks=ev.ks, show_progress_bar=False)
    tuned.per_query.to_csv(out / "per_query.csv")
    results: dict[str, Any] = {"split": split.describe(), "queries": len(split.queries),
                               "corpus": len(split.corpus), "ks": list(ev.ks),
                               "tuned": dict(metrics.wide(tuned.table).iloc[0])}
    top = f"ndcg@{max(ev.ks)}"
    print(f"Test split: {split.describe()} · fine-tuned {top} {results['tuned'][top]:.4f}")
    if ev.baseline:
        base = models.load(base_name, verbose=False)
        before = metrics.evaluate_per_query(base, split, ks=ev.ks, show_progress_bar=False)
        before.per_query.to_csv(out / "base_per_query.csv")
        table = metrics.compare(before.per_query, tuned.per_query)
        results["base"] = dict(metrics.wide(before.table).iloc[0])
        results["compare"] = table.to_dict(orient="records")
        row = table.set_index("metric").loc[top]
        print(f"{top}: base {row['mean_a']:.4f} -> fine-tuned {row['mean_b']:.4f}, difference "
              f"{metrics.format_diff(row['diff'], row['ci_low'], row['ci_high'])}: "
              f"{row['verdict']}")
    paths.write_atomic(out / "results.json", json.dumps(results, indent=2, default=float))
    return results


def run(config: TrainConfig, world: World | None = None) -> dict[str, Any] | None:
    """Train (and evaluate, and publish) as ``config`` says, in this process's place in the world;
    returns the train record on process 0, None on the others."""
    from . import data, training
    from .training.distributed import World, fine_tune_distributed

    world = world or World.from_env()
    bundle = data.load(config.data, test_path=config.test_data, test_size=config.test_size,
                       seed=config.seed)
    out = Path(config.output).expanduser()
    common = dict(loss=config.loss, matryoshka_dims=config.matryoshka_dims,
                  profile=config.profile, seed=config.seed, **config.settings)
    if world.distributed:
        result = fine_tune_distributed(config.model, bundle.train, out / "model", world=world,
                                       gather_across_devices=config.gather_across_devices,
                                       **common)
    else:
        print(plan_text(config, world).splitlines()[-1], flush=True)
        result = training.fine_tune(config.model, bundle.train, cache=config.cache,
                                    output_dir=out / "model", **common)
    if not world.is_main or result is None:
        return None
    out.mkdir(parents=True, exist_ok=True)
    record = train_record(config, result, world)
    if config.eval is not None:
        record["eval"] = evaluate(result.model, bundle, config.eval, out, config.model,
                                  config.profile)
    paths.write_atomic(out / "train_record.json", json.dumps(record, indent=2, default=str))
    if config.publish is not None:
        from . import publish
        split = bundle.test if config.eval is None else eval_split(bundle, config.eval,
                                                                    config.profile)
        done = publish.push(result.model, config.publish.repo_id, private=config.publish.private,
                            dry_run_folder=config.publish.dry_run_folder, split=split,
                            split_name=f"{bundle.name}-test")
        record["publish"] = {"uploaded": done.uploaded, "folder": str(done.folder),
                             "url": done.url}
        paths.write_atomic(out / "train_record.json", json.dumps(record, indent=2, default=str))
    print(f"Wrote {paths.show(out)}: model/, train_record.json"
          + (", results.json" if config.eval is not None else ""))
    return record


def plan_text(config: TrainConfig, world: World) -> str:
    """What ``--check`` prints: the config read and the batch plan for this world."""
    from .training import resolve_settings
    from .training.distributed import batch_plan, describe_batch

    settings = resolve_settings(config.profile, **config.settings)
    plan = batch_plan(settings["batch_size"], world.size, config.loss,
                      config.gather_across_devices)
    return (f"{config.source}: {config.loss} on {config.data} from {config.model}, profile "
            f"{settings['profile']}, seed {config.seed} -> {config.output}\n"
            f"{describe_batch(plan)}")


def command(config: str | os.PathLike, processes: int = 1,
            overrides: Sequence[str] = ()) -> list[str]:
    """The command line that trains ``config`` on ``processes`` processes: ``python -m
    helpers.train CONFIG`` for one, ``python -m torch.distributed.run --standalone
    --nproc_per_node N -m helpers.train CONFIG`` (what ``torchrun`` runs) for more."""
    if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
        raise ConfigError(f"processes must be a whole number from 1 up, got {processes!r}.")
    launcher = ([] if processes == 1 else
                ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)])
    tail = [arg for item in overrides for arg in ("--set", item)]
    return [sys.executable, *launcher, "-m", "helpers.train", str(config), *tail]


def shown(argv: Sequence[str]) -> str:
    """A command as a learner types it: ``torchrun`` for ``python -m torch.distributed.run``."""
    import shlex

    words = ["python" if i == 0 else w for i, w in enumerate(argv)]
    text = " ".join(shlex.quote(w) for w in words)
    return text.replace("python -m torch.distributed.run --standalone", "torchrun --standalone")


def placement(processes: int, gpus: int) -> str | None:
    """Where ``processes`` training processes go on a machine with ``gpus`` GPUs: None when each
    gets its own device (or there is no GPU: CPU cores, gloo), else the line saying that they will
    train on the CPU cores instead (more processes than GPUs cannot share them under DDP)."""
    if processes > 1 and 0 < gpus < processes:
        return (f"{processes} processes but {gpus} GPU{'s' if gpus > 1 else ''} here: they train "
                "on the CPU cores (gloo), as on a laptop; on a machine with a GPU for each, the "
                "same command puts one process on each GPU.")
    return None


def launch(config: str | os.PathLike, processes: int = 1, overrides: Sequence[str] = (),
           threads: int | None = None) -> dict[str, Any]:
    """Run :func:`command` from the repository root (as a learner would in a terminal), print its
    output as it comes, and return the train record the run wrote. Each process gets ``threads``
    torch threads (default: the CPU cores shared out between the processes). A failed run raises
    :class:`WorkbookError` with the end of its output."""
    import subprocess

    argv = command(config, processes, overrides)
    settings = read_config(paths.ROOT / config if not Path(config).is_absolute() else config,
                           overrides)
    cores = os.cpu_count() or 1
    from .device import gpu_count
    from .training.distributed import LAUNCHER_VARIABLES

    env = {k: v for k, v in os.environ.items() if k not in LAUNCHER_VARIABLES}
    env["OMP_NUM_THREADS"] = str(threads or max(1, cores // processes))
    env["TQDM_DISABLE"] = "1"  # a bar redrawn through a pipe is one line per redraw; steps are logged
    note = placement(processes, gpu_count())
    if note:
        env["CUDA_VISIBLE_DEVICES"] = ""
        print(note, flush=True)
    print(f"$ {shown(argv)}", flush=True)
    lines: list[str] = []
    with subprocess.Popen(argv, cwd=paths.ROOT, env=env, text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, bufsize=1) as proc:
        for line in proc.stdout:
            lines.append(line)
            print(line, end="", flush=True)
    if proc.returncode != 0:
        raise WorkbookError(f"The training command stopped with exit code {proc.returncode}; "
                            "its last lines:\n" + "".join(lines[-15:]))
    out = Path(settings.output).expanduser()
    out = out if out.is_absolute() else paths.ROOT / out
    return json.loads((out / "train_record.json").read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    """The command line: ``python -m helpers.train CONFIG [--check]``; 0 on success, 2 for a
    problem the workbook explained (the message says how to fix it)."""
    parser = argparse.ArgumentParser(
        prog="workbook-train", description="Fine-tune a sentence-embedding model from a TOML "
        "config, on one process or under torchrun / accelerate launch.")
    parser.add_argument("config", help="a TOML config file, e.g. configs/icd10cm_cpu.toml")
    parser.add_argument("--check", action="store_true",
                        help="read and check the config, print the plan, train nothing")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="change one setting of the config for this run, e.g. "
                        "--set settings.batch_size=16 --set output=models/two (repeatable)")
    parser.add_argument("--processes", type=int, default=None, metavar="N",
                        help="with --check: the plan for N processes (torchrun --nproc_per_node N)")
    args = parser.parse_args(argv)
    world = None
    try:
        from .training.distributed import World
        world = World.from_env()
        config = read_config(args.config, args.set)
        if args.check:
            if args.processes is not None and args.processes < 1:
                raise ConfigError("--processes must be 1 or more.")
            if world.is_main:
                print(plan_text(config, World(size=args.processes) if args.processes else world))
            return 0
        run(config, world)
    except WorkbookError as exc:
        rank = f" (process {world.rank})" if world is not None and world.distributed else ""
        print(f"workbook-train{rank}: {exc}", file=sys.stderr)
        return 2
    finally:
        _leave_process_group()
    return 0


def _leave_process_group() -> None:
    if "torch" not in sys.modules:
        return
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    raise SystemExit(main())
