"""Hugging Face hub datasets, online only (02_training_data).

A BEIR-style dataset (``corpus`` and ``queries`` configs with qrels) becomes a test split with its
own train qrels as pairs; any other dataset with anchor/positive-like columns goes through the same
path as your own file (:func:`helpers.data.files.load_pairs_file`).
"""
from __future__ import annotations

import warnings

from .. import network, paths
from .containers import Bundle, DataError, IRSplit, make_dataset
from .files import as_frame, load_pairs_file, missing_columns_message, write_pairs


def load_hub(name: str, test_size: float, seed: int) -> Bundle:
    """The :class:`Bundle` of Hugging Face dataset ``name`` (online only; see the module's
    docstring for the two shapes it reads)."""
    if not network.is_online():
        raise DataError(
            f"{name!r} looks like a Hugging Face dataset id, but we are offline (the hub cannot be "
            "reached). Use a bundled dataset instead: data.load('icd10cm') or "
            "data.load('support'), or a path to your own CSV/JSONL file of pairs.")
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
        train = make_dataset({"anchor": [a for a, _ in train_rows],
                          "positive": [p for _, p in train_rows]})
        info = {"source": f"Hugging Face hub: {name} (BEIR style)", "train_pairs": len(train),
                "test_queries": len(test.queries), "corpus": len(corpus),
                "split": f"the dataset's own qrels split {split!r}"}
        return Bundle(name, train, test, info, list(dict.fromkeys(train["positive"])))

    loaded = datasets.load_dataset(name)
    splits = list(loaded)
    train_split = "train" if "train" in loaded else splits[0]
    df, ignored, _ = as_frame(loaded[train_split])
    if "anchor" not in df.columns or "positive" not in df.columns:
        raise DataError(missing_columns_message(name, list(loaded[train_split].column_names)))
    tmp = paths.cache_dir("datasets", "hub") / (name.replace("/", "__") + ".jsonl")
    write_pairs(make_dataset({c: df[c].tolist() for c in df.columns}), tmp)
    test_tmp = None
    if "test" in loaded and train_split != "test":
        tdf, _, _ = as_frame(loaded["test"])
        if "anchor" in tdf.columns and "positive" in tdf.columns:
            test_tmp = tmp.with_name(tmp.stem + ".test.jsonl")
            write_pairs(make_dataset({c: tdf[c].tolist() for c in tdf.columns}), test_tmp)
    bundle = load_pairs_file(tmp, test_tmp, test_size, seed)
    bundle.name = name
    bundle.info["source"] = f"Hugging Face hub: {name}"
    return bundle
