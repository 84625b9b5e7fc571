"""Pairs made without any model, and what every builder and filter returns (08_make_pairs).

:class:`Made` (pairs, what was removed and why, counts) and :func:`collect`, which builds one;
documents in any form as :class:`Doc` s (:func:`documents_from`); :func:`words` and
:func:`split_sentences`; then the two builders that need no model: :func:`title_pairs` (title or
heading -> body) and :func:`inverse_cloze` (a sentence -> the rest of its passage).
"""
from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from ..data.bundled import article_text
from ..data.containers import DataError, as_text, make_dataset, normalize, plural, shorten
from ..errors import check_whole

if TYPE_CHECKING:
    import pandas as pd
    from datasets import Dataset


class Made(NamedTuple):
    """What every builder and filter returns (introduced in 08_make_pairs): ``pairs`` (a Dataset,
    anchor and positive, ready to train on), ``removed`` (a DataFrame: anchor, positive, reason,
    origin), ``stats`` (counts; ``reasons``: removed rows per reason) and ``origin`` (how each kept
    pair was made: "title", "sentence 2 of 5", a query style; row for row with ``pairs``)."""
    pairs: Dataset
    removed: pd.DataFrame
    stats: dict[str, Any]
    origin: tuple[str, ...] = ()

    def table(self) -> pd.DataFrame:
        """The kept pairs with their origin, as a DataFrame to show."""
        return self.pairs.to_pandas().assign(origin=list(self.origin) or "")

    def summary(self) -> str:
        """One line, e.g. ``12 pairs kept, 3 removed (2 × the title is ..., 1 × ...)``."""
        why = ", ".join(f"{n} × {reason}" for reason, n in self.stats.get("reasons", {}).items())
        return (f"{plural(len(self.pairs), 'pair')} kept, {len(self.removed):,} removed"
                + (f" ({why})" if why else ""))


def collect(kept: list[dict], removed: list[dict], **stats: Any) -> Made:
    """A :class:`Made` from kept and removed rows (dicts: anchor, positive, origin; removed rows
    also reason) and ``stats``; the counts per reason are added (introduced in 08_make_pairs)."""
    import pandas as pd
    pairs = make_dataset({c: [r[c] for r in kept] for c in ("anchor", "positive")})
    table = pd.DataFrame(removed, columns=["anchor", "positive", "reason", "origin"])
    stats.update(pairs=len(kept), removed=len(removed),
                 reasons=dict(Counter(r["reason"] for r in removed).most_common()))
    return Made(pairs, table, stats, tuple(r.get("origin", "") for r in kept))


# ---- documents, words, sentences -----------------------------------------------------------------
class Doc(NamedTuple):
    """One document (introduced in 08_make_pairs): title ('' when none), text, and ``full``, how
    it is embedded ("Title. Text", ``data.article_text``)."""
    title: str
    text: str
    full: str


def documents_from(documents: Any) -> list[Doc]:
    """Documents in any form the module takes (see the module's docstring) as :class:`Doc` s
    (introduced in 08_make_pairs). Raises :class:`DataError` for anything else."""
    if hasattr(documents, "to_dict") and hasattr(documents, "columns"):  # a DataFrame
        documents = documents.to_dict(orient="records")
    elif isinstance(documents, Mapping):
        documents = list(documents.values())
    elif isinstance(documents, str):
        raise DataError("Give a list of documents, not one text: e.g. [text] or [(title, text)].")
    docs = []
    for i, item in enumerate(documents, 1):
        if isinstance(item, str):
            item = ("", item)
        elif isinstance(item, Mapping) and "text" in item:
            item = (item.get("title"), item["text"])
        elif not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise DataError(f"Document {i} is {shorten(repr(item), 50)}: give texts, dicts with "
                            "'text' (and 'title'), or (title, text) pairs.")
        title, text = " ".join(as_text(item[0]).split()), as_text(item[1]).strip()
        docs.append(Doc(title, text, article_text(title, text)))
    if not docs:
        raise DataError("No documents given.")
    return docs


def words(text: str) -> list[str]:
    """Words as compared here: NFKC, case-folded, no punctuation (introduced in 08_make_pairs)."""
    return re.findall(r"\w+", normalize(text))


def starts_with(doc_words: list[str], start: list[str]) -> bool:
    """True when the words ``start`` begin ``doc_words`` (both as :func:`words` reads them)."""
    return bool(start) and doc_words[:len(start)] == start


_ABBREVIATIONS = frozenset(
    "e.g i.e etc vs cf al approx ca dr mr mrs ms prof st jr sr inc ltd co corp no nr fig vol pp "
    "ed eds dept jan feb mar apr jun jul aug sep sept oct nov dec u.s u.k z.b u.a bzw usw".split())
_END = re.compile(r"[.!?…]+[\"'”’»)\]]*(?=\s)|[。！？]+")


def split_sentences(text: str) -> list[str]:
    """Sentences by a regular expression, nothing to download (introduced in 08_make_pairs): one
    ends at ., !, ? or … (and a closing quote or bracket) before a space, or at 。！？; not after an
    abbreviation (e.g., Dr., Inc., a month) or an initial ("J. Smith"), nor before a lower-case
    word. Blank lines and list items end one too; 3.5 stays whole."""
    sentences = []
    for block in re.split(r"\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)", str(text)):
        start = 0
        for match in _END.finditer(block):
            last = (block[start:match.start()].split() or [""])[-1].lower().lstrip("(\"'“‘")
            after = block[match.end():].lstrip()
            if after[:1].islower() or (match.group()[0] == "." and (
                    last in _ABBREVIATIONS or re.fullmatch(r"[^\W\d_]", last))):
                continue
            sentences.append(block[start:match.end()])
            start = match.end()
        sentences.append(block[start:])
    return [" ".join(s.split()) for s in sentences if s.strip()]


# ---- 1. pairs without a model --------------------------------------------------------------------
def title_pairs(documents: Any) -> Made:
    """(title -> body) pairs from documents that have a title (introduced in 08_make_pairs).

    ``documents``: dicts with ``title`` and ``text``, (title, text) tuples or a DataFrame. The
    positive is the body alone ("Title. Text" would hold the query word for word). Removed, with the
    reason: a title whose words are the body's first words (it teaches copying, not how people
    ask), a title heading several documents (which one does it mean?), an empty body. Documents
    without a title are counted in ``stats``."""
    docs = documents_from(documents)
    titled = [d for d in docs if d.title]
    shared, kept, removed = Counter(normalize(d.title) for d in titled), [], []
    for d in titled:
        row = {"anchor": d.title, "positive": d.text, "origin": "title"}
        if not d.text:
            removed.append({**row, "reason": "the document has no text"})
        elif shared[normalize(d.title)] > 1:
            removed.append({**row, "reason": "the same title heads several documents"})
        elif starts_with(words(d.text), words(d.title)):
            removed.append({**row, "reason": "the title is the text's first words"})
        else:
            kept.append(row)
    return collect(kept, removed, method="title_pairs", documents=len(docs),
                 without_title=len(docs) - len(titled))


def inverse_cloze(documents: Any, n_per_doc: int = 1, seed: int = 42, min_words: int = 5,
                  keep_sentence: bool | float = False) -> Made:
    """The inverse cloze task (Lee et al. 2019): a sentence of a passage is the query, the rest of
    the passage its document (introduced in 08_make_pairs).

    Up to ``n_per_doc`` sentences of ``min_words`` words or more per document, drawn with ``seed``
    and the document's text (the order of the documents does not matter). The sentence leaves its
    passage unless ``keep_sentence``: True always, a number is the chance (the paper: 10%, so word
    overlap still counts a little). A title heads the positive, never drawn. A document with one
    sentence, or none long enough, is in ``removed``."""
    n_per_doc = check_whole(n_per_doc, "n_per_doc", DataError)
    if not 0 <= (keep := float(keep_sentence)) <= 1:
        raise DataError(f"keep_sentence must be True, False or a chance from 0 to 1, got "
                        f"{keep_sentence!r}.")
    docs = documents_from(documents)
    kept, removed = [], []
    for d in docs:
        sentences = split_sentences(d.text)
        usable = [i for i, s in enumerate(sentences) if len(words(s)) >= min_words]
        if len(sentences) < 2 or not usable:
            reason = ("fewer than two sentences" if len(sentences) < 2
                      else f"no sentence of {min_words} words or more")
            removed.append({"anchor": "", "positive": d.full, "reason": reason, "origin": ""})
            continue
        rng = random.Random(f"{seed}:{d.full}")
        for i in sorted(rng.sample(usable, min(n_per_doc, len(usable)))):
            kept_in = rng.random() < keep
            rest = " ".join(s for j, s in enumerate(sentences) if j != i or kept_in)
            kept.append({"anchor": sentences[i], "positive": article_text(d.title, rest),
                         "origin": f"sentence {i + 1} of {len(sentences)}"
                                   + (" (kept in)" if kept_in else "")})
    return collect(kept, removed, method="inverse_cloze", documents=len(docs), seed=seed)
