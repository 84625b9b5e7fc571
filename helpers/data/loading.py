"""``load()``: one entry point for every source of pairs and test data (02_training_data)."""
from __future__ import annotations

import os
import random

from .. import profiles
from .bundled import BUNDLED, load_general, load_icd10cm, load_support
from .containers import Bundle, DataError, check_test_size
from .files import PAIR_SUFFIXES, load_pairs_file, read_table, resolve_path
from .hub import load_hub


def load(name_or_path: str | os.PathLike, test_path: str | os.PathLike | None = None,
         test_size: float = 0.2, seed: int = 42,
         profile: profiles.ProfileName | profiles.Profile | None = None) -> Bundle:
    """Training pairs and a test split, ready to fine-tune and evaluate (introduced in
    01_why_fine_tune).

    ``name_or_path``: ``"icd10cm"``, ``"support"``, ``"general"``, a path to a CSV/JSONL file of
    pairs, or a Hugging Face dataset id (online only). ``test_path``: a separate test file for your
    own pairs (else ``test_size`` of them is held out, split by document). ``profile``: a profile
    name or :class:`helpers.profiles.Profile` whose sizes (max_train_pairs, max_test_queries,
    max_corpus) cap the bundle; ``None`` keeps everything.
    """
    check_test_size(test_size)
    key = str(name_or_path).strip()
    low = key.lower().replace("-", "").replace("_", "")
    path = resolve_path(key)
    if low in ("icd10cm", "icd10"):
        bundle = load_icd10cm(test_size, seed)
    elif low == "support":
        bundle = load_support(test_size, seed)
    elif low == "general":
        bundle = load_general()
    elif path.is_file():
        bundle = load_pairs_file(path, test_path, test_size, seed)
    elif (path.suffix.lower() in PAIR_SUFFIXES + (".xlsx", ".xls")
          or key.startswith((".", "/", "~")) or path.is_dir()):
        read_table(path)  # raises the right DataError (missing file, folder, spreadsheet)
        raise DataError(f"Cannot load {key!r}.")  # pragma: no cover (read_table raised)
    elif "/" in key:
        bundle = load_hub(key, test_size, seed)
    else:
        raise DataError(f"Unknown dataset {key!r}. Choose one of "
                        f"{', '.join(map(repr, BUNDLED))}, a path to your own CSV/JSONL file of "
                        "pairs, or a Hugging Face dataset id (user/name).")
    if profile is not None:
        bundle = _apply_profile(bundle, profile, seed)
    return bundle


def _apply_profile(bundle: Bundle, profile: profiles.ProfileName | profiles.Profile,
                   seed: int) -> Bundle:
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
