"""Tests for helpers.data: the bundled datasets and their splits, reading pairs files, validation,
and hard-negative mining. Offline and fast: the real model is loaded once, for the mining tests."""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import time

import pandas as pd
import pytest

from helpers import data, paths, tokens
from helpers.data import DataError, bundled

TOPICS = ["returns", "passwords", "shipping", "tracking", "warranty", "gift cards", "invoices",
          "store hours", "loyalty points", "cancellations", "repairs", "subscriptions"]


def clean_rows(n: int = 120) -> list[dict]:
    """n distinct, plausible pairs: a short question and a longer answer."""
    rows = []
    for i in range(n):
        t = TOPICS[i % len(TOPICS)]
        rows.append({"anchor": f"question {i} about {t}?",
                     "positive": f"Answer {i}: this article explains {t} in detail, step by step, "
                                 f"for case number {i}."})
    return rows


def ds(rows):
    return data.pairs(rows)


def sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def checks(report) -> dict:
    """{check: row} of a validate report."""
    return {r["check"]: r for _, r in report.iterrows()}


# --------------------------------------------------------------------------------------------------
# The bundled datasets
# --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A private WORKBOOK_CACHE for the module, so the tests build (and rebuild) their own."""
    mp = pytest.MonkeyPatch()
    folder = tmp_path_factory.mktemp("cache")
    mp.setenv("WORKBOOK_CACHE", str(folder))
    yield folder
    mp.undo()


@pytest.fixture(scope="module")
def icd(cache):
    return data.load("icd10cm")


def assert_no_leakage(bundle):
    train_anchors = {data.normalize(a) for a in bundle.train["anchor"]}
    train_positives = {data.normalize(p) for p in bundle.train["positive"]}
    for qid, text in bundle.test.queries.items():
        assert data.normalize(text) not in train_anchors, f"test query {text!r} is a training anchor"
        for doc in bundle.test.relevant_docs(qid):
            assert data.normalize(bundle.test.corpus[doc]) not in train_positives, (
                f"test document {doc} is a training positive")
    # Every test positive is in the corpus, and every query has one.
    for qid in bundle.test.queries:
        rel = bundle.test.relevant_docs(qid)
        assert rel and all(d in bundle.test.corpus for d in rel)


def test_icd10cm_counts_and_split(icd):
    assert list(icd.train.column_names) == ["anchor", "positive"]
    assert 8000 <= icd.info["pairs"] <= 9500
    assert 4000 <= icd.info["codes"] <= 4800
    assert icd.info["train_pairs"] + sum(len(r) for r in icd.test.qrels.values()) >= 8000
    assert 0.15 <= icd.info["test_documents"] / icd.info["codes"] <= 0.25
    # The corpus holds every candidate title (train titles too), keyed by ICD code.
    assert len(icd.test.corpus) == icd.info["codes"]
    assert all(re.fullmatch(r"[A-Z][0-9A-Z]{2}(\.[0-9A-Z]{1,4})?", c) for c in icd.test.corpus)
    assert set(icd.train_corpus) <= set(icd.test.corpus.values())
    assert_no_leakage(icd)
    # Cross-references and titles repeated as their own synonym are not queries.
    texts = list(icd.train["anchor"]) + list(icd.test.queries.values())
    assert not any("classifiable to" in t.lower() for t in texts)
    assert "ICD-10-CM" in icd.describe() and "by code" in icd.describe()


def test_icd10cm_same_seed_same_split_other_seed_differs(icd, cache):
    again = data.load("icd10cm")
    assert again.test.queries == icd.test.queries
    other = data.load("icd10cm", seed=7, test_size=0.1)
    assert other.test.queries != icd.test.queries
    assert len(other.test.queries) < len(icd.test.queries)
    assert_no_leakage(other)


def test_icd10cm_cache_hit_is_fast_and_does_not_rebuild(icd, monkeypatch):
    def fail(*a, **k):
        raise AssertionError("rebuilt although the cache is current")
    monkeypatch.setattr(bundled, "build_icd10cm", fail)
    start = time.perf_counter()
    bundle = data.load("icd10cm")
    assert time.perf_counter() - start < 2.0
    assert len(bundle.train) == len(icd.train)


def test_icd10cm_stale_cache_is_rebuilt(icd, cache, monkeypatch):
    path = paths.cache_dir("datasets") / icd.info["cache"].split("/")[-1]
    stored = json.loads(path.read_text(encoding="utf-8"))
    stored["fingerprint"]["package"] = "0.0.0-old"
    path.write_text(json.dumps(stored), encoding="utf-8")
    calls = []
    real = bundled.build_icd10cm

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)
    monkeypatch.setattr(bundled, "build_icd10cm", counting)
    bundle = data.load("icd10cm")
    assert calls == [1]
    assert json.loads(path.read_text(encoding="utf-8"))["fingerprint"]["package"] != "0.0.0-old"
    assert len(bundle.train) == len(icd.train)


def test_icd10cm_import_emits_no_deprecation_warning():
    code = "from helpers.data import bundled; bundled.icd10cm_module()"
    out = subprocess.run([sys.executable, "-W", "error::DeprecationWarning", "-c", code],
                         cwd=paths.ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "DeprecationWarning" not in out.stderr


def test_support_split_by_article():
    b = data.load("support")
    assert list(b.train.column_names) == ["anchor", "positive"]
    assert b.info["articles"] >= 100 and len(b.train) >= 300 and len(b.test) >= 50
    assert len(b.test.corpus) == b.info["articles"]  # every article is a candidate
    assert_no_leakage(b)
    # Training and test documents use the same text form ("Title. Text").
    assert set(b.train["positive"]) <= set(b.test.corpus.values())
    assert 0.15 <= b.info["test_documents"] / b.info["articles"] <= 0.25


def test_general_is_an_eval_set():
    b = data.load("general")
    assert len(b.train) == 0 and list(b.train.column_names) == ["anchor", "positive"]
    assert len(b.test.queries) >= 50 and len(b.test.corpus) >= 50
    assert all(b.test.relevant_docs(q) for q in b.test.queries)


def test_profile_caps_sizes_and_keeps_answers():
    full = data.load("support")
    small = data.load("support", profile="smoke")
    from helpers import profiles
    p = profiles.get("smoke")
    assert len(small.train) == min(p.max_train_pairs, len(full.train))
    assert len(small.test.queries) <= p.max_test_queries
    assert len(small.test.corpus) <= max(p.max_corpus, len(small.test.queries))
    for q in small.test.queries:
        assert small.test.relevant_docs(q)[0] in small.test.corpus
    assert "profile smoke" in small.describe()


def test_irsplit_subset_and_bad_qrels():
    split = data.IRSplit({"q1": "a", "q2": "b", "q3": "c"},
                         {f"d{i}": f"doc {i}" for i in range(10)},
                         {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d3": 1, "d4": 1}})
    sub = split.subset(max_queries=2, max_corpus=4, seed=0)
    assert len(sub) == 2 and len(sub.corpus) == 4
    for q in sub.queries:
        assert all(d in sub.corpus for d in sub.relevant_docs(q))
    assert "queries" in split.describe()
    with pytest.raises(DataError, match="not there"):
        data.IRSplit({"q1": "a"}, {"d1": "x"}, {"q1": {"d9": 1}})


def test_load_unknown_name_and_bad_test_size():
    with pytest.raises(DataError, match="icd10cm"):
        data.load("no-such-dataset")
    with pytest.raises(DataError, match="between 0 and 1"):
        data.load("support", test_size=1.5)
    with pytest.raises(DataError, match="No file"):
        data.load("missing_folder/pairs.csv")


def test_hub_id_offline_names_the_alternatives(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError) as err:
        data.load("someone/some-dataset")
    msg = str(err.value)
    assert "offline" in msg and "icd10cm" in msg and "support" in msg and "CSV" in msg


# --------------------------------------------------------------------------------------------------
# Your own pairs file
# --------------------------------------------------------------------------------------------------

def write_csv(path, rows, header=("anchor", "positive")):
    pd.DataFrame(rows, columns=list(header)).to_csv(path, index=False)
    return path


def test_own_file_split_by_document_and_untouched(tmp_path):
    rows = clean_rows(60)
    rows += [{"anchor": f"another way to ask {i}", "positive": rows[i]["positive"]} for i in range(20)]
    path = write_csv(tmp_path / "mine.csv", rows)
    before = sha(path)
    b = data.load(path, test_size=0.25, seed=1)
    assert sha(path) == before
    assert_no_leakage(b)
    # The test corpus holds every distinct positive: the held-out ones and the training ones.
    assert len(b.test.corpus) == 60
    assert set(b.train["positive"]) <= set(b.test.corpus.values())
    report = data.validate(path)
    assert sha(path) == before
    assert report.attrs["errors"] == 0


def test_own_file_with_test_path(tmp_path):
    train = write_csv(tmp_path / "train.csv", clean_rows(40))
    test_rows = [{"anchor": f"held-out question {i}?", "positive": f"Held-out answer number {i}."}
                 for i in range(8)]
    test = write_csv(tmp_path / "test.csv", test_rows)
    b = data.load(train, test_path=test)
    assert len(b.train) == 40 and len(b.test) == 8
    assert len(b.test.corpus) == 48  # test answers among every training document
    assert "test.csv" in b.info["split"]


# --------------------------------------------------------------------------------------------------
# read_pairs: formats and errors
# --------------------------------------------------------------------------------------------------

def test_read_pairs_aliases_bom_and_jsonl(tmp_path):
    p = tmp_path / "aliases.csv"
    p.write_bytes("\ufeff Question ,ANSWER,id\nwhat is x?,x is a letter,1\n".encode("utf-8"))
    got = data.read_pairs(p)
    assert got.column_names == ["anchor", "positive"]
    assert got[0] == {"anchor": "what is x?", "positive": "x is a letter"}
    j = tmp_path / "p.jsonl"
    j.write_text('{"query": "q1", "document": "d1", "negative": "n1"}\n\n'
                 '{"query": "q2", "document": "d2", "negative": "n2"}\n', encoding="utf-8")
    got = data.read_pairs(j)
    assert got.column_names == ["anchor", "positive", "negative"] and len(got) == 2


@pytest.mark.parametrize("name,content,message", [
    ("latin.csv", "anchor,positive\ncafé,crème brûlée\n".encode("latin-1"), "save it as UTF-8"),
    ("sheet.xlsx", b"PK\x03\x04" + b"\x00" * 64, "spreadsheet"),
    ("blob.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    ("empty.csv", b"", "empty"),
    ("blank.csv", b"  \n\n", "empty"),
    ("header.csv", b"anchor,positive\n", "no rows"),
    ("cols.csv", b"foo,bar\n1,2\n", "Found columns: 'foo', 'bar'"),
    ("half.csv", b"anchor,text\nq,d\n", "Expected: anchor and positive"),
    ("bad.jsonl", b'{"anchor": "a", "positive": "b"}\n{"anchor": "a", \n', "line 2"),
    ("pairs.docx", b"some text", "unsupported file type"),
])
def test_read_pairs_errors(tmp_path, name, content, message):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(DataError) as err:
        data.read_pairs(p)
    assert message.lower() in str(err.value).lower()
    assert p.read_bytes() == content  # never modified


def test_formats_round_trip(tmp_path):
    rows = [("What is the return policy?", "Items can be returned within 30 days"),
            ("How do I reset my password?", "Go to Settings > Security > Reset Password")]
    pairs = data.pairs(rows)
    assert pairs.column_names == ["anchor", "positive"]
    examples = data.to_input_examples(pairs)
    from sentence_transformers import InputExample
    assert isinstance(examples[0], InputExample) and examples[0].texts == list(rows[0])
    assert data.from_input_examples(examples)[:] == pairs[:]
    triplets = data.pairs([{"negative": "n", "question": "q", "answer": "a"}])
    assert triplets.column_names == ["anchor", "positive", "negative"]
    for suffix in (".csv", ".jsonl"):
        out = data.write_pairs(triplets, tmp_path / f"t{suffix}")
        assert data.read_pairs(out)[:] == triplets[:]
    with pytest.raises(DataError):
        data.from_input_examples([InputExample(texts=["a", "b"]), InputExample(texts=["a"])])
    with pytest.raises(DataError):
        data.pairs([("only one text",)])


# --------------------------------------------------------------------------------------------------
# validate: one test per check
# --------------------------------------------------------------------------------------------------

def test_validate_clean_data_is_ok():
    report = data.validate(ds(clean_rows()))
    assert list(report.columns) == ["check", "severity", "count", "examples", "fix"]
    assert list(report["severity"]) == ["ok"] and report.attrs["errors"] == 0
    assert data.raise_for_errors(report) is report


def test_validate_missing_columns(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("question,context\nq,c\n", encoding="utf-8")
    row = checks(data.validate(p))["missing columns"]
    assert row["severity"] == "error" and "Name the header row anchor,positive" in row["fix"]


def test_validate_unknown_columns():
    df = pd.DataFrame(clean_rows()).assign(score=1, source="web")
    row = checks(data.validate(df))["unknown columns"]
    assert row["severity"] == "warning" and "'score'" in row["fix"] and "ignored" in row["fix"]


def test_validate_empty_texts():
    rows = clean_rows()
    rows[2]["anchor"] = ""
    rows[5]["positive"] = "   "
    row = checks(data.validate(pd.DataFrame(rows)))["empty texts"]
    assert row["severity"] == "error" and row["count"] == 2
    assert row["examples"].startswith("rows 3, 6") and "Fill in" in row["fix"]


def test_validate_missing_values_count_as_empty():
    df = pd.DataFrame(clean_rows())
    df.loc[0, "anchor"] = None
    assert checks(data.validate(df))["empty texts"]["examples"].startswith("row 1")


def test_validate_exact_and_near_duplicates():
    rows = clean_rows()
    rows.append(dict(rows[0]))
    rows.append({"anchor": "  QUESTION 1 about  passwords? ", "positive": rows[1]["positive"].upper()})
    c = checks(data.validate(ds(rows)))
    assert c["duplicate pairs"]["examples"].startswith("row 121")
    assert "Delete the repeated rows" in c["duplicate pairs"]["fix"]
    assert c["near-duplicate pairs"]["examples"].startswith("row 122")
    assert "case or spacing" in c["near-duplicate pairs"]["fix"]


def test_validate_anchor_equals_positive():
    rows = clean_rows()
    rows[7]["positive"] = rows[7]["anchor"]
    row = checks(data.validate(ds(rows)))["anchor equals positive"]
    assert row["examples"].startswith("row 8") and "teaches nothing" in row["fix"]


def test_validate_swapped_columns_whole_file():
    rows = [{"anchor": r["positive"] + " More words to make it long enough here.",
             "positive": r["anchor"]} for r in clean_rows()]
    report = data.validate(ds(rows))
    row = checks(report)["columns swapped"]
    assert row["severity"] == "error" and "look swapped" in row["fix"]
    with pytest.raises(DataError, match="columns swapped"):
        data.raise_for_errors(report)


def test_validate_swapped_rows():
    rows = clean_rows()
    rows[4] = {"anchor": rows[4]["positive"], "positive": rows[4]["anchor"]}
    row = checks(data.validate(ds(rows)))["swapped rows"]
    assert row["examples"].startswith("row 5") and "Swap the two texts back" in row["fix"]


def test_validate_too_long_estimate():
    rows = clean_rows()
    rows[9]["positive"] = " ".join(["word"] * 300)
    row = checks(data.validate(ds(rows)))["texts too long"]
    assert row["severity"] == "warning" and row["examples"].startswith("row 10")
    assert "estimate" in row["fix"] and "Split long documents" in row["fix"]


def test_validate_too_few_pairs():
    c = checks(data.validate(ds(clean_rows(40))))
    assert c["too few pairs"]["severity"] == "warning" and data.PAIRS_ADVICE in c["too few pairs"]["fix"]
    c = checks(data.validate(ds(clean_rows(5))))
    assert c["too few pairs"]["severity"] == "error" and "far too few" in c["too few pairs"]["fix"]


def test_one_answer_to_how_many_pairs_matches_notebook_07():
    """PAIRS_ADVICE quotes 07's measured learning curve: its recorded table must still say so, and
    the README and the instructors' guide must say the same thing."""
    import nbformat
    nb = nbformat.read(paths.ROOT / "notebooks" / "07_when_to_fine_tune.ipynb", as_version=4)
    table = next("".join(o.get("data", {}).get("text/plain", "")) for c in nb.cells
                 if c.cell_type == "code" and "significant from then on" in c.source
                 and "smallest = pd.DataFrame" in c.source for o in c.outputs
                 if "text/plain" in o.get("data", {}))
    rows = {tuple(line.split()[1:3]): line.split()[3:5] for line in table.splitlines()[1:]}
    assert rows[("support", "ndcg@10")][0] in ("25.0", "50.0")
    assert rows[("icd10cm", "ndcg@10")][1] == "100.0"  # the pooled seeds, from then on
    # ... and every seed on its own from 500 (the curve table's "seeds better" column)
    curve = next("".join(o.get("data", {}).get("text/plain", "")) for c in nb.cells
                 if c.cell_type == "code" and 'readable(summaries["icd10cm"])' in c.source
                 for o in c.outputs if "text/plain" in o.get("data", {}))
    all_seeds = [int(line.split()[1]) for line in curve.splitlines()[1:]
                 if "ndcg@10" in line and line.split()[-1] == "3/3"]
    assert all_seeds and min(all_seeds) == 500
    assert "25 to 50 pairs of support jargon" in data.PAIRS_ADVICE
    assert "100 to 500 pairs of medical synonyms" in data.PAIRS_ADVICE
    for doc in ("README.md", "INSTRUCTORS.md"):
        text = " ".join((paths.ROOT / doc).read_text(encoding="utf-8").split())
        assert "There is no fixed floor" in text and "25 to 50 pairs" in text and "100 to 500" in text, doc


def test_validate_overlap_with_test(tmp_path):
    rows = clean_rows()
    test_rows = [dict(rows[3]), {"anchor": "unseen question?", "positive": rows[10]["positive"]}]
    for test in (ds(test_rows), pd.DataFrame(test_rows),
                 write_csv(tmp_path / "test.csv", test_rows),
                 data.ir_split_from_pairs(ds(test_rows))):
        row = checks(data.validate(ds(rows), test=test))["overlap with test"]
        assert row["severity"] == "error" and row["count"] == 2
        assert row["examples"].startswith("rows 4, 11") and "measure memory" in row["fix"]


def test_same_question_with_another_answer_is_a_warning_not_an_error():
    """Real FAQs ask one question twice with two answers: a warning with the rows, not an error."""
    rows = clean_rows()
    test_rows = [{"anchor": rows[2]["anchor"], "positive": "A different, test-only answer text."},
                 {"anchor": "unseen question?", "positive": "Another test-only answer."}]
    c = checks(data.validate(ds(rows), test=ds(test_rows)))
    assert "overlap with test" not in c
    row = c["same question as a test query"]
    assert row["severity"] == "warning" and row["count"] == 1 and row["examples"].startswith("row 3")
    # the same document on both sides stays an error, and is not counted twice
    test_rows.append(dict(rows[2]))
    c = checks(data.validate(ds(rows), test=ds(test_rows)))
    assert c["overlap with test"]["severity"] == "error" and c["overlap with test"]["count"] == 1
    assert "same question as a test query" not in c


def test_validate_bad_negatives():
    rows = clean_rows()
    for i, r in enumerate(rows):
        r["negative"] = rows[(i + 1) % len(rows)]["positive"]
    rows[0]["negative"] = rows[0]["positive"]
    rows[1]["negative"] = rows[1]["anchor"].upper()
    c = checks(data.validate(ds(rows)))
    assert c["negative equals positive"]["examples"].startswith("row 1")
    assert "push the right answer away" in c["negative equals positive"]["fix"]
    assert c["negative equals anchor"]["examples"].startswith("row 2")
    assert "repeats the query" in c["negative equals anchor"]["fix"]


def test_raise_for_errors_lists_every_error():
    rows = clean_rows(5)
    rows[0]["anchor"] = ""
    with pytest.raises(DataError) as err:
        data.raise_for_errors(data.validate(ds(rows)))
    msg = str(err.value)
    assert "2 problem(s)" in msg and "empty texts" in msg and "too few pairs" in msg


FLAW_TO_CHECK = {
    "exact_duplicate": "duplicate pairs", "near_duplicate": "near-duplicate pairs",
    "empty_anchor": "empty texts", "blank_positive": "empty texts",
    "anchor_equals_positive": "anchor equals positive", "swapped": "swapped rows",
    "very_long_positive": "texts too long",
}


def test_flawed_example_file_matches_its_readme():
    csv_path = paths.DATA / "examples" / "flawed_pairs.csv"
    readme = paths.DATA / "examples" / "flawed_pairs.README.md"
    expected: dict[str, set[int]] = {}
    for row, flaw in re.findall(r"^\|\s*(\d+)\s*\|\s*`(\w+)`", readme.read_text(encoding="utf-8"), re.M):
        expected.setdefault(FLAW_TO_CHECK[flaw], set()).add(int(row))
    before = sha(csv_path)
    report = data.validate(csv_path)
    assert sha(csv_path) == before
    found = {check: set(rows) for check, rows in report.attrs["rows"].items() if rows}
    assert found == expected
    # Besides the planted flaws, only "too few pairs" (24 rows) is reported.
    assert set(report["check"]) - set(expected) == {"too few pairs"}


# --------------------------------------------------------------------------------------------------
# Needs the model: token lengths and hard-negative mining
# --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model():
    from helpers import models
    return models.load("all-MiniLM-L6-v2", device="cpu", verbose=False)


MINI = [
    ("Beta thalassemia major", "Beta thalassemia"),
    ("Classical cholera", "Cholera due to Vibrio cholerae 01, biovar cholerae"),
    ("Salmonellosis", "Salmonella enteritis"),
    ("Bacillary dysentery NOS", "Shigellosis, unspecified"),
    ("Chronic tension-type headache NOS", "Chronic tension-type headache, not intractable"),
    ("Acute lymphadenitis of shoulder", "Acute lymphadenitis of upper limb"),
    ("Torsion of spermatic cord NOS", "Intravaginal torsion of spermatic cord"),
    ("Prostatitis NOS", "Inflammatory disease of prostate, unspecified"),
    ("Fish tapeworm (infection)", "Diphyllobothriasis"),
    ("Personal history of MRSA infection",
     "Personal history of Methicillin resistant Staphylococcus aureus infection"),
    ("Abnormal renal function test", "Abnormal results of kidney function studies"),
    ("Acute hepatitis NOS", "Acute viral hepatitis, unspecified"),
    ("Typhoid endocarditis", "Typhoid fever with heart involvement"),
    ("Botulism NOS", "Botulism food poisoning"),
    ("Group B shigellosis", "Shigellosis due to Shigella flexneri"),
    ("Escherichia coli enteritis NOS", "Other intestinal Escherichia coli infections"),
    ("Uterine inertia NOS", "Other uterine inertia"),
    ("Meconium ileus NOS", "Meconium plug syndrome"),
    ("MSSA pneumonia", "Pneumonia due to Methicillin susceptible Staphylococcus aureus"),
    ("Muckle-Wells syndrome", "Cryopyrin-associated periodic syndromes"),
]
EXTRA = ["Alpha thalassemia", "Delta-beta thalassemia", "Episodic tension-type headache",
         "Acute lymphadenitis of lower limb", "Chronic viral hepatitis, unspecified",
         "Paratyphoid fever, unspecified", "Shigellosis due to Shigella sonnei"]


def test_mine_hard_negatives_respects_exclude(model, capsys):
    banned = ["Alpha thalassemia", "Shigellosis due to Shigella sonnei"]
    tri, stats = data.mine(model, data.pairs(MINI), corpus=EXTRA, exclude=banned,
                           range_min=0, range_max=10)
    assert tri.column_names == ["anchor", "positive", "negative"]
    assert len(tri) > 0 and stats["pairs_with_negative"] == len(tri)
    assert all(r["negative"] != r["positive"] for r in tri)
    assert not {r["negative"] for r in tri} & set(banned)
    assert "Mined hard negatives for" in capsys.readouterr().out
    # Quiet by default: no progress bars leak out.
    assert "Batches" not in capsys.readouterr().err


def test_validate_with_model_counts_real_tokens(model):
    rows = clean_rows()
    rows[0]["positive"] = "antidisestablishmentarianism " * 60  # few words, many tokens
    row = checks(data.validate(ds(rows), model=model))["texts too long"]
    assert "max_seq_length of 256" in row["fix"] and row["examples"].startswith("row 1")
    lengths = tokens.token_lengths(model, ["hello world", rows[0]["positive"]])
    assert lengths[0] == 4 and lengths[1] > 256
