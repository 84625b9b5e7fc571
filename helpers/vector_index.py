"""Search a million vectors: a real index (faiss) with float32, int8 and binary vectors, exact or
approximate, measured against exact search (introduced in 09_scale_out; issue 17).

The corpus, said plainly (:func:`with_distractors`): every real ICD-10-CM description the profile
allows, encoded by the model, and, up to ``total`` vectors, *distractors made in embedding space*:
each is a real description's vector plus 0.3 of another's plus a little noise, re-normalised, so it
lies among the real ones (nearly as close to its nearest real title as real titles are to each
other) instead of in empty space. Encoding a million texts would take this 2-core CPU an hour; the
distractors take seconds. They are not texts, so only recall against exact search and the gold
answer's rank mean anything on them, which is what is measured.

The methods (:data:`METHODS`), every one a faiss index searched through sentence-transformers'
``semantic_search_faiss``:

- ``exact float32``: ``IndexFlatIP``, every vector compared in full: the reference.
- ``exact int8``: ``IndexScalarQuantizer`` (8 bits a number), every vector, 4x smaller.
- ``binary + rescore``: ``IndexBinaryFlat`` (1 bit a number, Hamming distance), 32x smaller; the
  best ``k x rescore`` candidates are then rescored with the float query against their int8 vectors
  (which can stay on disk). sentence-transformers' own ``rescore=True`` compares the query with the
  candidates' *binary* vectors, which keeps far fewer of the exact top 10 on this corpus.
- ``IVF float32`` / ``IVF int8``: an inverted file (``IndexIVFFlat`` / ``IndexIVFScalarQuantizer``):
  k-means cells, and a query searches only the ``nprobe`` cells nearest it.

The effort setting (``nprobe``, the rescore multiplier) is chosen on *validation queries* (training
anchors, never the test queries) as the smallest that keeps ``target`` of exact search's top 10,
then measured on the test queries.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import paths
from .device import gpu_count
from .errors import InputError

if TYPE_CHECKING:
    import pandas as pd
    from sentence_transformers import SentenceTransformer

METHODS = ("exact float32", "exact int8", "binary + rescore", "IVF float32", "IVF int8")
"""The index kinds :func:`compare` measures, in table order."""

RESCORE_GRID = (2, 4, 8, 16, 32, 64)
"""Rescore multipliers tried for ``binary + rescore`` (candidates = k x multiplier)."""
NPROBE_GRID = (1, 2, 4, 8, 16, 32, 64, 128)
"""Cells searched (``nprobe``) tried for the IVF indexes."""


class VectorIndexError(InputError):
    """A bad argument to the index helpers; the message says what is allowed."""


# ----------------------------------------------------------------------------------- the corpus
def with_distractors(real: np.ndarray, total: int, seed: int = 0, mix: float = 0.3,
                     noise: float = 0.4, chunk: int = 200_000) -> np.ndarray:
    """``real`` (unit vectors, one row per real text) followed by ``total - len(real)`` distractors:
    ``normalise(real[a] + mix * real[b] + noise * g / sqrt(d))`` for random ``a``, ``b`` and a
    Gaussian ``g``. Returns a float32 array of ``total`` unit rows; the first ``len(real)`` are
    ``real`` itself, so real ids keep their positions."""
    real = np.ascontiguousarray(real, dtype=np.float32)
    if real.ndim != 2 or len(real) < 2:
        raise VectorIndexError(f"real must be a 2-D array of at least 2 vectors, got shape {real.shape}.")
    if int(total) < len(real):
        raise VectorIndexError(f"total ({total:,}) must be at least the number of real vectors "
                          f"({len(real):,}).")
    n, d = real.shape
    out = np.empty((int(total), d), dtype=np.float32)
    out[:n] = real
    rng = np.random.default_rng(seed)
    for start in range(n, int(total), chunk):
        m = min(chunk, int(total) - start)
        a, b = rng.integers(0, n, m), rng.integers(0, n, m)
        v = real[a] + mix * real[b]
        v += (noise / np.sqrt(d)) * rng.standard_normal((m, d), dtype=np.float32)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        out[start:start + m] = v
    return out


def real_corpus(split, extra: Sequence[str], limit: int | None = None
                ) -> tuple[list[str], list[list[int]]]:
    """The real texts of a big corpus: ``split``'s documents first (so every test query's answer is
    in it), then ``extra`` texts not already there, ``limit`` texts in all (None = every one); and
    for each of ``split``'s queries (in its order) the positions of its answers in that list."""
    texts = list(dict.fromkeys([*split.corpus.values(), *extra]))
    if limit is not None:
        if limit < len(split.corpus):
            raise VectorIndexError(f"limit ({limit:,}) must keep the {len(split.corpus):,} test "
                                   "documents.")
        texts = texts[:limit]
    where = {text: i for i, text in enumerate(texts)}
    gold = [[where[split.corpus[d]] for d in split.relevant_docs(q)] for q in split.queries]
    return texts, gold


def nearest_similarity(vectors: np.ndarray, reference: np.ndarray, exclude_self: bool = False,
                       sample: int = 2000, seed: int = 0) -> float:
    """The median cosine similarity of (a sample of) ``vectors`` to their nearest ``reference``
    vector: how close real titles are to each other, and distractors to real titles."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(vectors), min(sample, len(vectors)), replace=False)
    sims = vectors[pick] @ reference.T
    if exclude_self:
        sims[np.arange(len(pick)), pick] = -np.inf
    return float(np.median(sims.max(axis=1)))


def embed(model: SentenceTransformer, texts: Sequence[str], name: str,
          batch_size: int = 128) -> np.ndarray:
    """Unit embeddings of ``texts`` (float32), cached under the workbook cache by model and texts:
    a cache file that is missing, damaged or of the wrong shape is re-encoded, never trusted."""
    texts = list(texts)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise VectorIndexError("embed needs a non-empty list of texts (strings).")
    key = hashlib.sha256(json.dumps([_model_id(model), texts]).encode()).hexdigest()[:16]
    path = paths.cache_dir("embeddings") / f"{name}-{key}.npy"

    def read(p: Path) -> np.ndarray:
        array = np.load(p, allow_pickle=False)
        if array.shape != (len(texts), model.get_embedding_dimension()) or \
                array.dtype != np.float32 or not np.isfinite(array).all():
            raise ValueError(f"shape {array.shape}, dtype {array.dtype}")
        return array

    cached = paths.read_cache(path, read)
    if cached is not None:
        print(f"{len(texts):,} embeddings from the cache ({paths.show(path)})")
        return cached
    start = time.perf_counter()
    array = model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                         convert_to_numpy=True, show_progress_bar=len(texts) > 5000)
    array = np.ascontiguousarray(array, dtype=np.float32)
    seconds = max(time.perf_counter() - start, 1e-9)
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    paths.write_atomic(path, buffer.getvalue())
    print(f"Encoded {len(texts):,} texts in {seconds:.0f} s ({len(texts) / seconds:,.0f} a "
          f"second); cached in {paths.show(path)}")
    return array


def _model_id(model) -> str:
    """A checksum of the model's weights and its sequence length: what the embeddings depend on."""
    digest = hashlib.sha256(str(model.get_max_seq_length()).encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()


# ---------------------------------------------------------------------- multi-process encoding
@contextmanager
def _threads_per_process(n: int):
    """Child processes started inside this block use ``n`` torch threads each (OMP_NUM_THREADS)."""
    old = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(max(1, n))
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = old


def encoding_speed(model: SentenceTransformer, texts: Sequence[str],
                   devices: Sequence[str] | None = None, batch_size: int = 128,
                   chunk_size: int | None = None) -> pd.DataFrame:
    """Encode ``texts`` once in this process, once with sentence-transformers' multi-process pool
    (one process per entry of ``devices``: every GPU where there are several, else two processes
    sharing the one GPU or the CPU cores);
    one row each: processes, devices, threads per process, seconds (the pool's start-up apart),
    texts a second, and the largest difference from the one-process embeddings."""
    import pandas as pd
    import torch

    texts = list(texts)
    if not texts:
        raise VectorIndexError("encoding_speed needs some texts.")
    if devices is None:  # a process per GPU; two on one GPU or on the CPU cores, to compare
        gpus = gpu_count()
        devices = ([f"cuda:{i}" for i in range(gpus)] if gpus > 1 else
                   ["cuda:0", "cuda:0"] if gpus == 1 else ["cpu", "cpu"])
    devices = list(devices)
    cores = os.cpu_count() or 1
    threads = torch.get_num_threads()
    model.encode(texts[:batch_size], batch_size=batch_size)  # warm-up: first calls are slower
    start = time.perf_counter()
    one = model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                       convert_to_numpy=True)
    one_s = time.perf_counter() - start
    rows = [{"processes": 1, "devices": str(model.device), "threads each": threads,
             "start-up s": 0.0, "seconds": one_s, "texts/s": len(texts) / one_s,
             "max difference": 0.0}]
    per = max(1, cores // len(devices)) if all(d == "cpu" for d in devices) else threads
    start = time.perf_counter()
    with _threads_per_process(per):
        pool = model.start_multi_process_pool(devices)
    up = time.perf_counter() - start
    try:
        start = time.perf_counter()
        many = model.encode(texts, pool=pool, batch_size=batch_size, normalize_embeddings=True,
                            convert_to_numpy=True,
                            chunk_size=chunk_size or max(1, -(-len(texts) // (4 * len(devices)))))
        many_s = time.perf_counter() - start
    finally:
        model.stop_multi_process_pool(pool)
    rows.append({"processes": len(devices), "devices": ", ".join(sorted(set(devices))),
                 "threads each": per, "start-up s": up, "seconds": many_s,
                 "texts/s": len(texts) / many_s,
                 "max difference": float(np.abs(np.asarray(many) - one).max())})
    table = pd.DataFrame(rows)
    table["speed-up"] = table["texts/s"] / table["texts/s"].iloc[0]
    return table


# ------------------------------------------------------------------------------------ indexes
def int8_ranges(calibration: np.ndarray) -> np.ndarray:
    """The per-dimension minimum and maximum (2 x d) that int8 quantisation maps onto -128..127."""
    return np.vstack([calibration.min(axis=0), calibration.max(axis=0)]).astype(np.float32)


def dequantize_int8(codes: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    """int8 codes (from ``quantize_embeddings(..., "int8", ranges=ranges)``) back to floats."""
    steps = (ranges[1] - ranges[0]) / 255
    return (codes.astype(np.float32) + 128) * steps + ranges[0]


def _cells(n: int) -> int:
    """IVF cells for ``n`` vectors: about 4 x sqrt(n), a power of two, 16 to 1,024 (more cells
    search faster but take this CPU minutes to train at a million vectors)."""
    cells = int(min(1024, max(16, 2 ** round(np.log2(4 * np.sqrt(n))))))
    while cells > 1 and cells * 39 > n:  # faiss wants 39 training points a cell
        cells //= 2
    return cells


@dataclass
class Index:
    """One built index: its method, dims, faiss object, build seconds and bytes, and the effort
    setting (``nprobe`` or the rescore multiplier) a search uses."""
    method: str
    dims: int
    faiss_index: Any
    build_seconds: float
    index_bytes: int
    rescore_bytes: int = 0
    effort: int | None = None
    rescore_codes: np.ndarray | None = None
    ranges: np.ndarray | None = None

    @property
    def effort_name(self) -> str | None:
        return {"binary + rescore": "rescore x", "IVF float32": "nprobe",
                "IVF int8": "nprobe"}.get(self.method)

    def set_effort(self, value: int) -> None:
        self.effort = int(value)
        if self.method.startswith("IVF"):
            self.faiss_index.nprobe = int(value)

    def search(self, queries: np.ndarray, k: int = 10) -> np.ndarray:
        """The ids of the top ``k`` corpus vectors for each query row (``len(queries) x k``)."""
        from sentence_transformers.util.quantization import semantic_search_faiss

        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if self.method != "binary + rescore":
            hits, _ = semantic_search_faiss(queries, corpus_index=self.faiss_index,
                                            corpus_precision="float32", top_k=k, rescore=False)
            return _ids(hits, k)
        many = k * (self.effort or 1)
        hits, _ = semantic_search_faiss(queries, corpus_index=self.faiss_index,
                                        corpus_precision="ubinary", top_k=many, rescore=False)
        candidates = _ids(hits, many)
        vectors = dequantize_int8(self.rescore_codes[np.maximum(candidates, 0)], self.ranges)
        scores = np.einsum("qd,qkd->qk", queries, vectors)
        scores[candidates < 0] = -np.inf
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(candidates, order, axis=1)


def _ids(hits: list[list[dict]], k: int) -> np.ndarray:
    out = np.full((len(hits), k), -1, dtype=np.int64)
    for row, found in enumerate(hits):
        ids = [h["corpus_id"] for h in found[:k]]
        out[row, :len(ids)] = ids
    return out


def build(method: str, corpus: np.ndarray, seed: int = 0, train_size: int = 50_000) -> Index:
    """Build ``method``'s faiss index over ``corpus`` (unit float32 rows), timed, with its size
    measured as faiss serialises it."""
    import faiss
    from sentence_transformers.util.quantization import quantize_embeddings

    if method not in METHODS:
        raise VectorIndexError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")
    corpus = np.ascontiguousarray(corpus, dtype=np.float32)
    n, d = corpus.shape
    rng = np.random.default_rng(seed)
    sample = corpus[np.sort(rng.choice(n, min(n, train_size), replace=False))]
    start = time.perf_counter()
    extra = {}
    if method == "exact float32":
        index = faiss.IndexFlatIP(d)
        index.add(corpus)
    elif method == "exact int8":
        index = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit,
                                           faiss.METRIC_INNER_PRODUCT)
        index.train(sample)
        index.add(corpus)
    elif method == "binary + rescore":
        index = faiss.IndexBinaryFlat(d)
        index.add(quantize_embeddings(corpus, precision="ubinary"))
        ranges = int8_ranges(sample)
        extra = {"ranges": ranges,
                 "rescore_codes": quantize_embeddings(corpus, precision="int8", ranges=ranges)}
    else:
        cells = _cells(n)
        sample = corpus[np.sort(rng.choice(n, min(n, max(train_size, 40 * cells)),
                                           replace=False))]
        quantizer = faiss.IndexFlatIP(d)
        if method == "IVF float32":
            index = faiss.IndexIVFFlat(quantizer, d, cells, faiss.METRIC_INNER_PRODUCT)
        else:
            index = faiss.IndexIVFScalarQuantizer(quantizer, d, cells,
                                                  faiss.ScalarQuantizer.QT_8bit,
                                                  faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = seed
        index.train(sample)
        index.add(corpus)
        extra["_quantizer"] = quantizer
    seconds = time.perf_counter() - start
    extra.pop("_quantizer", None)
    if isinstance(index, faiss.IndexBinary):
        size = len(faiss.serialize_index_binary(index))
    else:
        size = len(faiss.serialize_index(index))
    codes = extra.get("rescore_codes")
    return Index(method, d, index, seconds, size, 0 if codes is None else codes.nbytes, **extra)


def overlap(found: np.ndarray, exact: np.ndarray) -> float:
    """Recall against exact search: the mean share of exact search's top k that an index found."""
    k = exact.shape[1]
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(found, exact)]))


def choose_effort(index: Index, queries: np.ndarray, exact: np.ndarray, target: float = 0.95,
                  k: int = 10) -> tuple[int | None, float]:
    """The smallest effort setting in the grid that keeps ``target`` of ``exact``'s top ``k`` on
    these (validation) queries, and the overlap it reached (the largest setting if none does)."""
    grid = {"rescore x": RESCORE_GRID, "nprobe": NPROBE_GRID}.get(index.effort_name)
    if grid is None:
        return None, overlap(index.search(queries, k), exact)
    reached = 0.0
    for value in grid:
        if index.method.startswith("IVF") and value > index.faiss_index.nlist:
            break
        index.set_effort(value)
        reached = overlap(index.search(queries, k), exact)
        if reached >= target:
            break
    return index.effort, reached


def latency_ms(index: Index, queries: np.ndarray, k: int = 10) -> float:
    """Median milliseconds to answer one query at a time (how a search service sees it)."""
    times = []
    for row in queries:
        start = time.perf_counter()
        index.search(row[None, :], k)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def gold_recall(found: np.ndarray, gold: Sequence[Sequence[int]], k: int = 10) -> float:
    """Recall@k of the real answers (the workbook's definition, helpers.metrics), from top-k ids."""
    from .metrics import recall_at_k

    return float(np.mean([recall_at_k([str(i) for i in row], [str(g) for g in answers], k)
                          for row, answers in zip(found, gold)]))


def compare(corpus: np.ndarray, queries: np.ndarray, validation: np.ndarray,
            dims: Sequence[int] = (384, 128), methods: Sequence[str] = METHODS, k: int = 10,
            target: float = 0.95, latency_queries: int = 100,
            gold: Sequence[Sequence[int]] | None = None, seed: int = 0,
            progress: bool = True) -> pd.DataFrame:
    """Every method at every size: build, choose the effort on ``validation``, then on ``queries``
    measure recall against exact search, milliseconds per query and (with ``gold``) the real
    answers' Recall@k. One row per (dims, method), the exact float32 row first at each size."""
    import pandas as pd

    from .metrics import truncate

    rows = []
    for size in dims:
        c = corpus if size == corpus.shape[1] else truncate(corpus, size)
        q, v = truncate(queries, size), truncate(validation, size)
        reference = None
        for method in methods:
            index = build(method, c, seed=seed)
            if reference is None:
                ref_index = index if method == "exact float32" else build("exact float32", c)
                exact_q, exact_v = ref_index.search(q, k), ref_index.search(v, k)
                ref_ms = latency_ms(ref_index, q[:latency_queries], k)
                reference = ref_index
            _, reached = choose_effort(index, v, exact_v, target, k)
            found = index.search(q, k)
            ms = ref_ms if index is reference else latency_ms(index, q[:latency_queries], k)
            row = {"dims": size, "method": index.method, "effort": _effort_text(index),
                   "recall vs exact": overlap(found, exact_q), "validation recall": reached,
                   "ms/query": ms, "speed-up": ref_ms / ms,
                   "index MB": index.index_bytes / 1e6,
                   "rescore MB": index.rescore_bytes / 1e6,
                   "build s": index.build_seconds}
            if gold is not None:
                row[f"recall@{k} (answers)"] = gold_recall(found, gold, k)
            rows.append(row)
            if progress:
                print(f"  {size:>4} dims · {index.method:<16} built in {index.build_seconds:5.1f} s"
                      f" · {ms:8.2f} ms/query · recall vs exact {row['recall vs exact']:.3f}",
                      flush=True)
            del index
    return pd.DataFrame(rows)


def _effort_text(index: Index) -> str:
    if index.effort is None:
        return "all vectors"
    return f"{index.effort_name} {index.effort}"


def best(table: pd.DataFrame, target: float = 0.95, min_speedup: float = 10.0) -> pd.DataFrame:
    """The rows that keep ``target`` of exact search's top 10 on the test queries and answer at
    least ``min_speedup`` times faster than exact search at the same size, smallest index first."""
    ok = table[(table["recall vs exact"] >= target) & (table["speed-up"] >= min_speedup)]
    return ok.sort_values(["index MB", "ms/query"])
