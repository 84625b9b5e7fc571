"""Peak memory and time of helpers.metrics.search_embeddings on a large random corpus.

Not a test (pytest only collects test_*.py); run it by hand:

    .venv/bin/python tests/bench_search_memory.py                  # 100,000 x 384, 1,000 queries
    .venv/bin/python tests/bench_search_memory.py --docs 20000 --chunk-size 4096

The corpus is made before the measurement starts, so "peak beyond baseline" is what the search itself
needs on top of the embeddings it was given (the 100,000 x 384 float32 corpus is 154 MB). The peak is
the process's high-water mark of resident memory (VmHWM), reset just before the search where Linux
allows it, else ru_maxrss.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def rss_mb(field="VmRSS"):
    """Current (VmRSS) or peak (VmHWM) resident memory of this process in MB, from /proc."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # Linux: KB, a peak


def reset_peak():
    """Reset VmHWM to the current RSS (Linux 4.0+); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--query-chunk-size", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()

    import torch

    from helpers import metrics

    if args.threads:
        torch.set_num_threads(args.threads)
    chunk_size = args.chunk_size or metrics.CHUNK_SIZE
    query_chunk_size = args.query_chunk_size or metrics.QUERY_CHUNK_SIZE

    rng = np.random.default_rng(0)
    corpus = rng.standard_normal((args.docs, args.dim), dtype=np.float32)
    corpus /= np.linalg.norm(corpus, axis=1, keepdims=True)
    queries = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
    doc_ids = [f"doc{i}" for i in range(args.docs)]
    metrics.search_embeddings(queries[:2], corpus[:100], k=args.k)   # warm up torch's kernels

    baseline = rss_mb()
    exact_peak = reset_peak()
    start = time.perf_counter()
    run = metrics.search_embeddings(queries, corpus, k=args.k, doc_ids=doc_ids,
                                    chunk_size=chunk_size, query_chunk_size=query_chunk_size)
    seconds = time.perf_counter() - start
    peak = rss_mb("VmHWM") if exact_peak else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert len(run) == args.queries and all(len(hits) == args.k for hits in run.values())

    print(f"corpus {args.docs:,} x {args.dim} float32 = {corpus.nbytes / 1e6:.0f} MB; "
          f"{args.queries:,} queries; k={args.k}; chunk_size={chunk_size:,}; "
          f"query_chunk_size={query_chunk_size:,}; torch threads {torch.get_num_threads()}")
    print(f"RSS before search {baseline:.0f} MB; peak during search {peak:.0f} MB "
          f"({'VmHWM reset before the search' if exact_peak else 'ru_maxrss, whole process'})")
    print(f"peak beyond baseline: {peak - baseline:.0f} MB; time {seconds:.2f} s")


if __name__ == "__main__":
    main()
