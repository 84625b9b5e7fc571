"""One way to hide library chatter that tells a learner nothing (used by every lesson).

``with quiet.libraries():`` lowers the Hugging Face libraries' loggers to errors, hides the model
card's one-step "Computing widget examples" bar and the "pin_memory ... no accelerator" warning on a
CPU. Warnings that matter still show. Two options hide more:

* ``bars=False`` also hides progress bars: transformers' own (loading weights, writing shards) and
  the ``encode`` bars of any models passed in, e.g. ``quiet.libraries(model, bars=False)``;
* ``prints=False`` also swallows what the libraries print (a summary table, "Found 3 unique ...").

Everything is restored on the way out, also after an error.
"""
from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator

LOGGERS = ("transformers", "sentence_transformers", "datasets", "accelerate", "huggingface_hub")


@contextlib.contextmanager
def _loggers_at_error() -> Iterator[None]:
    loggers = [logging.getLogger(n) for n in LOGGERS]
    levels = [lg.level for lg in loggers]
    try:
        from transformers.utils import logging as hf_logging
        hf_level = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
    except ImportError:  # pragma: no cover - transformers is a dependency
        hf_logging, hf_level = None, None
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, lvl in zip(loggers, levels):
            lg.setLevel(lvl)
        if hf_logging is not None:
            hf_logging.set_verbosity(hf_level)


@contextlib.contextmanager
def _no_model_card_bar() -> Iterator[None]:
    """The model card's "Computing widget examples" bar: one step, left at 0% in a notebook."""
    try:
        from sentence_transformers.base import model_card
        card_tqdm = model_card.tqdm
        model_card.tqdm = lambda iterable, *args, **kwargs: iterable
    except (ImportError, AttributeError):  # pragma: no cover - another sentence-transformers layout
        model_card = None
    try:
        yield
    finally:
        if model_card is not None:
            model_card.tqdm = card_tqdm


@contextlib.contextmanager
def _no_transformers_bars() -> Iterator[None]:
    from transformers.utils import logging as hf_logging
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def _no_encode_bars(models) -> Iterator[None]:
    """``show_progress_bar=False`` for every ``encode_query`` / ``encode_document`` call of ``models``
    (libraries such as the hard-negative miner ask for a bar explicitly)."""
    patched = []
    for model in models:
        for name in ("encode_query", "encode_document"):
            fn = getattr(model, name, None)
            if fn is None or name in vars(model):
                continue

            def silent(*args, _fn=fn, **kwargs):
                kwargs["show_progress_bar"] = False
                return _fn(*args, **kwargs)
            setattr(model, name, silent)
            patched.append((model, name))
    try:
        yield
    finally:
        for model, name in patched:
            delattr(model, name)  # back to the class's own method


@contextlib.contextmanager
def libraries(*models, bars: bool = True, prints: bool = True) -> Iterator[None]:
    """Hide library chatter while the block runs (see the module's docstring for what and why)."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(_no_model_card_bar())  # first: its import may reset a library's logger
        stack.enter_context(_loggers_at_error())
        stack.enter_context(warnings.catch_warnings())
        warnings.filterwarnings("ignore", message=".*pin_memory.*no accelerator.*")
        if not bars:
            stack.enter_context(_no_transformers_bars())
            stack.enter_context(_no_encode_bars(models))
        if not prints:
            stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
            stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
        yield


__all__ = ["LOGGERS", "libraries"]
