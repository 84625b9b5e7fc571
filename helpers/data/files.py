"""Your own pairs: reading, writing and converting files (02_training_data, 06_try_it_yourself).

``read_pairs(path)`` reads CSV/TSV/JSONL/JSON into a Dataset, matching column names with aliases
(query/document, question/answer) and refusing, with a fix, what cannot be right: not UTF-8, a
spreadsheet, a binary file, an empty file, no usable columns. A user's file is only ever read.
``pairs([...])``, ``write_pairs``, ``to_input_examples`` / ``from_input_examples`` convert between
the forms the tutorials use; ``ir_split_from_pairs`` turns test pairs into an :class:`IRSplit`.
"""
from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .. import paths
from .containers import (COLUMNS, Bundle, DataError, IRSplit, as_text, make_dataset, normalize,
                         split_groups)

if TYPE_CHECKING:
    import pandas as pd
    from datasets import Dataset
    from sentence_transformers import InputExample

    Pair = Sequence[str] | Mapping[str, str] | InputExample
    """One pair or triplet: (anchor, positive[, negative]), a dict with those keys, or an
    InputExample."""
    Pairs = str | os.PathLike[str] | Dataset | pd.DataFrame | list[Pair]
    """Pairs in any form the workbook reads: a CSV/JSONL path, a Dataset, a DataFrame or a list."""

# Other names people give the same columns (compared case-insensitively, surrounding spaces
# ignored).
ALIASES = {
    "anchor": "anchor", "query": "anchor", "question": "anchor", "sentence1": "anchor",
    "positive": "positive", "document": "positive", "answer": "positive", "passage": "positive",
    "sentence2": "positive",
    "negative": "negative", "hard_negative": "negative",
}
PAIR_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json")


def _sniff_binary(path: Path, head: bytes) -> None:
    if head.startswith(b"PK\x03\x04") or path.suffix.lower() in (".xlsx", ".xls", ".ods"):
        raise DataError(f"{path.name} looks like a spreadsheet (Excel/ODS), not a text file. In "
                        "your spreadsheet program use File > Save As > 'CSV UTF-8', then load the "
                        ".csv.")
    if b"\x00" in head:
        raise DataError(f"{path.name} is a binary file, not CSV or JSONL text. Export your pairs "
                        "as CSV (UTF-8) with a header row anchor,positive, or as JSONL.")


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path.name} is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}; it was "
            "probably saved as Latin-1/Windows-1252). Save it as UTF-8: in Excel 'CSV UTF-8', in "
            "LibreOffice tick 'Edit filter settings' and choose Unicode (UTF-8), in a text editor "
            "'Save with encoding UTF-8'.") from exc


def resolve_path(path: str | os.PathLike) -> Path:
    """A path as given; a relative one that is not found here is also tried from the repository
    root, so "data/examples/flawed_pairs.csv" works from notebooks/ too."""
    path = Path(path).expanduser()
    if not path.is_absolute() and not path.exists() and (paths.ROOT / path).exists():
        return paths.ROOT / path
    return path


def read_table(path: str | os.PathLike) -> tuple[pd.DataFrame, Path]:
    """Read a CSV/TSV/JSONL/JSON file into a DataFrame of strings, columns as found.

    Only reads: the file is opened once, read-only, and never written.
    """
    import pandas as pd

    path = resolve_path(path)
    if not path.exists():
        raise DataError(f"No file at {paths.show(path)}. Check the path (it is relative to the "
                        "folder the notebook runs in, notebooks/ for the lessons).")
    if path.is_dir():
        raise DataError(f"{paths.show(path)} is a folder; give the path of a .csv or .jsonl file.")
    raw = path.read_bytes()
    _sniff_binary(path, raw[:4096])
    text = _decode(path, raw)
    if not text.strip():
        raise DataError(f"{path.name} is empty. A pairs file needs a header row (anchor,positive) "
                        "and at least one row of data.")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json") or (suffix not in (".csv", ".tsv")
                                         and text.lstrip()[:1] in "{["):
        rows = []
        stripped = text.strip()
        if suffix == ".json" or stripped.startswith("["):
            try:
                data = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path.name} is not valid JSON (line {exc.lineno}: "
                                f"{exc.msg}).") from exc
            if isinstance(data, dict):
                data = data.get("data", data.get("rows", [data]))
            rows = list(data) if isinstance(data, list) else []
        else:
            for n, line in enumerate(text.splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path.name} line {n} is not valid JSON ({exc.msg}). Each "
                                    'line of a JSONL file is one object: {"anchor": "...", '
                                    '"positive": "..."}') from exc
        bad = [i + 1 for i, r in enumerate(rows) if not isinstance(r, dict)]
        if bad:
            raise DataError(f"{path.name}: rows {bad[:5]} are not JSON objects. Each row must look "
                            'like {"anchor": "...", "positive": "..."}.')
        if not rows:
            raise DataError(f"{path.name} holds no rows.")
        df = pd.DataFrame(rows)
        df = df.map(as_text) if len(df) else df
    elif suffix in (".csv", ".tsv", ".txt") or suffix == "":
        sep = "\t" if suffix == ".tsv" else None
        if sep is None:
            try:
                sep = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|").delimiter
            except csv.Error:
                sep = ","
        try:
            df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                             skipinitialspace=False)
        except pd.errors.EmptyDataError as exc:
            raise DataError(f"{path.name} is empty.") from exc
        except pd.errors.ParserError as exc:
            raise DataError(f"{path.name} could not be read as CSV ({exc}). Check that texts "
                            'containing commas are wrapped in double quotes "like, this".') from exc
    else:
        raise DataError(f"{path.name}: unsupported file type {suffix!r}. Use CSV (.csv, UTF-8, "
                        "header row anchor,positive) or JSON Lines (.jsonl).")
    return df, path


def _map_columns(columns: Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """Map found column names to anchor/positive/negative. Returns (found -> canonical, ignored)."""
    mapping, ignored = {}, []
    for col in columns:
        canon = ALIASES.get(str(col).strip().lower())
        if canon and canon not in mapping.values():
            mapping[col] = canon
        else:
            ignored.append(str(col))
    return mapping, ignored


def _expected_columns() -> str:
    return ("anchor and positive (or query/document, question/answer), optionally negative")


def as_frame(pairs: Pairs) -> tuple[pd.DataFrame, list[str], str]:
    """Any pairs input as a DataFrame of strings with canonical column names.

    Returns (frame, ignored column names, a label for messages). Missing anchor/positive columns are
    left missing (``validate`` reports them, ``read_pairs`` raises).
    """
    import pandas as pd

    label = "the pairs"
    if isinstance(pairs, (str, os.PathLike)):
        df, path = read_table(pairs)
        label = path.name
    elif isinstance(pairs, pd.DataFrame):
        df = pairs
    elif hasattr(pairs, "to_pandas") and hasattr(pairs, "column_names"):  # a datasets.Dataset
        df = pairs.to_pandas()
    elif isinstance(pairs, list):
        df = pd.DataFrame(_rows_from_list(pairs))
    else:
        raise DataError(f"Cannot read pairs from a {type(pairs).__name__}: give a path to a "
                        "CSV/JSONL file, a datasets.Dataset, a pandas DataFrame or a list of "
                        "pairs.")
    mapping, ignored = _map_columns(df.columns)
    out = pd.DataFrame({canon: df[col].map(as_text) for col, canon in mapping.items()})
    out = out[[c for c in COLUMNS if c in out.columns]]
    return out, ignored, label


def _rows_from_list(items: list) -> list[dict]:
    rows = []
    for i, item in enumerate(items, 1):
        if hasattr(item, "texts"):  # an InputExample
            item = list(item.texts)
        if isinstance(item, dict):
            rows.append(item)
        elif isinstance(item, (list, tuple)) and len(item) in (2, 3):
            rows.append(dict(zip(COLUMNS, item)))
        else:
            raise DataError(f"Item {i} is {item!r}: each pair must be (anchor, positive), a "
                            "triplet (anchor, positive, negative) or a dict with those keys.")
    return rows


def missing_columns_message(label: str, found: list[str]) -> str:
    return (f"{label} has no usable anchor/positive columns. Found columns: "
            f"{', '.join(map(repr, found)) or 'none'}. Expected: {_expected_columns()}. Rename the "
            "header row, e.g. 'anchor,positive'.")


def read_pairs(path: str | os.PathLike) -> Dataset:
    """Read a CSV or JSONL file of pairs (or triplets) into a Dataset (introduced in
    02_training_data).

    Column names are matched case-insensitively with aliases (query/document, question/answer);
    other columns are ignored. UTF-8 with or without a BOM. The file is only read, never changed.
    Raises :class:`DataError` with a fix for: not UTF-8, a spreadsheet or binary file, an empty
    file, a header without rows, no usable columns, empty texts.
    """
    df, ignored, label = as_frame(path)
    if "anchor" not in df.columns or "positive" not in df.columns:
        raise DataError(missing_columns_message(label, list(df.columns) + ignored))
    if len(df) == 0:
        raise DataError(f"{label} has a header but no rows of data.")
    empty = [i + 1 for i in range(len(df)) if any(not df[c].iat[i].strip() for c in df.columns)]
    if len(empty) == len(df):
        raise DataError(f"Every row of {label} has an empty text: fill in the texts.")
    return make_dataset({c: df[c].tolist() for c in df.columns})


def write_pairs(ds: Pairs, path: str | os.PathLike) -> Path:
    """Write pairs/triplets to CSV or JSONL (by the file's suffix), UTF-8, columns in order
    (introduced in 02_training_data)."""
    df, _, _ = as_frame(ds)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".jsonl", ".json"):
        with open(path, "w", encoding="utf-8") as fh:
            for row in df.to_dict(orient="records"):
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif path.suffix.lower() in (".csv", ".tsv"):
        df.to_csv(path, index=False, sep="\t" if path.suffix.lower() == ".tsv" else ",",
                  encoding="utf-8")
    else:
        raise DataError(f"Write pairs to a .csv or .jsonl file, not "
                        f"{path.suffix or 'no suffix'!r}.")
    return path


def pairs(items: Iterable[Pair]) -> Dataset:
    """A Dataset from a list of (anchor, positive[, negative]) tuples or dicts (introduced in
    02_training_data).

    Dicts may use the aliases (query/document, question/answer). All items must have the same shape.
    """
    items = list(items)
    if not items:
        raise DataError("No pairs given: pass a list like [('a question', 'its answer'), ...].")
    df, _, _ = as_frame(items)
    if "anchor" not in df.columns or "positive" not in df.columns:
        raise DataError(missing_columns_message("The list", list(df.columns)))
    return make_dataset({c: df[c].tolist() for c in df.columns})


def to_input_examples(ds: Pairs) -> list[InputExample]:
    """The classic form: a list of ``InputExample(texts=[anchor, positive(, negative)])``
    (introduced in 02_training_data).

    Older tutorials (and the seed tutorial) build these for ``model.fit``; the Trainer takes a
    Dataset.
    """
    from sentence_transformers import InputExample

    df, _, _ = as_frame(ds)
    cols = [c for c in COLUMNS if c in df.columns]
    return [InputExample(texts=[row[c] for c in cols]) for row in df.to_dict(orient="records")]


def from_input_examples(examples: list[InputExample]) -> Dataset:
    """A Dataset (anchor, positive[, negative]) from a list of InputExample (labels are dropped;
    introduced in 02_training_data)."""
    lengths = {len(getattr(e, "texts", []) or []) for e in examples}
    if not examples or not lengths <= {2, 3} or len(lengths) != 1:
        raise DataError("Every InputExample needs the same number of texts: 2 (anchor, positive) "
                        f"or 3 (anchor, positive, negative); found {sorted(lengths)}.")
    n = lengths.pop()
    return make_dataset({c: [str(e.texts[i]) for e in examples] for i, c in enumerate(COLUMNS[:n])})


def ir_split_from_pairs(test_pairs: Pairs, extra_documents: Iterable[str] = ()) -> IRSplit:
    """An IR split from (anchor, positive) pairs: each distinct anchor is a query answered by its
    positives; the corpus holds every distinct positive plus ``extra_documents`` (e.g. the training
    documents, so a test query must find its answer among them too)."""
    df, _, _ = as_frame(test_pairs)
    corpus: dict[str, str] = {}
    by_text: dict[str, str] = {}

    def doc_id(text: str) -> str:
        if text not in by_text:
            by_text[text] = f"d{len(by_text):05d}"
            corpus[by_text[text]] = text
        return by_text[text]

    queries, qrels, qid_of = {}, {}, {}
    for a, p in zip(df["anchor"], df["positive"]):
        if not a.strip() or not p.strip():
            continue
        if a not in qid_of:
            qid_of[a] = f"q{len(qid_of):05d}"
            queries[qid_of[a]] = a
            qrels[qid_of[a]] = {}
        qrels[qid_of[a]][doc_id(p)] = 1
    for text in extra_documents:
        if str(text).strip():
            doc_id(str(text))
    return IRSplit(queries, corpus, qrels)


def load_pairs_file(path: Path, test_path: str | os.PathLike | None, test_size: float,
                    seed: int) -> Bundle:
    """The :class:`Bundle` of a pairs file: its pairs for training and, for testing, the pairs of
    ``test_path`` or ``test_size`` of its own pairs held out by document."""
    train = read_pairs(path)
    usable = [i for i, (a, p) in enumerate(zip(train["anchor"], train["positive"]))
              if a.strip() and p.strip()]
    dropped = len(train) - len(usable)
    if dropped:
        train = train.select(usable)
    if test_path is not None:
        test_ds = read_pairs(test_path)
        test = ir_split_from_pairs(test_ds, extra_documents=train["positive"])
        train_q, train_d = ({normalize(t) for t in train["anchor"]},
                            {normalize(t) for t in train["positive"]})
        shared_doc = sum(1 for p in test_ds["positive"] if normalize(p) in train_d)
        same_query = sum(1 for a, p in zip(test_ds["anchor"], test_ds["positive"])
                         if normalize(a) in train_q and normalize(p) not in train_d)
        split = f"given: test pairs from {Path(test_path).name}"
        notes = []
        if shared_doc:
            notes.append(f"{shared_doc} test pairs share their answering document with training")
        if same_query:
            notes.append(f"{same_query} test questions also appear in training with another answer")
        warning = ("; ".join(notes) + "; run data.validate(train, test) to see them"
                   if notes else "")
    else:
        rows = list(zip(train["anchor"], train["positive"]))
        items = [(f"d:{normalize(p)}", f"q:{normalize(a)}") for a, p in rows]
        train_idx, test_idx = split_groups(items, test_size, seed)
        if not train_idx or not test_idx:
            raise DataError(f"{path.name} has too few distinct documents ({len(rows)} pairs) to "
                            "hold some out for testing. Add pairs, or give a separate test file "
                            "with test_path=...")
        test = ir_split_from_pairs(train.select(sorted(test_idx)),
                                   extra_documents=[rows[i][1] for i in sorted(train_idx)])
        train = train.select(sorted(train_idx))
        split = (f"held out {test_size:g} of the pairs by document (seed {seed}): no test "
                 "document is a training positive")
        warning = ""
    train_corpus = list(dict.fromkeys(train["positive"]))
    info = {"source": f"your file {path.name}", "train_pairs": len(train),
            "train_documents": len(train_corpus), "test_queries": len(test.queries),
            "corpus": len(test.corpus), "split": split, "seed": seed, "test_size": test_size}
    if dropped:
        info["dropped_empty"] = dropped
        warning = (f"{dropped} rows with an empty anchor or positive were left out; "
                   "data.validate(path) lists them. " + warning).strip()
    if warning:
        info["warning"] = warning
    return Bundle(path.stem, train, test, info, train_corpus)
