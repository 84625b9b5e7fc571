"""Training and evaluation data: pairs, triplets, IR splits, validation, mining (introduced in 02_training_data).

Two shapes of data run through the workbook:

* **Training data** is a :class:`datasets.Dataset` with the columns ``anchor``, ``positive`` and, for
  triplets, ``negative``, in that order (sentence-transformers reads the columns by position).
* **Test data** is an :class:`IRSplit`: ``queries`` {qid: text}, ``corpus`` {doc_id: text} and ``qrels``
  {qid: {doc_id: relevance}}, the BEIR shape that every retrieval metric in ``helpers.metrics`` reads.

``load(name_or_path)`` returns both at once, as a :class:`Bundle`:

* ``"icd10cm"``: medical synonyms (ICD-10-CM inclusion terms) to find the official code title;
* ``"support"``: customer-support questions to find the help-centre article that answers them;
* ``"general"``: an everyday-text retrieval set, for checking that fine-tuning did not hurt general use;
* a path to your own CSV or JSONL file of pairs;
* a Hugging Face dataset id (when online).

Every split is made *by document*: a document that answers a test query is never a training positive,
and a test query never appears among the training anchors. Otherwise the test would measure memory,
not retrieval.

``validate(pairs)`` lists what is wrong with a pairs file, with row numbers and a plain-words fix, before
you spend an hour training on it. ``mine_hard_negatives(model, pairs)`` turns pairs into triplets.

Errors about the data are :class:`DataError` (a ``ValueError``) with a message that says what is wrong,
where, and how to fix it.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import random
import re
import time
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from . import paths

COLUMNS = ("anchor", "positive", "negative")
# Other names people give the same columns (compared case-insensitively, surrounding spaces ignored).
ALIASES = {
    "anchor": "anchor", "query": "anchor", "question": "anchor", "sentence1": "anchor",
    "positive": "positive", "document": "positive", "answer": "positive", "passage": "positive",
    "sentence2": "positive",
    "negative": "negative", "hard_negative": "negative",
}
BUNDLED = ("icd10cm", "support", "general")
PAIR_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json")
# Bump when the ICD-10-CM builder changes what it produces, so old caches are rebuilt.
ICD10CM_BUILDER_VERSION = "4"
# Without a model, token counts are estimated as words x 1.3 against this limit (MiniLM's 256).
ESTIMATE_MAX_TOKENS = 256


class DataError(ValueError):
    """Something is wrong with the data; the message says what, where, and how to fix it."""


# ---------------------------------------------------------------------------------------------------
# The two containers: an IR split (test) and a bundle (train + test + where they came from)
# ---------------------------------------------------------------------------------------------------

@dataclass
class IRSplit:
    """A retrieval test set in the BEIR shape (introduced in 02_training_data).

    ``queries``: {qid: text} · ``corpus``: {doc_id: text} · ``qrels``: {qid: {doc_id: relevance}}.
    A query is answered by the documents its qrels name with relevance > 0.
    """
    queries: dict[str, str]
    corpus: dict[str, str]
    qrels: dict[str, dict[str, int]]

    def __post_init__(self):
        missing_q = [q for q in self.qrels if q not in self.queries]
        missing_d = sorted({d for rel in self.qrels.values() for d in rel if d not in self.corpus})
        if missing_q or missing_d:
            raise DataError(
                "The qrels name ids that are not there: "
                + (f"queries {missing_q[:5]} " if missing_q else "")
                + (f"documents {missing_d[:5]} " if missing_d else "")
                + "(each qrels entry must point to a query in `queries` and documents in `corpus`).")

    def __len__(self) -> int:
        return len(self.queries)

    def relevant_docs(self, qid: str) -> list[str]:
        """The ids of the documents that answer query ``qid``."""
        return [d for d, r in self.qrels.get(qid, {}).items() if r > 0]

    def relevant_texts(self) -> set[str]:
        """The texts of every document that answers some query (the test 'positives')."""
        return {self.corpus[d] for rel in self.qrels.values() for d, r in rel.items() if r > 0}

    def subset(self, max_queries: int | None = None, max_corpus: int | None = None,
               seed: int = 0) -> "IRSplit":
        """A smaller split: a seeded sample of queries, every document that answers them, and random
        other documents up to ``max_corpus`` (a query is never left without its answer)."""
        rng = random.Random(seed)
        qids = list(self.queries)
        if max_queries is not None and max_queries < len(qids):
            qids = sorted(rng.sample(qids, max_queries), key=list(self.queries).index)
        keep_q = set(qids)
        needed = {d for q in qids for d in self.qrels.get(q, {})}
        others = [d for d in self.corpus if d not in needed]
        if max_corpus is not None and len(needed) + len(others) > max_corpus:
            others = rng.sample(others, max(0, max_corpus - len(needed)))
        keep_d = needed | set(others)
        return IRSplit(
            queries={q: self.queries[q] for q in self.queries if q in keep_q},
            corpus={d: t for d, t in self.corpus.items() if d in keep_d},
            qrels={q: dict(rel) for q, rel in self.qrels.items() if q in keep_q},
        )

    def describe(self) -> str:
        """One line, e.g. ``1,700 queries · 4,324 documents · 1.0 relevant per query``."""
        n_rel = sum(len(self.relevant_docs(q)) for q in self.queries)
        per = n_rel / len(self.queries) if self.queries else 0.0
        return (f"{len(self.queries):,} queries · {len(self.corpus):,} documents · "
                f"{per:.1f} relevant per query")

    def __repr__(self) -> str:
        return f"IRSplit({self.describe()})"


@dataclass
class Bundle:
    """Training pairs, a test split and where they came from (introduced in 02_training_data).

    ``train``: a Dataset (anchor, positive[, negative]) · ``test``: an :class:`IRSplit` ·
    ``info``: provenance (source, counts, split method, seed) · ``train_corpus``: the distinct training
    documents, the pool to mine hard negatives from.
    """
    name: str
    train: Any
    test: IRSplit
    info: dict = field(default_factory=dict)
    train_corpus: list[str] = field(default_factory=list)

    def describe(self) -> str:
        i = self.info
        lines = [f"{self.name}: {i.get('source', '')}".rstrip(": ")]
        lines.append(f"  train: {len(self.train):,} pairs ({', '.join(self.train.column_names)})"
                     + (f" over {i['train_documents']:,} documents" if "train_documents" in i else ""))
        lines.append(f"  test:  {self.test.describe()}")
        if i.get("split"):
            lines.append(f"  split: {i['split']}")
        if i.get("profile_note"):
            lines.append(f"  {i['profile_note']}")
        if i.get("warning"):
            lines.append(f"  warning: {i['warning']}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"Bundle({self.name!r}, train={len(self.train):,} pairs, "
                f"test={self.test.describe()})")


# ---------------------------------------------------------------------------------------------------
# Small shared tools
# ---------------------------------------------------------------------------------------------------

def _norm(text: str) -> str:
    """Text as compared for near-duplicates: Unicode NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", str(text)).casefold().split())


def _as_text(value) -> str:
    """A cell as text: missing values (None, NaN) become '' so they are reported as empty."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    return str(value)


def _dataset(columns: dict[str, list[str]]):
    """A Dataset with string columns in the order anchor, positive[, negative]."""
    from datasets import Dataset, Features, Value

    order = [c for c in COLUMNS if c in columns]
    features = Features({c: Value("string") for c in order})
    return Dataset.from_dict({c: list(columns[c]) for c in order}, features=features)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _short(text: str, n: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _split_groups(items: list[tuple[str, ...]], test_size: float, seed: int) -> tuple[set, set]:
    """Split items into train and test *groups* so that nothing is shared across the split.

    Each item is a tuple of keys (e.g. (normalised query, document id)); items sharing any key end up
    in the same group (union-find), and whole groups go to one side. Returns (train, test) sets of item
    indices. The test side takes shuffled groups until it holds ``test_size`` of the items.
    """
    parent: dict[str, str] = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for keys in items:
        root = find(keys[0])
        for k in keys[1:]:
            other = find(k)
            if other != root:
                parent[other] = root
    groups: dict[str, list[int]] = {}
    for i, keys in enumerate(items):
        groups.setdefault(find(keys[0]), []).append(i)
    order = sorted(groups)  # a stable order before the seeded shuffle
    random.Random(seed).shuffle(order)
    target = round(test_size * len(items))
    test: set[int] = set()
    for g in order:
        if len(test) >= target:
            break
        test.update(groups[g])
    return set(range(len(items))) - test, test


def _check_test_size(test_size: float) -> None:
    if not isinstance(test_size, (int, float)) or not 0 < test_size < 1:
        raise DataError(f"test_size must be a fraction between 0 and 1 (e.g. 0.2 for 20%), "
                        f"got {test_size!r}.")


# ---------------------------------------------------------------------------------------------------
# ICD-10-CM: inclusion terms -> official code titles
# ---------------------------------------------------------------------------------------------------

# Inclusion terms that point to other codes ("Conditions classifiable to C15-C26", "Any condition in
# I00 with pericarditis") are cross-references, not synonyms a clinician would type.
_ICD_XREF = re.compile(
    r"\b(?:classifiable|classified|listed|categories|in|to|under)\s+[A-Z][0-9][0-9A-Z]", re.I)


def _icd10cm_module():
    """Import simple_icd_10_cm without its importlib.resources deprecation warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as cm
    return cm


def _icd10cm_version() -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("simple-icd-10-cm")
    except PackageNotFoundError as exc:
        raise DataError("The ICD-10-CM data needs the package simple-icd-10-cm: "
                        "pip install simple-icd-10-cm") from exc


def icd10cm_pairs() -> tuple[list[tuple[str, str]], dict[str, str], dict]:
    """Every (inclusion term, code) pair of a leaf code, the titles, and what was skipped.

    Leaf codes only (a billable code, not a heading). An inclusion term equal to the code's own title
    (ignoring case) is skipped, and so are cross-references to other codes.
    """
    cm = _icd10cm_module()
    pairs, titles, skipped = [], {}, {"same_as_title": 0, "cross_reference": 0}
    seen: set[tuple[str, str]] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for code in cm.get_all_codes(with_dots=True):
            if not cm.is_leaf(code):
                continue
            terms = cm.get_inclusion_term(code)
            if not terms:
                continue
            title = cm.get_description(code)
            for term in terms:
                term = " ".join(term.split())
                if _norm(term) == _norm(title):
                    skipped["same_as_title"] += 1
                elif _ICD_XREF.search(term):
                    skipped["cross_reference"] += 1
                elif term and (term, code) not in seen:  # a few terms are listed twice
                    seen.add((term, code))
                    pairs.append((term, code))
                    titles[code] = title
        inner = getattr(cm, "simple_icd_10_cm", cm)
        edition = getattr(inner, "_classification_data_package_file_name", "")
    m = re.search(r"([A-Za-z]+)-(\d+)-(\d{4})", edition or "")
    skipped["edition"] = f"{m.group(1)} {m.group(2)}, {m.group(3)} release" if m else "edition unknown"
    return pairs, titles, skipped


def _build_icd10cm(test_size: float, seed: int) -> dict:
    """Build the ICD-10-CM bundle as plain JSON-able data (cached by :func:`_load_icd10cm`)."""
    pairs, titles, skipped = icd10cm_pairs()
    # Split by code: test_size of the codes go to the test side. Codes that share a query text (after
    # normalisation) go to the same side, so a test query is never a training anchor and a test
    # title is never a training positive.
    codes = sorted(titles)
    terms: dict[str, list[str]] = {c: [] for c in codes}
    for q, code in pairs:
        terms[code].append(f"q:{_norm(q)}")
    _, test_idx = _split_groups([(f"d:{c}", *terms[c]) for c in codes], test_size, seed)
    test_set = {codes[i] for i in test_idx}
    train_pairs = [(q, c) for q, c in pairs if c not in test_set]
    test_pairs = [(q, c) for q, c in pairs if c in test_set]

    queries, qrels, seen = {}, {}, {}
    for q, code in test_pairs:
        key = _norm(q)
        if key not in seen:
            qid = f"q{len(seen):05d}"
            seen[key] = qid
            queries[qid] = q
            qrels[qid] = {}
        qrels[seen[key]][code] = 1
    train_codes = sorted({c for _, c in train_pairs})
    test_codes = sorted({c for _, c in test_pairs})
    info = {
        "source": (f"ICD-10-CM {skipped['edition']} (simple-icd-10-cm {_icd10cm_version()}, public "
                   "domain): inclusion terms -> official titles of leaf codes"),
        "pairs": len(pairs), "codes": len(titles),
        "train_pairs": len(train_pairs), "train_documents": len(train_codes),
        "test_queries": len(queries), "test_documents": len(test_codes), "corpus": len(titles),
        "skipped_same_as_title": skipped["same_as_title"],
        "skipped_cross_references": skipped["cross_reference"],
        "split": (f"by code (seed {seed}, test_size {test_size:g}): no test title is a training "
                  "positive, no test query is a training anchor; the corpus holds every title"),
        "seed": seed, "test_size": test_size,
    }
    return {
        "train": {"anchor": [q for q, _ in train_pairs],
                  "positive": [titles[c] for _, c in train_pairs]},
        "train_corpus": [titles[c] for c in train_codes],
        "test": {"queries": queries, "corpus": dict(sorted(titles.items())), "qrels": qrels},
        "info": info,
    }


def _load_icd10cm(test_size: float, seed: int) -> Bundle:
    """The ICD-10-CM bundle, from the cache when it is there and current, else built and cached."""
    fingerprint = {"package": _icd10cm_version(), "builder": ICD10CM_BUILDER_VERSION,
                   "seed": seed, "test_size": round(float(test_size), 6)}
    key = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:12]
    path = paths.cache_dir("datasets") / f"icd10cm-{key}.json"
    built = None
    if path.exists():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            if stored.get("fingerprint") == fingerprint:
                built = stored
        except (json.JSONDecodeError, OSError):
            built = None
    if built is None:
        built = _build_icd10cm(test_size, seed)
        built["fingerprint"] = fingerprint
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(built, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)
    info = dict(built["info"], cache=paths.show(path))
    test = IRSplit(**built["test"])
    return Bundle("icd10cm", _dataset(built["train"]), test, info, list(built["train_corpus"]))


# ---------------------------------------------------------------------------------------------------
# Bundled JSONL data: support articles and the general set
# ---------------------------------------------------------------------------------------------------

def _read_jsonl(path: Path, required: tuple[str, ...]) -> list[dict]:
    if not path.exists():
        raise DataError(f"{paths.show(path)} is missing. It ships with the workbook: restore it with "
                        "`git checkout -- data/` (or clone the repository again).")
    rows = []
    with open(path, encoding="utf-8-sig") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{paths.show(path)} line {n} is not valid JSON ({exc.msg}).") from exc
            lacking = [k for k in required if k not in row]
            if lacking:
                raise DataError(f"{paths.show(path)} line {n} lacks {', '.join(lacking)} "
                                f"(expected keys: {', '.join(required)}).")
            rows.append(row)
    return rows


def article_text(title: str, text: str) -> str:
    """How a support article is embedded, in training and in the test corpus alike: "Title. Text"."""
    title, text = " ".join(str(title).split()), str(text).strip()
    if not title:
        return text
    sep = " " if title[-1] in ".?!:" else ". "
    return f"{title}{sep}{text}"


def _load_support(test_size: float, seed: int) -> Bundle:
    """Support questions -> help-centre articles, split by article.

    Training pairs are (question, article) for the training articles only. We add no (title, article)
    pairs: the article text starts with its title, so such a pair is trivially easy and teaches the
    model nothing about how customers phrase questions.
    """
    folder = paths.DATA / "support"
    articles = _read_jsonl(folder / "articles.jsonl", ("id", "title", "text"))
    queries = _read_jsonl(folder / "queries.jsonl", ("qid", "text", "article_id"))
    docs = {str(a["id"]): article_text(a["title"], a["text"]) for a in articles}
    unknown = sorted({str(q["article_id"]) for q in queries} - set(docs))
    if unknown:
        raise DataError(f"data/support/queries.jsonl points to articles that do not exist: "
                        f"{unknown[:5]}.")
    # Split by article: test_size of the articles go to the test side, with all their queries.
    # Articles sharing a query text (after normalisation) stay on one side.
    ids = list(docs)
    keys: dict[str, list[str]] = {a: [f"d:{a}"] for a in ids}
    for q in queries:
        keys[str(q["article_id"])].append(f"q:{_norm(q['text'])}")
    _, test_idx = _split_groups([tuple(keys[a]) for a in ids], test_size, seed)
    test_articles = {ids[i] for i in test_idx}
    train_q = [q for q in queries if str(q["article_id"]) not in test_articles]
    test_q = [q for q in queries if str(q["article_id"]) in test_articles]
    train = _dataset({"anchor": [q["text"] for q in train_q],
                      "positive": [docs[str(q["article_id"])] for q in train_q]})
    train_articles = sorted({str(q["article_id"]) for q in train_q})
    test = IRSplit(queries={str(q["qid"]): q["text"] for q in test_q}, corpus=docs,
                   qrels={str(q["qid"]): {str(q["article_id"]): 1} for q in test_q})
    info = {
        "source": "data/support (written for the workbook): customer questions -> help articles",
        "articles": len(docs), "queries": len(queries),
        "train_pairs": len(train), "train_documents": len(train_articles),
        "test_queries": len(test.queries),
        "test_documents": len(test_articles), "corpus": len(docs),
        "split": (f"by article (seed {seed}, test_size {test_size:g}): no test article is a "
                  "training positive; the corpus holds every article"),
        "seed": seed, "test_size": test_size,
    }
    return Bundle("support", train, test, info, [docs[a] for a in train_articles])


def _load_general() -> Bundle:
    """The general-text retrieval set: evaluation only (no training pairs)."""
    folder = paths.DATA / "general"
    docs = _read_jsonl(folder / "documents.jsonl", ("id", "text"))
    queries = _read_jsonl(folder / "queries.jsonl", ("qid", "text", "doc_id"))
    corpus = {str(d["id"]): d["text"] for d in docs}
    qrels: dict[str, dict[str, int]] = {}
    for q in queries:
        qrels.setdefault(str(q["qid"]), {})[str(q["doc_id"])] = 1
    test = IRSplit({str(q["qid"]): q["text"] for q in queries}, corpus, qrels)
    info = {"source": "data/general (written for the workbook): everyday questions -> passages",
            "test_queries": len(test.queries), "corpus": len(corpus), "train_pairs": 0,
            "split": "evaluation only: every query is a test query, there is no training part"}
    return Bundle("general", _dataset({"anchor": [], "positive": []}), test, info, [])


# ---------------------------------------------------------------------------------------------------
# Your own pairs: reading, writing and converting
# ---------------------------------------------------------------------------------------------------

def _sniff_binary(path: Path, head: bytes) -> None:
    if head.startswith(b"PK\x03\x04") or path.suffix.lower() in (".xlsx", ".xls", ".ods"):
        raise DataError(f"{path.name} looks like a spreadsheet (Excel/ODS), not a text file. In your "
                        "spreadsheet program use File > Save As > 'CSV UTF-8', then load the .csv.")
    if b"\x00" in head:
        raise DataError(f"{path.name} is a binary file, not CSV or JSONL text. Export your pairs as "
                        "CSV (UTF-8) with a header row anchor,positive, or as JSONL.")


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


def _resolve(path: str | os.PathLike) -> Path:
    """A path as given; a relative one that is not found here is also tried from the repository
    root, so "data/examples/flawed_pairs.csv" works from notebooks/ too."""
    path = Path(path).expanduser()
    if not path.is_absolute() and not path.exists() and (paths.ROOT / path).exists():
        return paths.ROOT / path
    return path


def _read_table(path: str | os.PathLike) -> tuple["Any", Path]:
    """Read a CSV/TSV/JSONL/JSON file into a DataFrame of strings, columns as found.

    Only reads: the file is opened once, read-only, and never written.
    """
    import pandas as pd

    path = _resolve(path)
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
    if suffix in (".jsonl", ".json") or (suffix not in (".csv", ".tsv") and text.lstrip()[:1] in "{["):
        rows = []
        stripped = text.strip()
        if suffix == ".json" or stripped.startswith("["):
            try:
                data = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path.name} is not valid JSON (line {exc.lineno}: {exc.msg}).") from exc
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
                    raise DataError(f"{path.name} line {n} is not valid JSON ({exc.msg}). Each line of "
                                    'a JSONL file is one object: {"anchor": "...", "positive": "..."}'
                                    ) from exc
        bad = [i + 1 for i, r in enumerate(rows) if not isinstance(r, dict)]
        if bad:
            raise DataError(f"{path.name}: rows {bad[:5]} are not JSON objects. Each row must look "
                            'like {"anchor": "...", "positive": "..."}.')
        if not rows:
            raise DataError(f"{path.name} holds no rows.")
        df = pd.DataFrame(rows)
        df = df.map(_as_text) if len(df) else df
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
        raise DataError(f"{path.name}: unsupported file type {suffix!r}. Use CSV (.csv, UTF-8, header "
                        "row anchor,positive) or JSON Lines (.jsonl).")
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


def _frame(pairs) -> tuple["Any", list[str], str]:
    """Any pairs input as a DataFrame of strings with canonical column names.

    Returns (frame, ignored column names, a label for messages). Missing anchor/positive columns are
    left missing (``validate`` reports them, ``read_pairs`` raises).
    """
    import pandas as pd

    label = "the pairs"
    if isinstance(pairs, (str, os.PathLike)):
        df, path = _read_table(pairs)
        label = path.name
    elif isinstance(pairs, pd.DataFrame):
        df = pairs
    elif hasattr(pairs, "to_pandas") and hasattr(pairs, "column_names"):  # a datasets.Dataset
        df = pairs.to_pandas()
    elif isinstance(pairs, list):
        df = pd.DataFrame(_rows_from_list(pairs))
    else:
        raise DataError(f"Cannot read pairs from a {type(pairs).__name__}: give a path to a CSV/JSONL "
                        "file, a datasets.Dataset, a pandas DataFrame or a list of pairs.")
    mapping, ignored = _map_columns(df.columns)
    out = pd.DataFrame({canon: df[col].map(_as_text) for col, canon in mapping.items()})
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
            raise DataError(f"Item {i} is {item!r}: each pair must be (anchor, positive), a triplet "
                            "(anchor, positive, negative) or a dict with those keys.")
    return rows


def _missing_columns_message(label: str, found: list[str]) -> str:
    return (f"{label} has no usable anchor/positive columns. Found columns: "
            f"{', '.join(map(repr, found)) or 'none'}. Expected: {_expected_columns()}. Rename the "
            "header row, e.g. 'anchor,positive'.")


def read_pairs(path: str | os.PathLike):
    """Read a CSV or JSONL file of pairs (or triplets) into a Dataset (introduced in 02_training_data).

    Column names are matched case-insensitively with aliases (query/document, question/answer);
    other columns are ignored. UTF-8 with or without a BOM. The file is only read, never changed.
    Raises :class:`DataError` with a fix for: not UTF-8, a spreadsheet or binary file, an empty
    file, a header without rows, no usable columns, empty texts.
    """
    df, ignored, label = _frame(path)
    if "anchor" not in df.columns or "positive" not in df.columns:
        raise DataError(_missing_columns_message(label, list(df.columns) + ignored))
    if len(df) == 0:
        raise DataError(f"{label} has a header but no rows of data.")
    empty = [i + 1 for i in range(len(df)) if any(not df[c].iat[i].strip() for c in df.columns)]
    if len(empty) == len(df):
        raise DataError(f"Every row of {label} has an empty text: fill in the texts.")
    return _dataset({c: df[c].tolist() for c in df.columns})


def write_pairs(ds, path: str | os.PathLike) -> Path:
    """Write pairs/triplets to CSV or JSONL (by the file's suffix), UTF-8, columns in order."""
    df, _, _ = _frame(ds)
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
        raise DataError(f"Write pairs to a .csv or .jsonl file, not {path.suffix or 'no suffix'!r}.")
    return path


def pairs(items: Iterable) -> "Any":
    """A Dataset from a list of (anchor, positive[, negative]) tuples or dicts (02_training_data).

    Dicts may use the aliases (query/document, question/answer). All items must have the same shape.
    """
    items = list(items)
    if not items:
        raise DataError("No pairs given: pass a list like [('a question', 'its answer'), ...].")
    df, _, _ = _frame(items)
    if "anchor" not in df.columns or "positive" not in df.columns:
        raise DataError(_missing_columns_message("The list", list(df.columns)))
    return _dataset({c: df[c].tolist() for c in df.columns})


def to_input_examples(ds) -> list:
    """The classic form: a list of ``InputExample(texts=[anchor, positive(, negative)])``.

    Older tutorials (and the seed tutorial) build these for ``model.fit``; the Trainer takes a Dataset.
    """
    from sentence_transformers import InputExample

    df, _, _ = _frame(ds)
    cols = [c for c in COLUMNS if c in df.columns]
    return [InputExample(texts=[row[c] for c in cols]) for row in df.to_dict(orient="records")]


def from_input_examples(examples: list):
    """A Dataset (anchor, positive[, negative]) from a list of InputExample (labels are dropped)."""
    lengths = {len(getattr(e, "texts", []) or []) for e in examples}
    if not examples or not lengths <= {2, 3} or len(lengths) != 1:
        raise DataError("Every InputExample needs the same number of texts: 2 (anchor, positive) or "
                        f"3 (anchor, positive, negative); found {sorted(lengths)}.")
    n = lengths.pop()
    return _dataset({c: [str(e.texts[i]) for e in examples] for i, c in enumerate(COLUMNS[:n])})


def ir_split_from_pairs(test_pairs, extra_documents: Iterable[str] = ()) -> IRSplit:
    """An IR split from (anchor, positive) pairs: each distinct anchor is a query answered by its
    positives; the corpus holds every distinct positive plus ``extra_documents`` (e.g. the training
    documents, so a test query must find its answer among them too)."""
    df, _, _ = _frame(test_pairs)
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


def _load_pairs_file(path: Path, test_path, test_size: float, seed: int) -> Bundle:
    train = read_pairs(path)
    usable = [i for i, (a, p) in enumerate(zip(train["anchor"], train["positive"]))
              if a.strip() and p.strip()]
    dropped = len(train) - len(usable)
    if dropped:
        train = train.select(usable)
    if test_path is not None:
        test_ds = read_pairs(test_path)
        test = ir_split_from_pairs(test_ds, extra_documents=train["positive"])
        train_q, train_d = {_norm(t) for t in train["anchor"]}, {_norm(t) for t in train["positive"]}
        leaks = sum(1 for a, p in zip(test_ds["anchor"], test_ds["positive"])
                    if _norm(a) in train_q or _norm(p) in train_d)
        split = f"given: test pairs from {Path(test_path).name}"
        warning = (f"{leaks} test pairs share a query or document with training; run "
                   "data.validate(train, test) to see them") if leaks else ""
    else:
        rows = list(zip(train["anchor"], train["positive"]))
        items = [(f"d:{_norm(p)}", f"q:{_norm(a)}") for a, p in rows]
        train_idx, test_idx = _split_groups(items, test_size, seed)
        if not train_idx or not test_idx:
            raise DataError(f"{path.name} has too few distinct documents ({len(rows)} pairs) to hold "
                            "some out for testing. Add pairs, or give a separate test file with "
                            "test_path=...")
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


# ---------------------------------------------------------------------------------------------------
# Hugging Face hub datasets (online only)
# ---------------------------------------------------------------------------------------------------

def _load_hub(name: str, test_size: float, seed: int) -> Bundle:
    from . import models

    if not models.is_online():
        raise DataError(
            f"{name!r} looks like a Hugging Face dataset id, but we are offline (the hub cannot be "
            "reached). Use a bundled dataset instead: data.load('icd10cm') or data.load('support'), "
            "or a path to your own CSV/JSONL file of pairs.")
    import datasets

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        configs = datasets.get_dataset_config_names(name)
    if "corpus" in configs and "queries" in configs:  # BEIR style: corpus/queries configs + qrels
        corpus_ds = datasets.load_dataset(name, "corpus")
        queries_ds = datasets.load_dataset(name, "queries")
        corpus_ds = corpus_ds[list(corpus_ds)[0]]
        queries_ds = queries_ds[list(queries_ds)[0]]
        qrels_ds = datasets.load_dataset(f"{name}-qrels") if "default" not in configs else \
            datasets.load_dataset(name, "default")
        split = "test" if "test" in qrels_ds else list(qrels_ds)[0]
        corpus = {str(r["_id"]): (f"{r.get('title') or ''} {r['text']}").strip() for r in corpus_ds}
        queries_all = {str(r["_id"]): r["text"] for r in queries_ds}
        qrels: dict[str, dict[str, int]] = {}
        for r in qrels_ds[split]:
            q, d, s = str(r["query-id"]), str(r["corpus-id"]), int(r["score"])
            if q in queries_all and d in corpus and s > 0:
                qrels.setdefault(q, {})[d] = s
        test = IRSplit({q: queries_all[q] for q in qrels}, corpus, qrels)
        train_rows = []
        if "train" in qrels_ds and split != "train":
            for r in qrels_ds["train"]:
                q, d = str(r["query-id"]), str(r["corpus-id"])
                if q in queries_all and d in corpus and int(r["score"]) > 0:
                    train_rows.append((queries_all[q], corpus[d]))
        train = _dataset({"anchor": [a for a, _ in train_rows],
                          "positive": [p for _, p in train_rows]})
        info = {"source": f"Hugging Face hub: {name} (BEIR style)", "train_pairs": len(train),
                "test_queries": len(test.queries), "corpus": len(corpus),
                "split": f"the dataset's own qrels split {split!r}"}
        return Bundle(name, train, test, info, list(dict.fromkeys(train["positive"])))

    loaded = datasets.load_dataset(name)
    splits = list(loaded)
    train_split = "train" if "train" in loaded else splits[0]
    df, ignored, _ = _frame(loaded[train_split])
    if "anchor" not in df.columns or "positive" not in df.columns:
        raise DataError(_missing_columns_message(name, list(loaded[train_split].column_names)))
    tmp = paths.cache_dir("datasets", "hub") / (name.replace("/", "__") + ".jsonl")
    write_pairs(_dataset({c: df[c].tolist() for c in df.columns}), tmp)
    test_tmp = None
    if "test" in loaded and train_split != "test":
        tdf, _, _ = _frame(loaded["test"])
        if "anchor" in tdf.columns and "positive" in tdf.columns:
            test_tmp = tmp.with_name(tmp.stem + ".test.jsonl")
            write_pairs(_dataset({c: tdf[c].tolist() for c in tdf.columns}), test_tmp)
    bundle = _load_pairs_file(tmp, test_tmp, test_size, seed)
    bundle.name = name
    bundle.info["source"] = f"Hugging Face hub: {name}"
    return bundle


# ---------------------------------------------------------------------------------------------------
# load(): one entry point
# ---------------------------------------------------------------------------------------------------

def load(name_or_path: str | os.PathLike, test_path: str | os.PathLike | None = None,
         test_size: float = 0.2, seed: int = 42, profile=None) -> Bundle:
    """Training pairs and a test split, ready to fine-tune and evaluate (introduced in 02_training_data).

    ``name_or_path``: ``"icd10cm"``, ``"support"``, ``"general"``, a path to a CSV/JSONL file of pairs,
    or a Hugging Face dataset id (online only). ``test_path``: a separate test file for your own pairs
    (else ``test_size`` of them is held out, split by document). ``profile``: a profile name or
    :class:`helpers.profiles.Profile` whose sizes (max_train_pairs, max_test_queries, max_corpus) cap
    the bundle; ``None`` keeps everything.
    """
    _check_test_size(test_size)
    key = str(name_or_path).strip()
    low = key.lower().replace("-", "").replace("_", "")
    path = _resolve(key)
    if low in ("icd10cm", "icd10"):
        bundle = _load_icd10cm(test_size, seed)
    elif low == "support":
        bundle = _load_support(test_size, seed)
    elif low == "general":
        bundle = _load_general()
    elif path.is_file():
        bundle = _load_pairs_file(path, test_path, test_size, seed)
    elif path.suffix.lower() in PAIR_SUFFIXES + (".xlsx", ".xls") or key.startswith((".", "/", "~")) \
            or path.is_dir():
        _read_table(path)  # raises the right DataError (missing file, folder, spreadsheet)
        raise DataError(f"Cannot load {key!r}.")  # pragma: no cover (read_table raised)
    elif "/" in key:
        bundle = _load_hub(key, test_size, seed)
    else:
        raise DataError(f"Unknown dataset {key!r}. Choose one of {', '.join(map(repr, BUNDLED))}, a "
                        "path to your own CSV/JSONL file of pairs, or a Hugging Face dataset id "
                        "(user/name).")
    if profile is not None:
        bundle = _apply_profile(bundle, profile, seed)
    return bundle


def _apply_profile(bundle: Bundle, profile, seed: int) -> Bundle:
    from . import profiles

    prof = profiles.get(profile)
    train, test = bundle.train, bundle.test
    notes = []
    if prof.max_train_pairs is not None and len(train) > prof.max_train_pairs:
        keep = sorted(random.Random(seed).sample(range(len(train)), prof.max_train_pairs))
        train = train.select(keep)
        notes.append(f"train {len(train):,} of {len(bundle.train):,} pairs")
    if prof.max_test_queries is not None or prof.max_corpus is not None:
        smaller = test.subset(prof.max_test_queries, prof.max_corpus, seed=seed)
        if len(smaller.queries) < len(test.queries) or len(smaller.corpus) < len(test.corpus):
            notes.append(f"test {len(smaller.queries):,} of {len(test.queries):,} queries, "
                         f"{len(smaller.corpus):,} of {len(test.corpus):,} documents")
        test = smaller
    info = dict(bundle.info, profile=prof.name, train_pairs=len(train),
                test_queries=len(test.queries), corpus=len(test.corpus))
    if notes:
        info["profile_note"] = f"profile {prof.name}: " + "; ".join(notes)
    train_corpus = bundle.train_corpus
    if len(train) < len(bundle.train):
        train_corpus = list(dict.fromkeys(train["positive"]))
        info["train_documents"] = len(train_corpus)
    return Bundle(bundle.name, train, test, info, train_corpus)


# ---------------------------------------------------------------------------------------------------
# validate(): what is wrong with a pairs file, with rows and fixes
# ---------------------------------------------------------------------------------------------------

REPORT_COLUMNS = ["check", "severity", "count", "examples", "fix"]


def _examples(rows: list[int], texts: list[str] | None = None, limit: int = 3) -> str:
    """e.g. "rows 3, 7, 12 (+4 more): 'text'"; rows are 1-based data rows (the header not counted)."""
    rows = list(rows)
    if not rows:
        return ""
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" (+{len(rows) - limit} more)" if len(rows) > limit else ""
    word = "row" if len(rows) == 1 else "rows"
    sample = f": {_short(texts[0])!r}" if texts and texts[0] else ""
    return f"{word} {shown}{more}{sample}"


def _test_texts(test) -> tuple[set[str], set[str], str]:
    """Normalised (queries, answering documents) of a test set given in any form."""
    if isinstance(test, IRSplit):
        return ({_norm(t) for t in test.queries.values()}, {_norm(t) for t in test.relevant_texts()},
                "the test split")
    if isinstance(test, Bundle):
        return _test_texts(test.test)
    df, _, label = _frame(test)
    if "anchor" not in df.columns or "positive" not in df.columns:
        raise DataError(_missing_columns_message(f"The test set ({label})", list(df.columns)))
    return ({_norm(t) for t in df["anchor"] if t.strip()},
            {_norm(t) for t in df["positive"] if t.strip()}, label)


def _token_counts(texts: list[str], model=None) -> tuple["Any", int, bool]:
    """(token counts, limit, estimated?) for texts: the model's tokenizer, else words x 1.3."""
    import numpy as np

    if model is not None:
        return token_lengths(model, texts), int(model.max_seq_length), False
    counts = np.array([math.ceil(len(t.split()) * 1.3) + 2 for t in texts], dtype=int)
    return counts, ESTIMATE_MAX_TOKENS, True


def validate(pairs, test=None, model=None, min_pairs: int | None = 100):
    """Check a pairs file (or Dataset, DataFrame) before fine-tuning (introduced in 02_training_data).

    Returns a DataFrame, one row per problem found: ``check``, ``severity`` ("error": fine-tuning on
    this would be wrong; "warning": it will run, but ...), ``count``, ``examples`` (1-based data rows,
    header not counted, and a sample text) and ``fix`` in plain words. With no problem found, one
    "ok" row. ``report.attrs`` holds ``errors``, ``warnings`` and ``n_pairs``;
    :func:`raise_for_errors` stops with one clear message. ``test``: the test set (a path, Dataset,
    DataFrame, IRSplit or Bundle) to check for leakage. ``model``: count tokens with its tokenizer
    (else a words x 1.3 estimate against 256). ``min_pairs``: fewer pairs than this is a warning
    (fewer than 10 an error); None for a file that is not for training (a test file), which skips
    the size check. The file is only read, never changed.
    """
    import pandas as pd

    df, ignored, label = _frame(pairs)
    found: list[dict] = []

    def add(check, severity, rows, fix, texts=None, count=None):
        found.append({"check": check, "severity": severity,
                      "count": len(rows) if count is None else count,
                      "examples": _examples(rows, texts) if rows else "", "fix": fix,
                      "_rows": list(rows)})

    if "anchor" not in df.columns or "positive" not in df.columns:
        lacking = [c for c in ("anchor", "positive") if c not in df.columns]
        add("missing columns", "error", [], count=len(lacking),
            fix=(f"{label} has no {' or '.join(lacking)} column (found: "
                 f"{', '.join(map(repr, list(df.columns) + ignored)) or 'none'}). Name the header row "
                 "anchor,positive (query/document and question/answer also work)."))
        return _finish(found, df, label)
    if ignored:
        add("unknown columns", "warning", [], count=len(ignored),
            fix=(f"These columns are ignored: {', '.join(map(repr, ignored))}. Only anchor, positive "
                 "and negative are used; rename a column if it holds one of them."))

    n = len(df)
    cols = list(df.columns)
    A, P = df["anchor"].tolist(), df["positive"].tolist()
    N = df["negative"].tolist() if "negative" in cols else None

    # Too few pairs (to train on; a test set's size is judged by its interval instead).
    if min_pairs is None:
        pass
    elif n < 10:
        add("too few pairs", "error", [], count=n,
            fix=(f"Only {n} pairs: far too few to fine-tune (under 100 is not enough, 1,000+ "
                 "gives a measurable gain). Collect more pairs, or use the model off the shelf."))
    elif n < min_pairs:
        add("too few pairs", "warning", [], count=n,
            fix=(f"Only {n} pairs: under {min_pairs} is usually not enough to fine-tune; expect "
                 "little or no gain. Collect more (1,000+ is a good target), or treat this as a "
                 "first experiment."))

    # Empty texts.
    empty = [i + 1 for i in range(n) if any(not str(df[c].iat[i]).strip() for c in cols)]
    if empty:
        which = sorted({c for i in empty for c in cols if not str(df[c].iat[i - 1]).strip()})
        add("empty texts", "error", empty,
            fix=(f"Fill in the empty {'/'.join(which)} in these rows, or delete the rows. An empty "
                 "text trains the model to match nothing."))

    # Duplicates: exact, then near (same text after case/whitespace normalisation).
    seen_exact: dict[tuple, int] = {}
    seen_near: dict[tuple, int] = {}
    exact, near = [], []
    for i in range(n):
        if not A[i].strip() or not P[i].strip():
            continue
        k_exact, k_near = (A[i], P[i]), (_norm(A[i]), _norm(P[i]))
        if k_exact in seen_exact:
            exact.append(i + 1)
        elif k_near in seen_near:
            near.append(i + 1)
        seen_exact.setdefault(k_exact, i + 1)
        seen_near.setdefault(k_near, i + 1)
    if exact:
        add("duplicate pairs", "warning", exact, texts=[A[exact[0] - 1]],
            fix=("Delete the repeated rows (keep one of each). Repeats give a pair extra weight and, "
                 "in one batch, turn a correct answer into a 'negative'."))
    if near:
        add("near-duplicate pairs", "warning", near, texts=[A[near[0] - 1]],
            fix=("These pairs repeat an earlier one up to case or spacing. Delete the repeats, or "
                 "rephrase them if they were meant to be different questions."))

    # Anchor identical to its positive.
    same = [i + 1 for i in range(n) if A[i].strip() and _norm(A[i]) == _norm(P[i])]
    if same:
        add("anchor equals positive", "warning", same, texts=[A[same[0] - 1]],
            fix=("The query and its answer are the same text, which teaches nothing. Put the real "
                 "question in anchor and the document that answers it in positive."))

    # Swapped columns: anchors (queries) are usually much shorter than positives (documents).
    # Whole file: the median anchor is more than twice the median positive (and not short).
    # Single rows: the positive is a question while the anchor is a longer statement.
    import numpy as np
    a_words = np.array([len(t.split()) for t in A if t.strip()] or [0])
    p_words = np.array([len(t.split()) for t in P if t.strip()] or [0])
    a_med, p_med = float(np.median(a_words)), float(np.median(p_words))
    if n >= 5 and a_med > 2 * max(p_med, 1) and a_med >= 12:
        add("columns swapped", "error", [], count=n,
            fix=(f"Anchors are much longer than positives (median {a_med:.0f} vs {p_med:.0f} words): "
                 "the columns look swapped. The first column must be the short query, the second the "
                 "document that answers it (sentence-transformers reads columns by position)."))
    else:
        swapped = [i + 1 for i in range(n)
                   if P[i].rstrip().endswith("?") and not A[i].rstrip().endswith("?")
                   and len(A[i].split()) > max(2 * len(P[i].split()), 8)]
        if swapped:
            add("swapped rows", "error", swapped, texts=[P[swapped[0] - 1]],
                fix=("In these rows the question sits in positive and a longer answer in anchor. "
                     "Swap the two texts back: anchor is the query, positive the document that "
                     "answers it."))

    # Negatives that are not negatives.
    if N is not None:
        neg_pos = [i + 1 for i in range(n) if N[i].strip() and _norm(N[i]) == _norm(P[i])]
        neg_anc = [i + 1 for i in range(n) if N[i].strip() and _norm(N[i]) == _norm(A[i])]
        if neg_pos:
            add("negative equals positive", "error", neg_pos, texts=[N[neg_pos[0] - 1]],
                fix=("The negative is the positive itself, so the model is told to push the right "
                     "answer away. Replace it with a related but wrong document, or drop the negative."))
        if neg_anc:
            add("negative equals anchor", "error", neg_anc, texts=[N[neg_anc[0] - 1]],
                fix=("The negative repeats the query. Replace it with a related but wrong document "
                     "(data.mine_hard_negatives can find one)."))

    # Texts longer than the model reads.
    all_texts = [(c, i) for c in cols for i in range(n) if str(df[c].iat[i]).strip()]
    if all_texts:
        counts, limit, estimated = _token_counts([df[c].iat[i] for c, i in all_texts], model)
        long_ = [(c, i) for (c, i), k in zip(all_texts, counts) if k > limit]
        if long_:
            rows = sorted({i + 1 for _, i in long_})
            share = len(long_) / len(all_texts)
            by_col = ", ".join(_plural(sum(1 for c, _ in long_ if c == col), col) for col in cols
                               if any(c == col for c, _ in long_))
            how = (f"about {limit} tokens (an estimate: words x 1.3; pass model= for an exact count)"
                   if estimated else f"the model's max_seq_length of {limit} tokens")
            add("texts too long", "warning", rows, count=len(long_),
                fix=(f"{_plural(len(long_), 'text')} ({share:.0%}: {by_col}) "
                     f"{'is' if len(long_) == 1 else 'are'} longer than {how}; the model "
                     "reads only the start and silently drops the rest. Split long documents into "
                     "passages of a few paragraphs, one pair per passage."))

    # Leakage: training rows that also appear in the test set.
    if test is not None:
        test_q, test_d, test_label = _test_texts(test)
        leak = [i + 1 for i in range(n) if (A[i].strip() and _norm(A[i]) in test_q)
                or (P[i].strip() and _norm(P[i]) in test_d)]
        if leak:
            add("overlap with test", "error", leak, texts=[A[leak[0] - 1]],
                fix=(f"These training rows share a query or an answering document with {test_label}, "
                     "so the test would measure memory, not retrieval. Remove them from training (or "
                     "from the test), or let data.load split by document for you."))
    return _finish(found, df, label)


_SEVERITY_ORDER = {"error": 0, "warning": 1, "ok": 2}


def _finish(found: list[dict], df, label: str):
    import pandas as pd

    if not found:
        found = [{"check": "all checks passed", "severity": "ok", "count": len(df), "examples": "",
                  "fix": "Nothing to fix."}]
    found = sorted(found, key=lambda r: _SEVERITY_ORDER[r["severity"]])  # errors first, stable
    report = pd.DataFrame(found, columns=REPORT_COLUMNS)
    # Every flagged row number (1-based data rows) per check, e.g. to drop them.
    report.attrs["rows"] = {r["check"]: r.get("_rows", []) for r in found}
    report.attrs["source"] = label
    report.attrs["n_pairs"] = len(df)
    report.attrs["errors"] = int((report["severity"] == "error").sum())
    report.attrs["warnings"] = int((report["severity"] == "warning").sum())
    return report


def raise_for_errors(report):
    """Stop with one :class:`DataError` listing every error in a :func:`validate` report.

    Returns the report unchanged when it has no errors (warnings do not stop anything).
    """
    errors = report[report["severity"] == "error"]
    if len(errors):
        source = report.attrs.get("source", "the pairs")
        lines = [f"{len(errors)} problem(s) in {source} would make fine-tuning wrong:"]
        for _, r in errors.iterrows():
            where = f" ({r['examples']})" if r["examples"] else ""
            lines.append(f"- {r['check']}{where}: {r['fix']}")
        raise DataError("\n".join(lines))
    return report


# ---------------------------------------------------------------------------------------------------
# Tokens and hard negatives (need a model)
# ---------------------------------------------------------------------------------------------------

def token_lengths(model, texts: Iterable[str], batch_size: int = 1024):
    """Tokens per text as the model counts them (special tokens included, nothing truncated).

    Compare with ``model.max_seq_length``: anything longer is cut off when the model reads it.
    """
    import numpy as np
    from transformers.utils import logging as hf_logging

    texts = [str(t) for t in texts]
    tok = model.tokenizer
    old = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # no "sequence longer than the maximum" warning: we count
    try:
        out = []
        for i in range(0, len(texts), batch_size):
            enc = tok(texts[i: i + batch_size], add_special_tokens=True, truncation=False)
            out.extend(len(ids) for ids in enc["input_ids"])
    finally:
        hf_logging.set_verbosity(old)
    return np.array(out, dtype=int)


@contextlib.contextmanager
def _quiet(model, verbose: bool):
    """Hide progress bars and the library's prints unless ``verbose``."""
    if verbose:
        yield
        return
    originals = {}
    for name in ("encode_query", "encode_document"):
        fn = getattr(model, name, None)
        if fn is None:
            continue
        originals[name] = fn

        def silent(*args, _fn=fn, **kwargs):
            kwargs["show_progress_bar"] = False
            return _fn(*args, **kwargs)
        setattr(model, name, silent)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        for name in originals:
            delattr(model, name)  # back to the class's own method


def mine_hard_negatives(model, pairs, corpus: Iterable[str] | None = None,
                        exclude: Iterable[str] | None = None, num_negatives: int = 1,
                        range_min: int = 3, range_max: int = 50, relative_margin: float = 0.05,
                        max_score: float | None = None, sampling_strategy: str = "top",
                        batch_size: int = 64, verbose: bool = False, seed: int = 42,
                        return_stats: bool = False):
    """Turn (anchor, positive) pairs into (anchor, positive, negative) triplets (02_training_data).

    A *hard* negative is a document the model ranks high for the anchor that is not its positive. The
    highest-ranked ones are often correct answers in disguise (false negatives: a synonym, a sibling
    code), so by default we skip the top ``range_min`` candidates, look no further than ``range_max``,
    and keep a negative only if it scores at least ``relative_margin`` (5%) below the positive.

    Why these defaults: on icd10cm (base model, 6,765 training queries against the 3,447 training
    titles) the 5% margin drops most candidates ranked above or level with the positive; among the
    rest, the negative scores on average 0.87 of the positive's score at rank 0, 0.78 after skipping
    3 and 0.70 after skipping 10, while the share of pairs that find a negative stays near 84% (at
    range_max 50). ICD codes are designed not to overlap, so the very top candidates are mostly real
    wrong codes worth learning from; sets whose documents overlap (support articles, your own) have
    more false negatives up there. Skipping 3 is the compromise; raise ``range_min`` when reading
    the triplets shows correct answers among the negatives.

    ``corpus``: where negatives come from; defaults to the training positives. ``exclude``: texts never
    to use as negatives, e.g. the test documents (they are removed from the corpus, and any triplet
    that would use one is dropped). Pairs that find no negative are dropped; a one-line summary says
    how many got one. ``verbose`` shows the library's progress bars and score table.
    ``return_stats=True`` returns (triplets, stats dict).
    """
    from sentence_transformers.util import mine_hard_negatives as st_mine

    df, _, _ = _frame(pairs)
    df = df[(df["anchor"].str.strip() != "") & (df["positive"].str.strip() != "")]
    if len(df) == 0:
        raise DataError("No usable pairs to mine negatives for (every anchor or positive is empty).")
    base = _dataset({"anchor": df["anchor"].tolist(), "positive": df["positive"].tolist()})
    banned = {_norm(t) for t in (exclude or [])}
    pool = list(dict.fromkeys(str(t) for t in (corpus if corpus is not None else base["positive"])))
    pool = [t for t in pool if t.strip() and _norm(t) not in banned]
    n_candidates = len(set(pool) | set(base["positive"]))
    range_max = min(range_max, max(n_candidates - 1, 1))
    range_min = min(range_min, max(range_max - num_negatives, 0))
    if range_max - range_min < num_negatives:
        raise DataError(f"Only {n_candidates} documents to draw negatives from: too few for "
                        f"{num_negatives} negative(s) per pair. Give a bigger corpus.")
    random.seed(seed)  # the library samples with `random` when sampling_strategy="random"
    start = time.perf_counter()
    with _quiet(model, verbose):
        mined = st_mine(base, model, anchor_column_name="anchor", positive_column_name="positive",
                        corpus=pool, range_min=range_min, range_max=range_max,
                        relative_margin=relative_margin, max_score=max_score,
                        num_negatives=num_negatives, sampling_strategy=sampling_strategy,
                        batch_size=batch_size, output_format="triplet", verbose=verbose)
    seconds = time.perf_counter() - start
    rows = [r for r in mined if _norm(r["negative"]) not in banned
            and _norm(r["negative"]) != _norm(r["positive"])]
    dropped_excluded = len(mined) - len(rows)
    triplets = _dataset({c: [r[c] for r in rows] for c in COLUMNS})
    with_neg = len({(r["anchor"], r["positive"]) for r in rows})
    distinct = len(set(zip(base["anchor"], base["positive"])))
    stats = {"pairs": distinct, "pairs_with_negative": with_neg, "triplets": len(triplets),
             "corpus": len(pool), "range_min": range_min, "range_max": range_max,
             "relative_margin": relative_margin, "dropped_excluded": dropped_excluded,
             "seconds": round(seconds, 1)}
    print(f"Mined hard negatives for {with_neg:,} of {distinct:,} pairs "
          f"({with_neg / max(distinct, 1):.0%}) from {len(pool):,} candidate documents "
          f"(ranks {range_min}-{range_max}, "
          f"{'no margin' if relative_margin is None else f'margin {relative_margin:g}'}) "
          f"in {seconds:.0f} s")
    return (triplets, stats) if return_stats else triplets
