"""The helpers notebook 05 (evaluation) adds: explore.rank_changes, explore.side_by_side,
plots.compare_bars and plots.paired_differences.

Two tiny bag-of-words "models" stand in for a base and a fine-tuned model, so every rank is known in
advance and the tests take milliseconds.
"""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from helpers import explore, metrics, plots  # noqa: E402


class Words:
    """Counts of ``vocab`` words plus a constant; ``synonyms`` map a word to another before counting."""

    def __init__(self, vocab, synonyms=None):
        self.vocab, self.synonyms = vocab, synonyms or {}

    def encode(self, texts, normalize_embeddings=True, convert_to_numpy=True, **_):
        rows = []
        for t in texts:
            words = [self.synonyms.get(w, w) for w in t.lower().split()]
            rows.append([0.1] + [words.count(v) for v in self.vocab])
        emb = np.asarray(rows, dtype=np.float32)
        return emb / np.linalg.norm(emb, axis=1, keepdims=True)


VOCAB = ["apple", "banana", "cherry", "grape", "lemon", "lime"]


@pytest.fixture(scope="module")
def split():
    return {
        "corpus": {"d1": "apple banana", "d2": "cherry grape", "d3": "lemon lime"},
        "queries": {"q1": "apple", "q2": "cherry lemon lemon", "q3": "fruit", "q4": "lime lime grape"},
        "qrels": {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d1": 1}, "q4": {"d3": 1}},
    }


@pytest.fixture(scope="module")
def base():
    return Words(VOCAB)


@pytest.fixture(scope="module")
def tuned():
    # "learned" that fruit means apple (q3: rank 3 -> 1) and to ignore lemon (q2: rank 2 -> 1, since
    # "lemon lemon" no longer pulls it to d3), but forgot lime too (q4: rank 1 -> 2)
    return Words([w for w in VOCAB if w not in ("lemon", "lime")], synonyms={"fruit": "apple"})


# --------------------------------------------------------------------------------------------------
# rank_changes
# --------------------------------------------------------------------------------------------------

def test_rank_changes_before_and_after(base, tuned, split):
    table = explore.rank_changes(base, tuned, split, names=("base", "tuned"))
    assert list(table.columns) == ["qid", "query", "answer", "rank_base", "rank_tuned", "rr_change",
                                   "change"]
    table = table.set_index("qid")
    # q1: first both times; q2: d3 (lemon lemon) beat d2 before, d2 wins after
    assert table.loc["q1", ["rank_base", "rank_tuned"]].tolist() == [1, 1]
    assert table.loc["q2", ["rank_base", "rank_tuned"]].tolist() == [2, 1]
    assert table.loc["q2", "rr_change"] == pytest.approx(0.5)
    assert table.loc["q2", "change"] == "better" and table.loc["q1", "change"] == "same"
    assert table.loc["q3", ["rank_base", "rank_tuned"]].tolist() == [3, 1]  # base: a 3-way tie
    assert table.loc["q3", "rr_change"] == pytest.approx(2 / 3)
    assert table.loc["q4", ["rank_base", "rank_tuned"]].tolist() == [1, 2]
    assert table.loc["q4", "change"] == "worse" and table.loc["q4", "rr_change"] == pytest.approx(-0.5)
    assert table.loc["q2", "answer"] == "cherry grape"


def test_rank_changes_missing_rank_counts_as_zero(base, tuned, split):
    table = explore.rank_changes(base, tuned, split, depth=1).set_index("qid")
    assert pd.isna(table.loc["q2", "rank_base"]) and table.loc["q2", "rank_tuned"] == 1
    assert table.loc["q2", "rr_change"] == pytest.approx(1.0)
    assert table.loc["q2", "change"] == "better"
    assert table.attrs["depth"] == 1


def test_rank_changes_accepts_runs_and_embeddings(base, tuned, split):
    emb = (metrics.encode_split(base, split, show_progress_bar=False),
           metrics.encode_split(tuned, split, show_progress_bar=False))
    from_models = explore.rank_changes(base, tuned, split)
    with_emb = explore.rank_changes(base, tuned, split, embeddings=emb)
    runs = [metrics.search(None, split, k=3, embeddings=e) for e in emb]
    from_runs = explore.rank_changes(runs[0], runs[1], split)
    pd.testing.assert_frame_equal(from_models, with_emb)
    pd.testing.assert_frame_equal(from_models, from_runs)
    assert from_models.nlargest(1, "rr_change")["qid"].item() == "q3"
    assert from_models.nsmallest(1, "rr_change")["qid"].item() == "q4"


@pytest.mark.parametrize("kwargs, message", [
    (dict(names=("a", "a")), "two different labels"),
    (dict(names=("a",)), "two different labels"),
    (dict(embeddings="x"), "pair"),
    (dict(depth=0), "depth"),
])
def test_rank_changes_bad_input(base, tuned, split, kwargs, message):
    with pytest.raises(explore.ExploreError, match=message):
        explore.rank_changes(base, tuned, split, **kwargs)


# --------------------------------------------------------------------------------------------------
# side_by_side
# --------------------------------------------------------------------------------------------------

def test_side_by_side_for_a_qid(base, tuned, split):
    table = explore.side_by_side({"base": base, "tuned": tuned}, split, "q2", k=2)
    assert list(table.columns) == ["base", "base score", "tuned", "tuned score"]
    assert table.index.tolist() == [1, 2] and table.index.name == "rank"
    assert table["base"].tolist() == ["lemon lime", "✓ cherry grape"]
    assert table["tuned"].iloc[0] == "✓ cherry grape"
    assert table.attrs["qid"] == "q2" and table.attrs["query"] == "cherry lemon lemon"
    assert table.attrs["answer_rank"] == {"base": 2, "tuned": 1}


def test_side_by_side_answer_beyond_k(base, tuned, split):
    table = explore.side_by_side({"base": base, "tuned": tuned}, split, "q2", k=1)
    assert len(table) == 1  # the extra "answer" row of top_hits is not shown, only its rank
    assert table.attrs["answer_rank"] == {"base": 2, "tuned": 1}


def test_side_by_side_typed_text_with_embeddings(base, tuned, split):
    emb = {"base": metrics.encode_split(base, split, show_progress_bar=False)}
    table = explore.side_by_side({"base": base, "tuned": tuned}, split, "grape", k=3, embeddings=emb)
    assert table.attrs["qid"] is None and table.attrs["answer_rank"] == {"base": None, "tuned": None}
    assert table["base"].iloc[0] == "cherry grape"  # no ✓: a typed query has no known answer
    assert not any(str(t).startswith("✓") for t in table["base"])


@pytest.mark.parametrize("models, kwargs, message", [
    ({}, {}, "dict"),
    ("base", {}, "dict"),
    (None, dict(embeddings={"other": None}), "not one of the models"),
    (None, dict(k=0), "k must be"),
])
def test_side_by_side_bad_input(base, split, models, kwargs, message):
    with pytest.raises(explore.ExploreError, match=message):
        explore.side_by_side({"base": base} if models is None else models, split, "q1", **kwargs)


def test_side_by_side_empty_query(base, split):
    with pytest.raises(explore.ExploreError, match="empty"):
        explore.side_by_side({"base": base}, split, "   ")


# --------------------------------------------------------------------------------------------------
# compare_bars and paired_differences
# --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def per_query(base, tuned, split):
    return {name: metrics.evaluate_per_query(model, split, ks=(1, 10),
                                             show_progress_bar=False).per_query
            for name, model in (("base", base), ("tuned", tuned))}


def test_compare_bars_draws_one_group_per_metric(per_query):
    scores = explore.score_table(per_query, metric_names=("recall@1", "mrr@10"), n_resamples=200)
    fig = plots.compare_bars(scores, metric_names=("recall@1", "mrr@10"),
                             thresholds=metrics.THRESHOLDS)
    fig.canvas.draw()
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Recall@1", "MRR@10"]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:2] == ["base", "tuned"] and "target (seed tutorial)" in labels
    assert len(ax.patches) == 4  # 2 models x 2 metrics
    heights = sorted(round(p.get_height(), 6) for p in ax.patches)
    expected = sorted(round(v, 6) for v in scores[["recall@1", "mrr@10"]].to_numpy().ravel())
    assert heights == expected
    plt.close(fig)


def test_compare_bars_without_intervals_and_bad_input(per_query):
    scores = explore.score_table(per_query, metric_names="mrr@10", ci=False)
    fig = plots.compare_bars(scores, metric_names="mrr@10")
    plt.close(fig)
    with pytest.raises(plots.PlotError, match="no column"):
        plots.compare_bars(scores, metric_names="ndcg@10")
    with pytest.raises(plots.PlotError, match="non-empty"):
        plots.compare_bars(pd.DataFrame())


def test_paired_differences_marks_zero_and_colours(per_query):
    table = metrics.compare(per_query["base"], per_query["tuned"],
                            metric_names=["recall@1", "mrr@10"], n_resamples=200)
    fig = plots.paired_differences(table, title="tuned - base")
    fig.canvas.draw()  # drawing, not only building, must work
    ax = fig.axes[0]
    assert ax.get_title() == "tuned - base"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["MRR@10", "Recall@1"]  # first on top
    notes = [t.get_text() for t in ax.texts]
    assert any("p=" in n for n in notes) and len(notes) == 2
    low, high = ax.get_xlim()
    assert low < 0 < high or low <= table["ci_low"].min()
    plt.close(fig)
    with pytest.raises(plots.PlotError, match="metrics.compare"):
        plots.paired_differences(pd.DataFrame({"metric": ["x"]}))
