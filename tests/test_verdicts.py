"""Every verdict in every committed output agrees with the workbook's one rule.

For each table a notebook shows (its HTML output) with a ``verdict`` column, the verdict is derived
again from the row's own numbers with ``metrics.verdict``: from ``ci_low`` / ``ci_high`` /
``p_value`` columns, or from an interval written by ``metrics.format_diff`` ("+0.040 (+0.028 to
+0.051)") beside a ``p_value``. Tables round their numbers, so a row whose rounded bound is exactly
0 or whose rounded p-value is exactly the level cannot be re-derived and is skipped (counted).
Only the three words of the rule may appear in such a verdict column.
"""
import json
import re
from html.parser import HTMLParser

import pytest

from helpers import metrics, paths

NOTEBOOKS = paths.lessons() + paths.solutions()
FORMATTED = re.compile(r"(?P<diff>[+-]?\d+\.\d+) \((?P<low>[+-]?\d+\.\d+) to (?P<high>[+-]?\d+\.\d+)\)")


class Tables(HTMLParser):
    """The rows of every <table> in an HTML output, as lists of cell texts (header row first)."""

    def __init__(self):
        super().__init__()
        self.tables, self._row, self._cell = [], None, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._row is not None:
            self._row.append((self._cell or "").strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self.tables:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def verdict_rows(path):
    """(cell index, row dict) for every table row with a verdict column."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            html = "".join(out.get("data", {}).get("text/html", ""))
            if "verdict" not in html:
                continue
            parser = Tables()
            parser.feed(html)
            for table in parser.tables:
                header = next((r for r in table if "verdict" in r), None)
                if header is None:
                    continue
                width = len(header)
                for row in table[table.index(header) + 1:]:
                    cells = row[-width:] if len(row) >= width else row
                    yield i, dict(zip(header, cells))


def derive(row):
    """The rule's verdict from a row's numbers, or None when rounding hides the answer."""
    p = float(row["p_value"]) if row.get("p_value") not in (None, "", "NaN", "nan") else None
    if "ci_low" in row and "ci_high" in row:
        low, high = float(row["ci_low"]), float(row["ci_high"])
    else:
        text = next((v for k, v in row.items() if FORMATTED.fullmatch(v or "")), None)
        if text is None:
            return None
        m = FORMATTED.fullmatch(text)
        low, high = float(m["low"]), float(m["high"])
    if low == 0 or high == 0 or (p is not None and p == metrics.ALPHA):
        return None
    return metrics.verdict({"ci_low": low, "ci_high": high,
                            "p_value": float("nan") if p is None else p})


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.relative_to(paths.NOTEBOOKS).as_posix())
def test_recorded_verdicts_follow_the_one_rule(path):
    wrong, checked = [], 0
    for i, row in verdict_rows(path):
        word = row.get("verdict", "")
        if not word:
            continue  # the second header row of a table with a named index
        if not any(k in row for k in ("ci_low", "p_value")):
            continue  # a table whose "verdict" is prose (07's decision table), not a comparison
        assert word in metrics.VERDICTS, f"cell {i}: verdict {word!r} is not one of {metrics.VERDICTS}"
        expected = derive(row)
        if expected is None:
            continue
        checked += 1
        if expected != word:
            wrong.append(f"cell {i}: {word!r} but the numbers say {expected!r}: {row}")
    assert not wrong, "\n".join(wrong)


def test_some_verdicts_are_checked():
    """The test above must not pass by finding nothing: the lessons show dozens of verdicts."""
    total = sum(1 for path in paths.lessons() for _, row in verdict_rows(path)
                if row.get("verdict") and "p_value" in row and derive(row) is not None)
    assert total >= 20, total
