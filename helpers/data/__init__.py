"""Training and evaluation data: pairs, triplets, IR splits, validation, mining (introduced in
02_training_data).

Two shapes of data run through the workbook:

* **Training data** is a :class:`datasets.Dataset` with the columns ``anchor``, ``positive`` and,
  for triplets, ``negative``, in that order (sentence-transformers reads the columns by position).
* **Test data** is an :class:`IRSplit`: ``queries`` {qid: text}, ``corpus`` {doc_id: text} and
  ``qrels`` {qid: {doc_id: relevance}}, the BEIR shape that every retrieval metric in
  ``helpers.metrics`` reads.

``load(name_or_path)`` returns both at once, as a :class:`Bundle`:

* ``"icd10cm"``: medical synonyms (ICD-10-CM inclusion terms) to find the official code title;
* ``"support"``: customer-support questions to find the help-centre article that answers them;
* ``"general"``: an everyday-text retrieval set, for checking that fine-tuning did not hurt general
  use;
* a path to your own CSV or JSONL file of pairs;
* a Hugging Face dataset id (when online).

Every split is made *by document*: a document that answers a test query is never a training
positive, and a test query never appears among the training anchors. Otherwise the test would
measure memory, not retrieval.

``validate(pairs)`` lists what is wrong with a pairs file, with row numbers and a plain-words fix,
before you spend an hour training on it. ``mine_hard_negatives(model, pairs)`` turns pairs into
triplets.

Errors about the data are :class:`DataError` (a ``WorkbookError`` and a ``ValueError``) with a
message that says what is wrong, where, and how to fix it.

The modules, one idea each: ``containers`` (IRSplit, Bundle, the split by document), ``bundled``
(the three datasets that ship with the workbook), ``files`` (reading and writing your pair files),
``hub`` (Hugging Face datasets), ``loading`` (``load``), ``validation`` (``validate`` as small
``check_*`` functions) and ``mining`` (hard negatives). Everything a lesson uses is importable from
``helpers.data`` directly.
"""
from .bundled import (BUNDLED, ICD10CM_BUILDER_VERSION, article_text, icd10cm_descriptions,
                      icd10cm_headings,
                      icd10cm_pairs)
from .containers import COLUMNS, Bundle, DataError, IRSplit, make_dataset, normalize
from .files import (ALIASES, MISSING_WORDS, PAIR_SUFFIXES, from_input_examples, ir_split_from_pairs, pairs,
                    read_pairs, resolve_path, to_input_examples, write_pairs)
from .loading import load
from .mining import Mined, mine, mine_hard_negatives
from .validation import (ESTIMATE_MAX_TOKENS, PAIRS_ADVICE, REPORT_COLUMNS,
                         check_anchor_is_positive, check_columns, check_duplicates, check_empty,
                         check_leakage, check_lengths, check_missing_words, check_negatives,
                         check_not_text, check_size, check_swapped, raise_for_errors, validate)

__all__ = [
    "ALIASES", "BUNDLED", "Bundle", "COLUMNS", "DataError", "ESTIMATE_MAX_TOKENS",
    "ICD10CM_BUILDER_VERSION", "IRSplit", "MISSING_WORDS", "Mined", "PAIRS_ADVICE", "PAIR_SUFFIXES", "REPORT_COLUMNS",
    "article_text", "check_anchor_is_positive", "check_columns", "check_duplicates", "check_empty",
    "check_leakage", "check_lengths", "check_missing_words", "check_negatives", "check_not_text",
    "check_size", "check_swapped",
    "from_input_examples", "icd10cm_descriptions", "icd10cm_headings", "icd10cm_pairs", "ir_split_from_pairs", "load", "make_dataset", "mine",
    "mine_hard_negatives", "normalize", "pairs", "raise_for_errors", "read_pairs", "resolve_path",
    "to_input_examples", "validate", "write_pairs",
]
