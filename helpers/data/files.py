"""Your own pairs: reading, writing and converting files (02_training_data, 06_try_it_yourself).

``read_pairs(path)`` reads CSV/TSV/JSONL/JSON into a Dataset, matching column names with aliases
(query/document, question/answer) and refusing, with a fix, what cannot be right: not UTF-8 (UTF-16
and UTF-32 named as such), a spreadsheet, a binary file, a NUL byte anywhere, an empty file, no
usable columns. A user's file is only ever read. Cells that are a missing-value word
(:data:`MISSING_WORDS`: NaN, NA, null, None, ...) or not text at all (a number, a JSON list) are
read as they are and flagged by ``validate``; ``data.load`` leaves rows whose anchor or positive is
missing out of training, empty or a missing-value word alike.
``pairs([...])``, ``write_pairs``, ``to_input_examples`` / ``from_input_examples`` convert between
the forms the tutorials use; ``ir_split_from_pairs`` turns test pairs into an :class:`IRSplit`.
"""
from __future__ import annotations

import csv
import io
import json
import math
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


MISSING_WORDS = frozenset({
    "nan", "-nan", "na", "n/a", "n.a.", "n.a", "#n/a", "#na", "<na>", "nat",  # pandas, R, Excel
    "null", "#null!", "<null>", "(null)", "none", "(none)", "nil", "undefined",  # code, databases
    "missing", "(missing)", "(blank)", "(empty)", "-", "--", "---", "\u2013", "\u2014", "?",
    "??", ".",                                                                # people
})
"""Cell values that mean "no value here" rather than a text, compared after stripping spaces and
ignoring case: what pandas, R, Excel, databases and programming languages write for a missing
value, and the dashes and question marks people type in an empty cell. CSV is read with
``keep_default_na=False``, so that no text is ever turned into a missing value behind your back;
these words therefore arrive as text: ``validate`` flags them and ``data.load`` leaves rows whose
anchor or positive is one out of training."""


def is_missing_word(text: object) -> bool:
    """Whether a cell is one of :data:`MISSING_WORDS` (NaN, NA, N/A, null, None, nil, -, ...)."""
    return isinstance(text, str) and text.strip().casefold() in MISSING_WORDS


# File signatures (the first bytes) of formats people save by mistake under a .csv name.
_SIGNATURES = ((b"%PDF", "a PDF document"), (b"\x89PNG", "a PNG image"),
               (b"\xff\xd8\xff", "a JPEG image"), (b"\x1f\x8b", "a gzip archive"),
               (b"SQLite format 3\x00", "an SQLite database"))
# Byte-order marks, longest first (UTF-32's little-endian mark begins with UTF-16's).
_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
         (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"))


def _wide_encoding(head: bytes) -> tuple[str, bool] | None:
    """("UTF-16" or "UTF-32", has a byte-order mark) when ``head`` is UTF-16/32 text, else None.

    Without a mark, text in the Latin range gives itself away by its NUL pattern: in UTF-16 every
    other byte is 0, in UTF-32 three bytes of every four.
    """
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name, True
    sample = head[: len(head) - len(head) % 4]
    if len(sample) < 8:
        return None
    zeros = [sample[i::4].count(0) / len(sample[i::4]) for i in range(4)]  # share of 0 bytes
    if (zeros[0] < 0.2 and min(zeros[1:]) > 0.8) or (zeros[3] < 0.2 and min(zeros[:3]) > 0.8):
        return "UTF-32", False
    even, odd = (zeros[0] + zeros[2]) / 2, (zeros[1] + zeros[3]) / 2
    if (odd > 0.6 and even < 0.2) or (even > 0.6 and odd < 0.2):
        return "UTF-16", False
    return None


def _utf8_start(head: bytes) -> bool:
    """Whether ``head`` is UTF-8 text, a character cut at its end apart."""
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


def _sniff_binary(path: Path, raw: bytes) -> None:
    """Refuse, with the fix, what is not UTF-8 text: a spreadsheet, another binary format, UTF-16
    or UTF-32 text, a NUL byte anywhere (naming its line). A file whose first 4 KB hold many NUL
    bytes, or NUL bytes among bytes that are not UTF-8, is called binary."""
    head = raw[:4096]
    if (head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"))
            or path.suffix.lower() in (".xlsx", ".xls", ".ods")):
        raise DataError(f"{path.name} looks like a spreadsheet (Excel/ODS), not a text file. In "
                        "your spreadsheet program use File > Save As > 'CSV UTF-8', then load the "
                        ".csv.")
    kind = next((k for sig, k in _SIGNATURES if head.startswith(sig)), None)
    wide = None if kind else _wide_encoding(head)
    if wide:
        name, bom = wide
        raise DataError(
            f"{path.name} is {name} text ({'with' if bom else 'without'} a byte-order mark), not "
            f"UTF-8: save it as UTF-8 (in Excel: File > Save As > 'CSV UTF-8'; Excel's 'Unicode "
            "Text' format is UTF-16. In a text editor: Save with encoding UTF-8).")
    nul = raw.find(b"\x00")
    if kind or (0 <= nul < len(head) and (head.count(0) > max(4, len(head) // 100)
                                          or not _utf8_start(head))):
        raise DataError(f"{path.name} is a binary file ({kind or 'it holds NUL bytes'}), not CSV "
                        "or JSONL text. Export your pairs as CSV (UTF-8) with a header row "
                        "anchor,positive, or as JSONL.")
    if nul >= 0:
        line = raw[:nul].count(b"\n") + 1
        more = raw.count(b"\x00") - 1
        also = f" (and {more} more after it)" if more else ""
        raise DataError(
            f"{path.name} has a NUL byte (0x00) on line {line}{also}. Text never holds one: the "
            "file was damaged, or another program wrote into it. Open it in a text editor, delete "
            "the stray character on that line (or export the pairs again as CSV UTF-8) and load "
            "it again.")


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


_TOO_DEEP = ("{name}: a value{where} is nested too deeply (lists inside lists, hundreds of levels) "
             "to be a pair. Each row must look like {{\"anchor\": \"...\", \"positive\": "
             "\"...\"}}.")


def read_table(path: str | os.PathLike) -> tuple[pd.DataFrame, Path]:
    """Read a CSV/TSV/JSONL/JSON file into a DataFrame, columns as found: strings from a CSV file,
    values as they are from JSON (``as_frame`` turns them into text and notes which were not).

    Only reads: the file is opened once, read-only, and never written. Every problem is one
    :class:`DataError` that says what to do.
    """
    import pandas as pd

    path = resolve_path(path)
    if not path.exists():
        raise DataError(f"No file at {paths.show(path)}. Check the path (it is relative to the "
                        "folder the notebook runs in, notebooks/ for the lessons).")
    if path.is_dir():
        raise DataError(f"{paths.show(path)} is a folder; give the path of a .csv or .jsonl file.")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"Cannot read {paths.show(path)}: {exc.strerror or exc}. Check that the "
                        "file is yours to read and not open in another program.") from None
    _sniff_binary(path, raw)
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
            except RecursionError:
                raise DataError(_TOO_DEEP.format(name=path.name, where="")) from None
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
                except RecursionError:
                    raise DataError(_TOO_DEEP.format(name=path.name, where=f" on line {n}")) \
                        from None
        bad = [i + 1 for i, r in enumerate(rows) if not isinstance(r, dict)]
        if bad:
            raise DataError(f"{path.name}: rows {bad[:5]} are not JSON objects. Each row must look "
                            'like {"anchor": "...", "positive": "..."}.')
        if not rows:
            raise DataError(f"{path.name} holds no rows.")
        df = pd.DataFrame(rows)  # values as they are: as_frame notes those that are not text
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
        except (ValueError, csv.Error) as exc:  # pandas' ParserError is a ValueError
            raise DataError(f"{path.name} could not be read as CSV ({paths.brief_error(exc)}). "
                            'Check that texts containing commas are wrapped in double quotes '
                            '"like, this".') from exc
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
    not_text = {}
    for col, canon in mapping.items():
        kinds = {i + 1: kind for i, kind in enumerate(map(_not_text_kind, df[col])) if kind}
        if kinds:
            not_text[canon] = kinds
    try:
        out = pd.DataFrame({canon: df[col].map(_cell_text) for col, canon in mapping.items()})
    except RecursionError:  # a list in a list ... too deep to print as text
        raise DataError(_TOO_DEEP.format(name=label, where="")) from None
    out = out[[c for c in COLUMNS if c in out.columns]]
    # Which cells held a value that is not text ({column: {1-based row: "a list", ...}}): JSON
    # and DataFrames keep types that a CSV file cannot; validate's check_not_text reports them.
    out.attrs["not_text"] = not_text
    return out, ignored, label


def _cell_text(value: object) -> str:
    """A cell as text: pandas' own missing markers (pd.NA, NaT) become '' as None and NaN do."""
    import pandas as pd

    if value is pd.NA or value is pd.NaT:
        return ""
    return as_text(value)


def _not_text_kind(value: object) -> str | None:
    """What a cell holds when it is neither text nor missing: "true/false", "a number", "a list",
    "an object" (a JSON object), else the type's name; None for text and missing values."""
    import numpy as np

    if value is None or isinstance(value, str):
        return None
    if isinstance(value, (bool, np.bool_)):
        return "true/false"
    if isinstance(value, (int, float, np.number)):
        return None if isinstance(value, (float, np.floating)) and math.isnan(value) else "a number"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple, set, np.ndarray)):
        return "a list"
    if _cell_text(value) == "":
        return None
    return type(value).__name__


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
    Raises :class:`DataError` with a fix for: not UTF-8 (UTF-16/32 named), a spreadsheet or binary
    file, a NUL byte (its line named), an empty file, a header without rows, no usable columns,
    empty texts. Missing-value words and values that are not text are kept as read:
    ``validate`` reports them.
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
    documents, so a test query must find its answer among them too). Rows with an empty text or a
    missing-value word are left out."""
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
        if not _usable(a) or not _usable(p):
            continue
        if a not in qid_of:
            qid_of[a] = f"q{len(qid_of):05d}"
            queries[qid_of[a]] = a
            qrels[qid_of[a]] = {}
        qrels[qid_of[a]][doc_id(p)] = 1
    for text in extra_documents:
        if _usable(str(text)):
            doc_id(str(text))
    return IRSplit(queries, corpus, qrels)


def _usable(text: str) -> bool:
    """A text to train on: not empty and not a missing-value word."""
    return bool(text.strip()) and not is_missing_word(text)


def load_pairs_file(path: Path, test_path: str | os.PathLike | None, test_size: float,
                    seed: int) -> Bundle:
    """The :class:`Bundle` of a pairs file: its pairs for training and, for testing, the pairs of
    ``test_path`` or ``test_size`` of its own pairs held out by document."""
    train = read_pairs(path)
    usable = [i for i, (a, p) in enumerate(zip(train["anchor"], train["positive"]))
              if _usable(a) and _usable(p)]
    dropped = len(train) - len(usable)
    if not usable:
        raise DataError(f"No row of {path.name} has both an anchor and a positive text: every row "
                        "has an empty cell or a missing-value word (NaN, null, None, ...). Fill "
                        "in the texts.")
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
        warning = (f"{dropped} rows with an empty anchor or positive (or a missing-value word "
                   "such as NaN) were left out; data.validate(path) lists them. "
                   + warning).strip()
    if warning:
        info["warning"] = warning
    return Bundle(path.stem, train, test, info, train_corpus)
