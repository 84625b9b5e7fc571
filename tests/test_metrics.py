"""Tests for helpers.metrics.

* ir_metrics equals pytrec_eval (trec_eval) to 1e-6 on 250 random runs with graded relevance, ties,
  several relevant documents per query and queries whose relevant documents were not retrieved.
* The small one-query functions give hand-computed values on a toy ranking.
* search_embeddings equals brute force on random data, whatever the chunking, ties included.
* evaluate agrees with sentence-transformers' InformationRetrievalEvaluator on a real model and a
  small split written here; the one differing definition (MAP@k) is checked with its own formula.
* compare: identical, clearly better and clearly worse systems, and mismatched queries.

Memory and speed of the search on 100,000 documents: tests/bench_search_memory.py (not collected).
"""
from __future__ import annotations

import math
import random
import warnings

import numpy as np
import pandas as pd
import pytest

from helpers import metrics
from helpers.metrics import MetricsError

KS = (1, 3, 5, 10)

# --------------------------------------------------------------------------------------------------
# pytrec_eval (trec_eval) agreement
# --------------------------------------------------------------------------------------------------


def random_case(seed, n_queries=8, n_docs=30):
    """A random run and qrels: graded relevance 0-3, many ties, some queries missing or unjudged."""
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(n_docs)]          # "d10" < "d9" as strings: ties test the order
    qrels, run = {}, {}
    for q in range(n_queries):
        qid = f"q{q}"
        judged = rng.sample(docs, rng.randint(1, 8))
        qrels[qid] = {doc: rng.choice([0, 1, 1, 2, 3]) for doc in judged}
        if rng.random() < 0.1:
            continue                                   # in the qrels, not in the run
        retrieved = rng.sample(docs, rng.randint(0, 15))
        if rng.random() < 0.5:                         # coarse scores: many exact ties
            run[qid] = {doc: rng.choice([0.1, 0.2, 0.3, 0.4, 0.5]) for doc in retrieved}
        else:
            run[qid] = {doc: rng.random() for doc in retrieved}
    run["only-in-run"] = {"d1": 1.0}                   # ignored: no qrels
    return run, qrels


def trec_top_k(scores, k):
    """The top k of {doc: score} in trec_eval's order (score, then doc_id, both descending)."""
    return dict(sorted(scores.items(), key=lambda item: (item[1], item[0]), reverse=True)[:k])


def test_ir_metrics_equal_pytrec_eval_on_random_runs():
    import pytrec_eval
    measures = {f"recall.{','.join(map(str, KS))}", f"P.{','.join(map(str, KS))}",
                f"ndcg_cut.{','.join(map(str, KS))}", f"map_cut.{','.join(map(str, KS))}",
                f"success.{','.join(map(str, KS))}"}
    names = {"recall": "recall_{}", "precision": "P_{}", "ndcg": "ndcg_cut_{}", "map": "map_cut_{}",
             "accuracy": "success_{}"}
    checked = ties = several = missed = 0
    for seed in range(250):
        run, qrels = random_case(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")            # some random queries have no relevant doc
            ours = metrics.ir_metrics_per_query(run, qrels, KS)
        theirs = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
        answerable = [q for q, judged in qrels.items() if any(r > 0 for r in judged.values())]
        assert sorted(ours.index) == sorted(answerable)
        for qid in answerable:
            relevant = {d for d, r in qrels[qid].items() if r > 0}
            scores = run.get(qid, {})
            several += len(relevant) > 1
            ties += len(set(scores.values())) < len(scores)
            missed += not relevant & set(trec_top_k(scores, 10))
            for k in KS:
                for metric, name in names.items():
                    expected = theirs[qid][name.format(k)] if qid in theirs else 0.0
                    assert ours.loc[qid, f"{metric}@{k}"] == pytest.approx(expected, abs=1e-6), \
                        (seed, qid, metric, k)
                # MRR@k: trec_eval's recip_rank on the run cut to its top k
                cut = {qid: trec_top_k(scores, k)} if scores else {}
                rr = pytrec_eval.RelevanceEvaluator({qid: qrels[qid]}, {"recip_rank"}).evaluate(cut)
                expected = rr[qid]["recip_rank"] if qid in rr else 0.0
                assert ours.loc[qid, f"mrr@{k}"] == pytest.approx(expected, abs=1e-6), (seed, qid, k)
            checked += 1
        # The means count a query missing from the run as 0 (trec_eval -c).
        if answerable:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                means = metrics.ir_metrics(run, qrels, KS)
            total = sum(theirs.get(q, {}).get("recall_10", 0.0) for q in answerable)
            assert means["recall@10"] == pytest.approx(total / len(answerable), abs=1e-6)
    # The random cases really cover what they should.
    assert checked > 1500 and ties > 300 and several > 1000 and missed > 100


def test_tie_order_is_trec_evals():
    import pytrec_eval
    for ids in (["a", "b"], ["b", "a"], ["10", "9"], ["x1", "x10", "x2"]):
        run = {"q": {doc: 1.0 for doc in ids}}
        first = metrics.rank_documents(run["q"])[0]
        result = pytrec_eval.RelevanceEvaluator({"q": {first: 1}}, {"recip_rank"}).evaluate(run)
        assert result["q"]["recip_rank"] == 1.0
    assert metrics.rank_documents({"a": 0.5, "b": 0.9, "c": 0.5}) == ["b", "c", "a"]
    assert metrics.rank_documents({"10": 1.0, "9": 1.0}) == ["9", "10"]


def test_which_queries_count():
    qrels = {"found": {"d1": 1}, "not-run": {"d2": 1}, "nothing-relevant": {"d3": 0}}
    run = {"found": {"d1": 0.9, "d2": 0.1}, "extra": {"d1": 1.0}}
    with pytest.warns(UserWarning, match="no relevant"):
        table = metrics.ir_metrics_per_query(run, qrels, ks=(1,))
    assert list(table.index) == ["found", "not-run"]
    assert table.loc["not-run"].eq(0).all()
    with pytest.warns(UserWarning):
        means = metrics.ir_metrics(run, qrels, ks=(1,))
    assert means["recall@1"] == 0.5 and list(means)[:2] == ["recall@1", "precision@1"]


def test_ir_metrics_bad_input():
    with pytest.raises(MetricsError, match="ks"):
        metrics.ir_metrics({}, {"q": {"d": 1}}, ks=(0,))
    with pytest.raises(MetricsError, match="qrels"):
        metrics.ir_metrics({}, {})
    with pytest.raises(MetricsError, match="doc_id: 1"):
        metrics.ir_metrics({}, {"q": {"d1", "d2"}})
    with pytest.raises(MetricsError, match="No query"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            metrics.ir_metrics({}, {"q": {"d": 0}})

# --------------------------------------------------------------------------------------------------
# The one-query functions on a toy ranking (hand-computed)
# --------------------------------------------------------------------------------------------------


RANKED = ["d4", "d1", "d7", "d2", "d9"]
RELEVANT = {"d1", "d2", "d5"}                          # d5 is never retrieved
GRADES = {"d1": 3, "d2": 1, "d5": 2, "d7": 0}


def test_small_functions_by_hand():
    assert metrics.recall_at_k(RANKED, RELEVANT, 1) == 0
    assert metrics.recall_at_k(RANKED, RELEVANT, 3) == pytest.approx(1 / 3)
    assert metrics.recall_at_k(RANKED, RELEVANT, 5) == pytest.approx(2 / 3)
    assert metrics.precision_at_k(RANKED, RELEVANT, 3) == pytest.approx(1 / 3)
    assert metrics.precision_at_k(RANKED, RELEVANT, 5) == pytest.approx(2 / 5)
    assert metrics.precision_at_k(RANKED, RELEVANT, 10) == pytest.approx(2 / 10)  # divided by k
    assert metrics.accuracy_at_k(RANKED, RELEVANT, 1) == 0.0
    assert metrics.accuracy_at_k(RANKED, RELEVANT, 2) == 1.0
    assert metrics.reciprocal_rank(RANKED, RELEVANT) == 0.5
    assert metrics.reciprocal_rank(RANKED, RELEVANT, k=1) == 0.0
    assert metrics.average_precision_at_k(RANKED, RELEVANT, 3) == pytest.approx((1 / 2) / 3)
    assert metrics.average_precision_at_k(RANKED, RELEVANT, 5) == pytest.approx((1 / 2 + 2 / 4) / 3)
    # NDCG@5: d1 (grade 3) at rank 2, d2 (grade 1) at rank 4; ideal order 3, 2, 1.
    dcg = 3 / math.log2(3) + 1 / math.log2(5)
    ideal = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert metrics.ndcg_at_k(RANKED, GRADES, 5) == pytest.approx(dcg / ideal)
    assert metrics.ndcg_at_k(["d1", "d5", "d2"], GRADES, 3) == pytest.approx(1.0)
    assert metrics.ndcg_at_k(RANKED, RELEVANT, 1) == 0.0          # a set means grade 1 each
    # a {doc: relevance} dict works wherever a set of relevant ids does
    assert metrics.recall_at_k(RANKED, GRADES, 5) == pytest.approx(2 / 3)


def test_docstring_examples():
    import doctest

    from helpers.metrics import ranking, retrieval, stats
    attempted = failed = 0
    for module in (metrics, ranking, retrieval, stats):
        result = doctest.testmod(module)
        attempted, failed = attempted + result.attempted, failed + result.failed
    assert attempted >= 7 and failed == 0


def test_small_functions_refuse_bad_input():
    with pytest.raises(MetricsError, match="k must be"):
        metrics.recall_at_k(RANKED, RELEVANT, 0)
    with pytest.raises(MetricsError, match="twice"):
        metrics.precision_at_k(["d1", "d1"], RELEVANT, 2)
    with pytest.raises(MetricsError, match="no relevant"):
        metrics.ndcg_at_k(RANKED, {"d1": 0}, 3)

# --------------------------------------------------------------------------------------------------
# Exact search
# --------------------------------------------------------------------------------------------------


def brute_force(q, d, k, doc_ids):
    """Every score, then trec_eval's order, then the top k: the obvious, slow way."""
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    d = d / np.linalg.norm(d, axis=1, keepdims=True)
    scores = q.astype(np.float64) @ d.astype(np.float64).T
    id_rank = np.argsort(np.argsort(np.array(doc_ids)))       # position of each id in sorted order
    # np.lexsort sorts by the last key first: score descending, then doc_id descending
    return [[doc_ids[i] for i in np.lexsort((-id_rank, -row))[:k]] for row in scores], scores


def test_search_embeddings_equals_brute_force():
    rng = np.random.default_rng(0)
    q = rng.standard_normal((40, 32)).astype(np.float32)
    d = rng.standard_normal((1000, 32)).astype(np.float32)
    doc_ids = [f"doc-{i}" for i in rng.permutation(1000)]
    expected, scores = brute_force(q, d, 10, doc_ids)
    for chunk_size, query_chunk_size in ((1000, 1024), (7, 40), (128, 16), (999, 13)):
        run = metrics.search_embeddings(q, d, k=10, doc_ids=doc_ids, chunk_size=chunk_size,
                                        query_chunk_size=query_chunk_size)
        assert list(run) == [str(i) for i in range(40)]
        column = {doc: j for j, doc in enumerate(doc_ids)}
        for i, (qid, hits) in enumerate(run.items()):
            assert list(hits) == expected[i]
            assert np.allclose(list(hits.values()), scores[i, [column[doc] for doc in hits]], atol=1e-5)


def test_search_embeddings_dims_and_small_corpus():
    rng = np.random.default_rng(1)
    q = rng.standard_normal((5, 16)).astype(np.float32)
    d = rng.standard_normal((12, 16)).astype(np.float32)
    cut = metrics.search_embeddings(q, d, k=4, dims=6, chunk_size=5)
    again = metrics.search_embeddings(metrics.truncate(q, 6), metrics.truncate(d, 6), k=4)
    assert {q: list(h) for q, h in cut.items()} == {q: list(h) for q, h in again.items()}
    assert np.allclose(np.linalg.norm(metrics.truncate(d, 6), axis=1), 1.0)
    everything = metrics.search_embeddings(q, d, k=50)                 # k above the corpus size
    assert all(len(hits) == 12 for hits in everything.values())
    with pytest.raises(MetricsError, match="dims"):
        metrics.search_embeddings(q, d, dims=17)
    with pytest.raises(MetricsError, match="dimensions"):
        metrics.search_embeddings(q[:, :8], d)
    with pytest.raises(MetricsError, match="ids"):
        metrics.search_embeddings(q, d, doc_ids=["a"] * 12)


def test_search_keeps_trec_evals_choice_among_ties():
    """Many duplicate documents tie exactly; every chunking keeps the ones trec_eval ranks first."""
    rng = np.random.default_rng(2)
    q = rng.integers(0, 3, size=(30, 4)).astype(np.float32)
    d = rng.integers(0, 3, size=(200, 4)).astype(np.float32)        # integer dot products: exact ties
    doc_ids = [f"d{i}" for i in range(200)]
    full = q.astype(np.int64) @ d.astype(np.int64).T
    expected = [metrics.rank_documents({doc: float(s) for doc, s in zip(doc_ids, row)})[:10]
                for row in full]
    for chunk_size in (200, 64, 7, 1):
        run = metrics.search_embeddings(q, d, k=10, doc_ids=doc_ids, normalize=False,
                                        chunk_size=chunk_size, query_chunk_size=8)
        assert [list(hits) for hits in run.values()] == expected, chunk_size


def test_search_on_toy_split_without_a_model():
    class FakeModel:
        """Encodes a text as counts of a few letters: enough to rank, no download."""
        def encode(self, texts, normalize_embeddings=False, **_):
            emb = np.array([[t.count(c) + 0.01 for c in "abcdef"] for t in texts], dtype=np.float32)
            return emb / np.linalg.norm(emb, axis=1, keepdims=True) if normalize_embeddings else emb

    split = {"queries": {"q1": "aaa", "q2": "fff"},
             "corpus": {"x": "aaab", "y": "ffff", "z": "cccc"},
             "qrels": {"q1": {"x": 1}, "q2": {"y": 1}}}
    run = metrics.search(FakeModel(), split, k=2, show_progress_bar=False)
    assert list(run["q1"])[0] == "x" and list(run["q2"])[0] == "y"
    table = metrics.evaluate(FakeModel(), split, ks=(1, 2), show_progress_bar=False)
    assert list(table.columns) == ["metric", "k", "value"] and len(table) == 12
    assert table.set_index(["metric", "k"]).loc[("recall", 1), "value"] == 1.0

    class Split:                                        # an object with attributes works too
        queries, corpus, qrels = split["queries"], split["corpus"], split["qrels"]
    emb = metrics.encode_split(FakeModel(), Split(), show_progress_bar=False)
    qids, q_emb, doc_ids, d_emb = emb
    assert qids == ["q1", "q2"] and d_emb.shape == (3, 6)
    table2, per_query = metrics.evaluate_per_query(None, Split(), ks=(1, 2), embeddings=emb)
    assert table2.equals(table) and list(per_query.index) == ["q1", "q2"]
    from_run = metrics.evaluate(None, split, ks=(1, 2), run=run)
    assert from_run.equals(table)
    with pytest.raises(MetricsError, match="corpus"):
        metrics.evaluate(FakeModel(), {"queries": {"q": "a"}, "qrels": {"q": {"x": 1}}})
    with pytest.warns(UserWarning, match="not in the corpus"):
        metrics.evaluate(FakeModel(), {**split, "qrels": {"q1": {"x": 1, "gone": 1}}},
                         ks=(1,), show_progress_bar=False)

# --------------------------------------------------------------------------------------------------
# Tables: wide and against_thresholds
# --------------------------------------------------------------------------------------------------


def tidy(values):
    return pd.DataFrame([{"metric": m, "k": k, "value": v} for (m, k), v in values.items()])


def test_wide_and_thresholds():
    table = tidy({("recall", 10): 0.95, ("mrr", 10): 0.65, ("ndcg", 10): 0.80, ("map", 10): 0.60,
                  ("recall", 1): 0.5})
    row = metrics.wide(table, name="base")
    assert list(row.index) == ["base"] and row.loc["base", "recall@10"] == 0.95
    assert list(row.columns) == ["recall@10", "mrr@10", "ndcg@10", "map@10", "recall@1"]
    for given in (table, row, row.iloc[0], row.iloc[0].to_dict()):
        check = metrics.against_thresholds(given)
        assert list(check.columns) == ["metric", "value", "threshold", "pass"]
        assert list(check["metric"]) == list(metrics.THRESHOLDS)
        # recall passes; mrr is below; map at exactly 0.60 is not "above 0.60"
        assert list(check["pass"]) == [True, False, True, False]
    with pytest.raises(MetricsError, match="ks including 10"):
        metrics.against_thresholds({"recall@5": 1.0})
    assert metrics.THRESHOLDS == {"recall@10": 0.90, "mrr@10": 0.70, "ndcg@10": 0.75, "map@10": 0.60}

# --------------------------------------------------------------------------------------------------
# compare: paired bootstrap and randomization test
# --------------------------------------------------------------------------------------------------


def per_query(values, name="recall@10"):
    return pd.DataFrame({name: values}, index=pd.Index([f"q{i}" for i in range(len(values))],
                                                       name="qid"))


def test_compare_identical_better_worse():
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 1, 60)
    a = per_query(base)
    same = metrics.compare(a, a)
    assert same.loc[0, "diff"] == 0 and same.loc[0, "ci_low"] <= 0 <= same.loc[0, "ci_high"]
    assert same.loc[0, "verdict"] == "no measurable difference" and same.loc[0, "p_value"] == 1.0

    better = per_query(np.clip(base + 0.2 + rng.normal(0, 0.05, 60), 0, 1.2))
    up = metrics.compare(a, better)
    assert up.loc[0, "ci_low"] > 0 and up.loc[0, "p_value"] < 0.01
    assert up.loc[0, "verdict"] == "better"
    down = metrics.compare(better, a)
    assert down.loc[0, "ci_high"] < 0 and down.loc[0, "verdict"] == "worse"
    assert down.loc[0, "diff"] == pytest.approx(-up.loc[0, "diff"])

    noise = per_query(base + rng.normal(0, 0.3, 60))          # no real difference
    level = metrics.compare(a, noise)
    assert level.loc[0, "ci_low"] < 0 < level.loc[0, "ci_high"] and level.loc[0, "p_value"] > 0.05
    assert level.loc[0, "verdict"] == "no measurable difference"
    assert metrics.compare(a, noise).equals(level)             # seeded: the same every time
    assert list(level.columns) == ["metric", "mean_a", "mean_b", "diff", "ci_low", "ci_high",
                                   "p_value", "verdict"]


def test_compare_aligns_on_qids_and_refuses_mismatches():
    a = per_query([0.0, 0.5, 1.0])
    shuffled = a.iloc[[2, 0, 1]]
    assert metrics.compare(a, shuffled).loc[0, "diff"] == 0
    with pytest.raises(MetricsError, match="same queries"):
        metrics.compare(a, per_query([0.0, 0.5]))
    with pytest.raises(MetricsError, match="not columns"):
        metrics.compare(a, a, metric_names=["ndcg@10"])
    with pytest.raises(MetricsError, match="per-query DataFrame"):
        metrics.compare({"q0": 1.0}, a)


def test_interval_widths():
    rng = np.random.default_rng(3)
    values = rng.normal(0.1, 1.0, 400)
    # the bootstrap interval is close to the normal one, 1.96 * sd / sqrt(n)
    assert metrics.ci_halfwidth(values) == pytest.approx(1.96 / 20, rel=0.15)
    assert metrics.planned_halfwidth(10, paired=False) == pytest.approx(0.31, abs=0.01)
    assert metrics.planned_halfwidth(100, paired=False) == pytest.approx(0.098, abs=0.002)
    assert metrics.planned_halfwidth(100) == pytest.approx(0.196, abs=0.002)
    low, high = metrics.bootstrap_ci(values, n_resamples=1000, seed=1)
    assert low < values.mean() < high

# --------------------------------------------------------------------------------------------------
# Agreement with sentence-transformers' InformationRetrievalEvaluator on a real model
# --------------------------------------------------------------------------------------------------

# Thirty short documents and a query for each; a few queries have a second relevant document, so
# that MAP@1 and MAP@3 show the evaluator's different normalisation.
PAIRS = [
    ("I can't sign in to my account, what now?", "To reset your password, click 'Forgot password' on the sign-in page."),
    ("Can I change the email on my account?", "You can update the email address of your account under Settings, Profile."),
    ("When will my parcel arrive?", "Standard shipping arrives in three to five business days."),
    ("Do you ship abroad?", "We deliver to more than forty countries; international orders take up to two weeks."),
    ("How can I return an item?", "Returns are free within 30 days: print the label from your order page."),
    ("How long until I get my money back?", "Refunds reach your card five to ten days after we receive the return."),
    ("Is my payment information safe?", "Card details are encrypted and never stored on our servers."),
    ("Which payment methods are accepted?", "We accept Visa, Mastercard, PayPal and bank transfer."),
    ("I want to stop paying every month", "Cancel your plan at any time from the Billing tab; it stays active until the period ends."),
    ("Can I pause my membership?", "Memberships can be paused for up to three months from the Billing tab."),
    ("What are the symptoms of asthma?", "Asthma causes wheezing, shortness of breath and a tight chest."),
    ("Medicine for high blood sugar", "Type 2 diabetes is managed with diet, exercise and metformin."),
    ("Why does my head hurt after a bad night?", "Migraines can be triggered by stress, poor sleep, bright light or some foods."),
    ("My wrist is swollen after a fall", "A fractured wrist is swollen, painful and may look bent."),
    ("Why do children get ear infections?", "Otitis media, a middle ear infection, is common in young children."),
    ("What causes gout?", "Gout is caused by uric acid crystals building up in a joint, often the big toe."),
    ("Cheaper way to heat my home than gas?", "A heat pump moves heat from the outside air into the house using a refrigerant cycle."),
    ("How often should I service my boiler?", "Gas boilers should be serviced once a year by a registered engineer."),
    ("Best time to plant tomatoes", "Plant tomato seedlings outdoors after the last frost, when nights stay warm."),
    ("How do I get rid of aphids?", "Spray aphids off with water or use insecticidal soap on the leaves."),
    ("What is the capital of Australia?", "Canberra is the capital city of Australia."),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci painted the Mona Lisa in the early sixteenth century."),
    ("Natural satellites of the red planet", "Mars has two small moons, Phobos and Deimos."),
    ("What is photosynthesis?", "Plants turn light, water and carbon dioxide into sugar and oxygen by photosynthesis."),
    ("How do I make sourdough starter?", "Mix flour and water, then feed it daily for a week until it bubbles."),
    ("How long should I boil an egg?", "Boil an egg for seven minutes for a firm white and a soft yolk."),
    ("How to improve my running pace", "Interval training and tempo runs are the quickest way to run faster."),
    ("Is a short nap enough rest?", "Most adults need seven to nine hours of sleep a night."),
    ("How do I learn a new language quickly?", "Daily practice with spaced repetition and conversation speeds up language learning."),
    ("Will the bank lend me money?", "A credit score above 700 is generally considered good by lenders."),
]
DISTRACTORS = [  # documents no query asks for, close to some that are asked for
    "To change your username, open Settings and pick a new one.",
    "Your password must have at least twelve characters.",
    "Express shipping arrives the next business day if ordered before noon.",
    "Exchanges for a different size are free within 30 days.",
    "Gift cards cannot be refunded or exchanged for cash.",
    "Annual plans are billed once a year and renew automatically.",
    "Hay fever causes sneezing, itchy eyes and a runny nose.",
    "Type 1 diabetes needs insulin injections from diagnosis.",
    "A sprained ankle is swollen and painful but the bone is not broken.",
    "Tension headaches feel like a tight band around the head.",
    "Solar panels turn sunlight into electricity for the house.",
    "Water heaters should be flushed every year to remove sediment.",
    "Basil grows best in warm, sunny spots and hates frost.",
    "Sydney is the largest city in Australia.",
    "Jupiter has dozens of moons, the largest being Ganymede.",
    "Yeast makes bread rise by producing carbon dioxide.",
    "Poached eggs cook in three minutes in simmering water.",
    "Napping for twenty minutes can restore alertness.",
    "A debit card takes money straight from your bank account.",
    "Lenders look at your income and debts before approving a loan.",
]
EXTRA_RELEVANT = {"q4": ["d5"], "q8": ["d9"], "q10": ["d11"], "q16": ["d17"]}  # second relevant docs


@pytest.fixture(scope="module")
def model():
    from helpers import models
    return models.load("all-MiniLM-L6-v2", verbose=False)


@pytest.fixture(scope="module")
def split():
    queries = {f"q{i}": query for i, (query, _) in enumerate(PAIRS)}
    corpus = {f"d{i}": doc for i, (_, doc) in enumerate(PAIRS)}
    corpus.update({f"x{i}": doc for i, doc in enumerate(DISTRACTORS)})
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(len(PAIRS))}
    for qid, docs in EXTRA_RELEVANT.items():
        qrels[qid].update({doc: 1 for doc in docs})
    return {"queries": queries, "corpus": corpus, "qrels": qrels}


def st_evaluate(model, split, truncate_dim=None):
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    evaluator = InformationRetrievalEvaluator(
        queries=split["queries"], corpus=split["corpus"],
        relevant_docs={q: {d for d, r in judged.items() if r > 0} for q, judged in split["qrels"].items()},
        mrr_at_k=list(KS), ndcg_at_k=list(KS), accuracy_at_k=list(KS),
        precision_recall_at_k=list(KS), map_at_k=list(KS), write_csv=False,
        truncate_dim=truncate_dim)
    results = evaluator(model)
    return {key.split("_", 1)[1]: value for key, value in results.items()}   # "cosine_ndcg@10"


def st_style_map(run, qrels, k):
    """The evaluator's MAP@k: like trec_eval's, but divided by min(k, number of relevant docs)."""
    values = []
    for qid, judged in qrels.items():
        relevant = {d for d, r in judged.items() if r > 0}
        found, total = 0, 0.0
        for rank, doc in enumerate(metrics.rank_documents(run[qid])[:k], start=1):
            if doc in relevant:
                found += 1
                total += found / rank
        values.append(total / min(k, len(relevant)))
    return float(np.mean(values))


@pytest.mark.parametrize("dims", [None, 128])
def test_evaluate_agrees_with_sentence_transformers(model, split, dims):
    theirs = st_evaluate(model, split, truncate_dim=dims)
    emb = metrics.encode_split(model, split, show_progress_bar=False)
    run = metrics.search(None, split, k=10, dims=dims, embeddings=emb)
    table = metrics.evaluate(None, split, ks=KS, run=run)
    ours = metrics.wide(table).iloc[0]
    assert 0.3 < ours["mrr@10"] < 1.0                   # a real, imperfect ranking
    for metric in ("accuracy", "precision", "recall", "mrr", "ndcg"):
        for k in KS:       # same definitions (all relevances are 1, so NDCG's gains agree too)
            assert ours[f"{metric}@{k}"] == pytest.approx(theirs[f"{metric}@{k}"], abs=1e-6), (metric, k)
    for k in KS:           # MAP@k: the evaluator divides by min(k, relevant), trec_eval by relevant
        assert theirs[f"map@{k}"] == pytest.approx(st_style_map(run, split["qrels"], k), abs=1e-6)
    assert ours["map@10"] == pytest.approx(theirs["map@10"], abs=1e-6)   # no query has > 10 relevant
    assert ours["map@1"] < theirs["map@1"]              # q4, q8, ... have 2 relevant docs: 1/2 vs 1/1
    if dims is None:       # evaluate() straight from the model gives the same table
        direct = metrics.evaluate(model, split, ks=KS, show_progress_bar=False)
        assert np.allclose(direct["value"], table["value"], atol=1e-6)


# --- the one significance rule, the one formatter, the paired worst case -------------------------
def test_one_rule_needs_interval_and_test_to_agree():
    assert metrics.verdict({"ci_low": 0.01, "ci_high": 0.2, "p_value": 0.01}) == "better"
    assert metrics.verdict({"ci_low": -0.2, "ci_high": -0.01, "p_value": 0.01}) == "worse"
    # An interval that excludes zero but a test that does not confirm it (04's p = 0.057 case).
    assert metrics.verdict({"ci_low": 0.001, "ci_high": 0.2, "p_value": 0.057}) == "no measurable difference"
    assert metrics.verdict({"ci_low": -0.1, "ci_high": 0.2, "p_value": 0.001}) == "no measurable difference"
    assert metrics.verdict({"ci_low": 0.01, "ci_high": 0.2, "p_value": float("nan")}) == "better"
    assert metrics.verdict({"ci_low": 0.01, "ci_high": 0.2, "p_value": 0.03}, alpha=0.01) == \
        "no measurable difference"
    assert set(metrics.VERDICTS) == {"better", "no measurable difference", "worse"}
    assert metrics.is_significant({"ci_low": -0.3, "ci_high": -0.1, "p_value": 0.001})


def test_compare_verdicts_follow_the_one_rule():
    import pandas as pd
    rng = np.random.default_rng(3)
    a = pd.DataFrame({"m": rng.integers(0, 2, 40).astype(float)}, index=[f"q{i}" for i in range(40)])
    for shift in (0.0, 0.1, 0.3, -0.3):
        b = (a + shift + rng.normal(0, 0.3, (40, 1))).clip(0, 1)
        row = metrics.compare(a, b, n_resamples=500).iloc[0]
        assert row["verdict"] == metrics.verdict(row)


def test_format_diff():
    assert metrics.format_diff(0.0396, 0.0281, 0.0514) == "+0.040 (+0.028 to +0.051)"
    assert metrics.format_diff(-0.002, -0.015, 0.011) == "-0.002 (-0.015 to +0.011)"
    assert metrics.format_diff(0.612, 0.594, 0.63, signed=False) == "0.612 (0.594 to 0.630)"
    assert metrics.format_diff(0.5, 0.25, 0.75, digits=2) == "+0.50 (+0.25 to +0.75)"


def test_planned_halfwidth_worst_case_is_the_brute_force_bound():
    """For n queries, every paired difference of two 0/1 scores is -1, 0 or +1: try every mix of
    the three and take the largest spread; the planned "±" must use exactly that worst case."""
    from statistics import NormalDist
    z = NormalDist().inv_cdf(0.975)
    for n in (2, 10, 30, 31):
        worst = 0.0
        for minus in range(n + 1):
            for plus in range(n + 1 - minus):
                values = np.array([-1.0] * minus + [1.0] * plus + [0.0] * (n - minus - plus))
                worst = max(worst, values.std())
        assert metrics.planned_halfwidth(n) >= z * worst / np.sqrt(n) - 1e-12
        assert metrics.planned_halfwidth(n) == pytest.approx(z * 1.0 / np.sqrt(n))
        # one model's 0/1 score: spread at most 0.5
        single = max(np.array([1.0] * k + [0.0] * (n - k)).std() for k in range(n + 1))
        assert metrics.planned_halfwidth(n, paired=False) >= z * single / np.sqrt(n) - 1e-12
    assert metrics.planned_halfwidth(30) == pytest.approx(0.358, abs=0.001)
    assert metrics.planned_halfwidth(30, paired=False) == pytest.approx(0.179, abs=0.001)
