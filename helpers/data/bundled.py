"""The three bundled datasets: ``icd10cm``, ``support`` and ``general`` (02_training_data).

* ``icd10cm``: ICD-10-CM inclusion terms (a clinician's words) -> the official title of the code,
  built from the ``simple-icd-10-cm`` package and cached under ``data/cache/datasets/``;
* ``support``: customer questions -> help-centre articles (``data/support``);
* ``general``: everyday questions -> passages, for checking that fine-tuning did no harm.

Every split is made by document with :func:`helpers.data.containers.split_groups`.
"""
from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .. import paths
from .containers import Bundle, DataError, IRSplit, make_dataset, normalize, split_groups

if TYPE_CHECKING:
    from types import ModuleType

BUNDLED = ("icd10cm", "support", "general")
# Bump when the ICD-10-CM builder changes what it produces, so old caches are rebuilt.
ICD10CM_BUILDER_VERSION = "4"

# Inclusion terms that point to other codes ("Conditions classifiable to C15-C26", "Any condition in
# I00 with pericarditis") are cross-references, not synonyms a clinician would type.
_ICD_XREF = re.compile(
    r"\b(?:classifiable|classified|listed|categories|in|to|under)\s+[A-Z][0-9][0-9A-Z]", re.I)


def icd10cm_module() -> ModuleType:
    """Import simple_icd_10_cm without its importlib.resources deprecation warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as cm
    return cm


def icd10cm_version() -> str:
    """The installed version of simple-icd-10-cm (part of the ICD-10-CM cache key)."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("simple-icd-10-cm")
    except PackageNotFoundError as exc:
        raise DataError("The ICD-10-CM data needs the package simple-icd-10-cm: "
                        "pip install simple-icd-10-cm") from exc


def icd10cm_pairs() -> tuple[list[tuple[str, str]], dict[str, str], dict]:
    """Every (inclusion term, code) pair of a leaf code, the titles, and what was skipped.

    Leaf codes only (a billable code, not a heading). An inclusion term equal to the code's own
    title (ignoring case) is skipped, and so are cross-references to other codes.
    """
    cm = icd10cm_module()
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
                if normalize(term) == normalize(title):
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
    skipped["edition"] = (f"{m.group(1)} {m.group(2)}, {m.group(3)} release" if m
                          else "edition unknown")
    return pairs, titles, skipped


def icd10cm_descriptions() -> list[str]:
    """Every description in ICD-10-CM (chapters, blocks, categories and codes), each once, in the
    package's code order (introduced in 09_scale_out: the real part of a big corpus)."""
    cm = icd10cm_module()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        texts = (" ".join(cm.get_description(code).split())
                 for code in cm.get_all_codes(with_dots=True))
        return list(dict.fromkeys(t for t in texts if t))


def icd10cm_headings(codes: Iterable[str]) -> dict[str, str]:
    """The title of each code's parent in the ICD-10-CM hierarchy, the heading it sits under:
    ``{"A00.0": "Cholera"}`` (introduced in 08_make_pairs). Structure alone, no inclusion terms; a
    code without a parent (a chapter) is left out. :class:`DataError` for an unknown code."""
    cm = icd10cm_module()
    headings = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        for code in codes:
            if not cm.is_valid_item(code):
                raise DataError(f"{code!r} is not an ICD-10-CM code (e.g. 'A00.0').")
            parent = cm.get_parent(code)
            if parent:
                headings[code] = " ".join(cm.get_description(parent).split())
    return headings


def build_icd10cm(test_size: float, seed: int) -> dict:
    """Build the ICD-10-CM bundle as plain JSON-able data (cached by :func:`load_icd10cm`)."""
    pairs, titles, skipped = icd10cm_pairs()
    # Split by code: test_size of the codes go to the test side. Codes that share a query text
    # (after normalisation) go to the same side, so a test query is never a training anchor and a
    # test title is never a training positive.
    codes = sorted(titles)
    terms: dict[str, list[str]] = {c: [] for c in codes}
    for q, code in pairs:
        terms[code].append(f"q:{normalize(q)}")
    _, test_idx = split_groups([(f"d:{c}", *terms[c]) for c in codes], test_size, seed)
    test_set = {codes[i] for i in test_idx}
    train_pairs = [(q, c) for q, c in pairs if c not in test_set]
    test_pairs = [(q, c) for q, c in pairs if c in test_set]

    queries, qrels, seen = {}, {}, {}
    for q, code in test_pairs:
        key = normalize(q)
        if key not in seen:
            qid = f"q{len(seen):05d}"
            seen[key] = qid
            queries[qid] = q
            qrels[qid] = {}
        qrels[seen[key]][code] = 1
    train_codes = sorted({c for _, c in train_pairs})
    test_codes = sorted({c for _, c in test_pairs})
    info = {
        "source": (f"ICD-10-CM {skipped['edition']} (simple-icd-10-cm {icd10cm_version()}, public "
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


def load_icd10cm(test_size: float, seed: int) -> Bundle:
    """The ICD-10-CM bundle, from the cache when it is there, current and sound, else built and
    cached (a cache file that cannot be read or has the wrong shape is rebuilt, with one line
    saying why: :func:`helpers.paths.read_cache`)."""
    fingerprint = {"package": icd10cm_version(), "builder": ICD10CM_BUILDER_VERSION,
                   "seed": seed, "test_size": round(float(test_size), 6)}
    key = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:12]
    path = paths.cache_dir("datasets") / f"icd10cm-{key}.json"
    built = paths.read_cache(path, lambda p: _read_icd10cm_cache(p, fingerprint))
    if built is None:
        built = build_icd10cm(test_size, seed)
        built["fingerprint"] = fingerprint
        paths.write_atomic(path, json.dumps(built, ensure_ascii=False))
    info = dict(built["info"], cache=paths.show(path))
    test = IRSplit(**built["test"])
    return Bundle("icd10cm", make_dataset(built["train"]), test, info, list(built["train_corpus"]))


def _read_icd10cm_cache(path: Path, fingerprint: dict) -> dict:
    """The cached ICD-10-CM bundle at ``path``; raises ``DataError`` saying what is wrong when it
    was built from other inputs or its shape is not the one :func:`build_icd10cm` writes."""
    stored = json.loads(path.read_bytes().decode("utf-8"))

    def check(ok: bool, what: str) -> None:
        if not ok:
            raise DataError(what)

    def texts(value, n=None) -> bool:
        return (isinstance(value, list) and all(isinstance(v, str) for v in value)
                and (n is None or len(value) == n))

    def text_map(value) -> bool:
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())

    check(isinstance(stored, dict), f"a JSON {type(stored).__name__}, not an object")
    check(stored.get("fingerprint") == fingerprint, "built from another package version, "
          "builder, seed or test_size")
    train, test = stored.get("train"), stored.get("test")
    check(isinstance(train, dict) and texts(train.get("anchor"))
          and texts(train.get("positive"), len(train["anchor"])),
          "'train' is not two equally long lists of texts (anchor, positive)")
    check(texts(stored.get("train_corpus")), "'train_corpus' is not a list of texts")
    check(isinstance(test, dict) and set(test) == {"queries", "corpus", "qrels"}
          and text_map(test["queries"]) and text_map(test["corpus"])
          and isinstance(test["qrels"], dict)
          and all(isinstance(r, dict) and all(isinstance(v, int) for v in r.values())
                  for r in test["qrels"].values()),
          "'test' is not queries, corpus (texts) and qrels (relevance numbers)")
    check(isinstance(stored.get("info"), dict), "'info' is not an object")
    return stored


def _read_jsonl(path: Path, required: tuple[str, ...]) -> list[dict]:
    if not path.exists():
        raise DataError(f"{paths.show(path)} is missing. It ships with the workbook: restore it "
                        "with `git checkout -- data/` (or clone the repository again).")
    rows = []
    with open(path, encoding="utf-8-sig") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{paths.show(path)} line {n} is not valid JSON "
                                f"({exc.msg}).") from exc
            lacking = [k for k in required if k not in row]
            if lacking:
                raise DataError(f"{paths.show(path)} line {n} lacks {', '.join(lacking)} "
                                f"(expected keys: {', '.join(required)}).")
            rows.append(row)
    return rows


def article_text(title: str, text: str) -> str:
    """How a support article is embedded, in training and in the test corpus alike:
    "Title. Text"."""
    title, text = " ".join(str(title).split()), str(text).strip()
    if not title:
        return text
    sep = " " if title[-1] in ".?!:" else ". "
    return f"{title}{sep}{text}"


def load_support(test_size: float, seed: int) -> Bundle:
    """Support questions -> help-centre articles, split by article.

    Training pairs are (question, article) for the training articles only. We add no (title,
    article) pairs: the article text starts with its title, so such a pair is trivially easy and
    teaches the model nothing about how customers phrase questions.
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
        keys[str(q["article_id"])].append(f"q:{normalize(q['text'])}")
    _, test_idx = split_groups([tuple(keys[a]) for a in ids], test_size, seed)
    test_articles = {ids[i] for i in test_idx}
    train_q = [q for q in queries if str(q["article_id"]) not in test_articles]
    test_q = [q for q in queries if str(q["article_id"]) in test_articles]
    train = make_dataset({"anchor": [q["text"] for q in train_q],
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


def load_general() -> Bundle:
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
    return Bundle("general", make_dataset({"anchor": [], "positive": []}), test, info, [])
