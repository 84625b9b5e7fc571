"""The two containers and the small tools every part of ``helpers.data`` shares (02_training_data).

* :class:`IRSplit`: a retrieval test set in the BEIR shape (queries, corpus, qrels).
* :class:`Bundle`: training pairs + a test split + where they came from.
* :func:`split_groups`: the split *by document* that keeps a test answer out of training.
* :class:`DataError`: every data problem, with a message that says what, where and how to fix it.
"""
from __future__ import annotations

import math
import random
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import InputError

if TYPE_CHECKING:
    from datasets import Dataset

COLUMNS = ("anchor", "positive", "negative")


class DataError(InputError):
    """Something is wrong with the data; the message says what, where, and how to fix it."""


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
                + "(each qrels entry must point to a query in `queries` and documents in "
                "`corpus`).")

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
    ``info``: provenance (source, counts, split method, seed) · ``train_corpus``: the distinct
    training documents, the pool to mine hard negatives from.
    """
    name: str
    train: Any
    test: IRSplit
    info: dict = field(default_factory=dict)
    train_corpus: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """A few lines: the source, the training pairs, the test split and how they were split."""
        i = self.info
        lines = [f"{self.name}: {i.get('source', '')}".rstrip(": ")]
        lines.append(f"  train: {len(self.train):,} pairs ({', '.join(self.train.column_names)})"
                     + (f" over {i['train_documents']:,} documents" if "train_documents" in i
                        else ""))
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


def normalize(text: str) -> str:
    """Text as compared for near-duplicates: Unicode NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", str(text)).casefold().split())


def as_text(value: object) -> str:
    """A cell as text: missing values (None, NaN) become '' so they are reported as empty."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return ""
    return str(value)


def make_dataset(columns: dict[str, list[str]]) -> Dataset:
    """A Dataset with string columns in the order anchor, positive[, negative]."""
    from datasets import Dataset, Features, Value

    order = [c for c in COLUMNS if c in columns]
    features = Features({c: Value("string") for c in order})
    return Dataset.from_dict({c: list(columns[c]) for c in order}, features=features)


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def shorten(text: str, n: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def split_groups(items: list[tuple[str, ...]], test_size: float,
                 seed: int) -> tuple[set[int], set[int]]:
    """Split items into train and test *groups* so that nothing is shared across the split.

    Each item is a tuple of keys (e.g. (normalised query, document id)); items sharing any key end
    up in the same group (union-find), and whole groups go to one side. Returns (train, test) sets
    of item indices. The test side takes shuffled groups until it holds ``test_size`` of the items.
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


def check_test_size(test_size: float) -> None:
    if not isinstance(test_size, (int, float)) or not 0 < test_size < 1:
        raise DataError(f"test_size must be a fraction between 0 and 1 (e.g. 0.2 for 20%), "
                        f"got {test_size!r}.")
