"""helpers.matryoshka: truncation, quality by size, storage and search time (notebook 04).

Most tests use small hand-made vectors whose answers are known; one module-scoped fixture loads the
bundled model to check that sentence-transformers' truncate_dim agrees with cutting and re-normalising.
"""
import numpy as np
import pytest

from helpers import matryoshka, metrics, models
from helpers.matryoshka import MatryoshkaError

# --------------------------------------------------------------------------------------------------
# A toy split: 4 documents in 4 dimensions. The first 2 numbers separate d1/d2 from d3/d4 well; the
# last 2 carry what tells d1 from d2. So q1 finds d1 at full size but not at 2 dimensions.
# --------------------------------------------------------------------------------------------------
DOCS = np.array([[1.0, 0.0, 1.0, 0.0],     # d1
                 [1.0, 0.0, 0.0, 1.0],     # d2
                 [0.0, 1.0, 0.0, 0.0],     # d3
                 [0.2, 1.0, 0.3, 0.0]], dtype=np.float32)
QUERIES = np.array([[1.0, 0.0, 1.0, 0.0],  # q1: wants d1 (found at 4 dims; a tie with d2 at 2 dims)
                    [0.0, 1.0, 0.0, 0.0]], dtype=np.float32)  # q2: wants d3 (rank 1 at 2 dims)


@pytest.fixture()
def toy():
    split = {"queries": {"q1": "one", "q2": "two"},
             "corpus": {"d1": "a", "d2": "b", "d3": "c", "d4": "d"},
             "qrels": {"q1": {"d1": 1}, "q2": {"d3": 1}}}
    emb = metrics.SplitEmbeddings(["q1", "q2"], metrics.truncate(QUERIES), ["d1", "d2", "d3", "d4"],
                                  metrics.truncate(DOCS))
    return split, emb


def test_truncate_split_cuts_and_renormalises(toy):
    _, emb = toy
    cut = matryoshka.truncate_split(emb, 2)
    assert cut.q_emb.shape == (2, 2) and cut.d_emb.shape == (4, 2)
    assert np.allclose(np.linalg.norm(cut.d_emb, axis=1), 1.0)
    assert np.allclose(cut.d_emb[0], [1.0, 0.0])          # d1 was (1, 0, 1, 0) / sqrt 2
    assert cut.qids == emb.qids and cut.doc_ids == emb.doc_ids
    with pytest.raises(MatryoshkaError, match="at most 4"):
        matryoshka.truncate_split(emb, 8)
    with pytest.raises(MatryoshkaError, match="encode_split"):
        matryoshka.truncate_split(np.ones((2, 4)), 2)


def test_scores_by_dims(toy):
    split, emb = toy
    table, per_query = matryoshka.scores_by_dims({"toy": emb, "same": emb}, split, dims=[2, 4],
                                                 metric_names=("ndcg@10", "recall@1"),
                                                 n_resamples=200)
    assert list(table["dims"]) == [4, 2, 4, 2]            # largest first, per model
    assert list(table["model"]) == ["toy", "toy", "same", "same"]
    full, small = table.iloc[0], table.iloc[1]
    assert full["recall@1"] == 1.0                         # both answers first at 4 dims
    assert small["recall@1"] == 0.5                        # q1's d1 ties with d2 at 2 dims; d2 wins
    assert full["recall@1_kept"] == 1.0 and small["recall@1_kept"] == 0.5
    assert full["ndcg@10_ci_low"] <= full["ndcg@10"] <= full["ndcg@10_ci_high"]
    assert set(per_query) == {("toy", 4), ("toy", 2), ("same", 4), ("same", 2)}
    assert list(per_query[("toy", 2)]["recall@1"]) == [0.0, 1.0]
    no_ci, _ = matryoshka.scores_by_dims({"toy": emb}, split, dims=4, ci=False)
    assert "ndcg@10_ci_low" not in no_ci.columns and len(no_ci) == 1


def test_scores_by_dims_rejects_bad_input(toy):
    split, emb = toy
    with pytest.raises(MatryoshkaError, match="dict"):
        matryoshka.scores_by_dims(emb, split)
    with pytest.raises(MatryoshkaError, match="ndcg@10"):
        matryoshka.scores_by_dims({"toy": emb}, split, dims=[4], metric_names=["ndcg"])
    with pytest.raises(MatryoshkaError, match="Unknown metric"):
        matryoshka.scores_by_dims({"toy": emb}, split, dims=[4], metric_names=["speed@10"])
    with pytest.raises(MatryoshkaError, match="whole number"):
        matryoshka.scores_by_dims({"toy": emb}, split, dims=[0])
    with pytest.raises(MatryoshkaError, match="at least one"):
        matryoshka.scores_by_dims({"toy": emb}, split, dims=[])


def test_storage_table_measures_bytes():
    table = matryoshka.storage_table(dims=[384, 64, 32], n_vectors=1_000_000)
    assert list(table["dims"]) == [384, 64, 32]
    assert list(table["bytes float32"]) == [1536, 256, 128]
    assert list(table["bytes int8"]) == [384, 64, 32]
    assert list(table["bytes binary"]) == [48, 8, 4]
    assert list(table["MB float32"]) == [1536.0, 256.0, 128.0]   # 1 million vectors: MB == bytes
    small = matryoshka.storage_table(dims=[8], n_vectors=1000, precisions="binary")
    assert list(small.columns) == ["dims", "bytes binary", "MB binary"]
    assert small["MB binary"].item() == pytest.approx(0.001)
    with pytest.raises(MatryoshkaError, match="precisions"):
        matryoshka.storage_table(precisions=["float16"])
    with pytest.raises(MatryoshkaError, match="n_vectors"):
        matryoshka.storage_table(n_vectors=0)
    with pytest.raises(MatryoshkaError, match="at least 2"):
        matryoshka.storage_table(dims=[4], sample=np.ones((1, 4)))


def test_quantized_bytes():
    sample = matryoshka.random_unit_vectors(10, 20, seed=1)
    assert matryoshka.quantized_bytes(sample, "float32") == 80
    assert matryoshka.quantized_bytes(sample, "int8") == 20
    assert matryoshka.quantized_bytes(sample, "binary") == 3      # 20 bits fill 3 bytes
    with pytest.raises(MatryoshkaError, match="precision"):
        matryoshka.quantized_bytes(sample, "int4")


def test_random_unit_vectors():
    v = matryoshka.random_unit_vectors(50, 16, seed=3)
    assert v.shape == (50, 16) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-6)
    assert np.array_equal(v, matryoshka.random_unit_vectors(50, 16, seed=3))
    with pytest.raises(MatryoshkaError, match="n must"):
        matryoshka.random_unit_vectors(0)


def test_search_times():
    corpus = matryoshka.random_unit_vectors(500, 32, seed=0)
    queries = matryoshka.random_unit_vectors(20, 32, seed=1)
    table = matryoshka.search_times(queries, corpus, dims=[8, 32], repeats=2)
    assert list(table["dims"]) == [32, 8]
    assert set(table["corpus"]) == {500} and set(table["queries"]) == {20}
    assert (table["ms_per_query"] > 0).all()
    assert table["speedup"].iloc[0] == 1.0
    assert np.allclose(table["ms_per_query"], 1000 * table["seconds"] / 20)
    with pytest.raises(MatryoshkaError, match="same model"):
        matryoshka.search_times(queries[:, :8], corpus)
    with pytest.raises(MatryoshkaError, match="repeats"):
        matryoshka.search_times(queries, corpus, dims=[8], repeats=0)


# --------------------------------------------------------------------------------------------------
# The real model: truncate_dim agrees with cutting and re-normalising
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model():
    return models.load("all-MiniLM-L6-v2", verbose=False)


def test_truncated_agrees_with_slicing(model):
    texts = ["acute kidney infection", "fracture of the left wrist", "type 2 diabetes"]
    full = model.encode(texts, normalize_embeddings=True)
    assert model.truncate_dim is None
    with matryoshka.truncated(model, 64):
        assert model.truncate_dim == 64
        short = model.encode(texts, normalize_embeddings=True)
        raw = model.encode(texts)                               # cut after normalising: shorter
    assert model.truncate_dim is None                           # restored
    assert short.shape == (3, 64)
    assert np.allclose(short, metrics.truncate(full, 64), atol=1e-5)
    assert (np.linalg.norm(raw, axis=1) < 1).all()
    with pytest.raises(MatryoshkaError, match="at most 384"):
        with matryoshka.truncated(model, 500):
            pass
    with pytest.raises(MatryoshkaError, match="SentenceTransformer"):
        with matryoshka.truncated(object(), 64):
            pass


def test_dims_constant():
    assert matryoshka.DIMS[0] == 384 and list(matryoshka.DIMS) == sorted(matryoshka.DIMS, reverse=True)


def test_step_seconds(model):
    from datasets import Dataset
    from sentence_transformers.sentence_transformer import losses

    batch = Dataset.from_dict({"anchor": ["kidney infection", "broken wrist", "sugar diabetes"],
                               "positive": ["Acute pyelonephritis", "Fracture of wrist",
                                            "Type 2 diabetes mellitus"]})
    before = {k: v.clone() for k, v in list(model.state_dict().items())[:3]}
    plain = losses.MultipleNegativesRankingLoss(model)
    wrapped = losses.MatryoshkaLoss(model, plain, matryoshka_dims=[384, 64])
    for loss in (plain, wrapped):
        seconds = matryoshka.step_seconds(loss, batch, repeats=1)
        assert 0 < seconds < 60
    assert not model.training                                 # eval mode restored
    assert all(p.grad is None for p in model.parameters())    # gradients thrown away
    assert all((model.state_dict()[k] == v).all() for k, v in before.items())
    with pytest.raises(MatryoshkaError, match="anchor"):
        matryoshka.step_seconds(plain, batch.rename_column("anchor", "query"))
    with pytest.raises(MatryoshkaError, match="loss must be"):
        matryoshka.step_seconds(object(), batch)


def test_matryoshka_error_is_an_input_error():
    from helpers.errors import InputError

    assert issubclass(MatryoshkaError, InputError) and issubclass(MatryoshkaError, ValueError)
