"""No pairs yet? Make (query, document) pairs from your documents (introduced in 08_make_pairs).

``title_pairs`` and ``inverse_cloze`` need no model; ``generate_queries`` has a small instruction-
tuned model write the queries people type. Filters: ``dedupe``, ``drop_copies``, ``round_trip``, and
``clean`` for all three. Each returns a :class:`Made`: pairs, what was removed and why, counts.
Documents: texts, dicts with ``text`` (and ``title``), (title, text) tuples, a DataFrame with those
columns, or {id: text or dict} such as ``IRSplit.corpus``; a titled one is embedded as "Title. Text"
(``data.article_text``, as the support articles are), the positive of generated and ICT pairs.

The modules, one idea each: ``builders`` (``Made``, documents, the pairs that need no model),
``generate`` (the generator), ``filters`` and ``measure`` (made pairs against human ones, side by
side, and what the table says). Everything is importable from ``helpers.synth`` directly.
"""
from .builders import (Doc, Made, collect, documents_from, inverse_cloze, split_sentences,
                       starts_with, title_pairs, words)
from .filters import clean, copy_overlap, dedupe, drop_copies, round_trip
from .generate import (DEFAULT_GENERATOR, DOC_WORDS, MAX_QUERY_WORDS, OFFLINE, PLAIN_SUFFIX, PROMPT,
                       PROMPT_VERSION, STYLES, SeededSampling, build_prompt, generate_queries,
                       load_generator, model_slug, parse_query)
from .measure import (BASE, MIN_STEPS, NOT_RUN, Measured, as_dataset, combine, compare_all,
                      measure, side_by_side, takeaways)

_SeededSampling = SeededSampling  # the name it had when synth was one module

__all__ = ["BASE", "DEFAULT_GENERATOR", "DOC_WORDS", "MAX_QUERY_WORDS", "MIN_STEPS", "NOT_RUN",
           "OFFLINE", "PLAIN_SUFFIX", "PROMPT", "PROMPT_VERSION", "STYLES", "Doc", "Made",
           "Measured", "SeededSampling", "as_dataset", "build_prompt", "clean", "collect",
           "combine", "compare_all", "copy_overlap", "dedupe", "documents_from", "drop_copies",
           "generate_queries", "inverse_cloze", "load_generator", "measure", "model_slug",
           "parse_query", "round_trip", "side_by_side", "split_sentences", "starts_with",
           "takeaways", "title_pairs", "words"]
