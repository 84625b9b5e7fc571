"""Notebook 06 (try it yourself): bad input gets one clear message and nothing is lost.

Every bad file goes through ``helpers.tryit.prepare``, the same call the notebook makes. For each one
the file's bytes are hashed before and after (nothing is changed) and the folder is listed (nothing
is written beside it). The last tests run the notebook itself with papermill in the smoke profile,
once with a small valid file of your own given as the PAIRS_FILE parameter and once with a broken one.
"""
import hashlib
import json
import os

import pytest

from helpers import data, metrics, paths, tryit, ui
from tools import pipeline

NOTEBOOK = pipeline.NOTEBOOKS_DIR / "06_try_it_yourself.ipynb"


# --------------------------------------------------------------------------------------------------
# Small files written for the tests
# --------------------------------------------------------------------------------------------------

TOPICS = ["brakes", "gears", "chain", "tyres", "wheels", "saddle", "pedals", "lights", "bell",
          "frame", "fork", "headset", "cables", "grips", "mudguards", "rack", "stand", "lock",
          "pump", "helmet", "bottle", "basket", "spokes", "hub", "crank", "cassette", "derailleur",
          "shifter", "rotor", "valve"]


def good_rows(n=20, start=0):
    """n distinct, sensible (query, answer) pairs."""
    rows = []
    for i in range(start, start + n):
        topic = TOPICS[i % len(TOPICS)]
        rows.append((f"how do I fix the {topic} number {i}",
                     f"Entry {i}: the {topic} are checked on the stand, adjusted to the torque card "
                     f"and tested on a short ride before the bike goes back to the customer."))
    return rows


def write_csv(path, rows, header="anchor,positive"):
    lines = [header] + [",".join('"' + str(c).replace('"', '""') + '"' for c in r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def expect_error(path, *words, test_file=None):
    """prepare() must raise one DataError naming ``words``; the file(s) and the folder unchanged."""
    watched = [p for p in (path, test_file) if isinstance(p, os.PathLike) and p.exists()]
    watched += [tryit.matching_test_file(path)] if test_file == "auto" and \
        tryit.matching_test_file(path) else []
    before = {p: digest(p) for p in watched}
    listing = sorted(os.listdir(path.parent))
    with pytest.raises(data.DataError) as info:
        tryit.prepare(path, test_file=test_file, seed=0)
    message = str(info.value)
    for word in words:
        assert word.lower() in message.lower(), f"{word!r} not in: {message}"
    assert "Traceback" not in message and len(message) < 3000
    err = info.value
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__), \
        "one message, not a chain of tracebacks"
    assert {p: digest(p) for p in watched} == before, "the file was changed"
    assert sorted(os.listdir(path.parent)) == listing, "something was written beside the file"
    return message


# --------------------------------------------------------------------------------------------------
# Bad input: errors stop with one message
# --------------------------------------------------------------------------------------------------

def test_missing_columns(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("anchor\n" + "\n".join(f"q{i}" for i in range(20)) + "\n", encoding="utf-8")
    expect_error(path, "missing columns", "no positive column", "anchor,positive")


def test_unknown_column_names(tmp_path):
    path = write_csv(tmp_path / "pairs.csv", good_rows(), header="text,label")
    message = expect_error(path, "missing columns", "'text'", "'label'", "query/document")
    assert "anchor,positive" in message


def test_extra_unknown_column_is_a_warning_and_goes_on(tmp_path):
    rows = [(a, p, "kept by Sam") for a, p in good_rows()]
    path = write_csv(tmp_path / "pairs.csv", rows, header="anchor,positive,notes")
    before = digest(path)
    prepared = tryit.prepare(path, test_file=None, seed=0)
    report = prepared.report.set_index("check")
    assert report.loc["unknown columns", "severity"] == "warning"
    assert "'notes'" in report.loc["unknown columns", "fix"]
    assert digest(path) == before


def test_empty_cells(tmp_path):
    rows = good_rows()
    rows[3] = ("", rows[3][1])
    rows[7] = (rows[7][0], "   ")
    path = write_csv(tmp_path / "pairs.csv", rows)
    expect_error(path, "empty texts", "rows 4, 8", "fill in")


def test_duplicate_pairs_warn_and_go_on(tmp_path):
    rows = good_rows()
    rows += [rows[0], rows[1]]
    path = write_csv(tmp_path / "pairs.csv", rows)
    before = digest(path)
    prepared = tryit.prepare(path, test_file=None, seed=0)
    report = prepared.report.set_index("check")
    assert report.loc["duplicate pairs", "severity"] == "warning"
    assert "rows 21, 22" in report.loc["duplicate pairs", "examples"]
    assert "Delete the repeated rows" in report.loc["duplicate pairs", "fix"]
    # The repeats stay together on one side of the split: no test query is a training anchor.
    train_anchors = set(prepared.bundle.train["anchor"])
    assert not train_anchors & set(prepared.bundle.test.queries.values())
    assert digest(path) == before


def test_anchor_equal_to_positive_warns(tmp_path):
    rows = good_rows()
    rows[2] = (rows[2][1], rows[2][1])
    path = write_csv(tmp_path / "pairs.csv", rows)
    prepared = tryit.prepare(path, test_file=None, seed=0)
    report = prepared.report.set_index("check")
    assert report.loc["anchor equals positive", "severity"] == "warning"
    assert report.loc["anchor equals positive", "examples"].startswith("row 3")


def test_fewer_than_ten_pairs(tmp_path):
    path = write_csv(tmp_path / "pairs.csv", good_rows(6))
    expect_error(path, "too few pairs", "Only 6 pairs")


def test_non_utf8_file(tmp_path):
    path = tmp_path / "pairs.csv"
    text = "anchor,positive\n" + "\n".join(f'"café número {i}","Le café est servi à {i} h."'
                                            for i in range(20)) + "\n"
    path.write_bytes(text.encode("cp1252"))
    expect_error(path, "not UTF-8", "CSV UTF-8", "line 2")


@pytest.mark.parametrize("name, content, words", [
    ("pairs.xlsx", b"PK\x03\x04 a zip", ("spreadsheet", "CSV UTF-8")),
    ("pairs.pdf", b"%PDF-1.7 binary", ("a PDF document", "not a pairs file", "template.csv")),
    ("pairs.docx", b"PK\x03\x04 word", ("a Word document", "CSV")),
    ("pairs.txt", b"some notes\nabout bikes\n", ("plain text", "JSON Lines")),
])
def test_not_csv_or_jsonl(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_bytes(content)
    expect_error(path, *words)


def test_binary_file_named_csv(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_bytes(b"\x00\x01\x02binary\x00" * 50)
    expect_error(path, "binary file", "CSV")


def test_broken_jsonl(tmp_path):
    path = tmp_path / "pairs.jsonl"
    lines = [json.dumps({"anchor": a, "positive": p}) for a, p in good_rows()]
    lines[4] = '{"anchor": "unfinished'
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    expect_error(path, "line 5", "not valid JSON")


def test_train_test_leakage(tmp_path):
    train = write_csv(tmp_path / "mine_pairs.csv", good_rows(20))
    test_rows = good_rows(10, start=40)
    test_rows[0] = good_rows(20)[5]            # a training pair copied into the test file
    test = write_csv(tmp_path / "mine_test.csv", test_rows)
    expect_error(train, "overlap with test", "row 6", "memory", test_file=test)


def test_a_test_question_asked_again_with_another_answer_only_warns(tmp_path):
    train_rows = good_rows(20)
    train = write_csv(tmp_path / "mine_pairs.csv", train_rows)
    test_rows = good_rows(10, start=40)
    test_rows[0] = (train_rows[5][0], "A second, different answer to the same question, written "
                    "for the install section of the same FAQ.")
    test = write_csv(tmp_path / "mine_test.csv", test_rows)
    prepared = tryit.prepare(train, test_file=test, seed=0)
    report = prepared.report.set_index("check")
    assert report.loc["same question as a test query", "severity"] == "warning"
    assert report.loc["same question as a test query", "examples"].startswith("row 6")


def test_test_file_picked_up_automatically_and_checked(tmp_path):
    train = write_csv(tmp_path / "mine_pairs.csv", good_rows(20))
    test_rows = good_rows(10, start=40)
    test_rows[2] = ("", test_rows[2][1])
    test = write_csv(tmp_path / "mine_test.csv", test_rows)
    assert tryit.matching_test_file(train) == test
    expect_error(train, "test file mine_test.csv", "empty texts", test_file="auto")


def test_very_long_texts_warn(tmp_path):
    rows = good_rows()
    rows[4] = (rows[4][0], " ".join(["spoke tension"] * 300))   # 600 words, far past 256 tokens
    path = write_csv(tmp_path / "pairs.csv", rows)
    prepared = tryit.prepare(path, test_file=None, seed=0)
    report = prepared.report.set_index("check")
    assert report.loc["texts too long", "severity"] == "warning"
    assert "row 5" in report.loc["texts too long", "examples"]
    assert "Split long documents" in report.loc["texts too long", "fix"]


def test_swapped_column_order(tmp_path):
    rows = [(p, a) for a, p in good_rows()]          # documents first, queries second
    path = write_csv(tmp_path / "pairs.csv", rows)
    expect_error(path, "columns swapped", "first column must be the short query")


def test_empty_file(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_bytes(b"")
    expect_error(path, "is empty", "header row")


def test_header_only(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("anchor,positive\n", encoding="utf-8")
    expect_error(path, "too few pairs", "Only 0 pairs")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(data.DataError, match="No pairs file at"):
        tryit.prepare(tmp_path / "nowhere.csv")
    with pytest.raises(data.DataError, match="is a folder"):
        tryit.prepare(tmp_path)
    with pytest.raises(data.DataError, match="No pairs file given"):
        tryit.prepare("")


def test_test_file_equal_to_pairs_file(tmp_path):
    path = write_csv(tmp_path / "pairs.csv", good_rows())
    expect_error(path, "the pairs file itself", test_file=path)


def test_all_errors_in_one_message(tmp_path):
    rows = [(p, a) for a, p in good_rows()]
    rows[1] = ("", rows[1][1])
    path = write_csv(tmp_path / "pairs.csv", rows)
    message = expect_error(path, "2 problem(s)", "empty texts", "columns swapped")
    assert message.count("\n- ") == 2


# --------------------------------------------------------------------------------------------------
# Good input: the starter, your own file, the test set and its width
# --------------------------------------------------------------------------------------------------

def test_starter_brings_its_own_test_file():
    before = {p: digest(p) for p in (tryit.STARTER, tryit.STARTER_TEST)}
    prepared = tryit.prepare(tryit.STARTER, seed=42)
    assert prepared.test_path == tryit.STARTER_TEST and not prepared.held_out
    assert len(prepared.bundle.train) == 50 and prepared.n_test == 30
    assert len(prepared.bundle.test.corpus) == 80
    assert prepared.report.attrs["errors"] == 0
    assert "unchanged" in prepared.check_unchanged()
    assert "Test file starter_test.csv: 30 queries" in prepared.explain_test()
    assert {p: digest(p) for p in before} == before


def test_held_out_split_says_how_wide_the_interval_is(tmp_path):
    path = write_csv(tmp_path / "pairs.csv", good_rows(30))
    prepared = tryit.prepare(path, test_file=None, test_size=0.3, seed=1)
    assert prepared.held_out and prepared.n_test == 9 and len(prepared.bundle.train) == 21
    text = prepared.explain_test()
    assert "9 of your pairs" in text and f"±{metrics.planned_halfwidth(9):.2f}" in text
    assert "separate test file is better" in text
    assert not set(prepared.bundle.train["positive"]) & prepared.bundle.test.relevant_texts()


def test_jsonl_with_aliases(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps({"question": a, "answer": p}) for a, p in good_rows())
                    + "\n", encoding="utf-8")
    prepared = tryit.prepare(path, test_file=None, seed=0)
    assert prepared.bundle.train.column_names == ["anchor", "positive"]


def test_resolve_test_file_rules(tmp_path):
    pairs = write_csv(tmp_path / "shop.csv", good_rows())
    assert tryit.resolve_test_file(pairs, "auto") is None
    test = write_csv(tmp_path / "shop_test.csv", good_rows(10, start=40))
    assert tryit.resolve_test_file(pairs, "auto") == test
    assert tryit.resolve_test_file(pairs, None) is None
    assert tryit.resolve_test_file(pairs, str(test)) == test


# --------------------------------------------------------------------------------------------------
# Uploads: a new file every time, nothing overwritten
# --------------------------------------------------------------------------------------------------

def test_save_upload_never_overwrites(tmp_path):
    content = write_csv(tmp_path / "x.csv", good_rows()).read_bytes()
    folder = tmp_path / "uploads"
    first = tryit.save_upload("my pairs.csv", content, folder)
    second = tryit.save_upload("my pairs.csv", content, folder)
    assert first != second and first.read_bytes() == second.read_bytes() == content
    assert first.name.startswith("my_pairs-") and first.suffix == ".csv"
    assert len(list(folder.iterdir())) == 2


def test_save_upload_refuses_other_types_and_empty(tmp_path):
    folder = tmp_path / "uploads"
    with pytest.raises(data.DataError, match="nothing was saved"):
        tryit.save_upload("pairs.xlsx", b"PK\x03\x04", folder)
    with pytest.raises(data.DataError, match="empty"):
        tryit.save_upload("pairs.csv", b"", folder)
    with pytest.raises(data.DataError):
        tryit.save_upload("../../etc/pairs.exe", b"x", folder)
    assert not folder.exists() or not list(folder.iterdir())


def test_save_upload_strips_folders_from_the_name(tmp_path):
    path = tryit.save_upload("../../evil/../pairs.csv", b"anchor,positive\na,b\n", tmp_path / "up")
    assert path.parent == tmp_path / "up"


def test_uploader_saves_and_chooses(tmp_path):
    uploader = ui.Uploader(folder=tmp_path / "up")
    assert uploader.choose("data/x.csv") == "data/x.csv"
    content = write_csv(tmp_path / "x.csv", good_rows()).read_bytes()
    uploader._on_upload({"new": ({"name": "bikes.csv", "content": memoryview(content)},)})
    assert uploader.path is not None and uploader.path.read_bytes() == content
    assert uploader.choose("data/x.csv") == uploader.path


def test_default_upload_folder_is_in_the_cache():
    assert tryit.upload_folder() == paths.cache_dir("uploads")


# --------------------------------------------------------------------------------------------------
# Settings and verdicts
# --------------------------------------------------------------------------------------------------

def test_training_settings_for_small_data():
    assert tryit.training_settings(50) == {"epochs": 3, "batch_size": 13, "learning_rate": 5e-5}
    assert tryit.training_settings(35)["batch_size"] == 12       # 3 batches of 12, 12, 11
    assert tryit.training_settings(12)["batch_size"] == 12
    assert tryit.training_settings(3)["batch_size"] == 3
    assert tryit.training_settings(5000) == {}                    # the profile's own settings


def _comparison(base, tuned):
    import pandas as pd

    a = pd.DataFrame({"recall@10": base, "mrr@10": base}, index=[f"q{i}" for i in range(len(base))])
    b = pd.DataFrame({"recall@10": tuned, "mrr@10": tuned}, index=a.index)
    return tryit.compare(a, b, metric_names=("recall@10", "mrr@10"), n_resamples=500)


def test_verdicts_follow_the_interval_only():
    same = _comparison([1.0] * 29 + [0.0], [1.0] * 29 + [0.0])
    assert (same["verdict"] == "no measurable difference").all()
    text = tryit.plain_verdict(same, n_queries=30)
    assert text.startswith("NO MEASURABLE DIFFERENCE") and "single point" in text
    assert "already scores 97%" in text and "not proof" in text

    better = _comparison([0.0] * 20 + [1.0] * 10, [1.0] * 30)
    assert better.set_index("metric").loc["recall@10", "verdict"] == "better"
    assert tryit.plain_verdict(better).startswith("BETTER")

    worse = _comparison([1.0] * 30, [0.0] * 20 + [1.0] * 10)
    assert tryit.plain_verdict(worse).startswith("WORSE")

    # A small gain whose interval includes zero is never called better.
    noisy = _comparison([0.0, 1.0] * 10, [1.0, 1.0, 0.0, 1.0] + [0.0, 1.0] * 8)
    row = noisy.set_index("metric").loc["recall@10"]
    assert row["ci_low"] <= 0 and row["verdict"] == "no measurable difference"
    with pytest.raises(metrics.MetricsError):
        tryit.plain_verdict(noisy, metric="ndcg@10")


def test_an_interval_the_randomization_test_does_not_confirm_is_not_a_gain():
    # 15 queries, 3 moved up a little, none down: the bootstrap interval misses zero, p does not.
    base = [0.5] * 15
    tuned = [0.55, 0.6, 0.55] + [0.5] * 12
    table = _comparison(base, tuned)
    row = table.set_index("metric").loc["mrr@10"]
    assert row["ci_low"] > 0 and row["p_value"] > 0.05
    assert row["verdict"] == "no measurable difference"
    text = tryit.plain_verdict(table, "mrr@10", n_queries=15)
    assert text.startswith("NO MEASURABLE DIFFERENCE") and "does not confirm" in text
    assert metrics.verdict({"ci_low": 0.01, "ci_high": 0.05}) == "better"  # no p: interval only


# --------------------------------------------------------------------------------------------------
# The notebook itself, headless, with a file given as a parameter
# --------------------------------------------------------------------------------------------------

def _execute(tmp_path, parameters):
    pipeline.execute(NOTEBOOK, tmp_path / "out.ipynb", profile="smoke", results=tmp_path / "results.json",
                     timeout=600, parameters=parameters)


def test_notebook_runs_with_your_file_as_parameter(tmp_path):
    path = write_csv(tmp_path / "bikes.csv", good_rows(24))
    before = digest(path)
    _execute(tmp_path, {"PAIRS_FILE": str(path), "TEST_SIZE": 0.25})
    assert digest(path) == before
    stored = json.loads((tmp_path / "results.json").read_text())["06_try_it_yourself"]["numbers"]
    assert stored["pairs_file"] == "bikes.csv" and stored["held_out"] is True
    assert stored["train_pairs"] == 18 and stored["test_queries"] == 6
    assert stored["verdict"] in tryit.VERDICTS
    assert {"recall@10", "mrr@10", "ndcg@10"} <= set(stored["before"]) == set(stored["after"])
    assert stored["ci_low"] <= stored["diff"] <= stored["ci_high"]
    assert stored["seconds_file_to_verdict"] > 0


def test_notebook_stops_with_one_clear_message_on_a_bad_file(tmp_path):
    import papermill as pm

    path = write_csv(tmp_path / "bad.csv", [(p, a) for a, p in good_rows()])
    before = digest(path)
    with pytest.raises(pm.PapermillExecutionError) as info:
        _execute(tmp_path, {"PAIRS_FILE": str(path)})
    assert info.value.ename == "DataError"
    assert "columns swapped" in info.value.evalue
    assert digest(path) == before
