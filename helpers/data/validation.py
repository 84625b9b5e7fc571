"""``validate()``: what is wrong with a pairs file, with rows and fixes (02_training_data).

Each ``check_*`` function looks for one kind of problem and returns its findings (dicts with
``check``, ``severity``, ``count``, ``examples``, ``fix``); ``validate`` runs them all in order and
returns one report table, errors first. ``raise_for_errors(report)`` stops with one clear message.
A user's file is only ever read.
"""
from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from ..tokens import token_lengths
from .containers import Bundle, DataError, IRSplit, normalize, plural, shorten
from .files import as_frame, is_missing_word, missing_columns_message

if TYPE_CHECKING:
    import pandas as pd
    from sentence_transformers import SentenceTransformer

    from .files import Pairs

    TestSet = Pairs | IRSplit | Bundle
    """A test set in any form: pairs (a path, Dataset, DataFrame or list), an IRSplit, a Bundle."""

PAIRS_ADVICE = ("How many pairs? There is no fixed floor: in notebook 07 a measurable NDCG@10 gain "
                "took 25 to 50 pairs of support jargon and 100 to 500 pairs of medical synonyms, "
                "and the medical curve was still rising at 6,765. Start with 50 to 100 good pairs, "
                "measure with a paired test, and add pairs while the gain still grows.")
"""The workbook's one answer to "how many pairs do I need?", from notebook 07's measured learning
curves (a test checks it against 07's recorded table); validate, 06, 07, the README and the
instructors' guide all say this."""

# Without a model, token counts are estimated as words x 1.3 against this limit (MiniLM's 256).
ESTIMATE_MAX_TOKENS = 256

REPORT_COLUMNS = ["check", "severity", "count", "examples", "fix"]


def _examples(rows: list[int], texts: list[str] | None = None, limit: int = 3) -> str:
    """e.g. "rows 3, 7, 12 (+4 more): 'text'"; rows are 1-based data rows (the header not
    counted)."""
    rows = list(rows)
    if not rows:
        return ""
    shown = ", ".join(str(r) for r in rows[:limit])
    more = f" (+{len(rows) - limit} more)" if len(rows) > limit else ""
    word = "row" if len(rows) == 1 else "rows"
    sample = f": {shorten(texts[0])!r}" if texts and texts[0] else ""
    return f"{word} {shown}{more}{sample}"


def _test_texts(test) -> tuple[set[str], set[str], str]:
    """Normalised (queries, answering documents) of a test set given in any form."""
    if isinstance(test, IRSplit):
        return ({normalize(t) for t in test.queries.values()},
                {normalize(t) for t in test.relevant_texts()}, "the test split")
    if isinstance(test, Bundle):
        return _test_texts(test.test)
    df, _, label = as_frame(test)
    if "anchor" not in df.columns or "positive" not in df.columns:
        raise DataError(missing_columns_message(f"The test set ({label})", list(df.columns)))
    return ({normalize(t) for t in df["anchor"] if t.strip()},
            {normalize(t) for t in df["positive"] if t.strip()}, label)


def _token_counts(texts: list[str], model=None) -> tuple["Any", int, bool]:
    """(token counts, limit, estimated?) for texts: the model's tokenizer, else words x 1.3."""
    import numpy as np

    if model is not None:
        return token_lengths(model, texts), int(model.max_seq_length), False
    counts = np.array([math.ceil(len(t.split()) * 1.3) + 2 for t in texts], dtype=int)
    return counts, ESTIMATE_MAX_TOKENS, True


def _collector():
    """``(found, add)``: a list of findings and ``add(check, severity, rows, fix, texts=None,
    count=None)``, which appends one finding to it."""
    found: list[dict] = []

    def add(check, severity, rows, fix, texts=None, count=None):
        found.append({"check": check, "severity": severity,
                      "count": len(rows) if count is None else count,
                      "examples": _examples(rows, texts) if rows else "", "fix": fix,
                      "_rows": list(rows)})
    return found, add


def _columns(df):
    """(n, column names, anchors, positives, negatives or None) of a frame from ``as_frame``."""
    cols = list(df.columns)
    return (len(df), cols, df["anchor"].tolist(), df["positive"].tolist(),
            df["negative"].tolist() if "negative" in cols else None)


def check_columns(df: pd.DataFrame, ignored: list[str], label: str) -> list[dict]:
    """No anchor or positive column (an error: nothing else can be checked); ignored columns (a
    warning)."""
    found, add = _collector()
    if "anchor" not in df.columns or "positive" not in df.columns:
        lacking = [c for c in ("anchor", "positive") if c not in df.columns]
        add("missing columns", "error", [], count=len(lacking),
            fix=(f"{label} has no {' or '.join(lacking)} column (found: "
                 f"{', '.join(map(repr, list(df.columns) + ignored)) or 'none'}). Name the header "
                 "row anchor,positive (query/document and question/answer also work)."))
    elif ignored:
        add("unknown columns", "warning", [], count=len(ignored),
            fix=(f"These columns are ignored: {', '.join(map(repr, ignored))}. Only anchor, "
                 "positive and negative are used; rename a column if it holds one of them."))
    return found


def check_size(df: pd.DataFrame, min_pairs: int | None = 100) -> list[dict]:
    """Too few pairs to train on: under 10 is an error, under ``min_pairs`` a warning; ``None``
    skips the check (a test file's size is judged by its interval instead)."""
    found, add = _collector()
    n = len(df)
    if min_pairs is None:
        pass
    elif n < 10:
        add("too few pairs", "error", [], count=n,
            fix=(f"Only {n} pairs: far too few to fine-tune or to measure a change; use the "
                 f"model off the shelf, or write more pairs. {PAIRS_ADVICE}"))
    elif n < min_pairs:
        add("too few pairs", "warning", [], count=n,
            fix=f"Only {n} pairs: a gain may not show yet. {PAIRS_ADVICE}")
    return found


def check_empty(df: pd.DataFrame) -> list[dict]:
    """Rows with an empty anchor, positive or negative: an error."""
    found, add = _collector()
    n, cols = len(df), list(df.columns)
    texts = {c: [str(t) for t in df[c].tolist()] for c in cols}
    empty = [i + 1 for i in range(n) if any(not texts[c][i].strip() for c in cols)]
    if empty:
        which = sorted({c for i in empty for c in cols if not texts[c][i - 1].strip()})
        add("empty texts", "error", empty,
            fix=(f"Fill in the empty {'/'.join(which)} in these rows, or delete the rows. An empty "
                 "text trains the model to match nothing."))
    return found


def _most_of(hits: dict[str, list[int]], n: int) -> list[str]:
    """The columns where more than half of the ``n`` cells are among ``hits``."""
    return [c for c, rows in hits.items() if n and len(rows) > n / 2]


def _either(words: list[str]) -> str:
    """"a", "a or b", "a, b or c"."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _by_column(hits: dict[str, list[int]]) -> str:
    return ", ".join(f"{len(rows)} in {c}" for c, rows in hits.items() if rows)


def check_missing_words(df: pd.DataFrame) -> list[dict]:
    """Cells that are a missing-value word (NaN, NA, N/A, null, None, nil, -, ...:
    ``files.MISSING_WORDS``, any case) instead of a text: an error when they are most of a column,
    else a warning."""
    found, add = _collector()
    n, cols = len(df), list(df.columns)
    texts = {c: df[c].tolist() for c in cols}
    hits = {c: [i + 1 for i, t in enumerate(texts[c]) if is_missing_word(t)] for c in cols}
    rows = sorted({r for c in cols for r in hits[c]})
    if rows:
        where = {c: set(hits[c]) for c in cols}
        words = list(dict.fromkeys(texts[c][r - 1].strip() for r in rows for c in cols
                                   if r in where[c]))
        most = _most_of(hits, n)
        head = (f"Most of the {' and '.join(most)} column{'s' if len(most) > 1 else ''} is "
                "missing: " if most else "")
        add("missing-value words", "error" if most else "warning", rows, texts=[words[0]],
            fix=(f"{head}{plural(len(rows), 'row')} hold{'s' if len(rows) == 1 else ''} a word "
                 f"that means 'no value' ({', '.join(map(repr, words[:5]))}; {_by_column(hits)}) "
                 "where a text belongs, probably an empty cell exported by a spreadsheet or "
                 "pandas. The model would learn it as a real query or document. Write the real "
                 "text or delete the rows (data.load leaves rows whose anchor or positive is "
                 "one out of training)."))
    return found


# A cell that is only a number: 42, -3.5, 1,000, 2.5e3, 12%.
_NUMBER = re.compile(r"[+-]?(\d+([.,]\d+)*|[.,]\d+)([eE][+-]?\d+)?%?")


def check_not_text(df: pd.DataFrame) -> list[dict]:
    """Cells holding a number, true/false, a list or an object where a text belongs (typed values
    from JSONL or a DataFrame, noted by ``as_frame``; a CSV cell that is only a number): an error
    for a list or object, or when they are most of a column (a column of ids, say); else a
    warning."""
    found, add = _collector()
    n, cols = len(df), list(df.columns)
    typed = df.attrs.get("not_text", {})
    kinds: dict[str, dict[int, str]] = {c: {} for c in cols}
    for c in cols:
        for i, value in enumerate(df[c].tolist()):
            kind = typed.get(c, {}).get(i + 1)
            if kind is None and _NUMBER.fullmatch(str(value).strip()):
                kind = "a number"
            if kind:
                kinds[c][i + 1] = kind
    hits = {c: sorted(k) for c, k in kinds.items()}
    rows = sorted({r for c in cols for r in hits[c]})
    if rows:
        nested = any(k in ("a list", "an object") for c in cols for k in kinds[c].values())
        most = _most_of(hits, n)
        what = sorted({k for c in cols for k in kinds[c].values()})
        first = next(c for c in cols if rows[0] in kinds[c])
        ids = (f" Most of the {' and '.join(most)} column holds numbers: ids, perhaps? Put the "
               "texts themselves there, not their ids." if most else "")
        add("not text", "error" if nested or most else "warning", rows,
            texts=[str(df[first].iat[rows[0] - 1])],
            fix=(f"{plural(len(rows), 'row')} hold{'s' if len(rows) == 1 else ''} "
                 f"{_either(what)} instead of a text ({_by_column(hits)}).{ids} The model "
                 "reads text: a number alone says little, and a list or object would be read as "
                 "its printed form, brackets and all. Write the sentence itself; join a list into "
                 "one text or make one pair per item. A number that really is the query (an "
                 "error code) can stay."))
    return found


def check_duplicates(df: pd.DataFrame) -> list[dict]:
    """Exact and near-duplicate pairs (same text up to case and spacing): warnings."""
    found, add = _collector()
    n, _, A, P, _ = _columns(df)
    # Duplicates: exact, then near (same text after case/whitespace normalisation).
    seen_exact: dict[tuple, int] = {}
    seen_near: dict[tuple, int] = {}
    exact, near = [], []
    for i in range(n):
        if not A[i].strip() or not P[i].strip():
            continue
        k_exact, k_near = (A[i], P[i]), (normalize(A[i]), normalize(P[i]))
        if k_exact in seen_exact:
            exact.append(i + 1)
        elif k_near in seen_near:
            near.append(i + 1)
        seen_exact.setdefault(k_exact, i + 1)
        seen_near.setdefault(k_near, i + 1)
    if exact:
        add("duplicate pairs", "warning", exact, texts=[A[exact[0] - 1]],
            fix=("Delete the repeated rows (keep one of each). Repeats give a pair extra weight "
                 "and, in one batch, turn a correct answer into a 'negative'."))
    if near:
        add("near-duplicate pairs", "warning", near, texts=[A[near[0] - 1]],
            fix=("These pairs repeat an earlier one up to case or spacing. Delete the repeats, or "
                 "rephrase them if they were meant to be different questions."))
    return found


def check_anchor_is_positive(df: pd.DataFrame) -> list[dict]:
    """Rows whose query and answer are the same text: a warning."""
    found, add = _collector()
    n, _, A, P, _ = _columns(df)
    same = [i + 1 for i in range(n) if A[i].strip() and normalize(A[i]) == normalize(P[i])]
    if same:
        add("anchor equals positive", "warning", same, texts=[A[same[0] - 1]],
            fix=("The query and its answer are the same text, which teaches nothing. Put the real "
                 "question in anchor and the document that answers it in positive."))
    return found


def check_swapped(df: pd.DataFrame) -> list[dict]:
    """Anchor and positive the wrong way round, in the whole file or in single rows: an error."""
    found, add = _collector()
    n, _, A, P, _ = _columns(df)
    # Swapped columns: anchors (queries) are usually much shorter than positives (documents).
    # Whole file: the median anchor is more than twice the median positive (and not short).
    # Single rows: the positive is a question while the anchor is a longer statement.
    import numpy as np
    a_words = np.array([len(t.split()) for t in A if t.strip()] or [0])
    p_words = np.array([len(t.split()) for t in P if t.strip()] or [0])
    a_med, p_med = float(np.median(a_words)), float(np.median(p_words))
    if n >= 5 and a_med > 2 * max(p_med, 1) and a_med >= 12:
        add("columns swapped", "error", [], count=n,
            fix=(f"Anchors are much longer than positives (median {a_med:.0f} vs {p_med:.0f} "
                 "words): the columns look swapped. The first column must be the short query, the "
                 "second the document that answers it (sentence-transformers reads columns by "
                 "position)."))
    else:
        swapped = [i + 1 for i in range(n)
                   if P[i].rstrip().endswith("?") and not A[i].rstrip().endswith("?")
                   and len(A[i].split()) > max(2 * len(P[i].split()), 8)]
        if swapped:
            add("swapped rows", "error", swapped, texts=[P[swapped[0] - 1]],
                fix=("In these rows the question sits in positive and a longer answer in anchor. "
                     "Swap the two texts back: anchor is the query, positive the document that "
                     "answers it."))
    return found


def check_negatives(df: pd.DataFrame) -> list[dict]:
    """A negative equal to its positive or to its anchor: an error."""
    found, add = _collector()
    n, cols, A, P, N = _columns(df)
    if N is not None:
        neg_pos = [i + 1 for i in range(n) if N[i].strip() and normalize(N[i]) == normalize(P[i])]
        neg_anc = [i + 1 for i in range(n) if N[i].strip() and normalize(N[i]) == normalize(A[i])]
        if neg_pos:
            add("negative equals positive", "error", neg_pos, texts=[N[neg_pos[0] - 1]],
                fix=("The negative is the positive itself, so the model is told to push the right "
                     "answer away. Replace it with a related but wrong document, or drop the "
                     "negative."))
        if neg_anc:
            add("negative equals anchor", "error", neg_anc, texts=[N[neg_anc[0] - 1]],
                fix=("The negative repeats the query. Replace it with a related but wrong document "
                     "(data.mine_hard_negatives can find one)."))
    return found


def check_lengths(df: pd.DataFrame, model: SentenceTransformer | None = None) -> list[dict]:
    """Texts longer than the model reads (its tokenizer, else a words x 1.3 estimate): a warning."""
    found, add = _collector()
    cols = list(df.columns)
    texts = {c: df[c].tolist() for c in cols}
    # Texts longer than the model reads.
    all_texts = [(c, i) for c in cols for i, t in enumerate(texts[c]) if str(t).strip()]
    if all_texts:
        counts, limit, estimated = _token_counts([texts[c][i] for c, i in all_texts], model)
        long_ = [(c, i) for (c, i), k in zip(all_texts, counts) if k > limit]
        if long_:
            rows = sorted({i + 1 for _, i in long_})
            share = len(long_) / len(all_texts)
            by_col = ", ".join(plural(sum(1 for c, _ in long_ if c == col), col) for col in cols
                               if any(c == col for c, _ in long_))
            how = (f"about {limit} tokens (an estimate: words x 1.3; pass model= for an exact "
                   "count)" if estimated else f"the model's max_seq_length of {limit} tokens")
            add("texts too long", "warning", rows, count=len(long_),
                fix=(f"{plural(len(long_), 'text')} ({share:.0%}: {by_col}) "
                     f"{'is' if len(long_) == 1 else 'are'} longer than {how}; the model "
                     "reads only the start and silently drops the rest. Split long documents into "
                     "passages of a few paragraphs, one pair per passage."))
    return found


def check_leakage(df: pd.DataFrame, test: TestSet | None = None) -> list[dict]:
    """Training rows that leak into ``test``, split by how much they give away (02_training_data).

    * **error** "overlap with test": the row's positive answers a test query (the same document on
      both sides, which includes an identical pair): the test would measure memory, not retrieval.
    * **warning** "same question as a test query": the row's anchor is a test query's text but its
      answer is a different document. Real FAQs ask one question twice with two answers (a general
      and an install section, say); that is worth knowing and counting, not a reason to stop.
    """
    found, add = _collector()
    n, _, A, P, _ = _columns(df)
    if test is not None:
        test_q, test_d, test_label = _test_texts(test)
        shared_doc = [i + 1 for i in range(n) if P[i].strip() and normalize(P[i]) in test_d]
        same_query = [i + 1 for i in range(n) if A[i].strip() and normalize(A[i]) in test_q
                      and i + 1 not in set(shared_doc)]
        if shared_doc:
            add("overlap with test", "error", shared_doc, texts=[A[shared_doc[0] - 1]],
                fix=(f"These training rows use a document that answers a query of {test_label} "
                     "(an identical pair counts too), so the test would measure memory, not "
                     "retrieval. Remove them from training (or from the test), or let data.load "
                     "split by document for you."))
        if same_query:
            add("same question as a test query", "warning", same_query,
                texts=[A[same_query[0] - 1]],
                fix=(f"These training questions also appear in {test_label}, with a different "
                     "answer. The test is still fair (its answer is a document training never "
                     "saw), but the model has seen the wording: if both answers are right, keep "
                     "them; if one is a mistake, fix it."))
    return found


def validate(pairs: Pairs, test: TestSet | None = None, model: SentenceTransformer | None = None,
             min_pairs: int | None = 100) -> pd.DataFrame:
    """Check a pairs file (or Dataset, DataFrame) before fine-tuning (introduced in
    02_training_data).

    Returns a DataFrame, one row per problem found: ``check``, ``severity`` ("error": fine-tuning
    on this would be wrong; "warning": it will run, but ...), ``count``, ``examples`` (1-based data
    rows, header not counted, and a sample text) and ``fix`` in plain words. With no problem
    found, one "ok" row. ``report.attrs`` holds ``errors``, ``warnings`` and ``n_pairs``;
    :func:`raise_for_errors` stops with one clear message. ``test``: the test set (a path, Dataset,
    DataFrame, IRSplit or Bundle) to check for leakage. ``model``: count tokens with its tokenizer
    (else a words x 1.3 estimate against 256). ``min_pairs``: fewer pairs than this is a warning
    (fewer than 10 an error); None for a file that is not for training (a test file), which skips
    the size check. The file is only read, never changed.
    """
    df, ignored, label = as_frame(pairs)
    found = check_columns(df, ignored, label)
    if any(f["check"] == "missing columns" for f in found):
        return _finish(found, df, label)
    found += check_size(df, min_pairs)
    found += check_empty(df)
    found += check_missing_words(df)
    found += check_not_text(df)
    found += check_duplicates(df)
    found += check_anchor_is_positive(df)
    found += check_swapped(df)
    found += check_negatives(df)
    found += check_lengths(df, model)
    found += check_leakage(df, test)
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


def raise_for_errors(report: pd.DataFrame) -> pd.DataFrame:
    """Stop with one :class:`DataError` listing every error in a :func:`validate` report
    (introduced in 02_training_data).

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
