"""helpers.synth.measure (08_make_pairs): made pairs against human ones, side by side; the ICD-10-CM
headings the lesson makes pairs from; and plots.paired_differences drawing one model per line.

The comparison and its words run on per-query scores made up here (known verdicts); ``measure``
runs for real on a few pairs with the bundled all-MiniLM-L6-v2 and a private model cache.
"""
import matplotlib
import numpy as np
import pandas as pd
import pytest

from helpers import data, plots, synth
from helpers.data import DataError

matplotlib.use("Agg")


def per_query(values, name="ndcg@10"):
    return pd.DataFrame({name: values, "recall@10": np.ones(len(values))},
                        index=[f"q{i}" for i in range(len(values))])


@pytest.fixture()
def measured():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.2, 0.6, 60)
    noise = rng.normal(0, 0.01, 60)
    scores = {synth.BASE: per_query(base),
              "human pairs": per_query(base + 0.2 + noise),
              "made good": per_query(base + 0.2 - noise),    # as good as the human pairs
              "made small": per_query(base + 0.1 + noise),   # better than base, worse than human
              "made bad": per_query(base - 0.1 + noise),     # worse than base
              "made noise": per_query(base + rng.normal(0, 0.05, 60)),  # nothing measurable
              "generated": None}
    pairs = {synth.BASE: None, "human pairs": 400, "made good": 100, "made small": 90,
             "made bad": 80, "made noise": 70, "generated": None}
    return synth.Measured(scores, pairs, dict.fromkeys(scores), {"generated": synth.NOT_RUN})


def test_compare_all_uses_the_one_rule_against_each_reference(measured):
    table = synth.compare_all(measured, "ndcg@10", against=(synth.BASE, "human pairs"),
                              n_resamples=500, seed=0)
    verdict = {(r.model, r.against): r.verdict for r in table.itertuples()}
    assert verdict[("human pairs", synth.BASE)] == "better"
    assert verdict[("made good", "human pairs")] == "no measurable difference"
    assert verdict[("made small", synth.BASE)] == "better"
    assert verdict[("made small", "human pairs")] == "worse"
    assert verdict[("made bad", synth.BASE)] == "worse"
    assert verdict[("made noise", synth.BASE)] == "no measurable difference"
    assert "generated" not in set(table["model"])  # not run: never a number
    assert not ((table["model"] == table["against"]).any())
    assert set(table["metric"]) == {"ndcg@10"}


def test_side_by_side_marks_rows_not_run(measured):
    table = synth.compare_all(measured, "ndcg@10", against=(synth.BASE, "human pairs"),
                              n_resamples=500)
    shown = synth.side_by_side(measured, table)
    assert list(shown.index) == list(measured.per_query)
    assert (shown.loc["generated"] == synth.NOT_RUN).all()
    assert shown.loc["human pairs", "pairs"] == "400"
    assert shown.loc[synth.BASE, "vs base model"] == ""
    assert shown.loc["made bad", "verdict vs base model"] == "worse"
    assert shown.loc["made bad", "vs base model"].startswith("-0.")  # format_diff: "-0.099 (...)"
    assert " to " in shown.loc["made bad", "vs base model"]
    assert shown.loc["made bad", "recall@10"] == 1.0
    assert list(shown.columns) == ["pairs", "ndcg@10", "recall@10", "vs base model",
                                   "verdict vs base model", "vs human pairs",
                                   "verdict vs human pairs"]


def test_takeaways_say_what_the_table_says(measured):
    table = synth.compare_all(measured, "ndcg@10", against=(synth.BASE, "human pairs"),
                              n_resamples=500)
    lines = synth.takeaways(measured, table, "human pairs")
    assert lines[0].startswith("human pairs (400 pairs), ndcg@10: better than the base model (+0.2")
    assert "generated: not run here." in lines
    assert any(line.startswith("made small (90 pairs)") and "worse than the human pairs" in line
               for line in lines)
    assert lines[-4:] == [
        "Better than the base model and no worse than the human pairs: made good.",
        "Better than the base model, but worse than the human pairs: made small.",
        "No measurable difference from the base model: made noise.",
        "Worse than the base model (these pairs hurt): made bad."]


def test_combine_and_as_dataset():
    made = synth.title_pairs([("When will I get my refund?", "Refunds are issued in 3 days.")])
    human = data.pairs([("refund time", "Refunds are issued in 3 days."),
                        ("reset password", "Open Settings.")])
    both = synth.combine(human, made)
    assert both.column_names == ["anchor", "positive"] and len(both) == 3
    assert both[2] == {"anchor": "When will I get my refund?",
                       "positive": "Refunds are issued in 3 days."}
    assert synth.combine(human, None) is None and synth.as_dataset(None) is None
    with pytest.raises(DataError, match="a Made, a Dataset"):
        synth.as_dataset([("a", "b")])


@pytest.fixture()
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBOOK_CACHE", str(tmp_path / "cache"))


def test_measure_trains_each_set_and_leaves_the_missing_ones_out(private_cache, capsys):
    from helpers import models
    support = data.load("support", seed=42, profile="smoke")
    test = support.test.subset(12, 40, seed=0)
    base = models.load("all-MiniLM-L6-v2", device="cpu", verbose=False)
    sets = {"human pairs": support.train.select(range(16)), "generated": None,
            "empty": synth.title_pairs([("Same", "Same words here.")])}
    result = synth.measure(base, sets, test, profile="smoke", seed=0)
    assert list(result.per_query) == [synth.BASE, "human pairs", "generated", "empty"]
    assert result.per_query["generated"] is None and result.notes["generated"] == synth.NOT_RUN
    assert result.notes["empty"] == "no pairs left to train on"
    assert result.pairs["human pairs"] == 16
    assert len(result.per_query["human pairs"]) == len(test.queries)
    out = capsys.readouterr().out
    assert "human pairs: 16 pairs · 4 steps · trained in" in out
    assert "generated: not run here" in out
    again = synth.measure(base, {"human pairs": support.train.select(range(16))}, test,
                          profile="smoke", seed=0)
    assert again.runs["human pairs"].from_cache
    pd.testing.assert_frame_equal(again.per_query["human pairs"], result.per_query["human pairs"])
    with pytest.raises(DataError, match="base model"):
        synth.measure(base, {synth.BASE: support.train}, test, profile="smoke")


def test_icd10cm_headings_are_the_parents_titles():
    assert data.icd10cm_headings(["A00.0", "E11.9", "A00"]) == {
        "A00.0": "Cholera", "E11.9": "Type 2 diabetes mellitus",
        "A00": "Intestinal infectious diseases (A00-A09)"}
    with pytest.raises(DataError, match="not an ICD-10-CM code"):
        data.icd10cm_headings(["Z99.999X"])


def test_paired_differences_draws_one_model_per_line_coloured_by_the_one_rule():
    table = pd.DataFrame([
        {"model": "human pairs", "diff": 0.05, "ci_low": 0.02, "ci_high": 0.08, "p_value": 0.001},
        {"model": "made", "diff": 0.03, "ci_low": 0.001, "ci_high": 0.06, "p_value": 0.08}])
    fig = plots.paired_differences(table, by="model", xlabel="change in NDCG@10")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Made", "Human pairs"]
    assert ax.get_xlabel() == "change in NDCG@10"
    colours = [line.get_color() for line in ax.lines if line.get_marker() == "o"]
    # the made line's interval misses zero but the randomization test does not agree: grey
    assert colours == ["0.5", "C2"]
    with pytest.raises(plots.PlotError, match="columns model"):
        plots.paired_differences(table.drop(columns="model"), by="model")


def test_the_lesson_measures_generated_pairs_where_a_generator_runs(tmp_path, monkeypatch):
    """Offline (as in CI) notebook 08's generator rows say "not run here"; where a generator can be
    loaded they are made, filtered and measured. A tiny random model (tests/test_synth.py) stands in
    for the hub model, passed as the GENERATOR parameter, in the smoke profile."""
    import json

    from test_synth import build_tiny_model

    from helpers import paths
    from tools import pipeline

    folder = build_tiny_model(tmp_path / "tiny-generator", chat_template=True)
    monkeypatch.setenv("WORKBOOK_CACHE", str(tmp_path / "cache"))
    out, stored = tmp_path / "08_make_pairs.ipynb", tmp_path / "results.json"
    pipeline.execute(paths.NOTEBOOKS / "08_make_pairs.ipynb", out, profile="smoke", results=stored,
                     timeout=600, parameters={"GENERATOR": str(folder)})
    cells = json.loads(out.read_text(encoding="utf-8"))["cells"]
    shown = json.dumps([c.get("outputs", []) for c in cells if c["cell_type"] == "code"])
    assert "The generator did not run here" not in shown
    assert "written now on cpu" in shown  # generate_queries' line: it wrote the queries
    numbers = json.loads(stored.read_text(encoding="utf-8"))["08_make_pairs"]["numbers"]
    assert numbers["generator"] == str(folder)
    for dataset in ("support", "icd10cm"):  # measured, or every made query was filtered out
        notes = numbers[f"not_run_{dataset}"]
        assert synth.NOT_RUN not in notes.values(), notes
    assert (tmp_path / "cache" / "synth").is_dir()  # the generated queries were cached
