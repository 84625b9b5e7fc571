"""Is model B better than model A on the same queries? Paired intervals and tests (05_evaluation).

``compare(per_query_a, per_query_b)`` gives, per metric, the mean difference, a paired bootstrap
interval, a paired randomization test and the verdict; ``bootstrap_ci``, ``randomization_p_value``,
``ci_halfwidth`` and ``planned_halfwidth`` are its parts, usable on their own.

The workbook's one significance rule is :func:`verdict`: a difference is called "better" (or
"worse") only when the whole 95% paired bootstrap interval lies above (below) zero *and* the paired
randomization test agrees (p < 0.05); anything else is "no measurable difference". Both, because
each fails alone in a way a learner meets: on a small test set where a few queries moved, all the
same way, the bootstrap never draws one that moved the other way and its percentile interval comes
out too narrow, while the randomization test (which asks how often random sign flips give a mean as
large) does not; and a p-value alone says nothing about how large the difference may be. No
correction for many comparisons is applied by default: a lesson that tests many sizes or metrics
at once says so and divides ``alpha`` (Bonferroni) where it matters. :func:`format_diff` is the one
way the workbook writes a difference with its interval: ``+0.040 (+0.028 to +0.051)``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from .ranking import MetricsError

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import ArrayLike

ALPHA = 0.05
"""The significance level of the one rule (a 95% interval, p < 0.05)."""
VERDICTS = ("better", "no measurable difference", "worse")
"""The only three words the workbook uses for a comparison."""
Verdict = Literal["better", "no measurable difference", "worse"]

# --------------------------------------------------------------------------------------------------
# 5. Is B better than A? Paired comparison on the same queries
# --------------------------------------------------------------------------------------------------

def _blocks(n_resamples, n, budget=2_000_000):
    """Split n_resamples into blocks of at most ``budget`` numbers each (a few MB)."""
    step = max(1, budget // max(n, 1))
    for start in range(0, n_resamples, step):
        yield min(step, n_resamples - start)


def _check_resamples(n_resamples):
    if (isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer))
            or n_resamples < 1):
        raise MetricsError(f"n_resamples must be a whole number of 1 or more (1,000+ is usual), "
                           f"got {n_resamples!r}.")


def bootstrap_ci(values: ArrayLike, n_resamples: int = 2000, seed: int = 0,
                 alpha: float = 0.05) -> tuple[float, float]:
    """Percentile bootstrap interval for the mean of ``values`` (e.g. per-query differences).

    Draw the queries with replacement ``n_resamples`` times, take each draw's mean, and report the
    alpha/2 and 1 - alpha/2 quantiles of those means: a 95% interval by default.
    """
    _check_resamples(n_resamples)
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = np.concatenate([
        values[rng.integers(0, len(values), size=(size, len(values)))].mean(axis=1)
        for size in _blocks(n_resamples, len(values))])
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def randomization_p_value(differences: ArrayLike, n_resamples: int = 2000, seed: int = 0) -> float:
    """Two-sided paired randomization (sign-flip) test of "the mean difference is zero".

    If A and B were interchangeable, each query's difference would be as likely negative as
    positive. Flip the signs at random ``n_resamples`` times and count how often the mean is at
    least as far from zero as the one observed; (count + 1) / (n_resamples + 1) is the p-value.
    """
    _check_resamples(n_resamples)
    differences = np.asarray(differences, dtype=float)
    observed = abs(differences.mean())
    rng = np.random.default_rng(seed)
    count = 0
    for size in _blocks(n_resamples, len(differences)):
        signs = rng.choice([-1.0, 1.0], size=(size, len(differences)))
        flipped = np.abs((signs * differences).mean(axis=1))
        count += int((flipped >= observed - 1e-12).sum())
    return (count + 1) / (n_resamples + 1)


def verdict(row: Mapping[str, Any] | pd.Series, alpha: float = ALPHA) -> Verdict:
    """The workbook's one significance rule, in its three words (introduced in 05_evaluation).

    "better" when the whole paired bootstrap interval of B minus A (``ci_low`` .. ``ci_high``, at
    the ``1 - alpha`` level it was computed for) lies above zero *and* the paired randomization test
    agrees (``p_value`` < ``alpha``); "worse" when both say the opposite; "no measurable difference"
    otherwise. A row without a ``p_value`` (None or NaN: no test was run) is judged by the interval
    alone. Why both: see the module docstring.
    """
    p = row.get("p_value", None) if hasattr(row, "get") else None
    confirmed = p is None or p != p or p < alpha
    if row["ci_low"] > 0 and confirmed:
        return "better"
    if row["ci_high"] < 0 and confirmed:
        return "worse"
    return "no measurable difference"


def is_significant(row: Mapping[str, Any] | pd.Series, alpha: float = ALPHA) -> bool:
    """True when :func:`verdict` calls the difference "better" or "worse"."""
    return verdict(row, alpha) != "no measurable difference"


def format_diff(diff: float, low: float, high: float, digits: int = 3, signed: bool = True) -> str:
    """The one way the workbook writes an estimate with its interval (introduced in 03_fine_tuning).

    ``format_diff(0.0396, 0.028, 0.051)`` is ``"+0.040 (+0.028 to +0.051)"``; with
    ``signed=False`` (a score, not a difference) ``"0.612 (0.594 to 0.630)"``.

    >>> format_diff(0.0396, 0.028, 0.051)
    '+0.040 (+0.028 to +0.051)'
    >>> format_diff(0.612, 0.594, 0.63, signed=False)
    '0.612 (0.594 to 0.630)'
    """
    spec = f"{'+' if signed else ''}.{digits}f"
    return f"{diff:{spec}} ({low:{spec}} to {high:{spec}})"


def _aligned(per_query_a, per_query_b):
    """Both per-query tables on the same qids in the same order, or a clear error."""
    import pandas as pd

    for name, table in (("per_query_a", per_query_a), ("per_query_b", per_query_b)):
        if not isinstance(table, pd.DataFrame) or table.empty:
            raise MetricsError(f"{name} must be a non-empty per-query DataFrame, e.g. from "
                               "evaluate_per_query(model, split).per_query.")
        if table.index.has_duplicates:
            raise MetricsError(f"{name} lists a query twice; its index must hold each qid once.")
    only_a = per_query_a.index.difference(per_query_b.index)
    only_b = per_query_b.index.difference(per_query_a.index)
    if len(only_a) or len(only_b):
        examples = ", ".join(repr(q) for q in list(only_a[:2]) + list(only_b[:2]))
        raise MetricsError(f"The two per-query tables must cover the same queries: {len(only_a)} "
                           f"are only in A and {len(only_b)} only in B (e.g. {examples}). Evaluate "
                           "both models on the same split.")
    return per_query_a, per_query_b.loc[per_query_a.index]


def compare(per_query_a: pd.DataFrame, per_query_b: pd.DataFrame,
            metric_names: str | Sequence[str] | None = None, n_resamples: int = 2000,
            seed: int = 0, alpha: float = 0.05) -> pd.DataFrame:
    """Is model B better than model A on the same queries? One row per metric (introduced in
    03_fine_tuning).

    Columns: metric, mean_a, mean_b, diff (B - A), ci_low / ci_high (paired bootstrap interval of
    the difference, 95% by default), p_value (paired randomization test) and verdict (the one rule,
    :func:`verdict`). Pairing matters: both models answered the same queries, so we look at the
    per-query differences rather than at two separate averages.
    """
    import pandas as pd

    a, b = _aligned(per_query_a, per_query_b)
    if metric_names is None:
        names = [column for column in a.columns if column in b.columns]
    elif isinstance(metric_names, str):
        names = [metric_names]
    else:
        names = list(metric_names)
    missing = [m for m in names if m not in a.columns or m not in b.columns]
    if missing or not names:
        raise MetricsError(f"Metrics {missing or names} are not columns of both tables; "
                           f"available: {[c for c in a.columns if c in b.columns]}.")
    rows = []
    for metric in names:
        differences = b[metric].to_numpy(float) - a[metric].to_numpy(float)
        low, high = bootstrap_ci(differences, n_resamples, seed, alpha)
        rows.append({"metric": metric, "mean_a": float(a[metric].mean()),
                     "mean_b": float(b[metric].mean()), "diff": float(differences.mean()),
                     "ci_low": low, "ci_high": high,
                     "p_value": randomization_p_value(differences, n_resamples, seed)})
    table = pd.DataFrame(rows)
    table["verdict"] = [verdict(row, alpha) for _, row in table.iterrows()]
    return table


def ci_halfwidth(values: ArrayLike, n_resamples: int = 2000, seed: int = 0,
                 alpha: float = 0.05) -> float:
    """Half the width of the bootstrap interval for the mean of ``values``: the "±" of a result.

    Try it on per-query differences from a small test set: with 10 queries it is often ±0.3.
    """
    low, high = bootstrap_ci(values, n_resamples, seed, alpha)
    return (high - low) / 2


WORST_SD = {"paired": 1.0, "single": 0.5}
"""The largest spread a per-query 0/1 score can have (0.5: half the queries 1, half 0) and the
largest a paired difference of two such scores can have (1.0: each query -1 or +1, half each)."""


def planned_halfwidth(n_queries: int, sd: float | None = None, alpha: float = 0.05,
                      paired: bool = True) -> float:
    """The worst-case "±" to expect before collecting data: z * sd / sqrt(n_queries) (normal
    approximation; introduced in 05_evaluation).

    ``paired=True`` (the default) is the "±" of a *difference* between two models on the same
    queries, the number a before/after comparison reports: each query's difference of two 0/1 scores
    (Recall@10 with one relevant document) is -1, 0 or +1, whose spread can reach 1.0, so
    ``planned_halfwidth(30)`` is about 0.36 and ``planned_halfwidth(100)`` about 0.20.
    ``paired=False`` is the "±" of one model's score (spread at most 0.5): about 0.18 for 30 queries.
    ``sd`` replaces the worst case with a spread you measured.
    """
    from statistics import NormalDist

    if n_queries < 1:
        raise MetricsError(f"n_queries must be 1 or more, got {n_queries!r}.")
    if sd is None:
        sd = WORST_SD["paired" if paired else "single"]
    return NormalDist().inv_cdf(1 - alpha / 2) * sd / math.sqrt(n_queries)
