"""Every number the prose states is one an output shows (the workbook's promise; reads JSON only).

Checked: in each markdown cell, a decimal (``0.814``, ``+0.040``, ``-0.002``, ``2.2``), a
percentage with a decimal (``93.8%``) and a thousands-separated integer (``6,765``). Plain integers
("3 epochs", "top 10", "98%") are not. Ignored: inline and fenced code, link targets, URLs, HTML
tags, LaTeX (``$x$``; ``$0.50`` is a price, so it is checked), labels ("Exercise 3.4", a heading
"### 3.3 ...") and dotted codes or versions (``E11.9``, ``3.11.4``). A range ``0.594-0.630`` or
``-0.031…+0.074`` gives both ends: ``+ - −`` is a sign unless a letter or digit stands before it.

Such a number must be in one of the SAME notebook's code-cell outputs (stream, text/plain,
text/html without its tags, text/markdown; never an image). A prose number with d decimals matches
an output number that rounds to it at d decimals, either way at a tie: |output - prose| <= half a
unit in the prose's last place. So ``0.81`` matches ``0.8142``, ``0.90`` matches ``0.9``, ``6,765``
matches ``6765``; and also, as a reader would:
- sign: ``+0.040`` matches ``0.0396`` or ``+0.040``; ``-0.002`` matches ``-0.0019`` or ``−0.0019``;
  an unsigned number matches either sign ("worse by 0.034" is the output ``-0.034``);
- percent: ``93.8%`` matches ``93.8%``, ``93.8`` or the fraction ``0.938``; ``0.527``, ``52.7%``;
- outputs may write ``1,690`` or ``2e-05``. Units are not converted (ms and s, GB and bytes).
The rule is loose for short numbers (``0.5`` or ``1.0`` nearly always find a match): it catches
the precise numbers going stale, not every rounded one.

Not a result (a tutorial's target, a significance level, a spec-sheet figure, arithmetic written
out in the prose)? Add it to ALLOWED with its reason; an entry its notebook no longer writes fails.
A result no output shows is fixed in the notebook: print it in a code cell, or change the prose.
"""
import bisect
import json
import re
from pathlib import Path

import pytest

from helpers import paths

NOTEBOOKS = paths.NOTEBOOKS
LESSONS = paths.lessons()
SOLUTIONS = paths.solutions()

# Allowed in every notebook. Empty on purpose: an entry here would also hide a result with the same
# digits in any notebook, so prefer ALLOWED below.
GLOBAL_ALLOWED: dict[str, str] = {}
# Per notebook (its path under notebooks/): the number as the prose writes it (no sign or %), and
# why it is not a result. An allowed number is allowed everywhere in that notebook's markdown.
SEED_RECALL = "the seed tutorial's 'good score' target for Recall@10"
SEED_MRR = "the seed tutorial's 'good score' target for MRR"
ALPHA = "the conventional significance level"
ALLOWED: dict[str, dict[str, str]] = {
    "01_why_fine_tune.ipynb": {
        "0.90": SEED_RECALL, "0.70": SEED_MRR, "0.5": "1/rank at rank 2, defining MRR",
        "30,000": "spec sheet: the WordPiece vocabulary's size (30,522), rounded"},
    "02_training_data.ipynb": {"0.90": SEED_RECALL},
    "03_fine_tuning.ipynb": {"0.90": SEED_RECALL, "0.70": SEED_MRR},
    "04_matryoshka.ipynb": {"1.5": "arithmetic: a million x 384 float32 = 1.536 GB",
                            "3,072": "spec sheet: text-embedding-3-large's dimensions"},
    "05_evaluation.ipynb": {
        "0.5": "arithmetic: 1/1 - 1/2, a move from rank 2 to rank 1",
        "0.05": ALPHA, "2,000": "a setting: the number of sign flips metrics.compare draws"},
    "07_when_to_fine_tune.ipynb": {
        "0.05": ALPHA, "0.06": "arithmetic: 2/32, the least p of a sign-flip test on 5 queries",
        "1,000": "the seed tutorial's advice, quoted: more than 1,000 pairs"},
    "solutions/02_training_data_solutions.ipynb": {"1.3": "the estimate's constant: words x 1.3"},
    "solutions/05_evaluation_solutions.ipynb": {
        "3.131": "the ideal DCG of the worked example, written out",
        "1.262": "arithmetic: 2/log2 3, a term of the worked example",
        "0.5": "arithmetic: 1/log2 4, a term of the worked example",
        "0.356": "arithmetic: 1/log2 7, a term of the worked example"},
}

# Spans whose numbers are not prose: fenced and inline code, LaTeX, link targets, URLs, HTML tags,
# and labels ("Exercise 3.4", "exercises 2.3 and 2.4", a numbered heading "### 3.3 ...").
IGNORED = re.compile(
    r"```.*?```|~~~.*?~~~|(`+).+?\1|\$\$.+?\$\$|(?<!\\)\$(?![\d\s])[^$\n]+?(?<![\s\\])\$"
    r"|\]\([^)]*\)|^\s*\[[^\]]+\]:.*$|<?https?://[^\s)>]+>?|</?[A-Za-z][^<>\n]*>"
    r"|(?i:\b(?:exercises?|sections?|§)\s*)\d+\.\d+(?:\s*(?:,|and|or|to|-|–)\s*\d+\.\d+)*"
    r"|^#+\s*\d+(?:\.\d+)*"
    r"|^\*\*How long it takes:\*\*[^\n]*",  # generated from run_times.json; test_run_times checks it
    re.DOTALL | re.MULTILINE)
START = r"(?<![^\W_])(?<!\d\.)(?P<sign>[+\-−])?"  # not in a word, a code (E11.9), a version
PCT = r"(?P<pct>\s?%)?"
PROSE_NUMBER = re.compile(START + r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+)"
                          r"(?!\.?\d|[eE][+-]?\d)" + PCT)
OUTPUT_NUMBER = re.compile(START + r"(?P<num>\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][+-]?\d+)?)(?!\.?\d)"
                           + PCT)
OUTPUT_MIMES = ("text/plain", "text/html", "text/markdown")
HTML = re.compile(r"<style.*?</style>|</?[A-Za-z][^<>]*>", re.DOTALL)
CONTEXT = 30  # characters of markdown either side of a missing number


def rel(path: Path) -> str:
    return path.relative_to(NOTEBOOKS).as_posix()


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def text(source) -> str:
    return "".join(source) if isinstance(source, list) else source


def prose_numbers(markdown: str):
    """(number as written, sign, value, decimals, is a percentage, context) per checked number."""
    masked = IGNORED.sub(lambda m: " " * len(m[0]), markdown)
    for m in PROSE_NUMBER.finditer(masked):
        num = m["num"].replace(",", "")
        context = markdown[max(0, m.start() - CONTEXT):m.end() + CONTEXT].replace("\n", " ")
        sign = (m["sign"] or "").replace("−", "-")
        yield m["num"], sign, float(num), len(num.partition(".")[2]), bool(m["pct"]), context


def output_values(outputs_text: str) -> dict[bool, list[float]]:
    """Sorted numbers an output shows: under False as fractions (a % / 100), under True as %."""
    values: dict[bool, list[float]] = {False: [], True: []}
    for m in OUTPUT_NUMBER.finditer(outputs_text):
        v = float(m["num"].replace(",", "")) * (-1 if m["sign"] in ("-", "−") else 1)
        values[False] += [v, v / 100] if m["pct"] else [v]
        values[True] += [v] if m["pct"] else [v, v * 100]
    return {pct: sorted(vs) for pct, vs in values.items()}


def matches(values: dict[bool, list[float]], sign: str, value: float, decimals: int, pct: bool):
    tolerance = 0.5 * 10 ** -decimals * (1 + 1e-9) + 1e-12
    for target in {"+": [value], "-": [-value], "": [value, -value]}[sign]:
        i = bisect.bisect_left(values[pct], target - tolerance)
        if i < len(values[pct]) and values[pct][i] <= target + tolerance:
            return True
    return False


def outputs_of(path: Path) -> str:
    """The text of every code cell's outputs; an HTML table without its tags and styles."""
    outputs = [out for c in cells(path) if c["cell_type"] == "code" for out in c.get("outputs", [])]
    parts = [(mime, out.get("data", {}).get(mime, "")) for out in outputs for mime in OUTPUT_MIMES]
    parts += [("stream", out.get("text", "")) for out in outputs]
    return "\n".join(HTML.sub(" ", text(part)) if mime == "text/html" else text(part)
                     for mime, part in parts)


def markdown_cells(path: Path):
    return [(i, text(c["source"])) for i, c in enumerate(cells(path))
            if c["cell_type"] == "markdown"]


def missing(path: Path) -> list[str]:
    values = output_values(outputs_of(path))
    allowed = GLOBAL_ALLOWED | ALLOWED.get(rel(path), {})
    return [f"  {sign + written + '%' * pct:>9}  cell {index:>2}: ...{context}..."
            for index, markdown in markdown_cells(path)
            for written, sign, value, decimals, pct, context in prose_numbers(markdown)
            if written not in allowed and not matches(values, sign, value, decimals, pct)]


def check(path: Path):
    if report := missing(path):
        pytest.fail(f"{rel(path)}: {len(report)} number(s) in the prose that no output of it shows"
                    " (print them in a code cell, reword, or allow-list a non-result with a"
                    " reason):\n"
                    + "\n".join(report), pytrace=False)


@pytest.mark.parametrize("path", LESSONS, ids=rel)
def test_every_prose_number_of_a_lesson_is_in_its_outputs(path):
    check(path)


@pytest.mark.parametrize("path", SOLUTIONS, ids=rel)
def test_every_prose_number_of_a_solution_is_in_its_outputs(path):
    check(path)


def test_the_allow_lists_do_not_rot():
    written = {rel(p): {n[0] for _, md in markdown_cells(p) for n in prose_numbers(md)}
               for p in LESSONS + SOLUTIONS}
    stale = [f"{name}: {number}" for name, numbers in ALLOWED.items() for number in numbers
             if number not in written.get(name, set())]
    stale += [f"(global): {n}" for n in GLOBAL_ALLOWED if not any(n in w for w in written.values())]
    assert not stale, "allow-list entries no notebook's markdown writes now: " + ", ".join(stale)


@pytest.mark.parametrize("prose, output, shown", [
    ("Recall@10 0.81.", "recall@10  0.8142", True),
    ("+0.040 (+0.028 to +0.051)", "0.0396 0.0284 0.0515", True),
    ("a change of -0.002", "-0.0019", True), ("a change of -0.002", "0.0019", False),
    ("worse by 0.034", "−0.0343", True), ("MRR@10 0.630", "0.6302", True),
    ("first for 93.8% of them", "0.9380", True), ("first for 93.8% of them", "0.94", False),
    ("0.527 of queries", "52.7%", True), ("6,765 pairs", "train: 6765 pairs", True),
    ("a range 0.594-0.630", "0.594 -0.630", True), ("a range 0.594-0.630", "0.594", False),
])
def test_the_matching_rule(prose, output, shown):
    values = output_values(output)
    assert all(matches(values, s, v, d, p) for _, s, v, d, p, _ in prose_numbers(prose)) == shown


def test_what_the_prose_numbers_are():
    prose = ("3 epochs, top 10, 98%, `lr=0.5`, Exercise 3.4, E11.9, Python 3.11.4, $x_{0.5}$, "
             "[a](http://x/1.5), 1.0e-4; but 0.594-0.630, -0.031…+0.074, 93.8 %, $0.50 and 6,765")
    assert [sign + n + "%" * p for n, sign, _, _, p, _ in prose_numbers(prose)] == [
        "0.594", "0.630", "-0.031", "+0.074", "93.8%", "0.50", "6,765"]


def test_the_readme_headline_results_are_in_the_lessons_outputs():
    """The README's headline results quote the lessons: each number must be in a lesson's outputs."""
    readme = (NOTEBOOKS.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("Headline results")
    block = readme[start:readme.index("\n\n", readme.index("\n- ", start))]
    values = output_values("\n".join(outputs_of(p) for p in LESSONS))
    lost = [f"{sign}{written}: ...{context}..." for written, sign, value, decimals, pct, context
            in prose_numbers(block) if not matches(values, sign, value, decimals, pct)]
    assert not lost, "README numbers that no lesson output shows:\n" + "\n".join(lost)


DURATION = re.compile(r"(?<![\w.,])(\d{2,4})\s?(?:s|ms|seconds|pairs/s)\b")


@pytest.mark.parametrize("path", LESSONS + SOLUTIONS, ids=rel)
def test_times_in_the_prose_are_in_its_outputs(path):
    """Whole-number durations and rates ("207 s", "36 pairs/s") drift between recordings too: each
    must be one the notebook's outputs show."""
    values = output_values(outputs_of(path))
    lost = [f"cell {i}: {m[0]}" for i, md in markdown_cells(path)
            for m in DURATION.finditer(IGNORED.sub(lambda x: " " * len(x[0]), md))
            if not matches(values, "", float(m[1]), 0, False)]
    assert not lost, f"{rel(path)}: durations no output shows: {lost}"
