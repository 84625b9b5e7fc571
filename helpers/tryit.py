"""Your own pairs, from file to verdict (introduced in 06_try_it_yourself).

Notebook 06 asks you to write about 50 query-document pairs from a domain you know, fine-tune
all-MiniLM-L6-v2 on them, and find out honestly whether it helped. This module holds the steps the
notebook (and its solutions) run more than once:

* :func:`prepare` reads and checks your file (and the test file), stops with **one** clear
  :class:`~helpers.data.DataError` when something would make fine-tuning wrong, and otherwise
  returns the training pairs, the test split and the validation report. Your file is only read: its
  SHA-256 is taken before and after, and :meth:`Prepared.check_unchanged` proves it.
* :func:`save_upload` (behind ``ui.Uploader``): a file uploaded in JupyterLab or Colab is saved to a
  *new* file under ``data/cache/uploads/``, never over anything.
* :func:`training_settings`: epochs and batch size for a handful of pairs (the profile's defaults
  are sized for thousands).
* :func:`compare` and :func:`plain_verdict`: base versus fine-tuned on the same test queries, with
  the paired confidence interval, in plain words: better, no measurable difference, or worse
  (``metrics.verdict``, the workbook's one rule: an improvement is only claimed when the whole
  interval lies above zero and the paired randomization test agrees).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import data, metrics, paths, training

if TYPE_CHECKING:

    import pandas as pd
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer

    from .profiles import Profile, ProfileName

STARTER = paths.DATA / "try_it_yourself" / "starter_pairs.csv"
"""The 50 ready-made pairs (Cogwell Cycles' workshop wiki) that stand in until you write your
own."""
STARTER_TEST = paths.DATA / "try_it_yourself" / "starter_test.csv"
"""The starter's own 30 held-out test pairs."""
TEMPLATE = paths.DATA / "try_it_yourself" / "template.csv"
"""The blank format to copy: anchor,positive[,negative] (see TEMPLATE.md beside it)."""

SUFFIXES = data.PAIR_SUFFIXES
"""The file types a pairs file may have."""

COMPARED = ("recall@10", "mrr@10", "ndcg@10", "recall@1")
"""The metrics compared before and after; Recall@10 (the seed tutorial's) decides the verdict."""

VERDICTS = metrics.VERDICTS
"""The three words a comparison can end in (the workbook's one rule, ``metrics.verdict``)."""


# --------------------------------------------------------------------------------------------------
# Files: which one, is it a pairs file, did we change it (no)
# --------------------------------------------------------------------------------------------------

def check_file(path: str | os.PathLike, what: str = "pairs file") -> Path:
    """The resolved path of an existing CSV/JSONL file, or a :class:`DataError` that says why not
    (introduced in 06_try_it_yourself).

    Catches what ``data`` would otherwise report less precisely: a missing file, a folder, a
    spreadsheet, a PDF or Word document, or any other file type that is not a table of text.
    """
    if path is None or not str(path).strip():
        raise data.DataError(f"No {what} given: set PAIRS_FILE to the path of your CSV or JSONL "
                             "file.")
    resolved = data.resolve_path(path)
    if not resolved.exists():
        raise data.DataError(
            f"No {what} at {paths.show(resolved)}. Check the path: a relative path is read from "
            "the folder the notebook runs in (notebooks/) or from the repository root.")
    if resolved.is_dir():
        raise data.DataError(f"{paths.show(resolved)} is a folder; give the path of a .csv or "
                             f".jsonl {what}.")
    suffix = resolved.suffix.lower()
    if suffix in (".xlsx", ".xls", ".ods", ".numbers"):
        raise data.DataError(
            f"{resolved.name} is a spreadsheet, not a CSV file. In your spreadsheet program use "
            "File > Save As (or Download) > 'CSV UTF-8', then point the notebook at the .csv.")
    if suffix not in SUFFIXES:
        kind = {".pdf": "a PDF document", ".doc": "a Word document", ".docx": "a Word document",
                ".txt": "plain text", ".md": "a Markdown document", ".zip": "a zip archive",
                ".parquet": "a Parquet file"}.get(suffix, f"a {suffix or 'suffix-less'} file")
        raise data.DataError(
            f"{resolved.name} is {kind}, not a pairs file. The notebook reads CSV (.csv, UTF-8, "
            "header row anchor,positive) or JSON Lines (.jsonl, one {\"anchor\": ..., "
            "\"positive\": ...} object per line). Copy data/try_it_yourself/template.csv and fill "
            "it in.")
    return resolved


def matching_test_file(pairs_file: str | os.PathLike) -> Path | None:
    """The test file that belongs to ``pairs_file``, when one sits beside it.

    ``X_pairs.csv`` -> ``X_test.csv`` (so ``starter_pairs.csv`` -> ``starter_test.csv``), and
    ``X.csv`` -> ``X_test.csv``; the same for .jsonl. ``None`` when there is no such file.
    """
    path = data.resolve_path(pairs_file)
    stem = path.stem[: -len("_pairs")] if path.stem.endswith("_pairs") else path.stem
    for suffix in dict.fromkeys((path.suffix, ".csv", ".jsonl")):
        candidate = path.with_name(f"{stem}_test{suffix}")
        if candidate.is_file() and candidate.resolve() != path.resolve():
            return candidate
    return None


def resolve_test_file(pairs_file: str | os.PathLike,
                      test_file: str | os.PathLike | None = "auto") -> Path | None:
    """Which test file to use: ``"auto"`` (the matching file beside the pairs, else none), ``None``
    (none: hold out part of the pairs) or a path."""
    if test_file is None or (isinstance(test_file, str) and not test_file.strip()):
        return None
    if isinstance(test_file, str) and test_file.strip().lower() == "auto":
        return matching_test_file(pairs_file)
    return check_file(test_file, "test file")


# --------------------------------------------------------------------------------------------------
# prepare(): read, check, split; one clear error or a ready bundle
# --------------------------------------------------------------------------------------------------

@dataclass
class Prepared:
    """What :func:`prepare` returns (06_try_it_yourself).

    ``bundle`` the training pairs and the test split (a :class:`helpers.data.Bundle`) ·
    ``report`` the validation of your pairs (``data.validate``, leakage into the test file
    included) · ``test_report`` the validation of the test file (None when part of the pairs is
    held out) · ``pairs_path`` / ``test_path`` the files read · ``held_out`` True when the test
    queries were taken from your pairs · ``hashes`` {file name: SHA-256} taken before reading.
    """
    bundle: data.Bundle
    report: pd.DataFrame
    test_report: pd.DataFrame | None
    pairs_path: Path
    test_path: Path | None
    held_out: bool
    hashes: dict[str, str] = field(default_factory=dict)

    @property
    def n_test(self) -> int:
        """The number of test queries."""
        return len(self.bundle.test.queries)

    @property
    def warnings(self) -> int:
        """How many warnings the two reports hold."""
        return int(self.report.attrs.get("warnings", 0)) + (
            int(self.test_report.attrs.get("warnings", 0)) if self.test_report is not None else 0)

    def planned_halfwidth(self) -> float:
        """The "±" to expect on Recall@10 with this many test queries (before measuring
        anything)."""
        return metrics.planned_halfwidth(self.n_test)

    def model_folder(self, under: str | os.PathLike | None = None) -> Path:
        """Where notebook 06 saves the model trained on this file:
        ``models/06_<file name>-<first 8 hex of its SHA-256>`` at the top of the repository
        (``under`` instead of ``models/``).

        Named by the file's content, so another file with the same name (a second
        ``starter_pairs.csv``) gets a folder of its own and never replaces an earlier model, while
        the same file trained again reuses its folder. An uploaded copy, whose name already ends
        in those 8 hex digits, does not get them twice.
        """
        digest = self.hashes[self.pairs_path.name][:8]
        stem = self.pairs_path.stem
        name = stem if stem.endswith(f"-{digest}") else f"{stem}-{digest}"
        return Path(under if under is not None else paths.ROOT / "models") / f"06_{name}"

    def check_unchanged(self) -> str:
        """Hash the files again; raise if any changed (it never should). Returns a one-line
        proof."""
        files = [self.pairs_path] + ([self.test_path] if self.test_path else [])
        for path in files:
            if paths.file_sha256(path) != self.hashes[path.name]:
                raise RuntimeError(f"{path.name} changed while the notebook read it. Nothing in "
                                   "the workbook writes to it: did another program save it "
                                   "meanwhile?")
        return " · ".join(f"{p.name}: sha256 {self.hashes[p.name][:12]}… before and after, "
                          "unchanged" for p in files)

    def explain_test(self) -> str:
        """Plain words: where the test queries come from and how precise a result on them can be."""
        n, half = self.n_test, self.planned_halfwidth()
        width = (f"With {n} test queries a Recall@10 difference is known to about ±{half:.2f} "
                 f"(95% interval, worst case for a paired difference): smaller changes cannot be "
                 "told from chance.")
        if self.held_out:
            return (f"No test file, so {n} of your pairs "
                    f"({self.bundle.info.get('test_size', 0):.0%}, "
                    f"split by document, seed {self.bundle.info.get('seed')}) are held out for "
                    f"testing and {len(self.bundle.train)} are used for training. {width} "
                    "A separate test file is better: written apart from the training pairs, with "
                    "30 or more queries, it narrows the interval and trains on every pair you "
                    "wrote.")
        return (f"Test file {self.test_path.name}: {n} queries, searched among "
                f"{len(self.bundle.test.corpus)} documents (the test answers plus every training "
                f"document). All {len(self.bundle.train)} pairs train. {width}")


def _errors_of(report, label: str) -> list[str]:
    errors = report[report["severity"] == "error"]
    lines = []
    for _, row in errors.iterrows():
        where = f" ({row['examples']})" if row["examples"] else ""
        lines.append(f"- {label}{row['check']}{where}: {row['fix']}")
    return lines


def prepare(pairs_file: str | os.PathLike, test_file: str | os.PathLike | None = "auto",
            test_size: float = 0.3, seed: int = 42,
            model: SentenceTransformer | None = None) -> Prepared:
    """Read, check and split your pairs: the notebook's first step (introduced in
    06_try_it_yourself).

    ``pairs_file``  CSV or JSONL with the columns anchor, positive[, negative]
    ``test_file``   "auto" (a matching ``*_test`` file beside it, else hold out), None (hold out
                    ``test_size`` of the pairs, split by document) or a path
    ``model``       count tokens with its tokenizer (else an estimate: words x 1.3)

    Every problem ``data.validate`` finds is in ``report``. Errors (in either file, or a test query
    or answer that also appears in training) raise one :class:`helpers.data.DataError` that lists
    them all with their rows and fixes; warnings do not stop anything. The files are only read.
    """
    pairs_path = check_file(pairs_file, "pairs file")
    test_path = resolve_test_file(pairs_path, test_file)
    if test_path is not None and test_path.resolve() == pairs_path.resolve():
        raise data.DataError(f"The test file is the pairs file itself ({pairs_path.name}): the "
                             "test would measure memory. Give a separate test file, or "
                             "TEST_FILE = None to hold out part of the pairs.")
    hashes = {p.name: paths.file_sha256(p) for p in (pairs_path, test_path) if p is not None}
    try:
        report = data.validate(pairs_path, test=test_path, model=model)
        lines = _errors_of(report, "")
        test_report = None
        if test_path is not None:
            # How many test queries are enough is said by explain_test(); "too few to fine-tune"
            # is about training and does not apply here.
            test_report = data.validate(test_path, model=model, min_pairs=None)
            lines += _errors_of(test_report, f"test file {test_path.name}: ")
        if lines:
            raise data.DataError(
                f"{len(lines)} problem(s) would make fine-tuning on {pairs_path.name} wrong; the "
                f"file was not changed. Fix them and run again:\n" + "\n".join(lines))
        bundle = data.load(pairs_path, test_path=test_path, test_size=test_size, seed=seed)
    except data.DataError as exc:
        raise data.DataError(str(exc)) from None  # one message, no chain of tracebacks
    return Prepared(bundle, report, test_report, pairs_path, test_path, test_path is None, hashes)


def report_table(prepared: Prepared) -> pd.DataFrame:
    """Both validation reports as one table (a ``file`` column says which), errors first
    (introduced in 06_try_it_yourself)."""
    import pandas as pd

    parts = [prepared.report.assign(file=prepared.pairs_path.name)]
    if prepared.test_report is not None:
        parts.append(prepared.test_report.assign(file=prepared.test_path.name))
    table = pd.concat(parts, ignore_index=True)
    return table[["file", "check", "severity", "count", "examples", "fix"]]


# --------------------------------------------------------------------------------------------------
# Uploads (JupyterLab, Colab): always a new file
# --------------------------------------------------------------------------------------------------

def upload_folder() -> Path:
    """``data/cache/uploads/`` (gitignored), where uploaded files are kept."""
    return paths.cache_dir("uploads")


def save_upload(name: str, content: bytes, folder: str | os.PathLike | None = None) -> Path:
    """Save uploaded bytes to a NEW file and return its path; nothing existing is ever overwritten.

    The file is named ``<your file's stem>-<date-time>-<first 8 of its sha256><suffix>`` under
    ``folder`` (default :func:`upload_folder`); should that name exist, ``-2``, ``-3``, ... is
    added. Only .csv, .tsv, .jsonl and .json are accepted (anything else raises
    :class:`DataError` and nothing is saved).
    """
    content = bytes(content)
    original = Path(str(name)).name  # no folders from the browser's file name
    suffix = Path(original).suffix.lower()
    if suffix not in SUFFIXES:
        raise data.DataError(f"{original} is not a CSV or JSONL file; nothing was saved. Upload a "
                             ".csv (UTF-8, header anchor,positive) or a .jsonl file.")
    if not content:
        raise data.DataError(f"{original} is empty; nothing was saved.")
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(original).stem).strip("._") or "upload"
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    digest = hashlib.sha256(content).hexdigest()[:8]
    folder = Path(folder) if folder is not None else upload_folder()
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        target = folder / f"{stem[:60]}-{stamp}-{digest}{'' if n == 1 else f'-{n}'}{suffix}"
        try:
            with open(target, "xb") as fh:  # "x": fails rather than overwrite
                fh.write(content)
            return target
        except FileExistsError:
            continue
    raise data.DataError(f"Could not find a free file name for {original} in {paths.show(folder)}.")


def preview(path: str | os.PathLike, rows: int = 5) -> pd.DataFrame:
    """The first ``rows`` pairs of a file as a table, read the way training will read them."""
    return data.read_pairs(path).to_pandas().head(rows)


# --------------------------------------------------------------------------------------------------
# Training settings for a handful of pairs
# --------------------------------------------------------------------------------------------------

def training_settings(n_pairs: int) -> dict[str, float]:
    """Overrides for ``training.fine_tune`` on a few dozen to a few hundred pairs (introduced in
    06_try_it_yourself).

    The profiles are sized for thousands of pairs: one epoch in batches of 32 at a learning rate of
    1e-4. On 50 pairs that is two optimiser steps, and more epochs at that rate memorise the pairs
    (the training loss falls to zero and the test scores drop). So, below 1,000 pairs:

    * batches of at most 16, made equal in size (50 pairs: 4 batches of 13, not 16+16+16+2, whose
      last batch would have a single in-batch negative);
    * 3 epochs (50 pairs: 12 steps);
    * a learning rate of 5e-5.

    Chosen on a stand-in that is not the starter (50 Larkmoor support pairs, 28 test queries):
    the profile's 2 steps at 1e-4 gave MRR@10 0.812 -> 0.855, 12 steps at 2e-5 0.830, 20 steps at
    2e-5 0.861 and 12 steps at 5e-5 0.864 (the cheapest of the two whose interval lies above zero);
    on the starter, 20-70 steps at 1e-4 lowered MRR@10 from 0.764 to 0.71-0.73. From 1,000 pairs
    on, the profile's own settings apply (``{}``).
    """
    n_pairs = max(int(n_pairs), 1)
    if n_pairs >= 1000:
        return {}
    batches = -(-n_pairs // 16)                       # ceil: batches per epoch
    batch = max(2, -(-n_pairs // batches))            # equal-sized batches of at most 16
    return {"epochs": 3, "batch_size": batch, "learning_rate": 5e-5}


# --------------------------------------------------------------------------------------------------
# Before and after: the paired comparison in plain words
# --------------------------------------------------------------------------------------------------

def compare(base_per_query: pd.DataFrame, tuned_per_query: pd.DataFrame,
            metric_names: Iterable[str] = COMPARED, n_resamples: int = 2000,
            seed: int = 0) -> pd.DataFrame:
    """``metrics.compare`` of base and fine-tuned on the same queries, with a plain ``verdict``
    column (better / no measurable difference / worse: ``metrics.verdict``; introduced in
    06_try_it_yourself)."""
    table = metrics.compare(base_per_query, tuned_per_query, metric_names=list(metric_names),
                            n_resamples=n_resamples, seed=seed)
    table["verdict"] = [metrics.verdict(row) for _, row in table.iterrows()]
    return table.rename(columns={"mean_a": "base", "mean_b": "fine-tuned"})


def plain_verdict(comparison: pd.DataFrame, metric: str = "recall@10",
                  n_queries: int | None = None) -> str:
    """A paragraph that says what the comparison means for ``metric``, without overclaiming
    (introduced in 06_try_it_yourself)."""
    table = comparison.set_index("metric")
    if metric not in table.index:
        raise metrics.MetricsError(f"{metric} is not in the comparison; compare with it included.")
    r = table.loc[metric]
    word = metrics.verdict(r)
    name = {"recall@10": "Recall@10", "mrr@10": "MRR@10", "ndcg@10": "NDCG@10",
            "recall@1": "Recall@1"}.get(metric, metric)
    n = f" on {n_queries} test queries" if n_queries else ""
    numbers = (f"{name} {r['base']:.3f} -> {r['fine-tuned']:.3f}, a change of "
               f"{metrics.format_diff(r['diff'], r['ci_low'], r['ci_high'])}{n} (in brackets: the "
               "95% interval)")
    if word == "better":
        return (f"BETTER. {numbers}, p = {r['p_value']:.2g}. The whole interval lies above zero "
                "and the paired randomization test agrees: on queries like these the fine-tuned "
                "model ranks the right document higher than the base model does.")
    if word == "worse":
        return (f"WORSE. {numbers}, p = {r['p_value']:.2g}. The whole interval lies below zero "
                "and the paired randomization test agrees: fine-tuning hurt. Check the "
                "pairs (does each positive answer its anchor? are the columns in order?) and try "
                "fewer epochs.")
    text = f"NO MEASURABLE DIFFERENCE. {numbers}. "
    if r["ci_low"] > 0 or r["ci_high"] < 0:
        side = "above" if r["ci_low"] > 0 else "below"
        text += (f"The interval lies {side} zero, but the paired randomization test does not "
                 f"confirm it (p = {r['p_value']:.2f}): with so few test queries, and only some of "
                 "them moving, the bootstrap interval is too narrow to trust. ")
    elif r["ci_low"] == 0 and r["ci_high"] == 0:
        text += "The interval includes zero, "
        text += ("and here it is a single point: both models got exactly the same queries right "
                 "and wrong. ")
    else:
        text += "The interval includes zero, so this test cannot tell the two models apart. "
    if metric.startswith("recall") and r["base"] >= 0.9:
        text += (f"The base model already scores {r['base']:.0%}, which leaves little room to "
                 "improve; look at MRR and Recall@1, which say how high the right document ranks. ")
    text += ("This is not proof that fine-tuning did nothing: a gain smaller than the interval is "
             "wide would not show. More test queries narrow the interval; more training pairs make "
             "a real gain larger.")
    return text


# --------------------------------------------------------------------------------------------------
# The whole loop in one call (the solutions re-run it with other settings)
# --------------------------------------------------------------------------------------------------

KS = (1, 3, 5, 10)
"""The cut-offs every metric is computed at."""


@dataclass
class Trial:
    """One fine-tune measured against the base model on the same test queries (06 solutions).

    ``run`` the :class:`helpers.training.Run` · ``table`` before/after means · ``per_query`` the
    fine-tuned model's per-query scores · ``comparison`` from :func:`compare` · ``verdict`` the
    Recall@10 word (better / no measurable difference / worse).
    """
    run: training.Run
    table: pd.DataFrame
    per_query: pd.DataFrame
    comparison: pd.DataFrame
    verdict: str


def trial(base: SentenceTransformer, base_per_query: pd.DataFrame, train: Dataset,
          test: data.IRSplit, profile: ProfileName | Profile, seed: int = 42,
          dims: int | None = None, n_resamples: int = 2000, verbose: bool = False,
          **fine_tune_args: Any) -> Trial:
    """Fine-tune ``base`` on ``train`` (``training_settings`` unless overridden), evaluate on
    ``test`` (at ``dims`` dimensions when given) and compare with ``base_per_query``."""
    import pandas as pd

    settings = dict(training_settings(len(train)), **fine_tune_args)
    run = training.fine_tune(base, train, profile=profile, seed=seed, verbose=verbose, **settings)
    per_query = metrics.evaluate_per_query(run.model, test, ks=KS, dims=dims,
                                           show_progress_bar=False).per_query
    comparison = compare(base_per_query, per_query, n_resamples=n_resamples, seed=seed)
    table = pd.DataFrame({"base": base_per_query[list(COMPARED)].mean(),
                          "fine-tuned": per_query[list(COMPARED)].mean()}).T
    verdict = comparison.set_index("metric").loc["recall@10", "verdict"]
    return Trial(run, table, per_query, comparison, verdict)
