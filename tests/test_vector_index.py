"""Tests for ``helpers.vector_index`` (issue 17; 09_scale_out): the synthetic corpus, every index
kind against numpy brute force and against exact search, the effort choice, the helpers and the
comparison table. Small synthetic unit vectors throughout, so the whole file runs in seconds."""
from __future__ import annotations

import numpy as np
import pytest

from helpers import vector_index as vi
from helpers.errors import InputError

D = 32
N_REAL = 300
N = 8_000
K = 10


def unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def random_unit(n: int, d: int = D, seed: int = 0) -> np.ndarray:
    return unit(np.random.default_rng(seed).standard_normal((n, d)))


def brute_force(corpus: np.ndarray, queries: np.ndarray, k: int = K) -> np.ndarray:
    """The top-k ids by inner product, numpy only."""
    return np.argsort(-(corpus @ queries.T), axis=0, kind="stable")[:k].T


@pytest.fixture(scope="module")
def real():
    return random_unit(N_REAL, seed=1)


@pytest.fixture(scope="module")
def corpus(real):
    return vi.with_distractors(real, N, seed=0, noise=0.2)


@pytest.fixture(scope="module")
def queries(real):
    """Query-like vectors: fresh distractors around the same real vectors (not in the corpus)."""
    return vi.with_distractors(real, N_REAL + 200, seed=11, noise=0.2)[N_REAL:]


@pytest.fixture(scope="module")
def validation(real):
    return vi.with_distractors(real, N_REAL + 200, seed=12, noise=0.2)[N_REAL:]


@pytest.fixture(scope="module")
def indexes(corpus):
    return {method: vi.build(method, corpus) for method in vi.METHODS}


@pytest.fixture(scope="module")
def exact(indexes, queries, validation):
    ref = indexes["exact float32"]
    return {"queries": ref.search(queries, K), "validation": ref.search(validation, K)}


# ---------------------------------------------------------------------------------- the corpus
def test_with_distractors_shape_dtype_and_unit_rows(real, corpus):
    assert corpus.shape == (N, D) and corpus.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(corpus, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(corpus[:N_REAL], real)
    assert np.isfinite(corpus).all()
    # the distractors are new vectors, not copies of real ones
    assert not np.isin(corpus[N_REAL:N_REAL + 50, 0], real[:, 0]).any()


def test_with_distractors_is_deterministic_by_seed(real):
    a = vi.with_distractors(real, 1_000, seed=3)
    b = vi.with_distractors(real, 1_000, seed=3)
    c = vi.with_distractors(real, 1_000, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[N_REAL:], c[N_REAL:])
    np.testing.assert_array_equal(a[:N_REAL], c[:N_REAL])


def test_with_distractors_chunks_fill_every_row(real):
    # several chunks, the last one partial: every row is written and a unit vector
    out = vi.with_distractors(real, 1_234, seed=0, chunk=250)
    assert out.shape == (1_234, D)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_with_distractors_total_equal_to_real_is_real(real):
    out = vi.with_distractors(real, N_REAL)
    np.testing.assert_array_equal(out, real)
    assert out is not real


def test_with_distractors_accepts_float64(real):
    out = vi.with_distractors(real.astype(np.float64), N_REAL + 10)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:N_REAL], real, atol=1e-7)


@pytest.mark.parametrize("array, total, words", [
    (np.ones((10, 4), np.float32), 9, ["total (9)", "at least", "(10)"]),
    (np.ones(8, np.float32), 20, ["2-D", "(8,)"]),
    (np.ones((1, 4), np.float32), 20, ["at least 2 vectors"]),
])
def test_with_distractors_bad_input_is_a_clear_error(array, total, words):
    with pytest.raises(vi.VectorIndexError) as caught:
        vi.with_distractors(array, total)
    assert isinstance(caught.value, InputError) and isinstance(caught.value, ValueError)
    for word in words:
        assert word in str(caught.value), (word, str(caught.value))


def test_distractors_lie_among_the_real_vectors(real):
    """mix 0.3 and a little noise: a distractor's nearest real vector is far closer than a random
    unit vector's (which is what "made in embedding space, not empty space" means)."""
    made = vi.with_distractors(real, N_REAL + 1_000, seed=2, mix=0.3, noise=0.1)[N_REAL:]
    noise = random_unit(1_000, seed=99)
    near_made = vi.nearest_similarity(made, real)
    near_noise = vi.nearest_similarity(noise, real)
    assert near_made > 0.85 > near_noise + 0.2, (near_made, near_noise)
    assert -1.0 <= near_noise <= 1.0


def test_nearest_similarity_exclude_self(real):
    assert vi.nearest_similarity(real, real) == pytest.approx(1.0, abs=1e-5)
    apart = vi.nearest_similarity(real, real, exclude_self=True)
    assert apart < 0.9
    # by hand: three vectors, the nearest other one of each known
    v = unit(np.array([[1, 0], [0.8, 0.6], [0, 1]]))
    assert vi.nearest_similarity(v, v, exclude_self=True) == pytest.approx(0.8)
    # nearest others: 0.8, 0.8, 0.6; a sample of two has the median of its pair
    assert vi.nearest_similarity(v, v, exclude_self=True, sample=2, seed=5) in (
        pytest.approx(0.8), pytest.approx(0.7))


# ------------------------------------------------------------------------------------- building
def test_build_every_method_measures_its_size(indexes, corpus):
    sizes = {m: ix.index_bytes for m, ix in indexes.items()}
    n, d = corpus.shape
    for method, ix in indexes.items():
        assert ix.method == method and ix.dims == d and ix.build_seconds >= 0
        assert ix.index_bytes > 0
    assert sizes["binary + rescore"] < sizes["exact int8"] < sizes["exact float32"]
    assert sizes["exact float32"] == pytest.approx(n * d * 4, rel=0.02)
    assert sizes["exact int8"] == pytest.approx(n * d, rel=0.05)
    assert sizes["binary + rescore"] == pytest.approx(sizes["exact float32"] / 32, rel=0.05)
    assert sizes["IVF int8"] < sizes["IVF float32"]
    # an inverted file stores the ids too: never smaller than the flat index of the same precision
    assert sizes["IVF float32"] >= sizes["exact float32"]
    assert sizes["IVF int8"] >= sizes["exact int8"]


def test_only_binary_keeps_rescore_vectors(indexes, corpus):
    n, d = corpus.shape
    for method, ix in indexes.items():
        if method == "binary + rescore":
            assert ix.rescore_bytes == n * d  # one int8 per number
            assert ix.rescore_codes.dtype == np.int8 and ix.rescore_codes.shape == (n, d)
            assert ix.ranges.shape == (2, d)
        else:
            assert ix.rescore_bytes == 0 and ix.rescore_codes is None


def test_effort_names_and_ivf_cells(indexes):
    assert [indexes[m].effort_name for m in vi.METHODS] == [
        None, None, "rescore x", "nprobe", "nprobe"]
    for method in ("IVF float32", "IVF int8"):
        assert indexes[method].faiss_index.nlist == vi._cells(N)
        assert indexes[method].faiss_index.ntotal == N


@pytest.mark.parametrize("n, cells", [(1, 1), (100, 2), (10_000, 256), (1_000_000, 1024)])
def test_cells_are_a_power_of_two_with_39_training_points_each(n, cells):
    assert vi._cells(n) == cells
    assert cells == 1 or cells * 39 <= n


@pytest.mark.parametrize("method", ["exact float16", "", "IVF"])
def test_build_unknown_method(method, corpus):
    with pytest.raises(vi.VectorIndexError, match="Unknown method") as caught:
        vi.build(method, corpus[:100])
    assert "exact float32" in str(caught.value) and "binary + rescore" in str(caught.value)


# ------------------------------------------------------------------------------------ searching
def test_exact_float32_is_numpy_brute_force(indexes, corpus, queries, exact):
    found = exact["queries"]
    expected = brute_force(corpus, queries)
    assert found.shape == (len(queries), K) and found.dtype == np.int64
    assert (found == expected).mean() > 0.99
    # where the order differs at all, it is a tie to float precision
    sims = corpus @ queries.T
    np.testing.assert_allclose(np.take_along_axis(sims.T, found, axis=1),
                               np.take_along_axis(sims.T, expected, axis=1), atol=1e-5)
    # the other k work too
    np.testing.assert_array_equal(indexes["exact float32"].search(queries[:5], 3), found[:5, :3])


def test_search_takes_float64_and_one_query(indexes, queries, exact):
    ref = indexes["exact float32"]
    np.testing.assert_array_equal(ref.search(queries[:4].astype(np.float64)), exact["queries"][:4])
    assert ref.search(queries[0][None, :], 1).shape == (1, 1)


@pytest.mark.parametrize("method, effort", [
    ("exact int8", None), ("binary + rescore", 32), ("IVF float32", 32), ("IVF int8", 32)])
def test_other_methods_keep_most_of_exact_search(indexes, queries, exact, method, effort):
    ix = indexes[method]
    if effort is not None:
        ix.set_effort(effort)
    found = ix.search(queries, K)
    assert found.shape == (len(queries), K)
    assert vi.overlap(found, exact["queries"]) >= 0.8
    assert (found >= 0).all() and (found < N).all()


def test_set_effort_sets_nprobe(indexes):
    ix = indexes["IVF float32"]
    ix.set_effort(np.int64(8))
    assert ix.effort == 8 and isinstance(ix.effort, int) and ix.faiss_index.nprobe == 8


def test_more_effort_never_hurts_much(indexes, queries, exact):
    ix = indexes["IVF float32"]
    reached = []
    for nprobe in (1, 4, 32):
        ix.set_effort(nprobe)
        reached.append(vi.overlap(ix.search(queries), exact["queries"]))
    assert reached[0] <= reached[1] <= reached[2] and reached[2] > 0.99


def test_binary_rescore_of_every_candidate_is_int8_brute_force(real):
    """With k x rescore at least the corpus, every vector is rescored: the answer is then the
    brute-force top k over the dequantised int8 vectors (and -1 padding never appears)."""
    small = vi.with_distractors(real, 600, seed=4, noise=0.2)
    ix = vi.build("binary + rescore", small)
    ix.set_effort(64)  # 640 candidates > 600 vectors
    q = vi.with_distractors(real, N_REAL + 30, seed=5, noise=0.2)[N_REAL:]
    found = ix.search(q, K)
    assert (found >= 0).all()
    approx = vi.dequantize_int8(ix.rescore_codes, ix.ranges)
    expected = brute_force(approx, q)
    scores = approx @ q.T
    np.testing.assert_allclose(np.take_along_axis(scores.T, found, axis=1),
                               np.take_along_axis(scores.T, expected, axis=1), atol=1e-5)


# ------------------------------------------------------------------------------ choosing effort
@pytest.mark.parametrize("method, first", [
    ("binary + rescore", vi.RESCORE_GRID[0]), ("IVF float32", vi.NPROBE_GRID[0]),
    ("IVF int8", vi.NPROBE_GRID[0])])
def test_choose_effort_target_zero_is_the_first_setting(indexes, validation, exact, method,
                                                        first):
    ix = indexes[method]
    effort, reached = vi.choose_effort(ix, validation, exact["validation"], target=0)
    assert effort == first == ix.effort
    assert reached == vi.overlap(ix.search(validation), exact["validation"])


@pytest.mark.parametrize("method", ["binary + rescore", "IVF float32", "IVF int8"])
@pytest.mark.parametrize("target", [0.9, 0.97])
def test_choose_effort_is_the_smallest_setting_that_reaches_the_target(
        indexes, validation, exact, method, target):
    ix = indexes[method]
    grid = vi.RESCORE_GRID if method == "binary + rescore" else vi.NPROBE_GRID
    fresh = {}
    for value in grid:
        ix.set_effort(value)
        fresh[value] = vi.overlap(ix.search(validation), exact["validation"])
    effort, reached = vi.choose_effort(ix, validation, exact["validation"], target=target)
    assert reached == fresh[effort]
    enough = [v for v in grid if fresh[v] >= target]
    if enough:
        assert effort == enough[0]
    else:
        assert effort == grid[-1]
    ix.set_effort(effort)
    assert vi.overlap(ix.search(validation), exact["validation"]) == reached


def test_choose_effort_unreachable_target_is_the_largest_setting(indexes, validation, exact):
    ix = indexes["binary + rescore"]
    effort, reached = vi.choose_effort(ix, validation, exact["validation"], target=1.01)
    assert effort == vi.RESCORE_GRID[-1] and reached < 1.01


def test_choose_effort_stops_at_the_number_of_cells(real):
    small = vi.with_distractors(real, 300 + N_REAL, seed=6)  # 600 vectors -> 128 cells
    ix = vi.build("IVF float32", small)
    nlist = ix.faiss_index.nlist
    assert nlist == vi._cells(len(small))
    q = vi.with_distractors(real, N_REAL + 20, seed=7)[N_REAL:]
    ref = vi.build("exact float32", small).search(q)
    effort, reached = vi.choose_effort(ix, q, ref, target=1.01)
    assert effort == max(v for v in vi.NPROBE_GRID if v <= nlist)
    assert reached == pytest.approx(1.0)  # every cell searched: exact


def test_choose_effort_for_exact_methods(indexes, validation, exact):
    effort, reached = vi.choose_effort(indexes["exact float32"], validation, exact["validation"])
    assert effort is None and reached == 1.0
    effort, reached = vi.choose_effort(indexes["exact int8"], validation, exact["validation"])
    assert effort is None and 0.8 <= reached <= 1.0


def test_latency_is_a_positive_number(indexes, queries):
    ms = vi.latency_ms(indexes["exact float32"], queries[:5])
    assert 0 < ms < 1_000


# ----------------------------------------------------------------------------------- the helpers
def test_overlap_by_hand():
    exact = np.array([[1, 2, 3], [4, 5, 6]])
    assert vi.overlap(exact, exact) == 1.0
    assert vi.overlap(np.array([[3, 2, 1], [6, 5, 4]]), exact) == 1.0  # order does not matter
    assert vi.overlap(np.array([[3, 2, 9], [7, 8, 9]]), exact) == pytest.approx((2 / 3 + 0) / 2)
    assert vi.overlap(np.array([[1, -1, -1], [4, 5, -1]]), exact) == pytest.approx(
        (1 / 3 + 2 / 3) / 2)
    assert vi.overlap(np.array([[7, 8, 9], [7, 8, 9]]), exact) == 0.0


def test_gold_recall_by_hand():
    found = np.array([[0, 1, 2], [5, 6, 7]])
    gold = [[2], [9, 5]]
    assert vi.gold_recall(found, gold, k=3) == pytest.approx((1 + 0.5) / 2)
    assert vi.gold_recall(found, gold, k=1) == pytest.approx((0 + 0.5) / 2)
    assert vi.gold_recall(found, [[0], [5]], k=1) == 1.0
    assert vi.gold_recall(found, [[3], [8]], k=3) == 0.0


def test_int8_round_trip_is_within_one_step():
    from sentence_transformers.util.quantization import quantize_embeddings

    x = random_unit(500, 48, seed=3)
    ranges = vi.int8_ranges(x)
    assert ranges.shape == (2, 48) and ranges.dtype == np.float32
    np.testing.assert_array_equal(ranges[0], x.min(axis=0))
    np.testing.assert_array_equal(ranges[1], x.max(axis=0))
    codes = quantize_embeddings(x, precision="int8", ranges=ranges)
    assert codes.dtype == np.int8
    back = vi.dequantize_int8(codes, ranges)
    step = (ranges[1] - ranges[0]) / 255
    err = np.abs(back - x)
    assert (err <= step * (1 + 1e-4) + 1e-7).all(), float((err / step).max())
    assert err.mean() < step.mean()  # not all of them a full step off
    # the bottom of each range comes back exactly (code -128), the top within a step
    ends = vi.dequantize_int8(quantize_embeddings(ranges, "int8", ranges=ranges), ranges)
    np.testing.assert_allclose(ends[0], ranges[0], atol=1e-6)
    assert (np.abs(ends[1] - ranges[1]) <= step * (1 + 1e-4)).all()
    # values beyond the calibration ranges are clipped to its ends, never wrapped round
    wide = vi.dequantize_int8(quantize_embeddings(np.vstack([ranges[0] - 1, ranges[1] + 1]),
                                                  "int8", ranges=ranges), ranges)
    np.testing.assert_allclose(wide[0], ranges[0], atol=1e-6)
    assert (np.abs(wide[1] - ranges[1]) <= step * (1 + 1e-4)).all()


# ------------------------------------------------------------------------------------- compare
@pytest.fixture(scope="module")
def table(real):
    corpus = vi.with_distractors(real, 5_000, seed=8, noise=0.2)
    # queries near known real vectors, so each has a gold answer: the real vector it came from
    rng = np.random.default_rng(9)
    picks = rng.choice(N_REAL, 60, replace=False)
    queries = unit(real[picks] + 0.05 * rng.standard_normal((60, D)))
    validation = vi.with_distractors(real, N_REAL + 60, seed=10, noise=0.2)[N_REAL:]
    return vi.compare(corpus, queries, validation, dims=(32, 16), latency_queries=5,
                      gold=[[int(p)] for p in picks], progress=False)


def test_compare_one_row_per_size_and_method(table):
    assert list(zip(table["dims"], table["method"])) == [
        (d, m) for d in (32, 16) for m in vi.METHODS]
    for column in ("dims", "method", "effort", "recall vs exact", "validation recall",
                   "ms/query", "speed-up", "index MB", "rescore MB", "build s",
                   "recall@10 (answers)"):
        assert column in table.columns, column
    assert table[["ms/query", "index MB", "build s"]].gt(0).all().all()
    assert table["recall vs exact"].between(0, 1).all()


def test_compare_exact_rows_are_the_reference(table):
    exact = table[table["method"] == "exact float32"]
    assert len(exact) == 2
    assert (exact["recall vs exact"] == 1.0).all() and (exact["speed-up"] == 1.0).all()
    assert (exact["validation recall"] == 1.0).all() and (exact["effort"] == "all vectors").all()
    assert (exact["rescore MB"] == 0).all()
    # 16 dims: half the bytes of 32
    mb = exact.set_index("dims")["index MB"]
    assert mb[16] == pytest.approx(mb[32] / 2, rel=0.02)


def test_compare_efforts_and_answers(table):
    effort = dict(zip(zip(table["dims"], table["method"]), table["effort"]))
    assert effort[(32, "exact int8")] == "all vectors"
    assert effort[(32, "binary + rescore")].startswith("rescore x ")
    assert effort[(16, "IVF int8")].startswith("nprobe ")
    # the queries sit next to their real vector: exact search finds it
    assert (table.loc[table["method"] == "exact float32", "recall@10 (answers)"] == 1.0).all()
    binary = table[table["method"] == "binary + rescore"]
    assert (binary["rescore MB"] > 0).all()


def test_best_filters_and_sorts(table):
    everything = vi.best(table, target=0, min_speedup=0)
    assert len(everything) == len(table)
    assert list(everything["index MB"]) == sorted(table["index MB"])
    assert vi.best(table, target=1.01, min_speedup=0).empty
    kept = vi.best(table, target=0.9, min_speedup=0)
    assert (kept["recall vs exact"] >= 0.9).all()
    assert len(kept) == (table["recall vs exact"] >= 0.9).sum()
    fast = vi.best(table, target=0, min_speedup=1e9)
    assert fast.empty


def test_compare_without_the_exact_method_still_measures_against_it(real):
    corpus = vi.with_distractors(real, 2_000, seed=13)
    q = vi.with_distractors(real, N_REAL + 20, seed=14)[N_REAL:]
    out = vi.compare(corpus, q, q, dims=(D,), methods=("exact int8",), latency_queries=3,
                     progress=False)
    assert list(out["method"]) == ["exact int8"] and "recall@10 (answers)" not in out.columns
    assert 0.5 <= out["recall vs exact"].iloc[0] <= 1.0


# ------------------------------------------------------------------------------ the embedding cache
@pytest.fixture(scope="module")
def small_model():
    from helpers import models
    return models.load(verbose=False)


def test_embed_caches_and_rebuilds_a_damaged_file(small_model, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORKBOOK_CACHE", str(tmp_path))
    texts = ["Cholera due to Vibrio cholerae", "Typhoid fever", "Fracture of left femur"]
    first = vi.embed(small_model, texts, "t")
    assert "Encoded 3 texts" in capsys.readouterr().out
    assert first.shape == (3, 384) and first.dtype == np.float32
    assert np.allclose(np.linalg.norm(first, axis=1), 1, atol=1e-5)
    again = vi.embed(small_model, texts, "t")
    assert "3 embeddings from the cache" in capsys.readouterr().out
    assert np.array_equal(first, again)
    (cached,) = (tmp_path / "embeddings").glob("t-*.npy")
    cached.write_bytes(b"not an array")
    rebuilt = vi.embed(small_model, texts, "t")
    assert "Encoded 3 texts" in capsys.readouterr().out and np.allclose(rebuilt, first, atol=1e-6)
    np.save(cached, np.zeros((2, 384), dtype=np.float32))   # the wrong shape is not trusted either
    assert np.allclose(vi.embed(small_model, texts, "t"), first, atol=1e-6)
    assert "Encoded 3 texts" in capsys.readouterr().out


def test_embed_keys_on_the_texts(small_model, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_CACHE", str(tmp_path))
    vi.embed(small_model, ["a", "b"], "t")
    vi.embed(small_model, ["a", "c"], "t")
    assert len(list((tmp_path / "embeddings").glob("t-*.npy"))) == 2


@pytest.mark.parametrize("texts", [[], ["a", 3]])
def test_embed_refuses_no_texts(small_model, texts):
    with pytest.raises(vi.VectorIndexError, match="non-empty list of texts"):
        vi.embed(small_model, texts, "t")
