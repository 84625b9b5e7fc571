"""How a model's tokenizer sees your texts: how many tokens, and which words it cuts up.

* ``token_lengths(model, texts)`` (introduced in 02_training_data): tokens per text. A model reads
  at most ``model.max_seq_length`` tokens and silently drops the rest, so the counts say whether
  documents need splitting and which ``max_seq_length`` to train with (``helpers.training`` and
  ``helpers.data.validate`` use it too).
* ``token_pieces``, ``split_words`` and ``unknown_word_share`` (introduced in 01_why_fine_tune): how
  the WordPiece tokenizer cuts words it does not know into fragments, a sign that a domain's
  vocabulary is foreign to the model.

Bad input raises :class:`TokenError` (an :class:`helpers.errors.InputError`).
"""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np

from . import quiet
from .errors import InputError, check_whole

if TYPE_CHECKING:
    import pandas as pd
    from sentence_transformers import SentenceTransformer
    from transformers import PreTrainedTokenizerBase


class TokenError(InputError):
    """Bad input to a token function; the message says how to fix it."""


def token_lengths(model: SentenceTransformer, texts: Iterable[str], sample: int | None = None,
                  seed: int = 0, batch_size: int = 1024) -> np.ndarray:
    """Tokens per text as the model counts them (special tokens included, nothing truncated;
    introduced in 02_training_data).

    ``sample``: count only that many texts, chosen at random with ``seed`` (enough to read off a
    percentile quickly; the order of the result then follows the sample). Compare with
    ``model.max_seq_length``: anything longer is cut off when the model reads it.
    """
    texts = [str(t) for t in texts]
    if sample is not None and len(texts) > sample:
        texts = random.Random(seed).sample(texts, sample)
    tok = model.tokenizer
    out: list[int] = []
    with quiet.libraries():  # no "sequence longer than the maximum" warning: we are counting
        for i in range(0, len(texts), batch_size):
            enc = tok(texts[i: i + batch_size], add_special_tokens=True, truncation=False)
            out.extend(len(ids) for ids in enc["input_ids"])
    return np.array(out, dtype=int)


def _tokenizer(model):
    """The model's tokenizer; ``model`` may also be a Hugging Face tokenizer itself."""
    tok = getattr(model, "tokenizer", None)
    if tok is None and hasattr(model, "tokenize") and hasattr(model, "convert_tokens_to_ids"):
        tok = model
    if tok is None or not hasattr(tok, "tokenize"):
        raise TokenError(f"{type(model).__name__} has no tokenizer: pass a SentenceTransformer "
                           "(or a Hugging Face tokenizer).")
    return tok


def _words(tok, text):
    """The words the tokenizer sees before WordPiece: split on spaces and punctuation."""
    backend = getattr(tok, "backend_tokenizer", None)
    pre = getattr(backend, "pre_tokenizer", None) if backend is not None else None
    if pre is not None:
        return [word for word, _ in pre.pre_tokenize_str(str(text))]
    import re
    return re.findall(r"\w+|[^\w\s]", str(text))


def token_pieces(model: SentenceTransformer | PreTrainedTokenizerBase,
                 text: str | Iterable[str]) -> pd.DataFrame:
    """How the tokenizer cuts ``text``: one row per word (introduced in 01_why_fine_tune).

    Columns: word, pieces (the WordPiece tokens, joined by spaces; ``##`` marks a piece that
    continues a word) and n_pieces. A word the vocabulary knows is one piece; a word it has never
    seen, such as "pyelonephritis", falls apart into fragments. ``table.attrs["tokens"]`` is the
    total.
    ``model`` may be a SentenceTransformer or a tokenizer itself.
    """
    import pandas as pd

    tok = _tokenizer(model)
    texts = [text] if isinstance(text, str) else list(text)
    if not texts or not any(str(t).strip() for t in texts):
        raise TokenError("Nothing to tokenize: give a word or a sentence.")
    rows = []
    for t in texts:
        for word in _words(tok, t):
            pieces = tok.tokenize(word)
            rows.append({"word": word, "pieces": " ".join(pieces), "n_pieces": len(pieces)})
    table = pd.DataFrame(rows, columns=["word", "pieces", "n_pieces"])
    table.attrs["tokens"] = int(table["n_pieces"].sum())
    return table


def _word_pieces(model, texts):
    """{word (lower case): pieces} and word counts over ``texts``, alphabetic words only."""
    tok = _tokenizer(model)
    if isinstance(texts, str):
        texts = [texts]
    elif isinstance(texts, Mapping):
        texts = list(texts.values())
    counts = Counter(word.lower() for t in texts for word in _words(tok, t) if word.isalpha())
    if not counts:
        raise TokenError("No words found in the texts.")
    return {word: tok.tokenize(word) for word in counts}, counts


def unknown_word_share(model: SentenceTransformer | PreTrainedTokenizerBase,
                       texts: str | Iterable[str] | Mapping[str, str], min_pieces: int = 3,
                       distinct: bool = True) -> float:
    """Share of words the tokenizer cuts into ``min_pieces`` or more pieces (introduced in
    01_why_fine_tune).

    Words are alphabetic tokens, compared in lower case. ``distinct=True`` counts each different
    word once (the vocabulary of the texts); ``distinct=False`` counts every occurrence (the running
    text). ``texts``: a list of strings, a dict's values, or one string.
    """
    min_pieces = check_whole(min_pieces, "min_pieces", TokenError)
    pieces, counts = _word_pieces(model, texts)
    if distinct:
        return sum(len(p) >= min_pieces for p in pieces.values()) / len(pieces)
    total = sum(counts.values())
    return sum(c for w, c in counts.items() if len(pieces[w]) >= min_pieces) / total


def split_words(model: SentenceTransformer | PreTrainedTokenizerBase,
                texts: str | Iterable[str] | Mapping[str, str], min_pieces: int = 3,
                top: int = 10) -> pd.DataFrame:
    """The most frequent words of ``texts`` cut into ``min_pieces``+ pieces (introduced in
    01_why_fine_tune).

    A DataFrame with columns word, count, pieces and n_pieces, most frequent first (then longest
    first), at most ``top`` rows.
    """
    import pandas as pd

    min_pieces = check_whole(min_pieces, "min_pieces", TokenError)
    pieces, counts = _word_pieces(model, texts)
    rows = [{"word": w, "count": counts[w], "pieces": " ".join(p), "n_pieces": len(p)}
            for w, p in pieces.items() if len(p) >= min_pieces]
    rows.sort(key=lambda r: (-r["count"], -r["n_pieces"], r["word"]))
    return pd.DataFrame(rows[: check_whole(top, "top", TokenError)],
                        columns=["word", "count", "pieces", "n_pieces"])


# --------------------------------------------------------------------------------------------------


__all__ = ["TokenError", "split_words", "token_lengths", "token_pieces", "unknown_word_share"]
