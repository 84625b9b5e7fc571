"""The few figures the lessons show: small, labelled matplotlib charts (introduced in 01_why_fine_tune).

Every function draws on a new figure (or on the ``ax`` you pass), labels its axes, and returns the
matplotlib ``Figure``; it never calls ``plt.show()``, so a notebook decides when to show it and a test
can inspect it. Save one with ``fig.savefig("chart.png", dpi=150, bbox_inches="tight")``.

Bad input raises :class:`PlotError` (an :class:`helpers.errors.InputError`, so also a
``ValueError``) with a plain-words message.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from .errors import InputError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .training import Run

    Interval = tuple[float, float]
    """A (low, high) pair."""
    Errors = Mapping[str, Mapping[str, Interval] | tuple[Sequence[float], Sequence[float]]]
    """Error bars: ``{metric: {group: (low, high)}}`` or ``{metric: (lows, highs)}``."""

FIGSIZE = (7, 3.5)
"""The default size of a figure, in inches: readable in a notebook and on GitHub."""


class PlotError(InputError):
    """Bad input to a plotting function; the message says what is wrong and how to fix it."""


def _axes(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize or FIGSIZE, layout="constrained")
    return fig, ax


def _label(name):
    """'recall@10' -> 'Recall@10', 'mrr@10' -> 'MRR@10', for legends and axes."""
    special = {"mrr": "MRR", "ndcg": "NDCG", "map": "MAP"}
    head, _, tail = str(name).partition("@")
    head = special.get(head.lower(), head[:1].upper() + head[1:])
    return f"{head}@{tail}" if tail else head


def _intervals(table, metric_names, errors):
    """{metric: (lows, highs)} aligned with the table's rows, or {} when there are no error bars."""
    out = {}
    for m in metric_names:
        if errors is not None and m in errors:
            given = errors[m]
            if isinstance(given, Mapping):  # {group: (low, high)}
                try:
                    pairs = [given[g] for g in table.index]
                except KeyError as exc:
                    raise PlotError(f"errors[{m!r}] has no interval for {exc.args[0]!r}; give one "
                                    "(low, high) per bar group.") from None
                lows, highs = zip(*pairs)
            else:  # (lows, highs)
                lows, highs = given
            out[m] = (np.asarray(lows, float), np.asarray(highs, float))
        elif f"{m}_ci_low" in table.columns and f"{m}_ci_high" in table.columns:
            out[m] = (table[f"{m}_ci_low"].to_numpy(float), table[f"{m}_ci_high"].to_numpy(float))
        elif len(metric_names) == 1 and {"ci_low", "ci_high"} <= set(table.columns):
            out[m] = (table["ci_low"].to_numpy(float), table["ci_high"].to_numpy(float))
    for m, (lows, highs) in out.items():
        if len(lows) != len(table) or len(highs) != len(table):
            raise PlotError(f"The error bars for {m!r} have {len(lows)} values for {len(table)} groups.")
    return out


def metric_bars(table: pd.DataFrame, metric_names: str | Sequence[str] = ("recall@10", "mrr@10"),
                by: str = "dataset", title: str | None = None, *, errors: Errors | None = None,
                thresholds: Mapping[str, float] | None = None,
                ylim: tuple[float, float] | None = (0, 1.05), values: bool = True,
                ax: Axes | None = None, figsize: tuple[float, float] | None = None) -> Figure:
    """A grouped bar chart: one group per row of ``table``, one bar per metric (01_why_fine_tune).

    ``table``: a DataFrame with a column per metric (e.g. ``recall@10``), one row per dataset or
    model; ``metric_names`` picks the metrics drawn. The groups are named by the column ``by`` when
    the table has it, else by its index (as in ``pd.concat([metrics.wide(t, name) ...])``). A tidy
    table from ``metrics.evaluate`` (columns metric, k, value) is accepted too, as a single group.

    Error bars, optional: ``errors={metric: {group: (low, high)}}`` or ``{metric: (lows, highs)}``,
    else the columns ``<metric>_ci_low`` / ``<metric>_ci_high`` when present (as
    :func:`helpers.explore.score_table` makes them), else ``ci_low`` / ``ci_high`` for a single metric.
    ``thresholds={metric: value}`` draws a dashed target line in that metric's colour (for the seed
    tutorial's targets pass ``metrics.THRESHOLDS``). ``values=True`` writes each bar's value on it.
    Returns the Figure.
    """
    import pandas as pd

    if not isinstance(table, pd.DataFrame) or table.empty:
        raise PlotError("metric_bars needs a non-empty DataFrame with one column per metric.")
    if {"metric", "k", "value"} <= set(table.columns):  # a tidy evaluate() table: one group
        table = pd.DataFrame([{f"{m}@{k}": v for m, k, v in
                               table[["metric", "k", "value"]].itertuples(index=False)}],
                             index=[title or "model"])
    metric_names = [metric_names] if isinstance(metric_names, str) else list(metric_names)
    if not metric_names:
        raise PlotError("Name at least one metric to plot, e.g. "
                        "metric_names=('recall@10', 'mrr@10').")
    if by in table.columns:
        table = table.set_index(by)
    missing = [m for m in metric_names if m not in table.columns]
    if missing:
        raise PlotError(f"The table has no column {missing[0]!r}. Its columns: "
                        f"{', '.join(map(str, table.columns))}.")
    intervals = _intervals(table, metric_names, errors)

    fig, ax = _axes(ax, figsize)
    groups = [str(g) for g in table.index]
    x = np.arange(len(groups))
    width = 0.8 / len(metric_names)
    colors = [f"C{i}" for i in range(len(metric_names))]
    for i, m in enumerate(metric_names):
        heights = table[m].to_numpy(float)
        offset = (i - (len(metric_names) - 1) / 2) * width
        yerr = None
        if m in intervals:
            lows, highs = intervals[m]
            yerr = np.vstack([np.clip(heights - lows, 0, None), np.clip(highs - heights, 0, None)])
        bars = ax.bar(x + offset, heights, width * 0.95, label=_label(m), color=colors[i],
                      yerr=yerr, capsize=3 if yerr is not None else 0,
                      error_kw={"elinewidth": 1, "ecolor": "0.25"})
        if values:
            ax.bar_label(bars, labels=[f"{h:.2f}" for h in heights], label_type="center",
                         fontsize=8, color="white")
        if thresholds and m in thresholds:
            ax.axhline(thresholds[m], color=colors[i], linestyle="--", linewidth=1,
                       label=f"target {_label(m)} > {thresholds[m]:.2f}")
    ax.set_xticks(x, groups)
    ax.set_xlabel(by if by else "")
    ax.set_ylabel("score (higher is better)")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_title(title or " and ".join(_label(m) for m in metric_names) + f" by {by}")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return fig


RANK_BINS = ((1, 1), (2, 3), (4, 10), (11, None))
"""The rank buckets of :func:`rank_distribution`: first, 2-3, 4-10, further down or not found."""


def _bin_label(low, high, depth):
    if high is None:
        return f"rank {low}+ or not in top {depth}" if depth else f"rank {low}+ or not found"
    if low == high:
        return f"rank {low}"
    return f"rank {low}-{high}"


def rank_distribution(ranks: Mapping[str, Iterable[float | None]],
                      bins: Sequence[tuple[int, int | None]] = RANK_BINS, title: str | None = None,
                      *, depth: int | None = None, ax: Axes | None = None,
                      figsize: tuple[float, float] | None = None) -> Figure:
    """Where did the right answer rank? One stacked bar of shares per name (01_why_fine_tune).

    ``ranks`` maps a name (a dataset, a model) to its ranks of the first relevant document, e.g. the
    ``rank`` column of :func:`helpers.explore.rank_of_relevant`; a missing rank (<NA>, None, NaN)
    counts in the last, open-ended bin. ``bins`` are (low, high) ranks, inclusive; high None means
    "and further". Returns the Figure; ``fig.shares`` holds the table of shares it drew.
    """
    import pandas as pd

    if not isinstance(ranks, Mapping) or not ranks:
        raise PlotError("ranks must be a dict {name: ranks}, e.g. {'support': table['rank']}.")
    bins = [tuple(b) for b in bins]
    if not bins or any(len(b) != 2 for b in bins):
        raise PlotError("bins must be (low, high) pairs, e.g. ((1, 1), (2, 3), (4, 10), (11, None)).")
    labels = [_bin_label(lo, hi, depth) for lo, hi in bins]
    rows = {}
    for name, values in ranks.items():
        r = pd.Series(values, dtype="Float64")
        if len(r) == 0:
            raise PlotError(f"No ranks for {name!r}.")
        row = {}
        for (lo, hi), label in zip(bins, labels):
            if hi is None:
                hit = r.isna() | (r >= lo)
            else:
                hit = (r >= lo) & (r <= hi)
            row[label] = float(hit.fillna(False).astype(bool).mean())
        rows[str(name)] = row
    shares = pd.DataFrame.from_dict(rows, orient="index")

    fig, ax = _axes(ax, figsize)
    names = list(shares.index)[::-1]  # first name on top
    left = np.zeros(len(names))
    colors = ["#2e7d32", "#9ccc65", "#ffb74d", "#e53935", "#8e24aa", "#546e7a"]
    text_colors = ["white", "black", "black", "white", "white", "white"]
    for i, label in enumerate(labels):
        widths = shares.loc[names, label].to_numpy(float)
        bars = ax.barh(names, widths, left=left, label=label, color=colors[i % len(colors)],
                       edgecolor="white")
        ax.bar_label(bars, labels=[f"{w:.0%}" if w >= 0.045 else "" for w in widths],
                     label_type="center", fontsize=8, color=text_colors[i % len(colors)])
        left += widths
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_xlabel("share of test queries")
    ax.set_title(title or "Where the right answer ranked")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    fig.shares = shares
    return fig


def compare_bars(scores: pd.DataFrame,
                 metric_names: str | Sequence[str] = ("recall@10", "mrr@10", "ndcg@10", "map@10"),
                 title: str | None = None, *, thresholds: Mapping[str, float] | None = None,
                 ylim: tuple[float, float] | None = (0, 1.05), values: bool = True,
                 ax: Axes | None = None, figsize: tuple[float, float] | None = None) -> Figure:
    """Models side by side, one group of bars per metric, with 95% error bars (05_evaluation).

    ``scores``: a table from :func:`helpers.explore.score_table`, one row per model (the index
    names it) with a column per metric and, for error bars, ``<metric>_ci_low`` / ``_ci_high``;
    ``metric_names`` picks the metrics drawn.
    ``thresholds={metric: value}`` (e.g. ``metrics.THRESHOLDS``) draws a short dashed target line
    over each metric's group. Returns the Figure.
    """
    import pandas as pd

    if not isinstance(scores, pd.DataFrame) or scores.empty:
        raise PlotError("compare_bars needs a non-empty table with one row per model, e.g. from "
                        "explore.score_table({'base': ..., 'fine-tuned': ...}).")
    metric_names = [metric_names] if isinstance(metric_names, str) else list(metric_names)
    missing = [m for m in metric_names if m not in scores.columns]
    if not metric_names or missing:
        raise PlotError(f"The table has no column {(missing or ['(none named)'])[0]!r}. Its columns: "
                        f"{', '.join(map(str, scores.columns))}.")
    fig, ax = _axes(ax, figsize)
    x = np.arange(len(metric_names))
    n = len(scores)
    width = 0.8 / n
    for i, (name, row) in enumerate(scores.iterrows()):
        heights = row[metric_names].to_numpy(float)
        yerr = None
        if all(f"{m}_ci_low" in scores.columns and f"{m}_ci_high" in scores.columns
               for m in metric_names):
            lows = row[[f"{m}_ci_low" for m in metric_names]].to_numpy(float)
            highs = row[[f"{m}_ci_high" for m in metric_names]].to_numpy(float)
            yerr = np.vstack([np.clip(heights - lows, 0, None), np.clip(highs - heights, 0, None)])
        bars = ax.bar(x + (i - (n - 1) / 2) * width, heights, width * 0.95, label=str(name),
                      color=f"C{i}", yerr=yerr, capsize=3 if yerr is not None else 0,
                      error_kw={"elinewidth": 1, "ecolor": "0.25"})
        if values:
            ax.bar_label(bars, labels=[f"{h:.3f}" for h in heights], label_type="center",
                         fontsize=7, color="white", rotation=90)
    if thresholds:
        shown = False
        for j, m in enumerate(metric_names):
            if m in thresholds:
                ax.hlines(thresholds[m], j - 0.45, j + 0.45, colors="0.2", linestyles="--",
                          linewidth=1, label=None if shown else "target (seed tutorial)")
                shown = True
    ax.set_xticks(x, [_label(m) for m in metric_names])
    ax.set_xlabel("metric")
    ax.set_ylabel("score (higher is better)")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_title(title or "Models compared, with 95% bootstrap intervals")
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i] == "target (seed tutorial)")
    ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=8,
              loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return fig


def paired_differences(table: pd.DataFrame, title: str | None = None, *, by: str = "metric",
                       xlabel: str | None = None, ax: Axes | None = None,
                       figsize: tuple[float, float] | None = None) -> Figure:
    """The per-metric difference B - A with its paired 95% interval, one line each (05_evaluation).

    ``table``: the result of :func:`helpers.metrics.compare` (columns metric, diff, ci_low, ci_high
    and, when present, p_value). A dot marks the mean difference, the bar its interval; the dashed
    line is zero, "no difference". A line is green (better) or red (worse) only when the workbook's
    one rule says so (the ``verdict`` column, else ``metrics.verdict`` of the row), grey otherwise.
    ``by``: the column that names each line (``"model"`` for ``synth.compare_all``'s table, one
    model per line, 08_make_pairs); ``xlabel`` replaces the x axis label. Returns the Figure.
    """
    import pandas as pd

    needed = {by, "diff", "ci_low", "ci_high"}
    if not isinstance(table, pd.DataFrame) or table.empty or not needed <= set(table.columns):
        raise PlotError(f"paired_differences reads the table of metrics.compare(per_query_a, "
                        f"per_query_b): columns {by}, diff, ci_low, ci_high.")
    fig, ax = _axes(ax, figsize)
    rows = table.iloc[::-1]  # first metric on top
    y = np.arange(len(rows))
    diff = rows["diff"].to_numpy(float)
    low, high = rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float)
    # green "better", red "worse", grey otherwise: the one rule (metrics.verdict), so a line whose
    # interval misses zero while the randomization test disagrees stays grey
    from .metrics import verdict
    verdicts = [row["verdict"] if "verdict" in rows else verdict(row) for _, row in rows.iterrows()]
    colors = [{"better": "C2", "worse": "C3"}.get(v, "0.5") for v in verdicts]
    for yi, d, lo, hi, color in zip(y, diff, low, high, colors):
        ax.errorbar([d], [yi], xerr=[[max(d - lo, 0)], [max(hi - d, 0)]], fmt="o", color=color,
                    elinewidth=2, capsize=4)
    ax.axvline(0, color="0.2", linestyle="--", linewidth=1)
    for yi, d, hi, p in zip(y, diff, high, rows["p_value"] if "p_value" in rows else [None] * len(rows)):
        note = f"{d:+.3f}" + (f"  (p={p:.3g})" if p is not None else "")
        ax.annotate(note, (hi, yi), xytext=(6, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_yticks(y, [_label(m) for m in rows[by]])
    span = max(abs(low.min()), abs(high.max()), 1e-3)
    ax.set_xlim(min(low.min(), 0) - 0.15 * span, max(high.max(), 0) + 0.6 * span)
    ax.set_xlabel(xlabel or "difference (B - A), with 95% paired bootstrap interval")
    ax.set_title(title or "Paired differences per metric")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    return fig


def _history(name, run):
    """The (step, epoch, loss) table of a Run from helpers.training, or the table itself."""
    import pandas as pd

    table = run if isinstance(run, pd.DataFrame) else getattr(run, "history", None)
    if not isinstance(table, pd.DataFrame):
        raise PlotError(f"runs[{name!r}] is a {type(run).__name__}; give a Run from "
                        "training.fine_tune or its run.history table (columns step, epoch, loss).")
    if "loss" not in table.columns or table["loss"].dropna().empty:
        raise PlotError(f"runs[{name!r}] has no logged training loss (a run of 0 steps, or a "
                        "table without a 'loss' column).")
    return table


def loss_curves(runs: Mapping[str, Run | pd.DataFrame], title: str | None = None, *,
                x: Literal["epoch", "step"] = "epoch", relative: bool = False,
                ax: Axes | None = None, figsize: tuple[float, float] | None = None) -> Figure:
    """The training loss as training went on, one line per run (03_fine_tuning).

    ``runs`` maps a name to a :class:`helpers.training.Run` (its ``history`` is drawn) or to a
    DataFrame with columns ``step``, ``epoch`` and ``loss``. ``x="epoch"`` (the default) puts runs
    of different lengths on one scale, 1.0 being one pass over their data; ``x="step"`` counts
    optimiser steps. Each logged value is the mean loss over the steps since the previous one.

    Losses in different units do not belong on one axis (TripletLoss measures distances, MNRL a
    cross-entropy): draw them on separate axes with ``ax=``, or pass ``relative=True`` to divide
    each curve by its first value and compare their shapes. Returns the Figure.
    """
    if not isinstance(runs, Mapping) or not runs:
        raise PlotError("runs must be a dict {name: run}, e.g. {'MNRL': run} with run from "
                        "training.fine_tune(...).")
    if x not in ("epoch", "step"):
        raise PlotError(f"x must be 'epoch' or 'step', got {x!r}.")
    tables = {str(name): _history(name, run) for name, run in runs.items()}

    fig, ax = _axes(ax, figsize)
    for i, (name, table) in enumerate(tables.items()):
        table = table.dropna(subset=["loss"])
        column = x if x in table.columns and table[x].notna().all() else "step"
        xs = table[column].to_numpy(float)
        ys = table["loss"].to_numpy(float)
        if relative:
            if ys[0] == 0:
                raise PlotError(f"The first logged loss of {name!r} is 0: relative=True cannot "
                                "divide by it.")
            ys = ys / ys[0]
        ax.plot(xs, ys, color=f"C{i}", marker="o" if len(xs) <= 30 else None, markersize=3,
                linewidth=1.5, label=name)
    ax.set_xlabel("epoch (1.0 = one pass over the training data)" if x == "epoch"
                  else "optimiser step")
    ax.set_ylabel("loss / its first value" if relative else "training loss")
    ax.set_title(title or "Training loss")
    if relative:
        ax.axhline(1.0, color="0.5", linestyle=":", linewidth=1)
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(alpha=0.3)
    ax.set_axisbelow(True)
    return fig


def metric_vs_dims(table: pd.DataFrame,
                   metric_names: str | Sequence[str] = ("ndcg@10", "recall@10"),
                   title: str | None = None, *, by: str = "model",
                   reference: Mapping[str, tuple[float, str]] | None = None,
                   figsize: tuple[float, float] | None = None) -> Figure:
    """Quality against embedding size: one panel per metric, one line per model (04_matryoshka).

    ``table``: from :func:`helpers.matryoshka.scores_by_dims`, one row per model and size with the
    columns ``by`` (default ``model``), ``dims`` and each metric of ``metric_names``; when
    ``<metric>_ci_low`` / ``_ci_high`` are there, a shaded band shows the 95% interval. The x axis
    is the number of dimensions on a log scale (each halving is one step), ticked at the sizes in
    the table.
    ``reference={metric: (value, label)}`` draws a dashed horizontal line, e.g. the base model's
    score at full size. Returns the Figure.
    """
    import matplotlib.pyplot as plt
    import pandas as pd

    metric_names = [metric_names] if isinstance(metric_names, str) else list(metric_names)
    if not isinstance(table, pd.DataFrame) or table.empty:
        raise PlotError("metric_vs_dims needs a non-empty table with one row per model and size, "
                        "e.g. from matryoshka.scores_by_dims(...)[0].")
    needed = [by, "dims"] + metric_names
    missing = [c for c in needed if c not in table.columns]
    if not metric_names or missing:
        raise PlotError(f"The table has no column {(missing or ['(no metric named)'])[0]!r}. Its "
                        f"columns: {', '.join(map(str, table.columns))}.")
    reference = reference or {}
    fig, axes = plt.subplots(1, len(metric_names), figsize=figsize or (4 * len(metric_names), 3.5),
                             layout="constrained", squeeze=False)
    sizes = sorted({int(d) for d in table["dims"]})
    for ax, m in zip(axes[0], metric_names):
        for i, (name, rows) in enumerate(table.groupby(by, sort=False)):
            rows = rows.sort_values("dims")
            x, y = rows["dims"].to_numpy(float), rows[m].to_numpy(float)
            ax.plot(x, y, marker="o", color=f"C{i}", label=str(name))
            if {f"{m}_ci_low", f"{m}_ci_high"} <= set(rows.columns):
                ax.fill_between(x, rows[f"{m}_ci_low"].to_numpy(float),
                                rows[f"{m}_ci_high"].to_numpy(float), color=f"C{i}", alpha=0.15,
                                linewidth=0)
        if m in reference:
            value, label = reference[m]
            ax.axhline(value, color="0.3", linestyle="--", linewidth=1, label=label)
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, [str(s) for s in sizes])
        ax.minorticks_off()
        ax.set_xlabel("dimensions kept")
        ax.set_ylabel("score (higher is better)")
        ax.set_title(_label(m))
        ax.grid(alpha=0.3)
        ax.set_axisbelow(True)
    axes[0][0].legend(fontsize=8, loc="lower right")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def learning_curve(summary: pd.DataFrame, metric: str = "recall@10", title: str | None = None, *,
                   ax: Axes | None = None, figsize: tuple[float, float] | None = None) -> Figure:
    """Quality against the number of training pairs, with its uncertainty (07_when_to_fine_tune).

    ``summary``: the table of :func:`helpers.costs.summarise` (columns n, metric, mean, base,
    band_low, band_high, seed_min, seed_max, significant). The line is the mean over seeds, the shaded
    band its 95% bootstrap interval over the test queries, the thin vertical bars the range of the
    single seeds, the dashed line the base model. A filled dot marks a size whose gain over the base
    is significant (paired test), a hollow one a size where it is not. The x axis is logarithmic.
    Returns the Figure.
    """
    import pandas as pd

    needed = {"n", "metric", "mean", "base", "band_low", "band_high", "significant"}
    if not isinstance(summary, pd.DataFrame) or summary.empty or not needed <= set(summary.columns):
        raise PlotError("learning_curve reads the table of costs.summarise(curve, split): columns "
                        "n, metric, mean, base, band_low, band_high, significant.")
    rows = summary[summary["metric"] == metric].sort_values("n")
    if rows.empty:
        raise PlotError(f"No rows for metric {metric!r}; the table has "
                        f"{', '.join(sorted(summary['metric'].unique()))}.")
    fig, ax = _axes(ax, figsize)
    n = rows["n"].to_numpy(float)
    mean = rows["mean"].to_numpy(float)
    ax.fill_between(n, rows["band_low"].to_numpy(float), rows["band_high"].to_numpy(float),
                    color="C0", alpha=0.2, linewidth=0, label="95% interval (test queries)")
    if {"seed_min", "seed_max"} <= set(rows.columns):
        ax.vlines(n, rows["seed_min"].to_numpy(float), rows["seed_max"].to_numpy(float),
                  color="C0", linewidth=1, alpha=0.7)
    ax.plot(n, mean, color="C0", linewidth=1.5, label="fine-tuned, mean over seeds")
    sig = rows["significant"].to_numpy(bool)
    ax.scatter(n[sig], mean[sig], color="C0", zorder=3, s=28, label="gain significant")
    ax.scatter(n[~sig], mean[~sig], facecolor="white", edgecolor="C0", zorder=3, s=28,
               label="gain not significant")
    ax.axhline(float(rows["base"].iloc[0]), color="0.3", linestyle="--", linewidth=1,
               label="base model")
    ax.set_xscale("log")
    ax.set_xticks(n, [f"{int(v):,}" for v in n])
    ax.minorticks_off()
    ax.set_xlabel("training pairs (log scale)")
    ax.set_ylabel(_label(metric))
    ax.set_title(title or f"{_label(metric)} against the number of training pairs")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    ax.set_axisbelow(True)
    return fig


def index_tradeoff(table: pd.DataFrame, target: float = 0.95, title: str | None = None, *,
                   figsize: tuple[float, float] | None = None) -> Figure:
    """Speed against faithfulness, one panel per embedding size (09_scale_out): each index of
    :func:`helpers.vector_index.compare` is a point at its milliseconds per query (log scale) and
    its recall against exact search, labelled with its method and memory; a dashed line marks
    ``target``. Up and to the left is better. Returns the Figure."""
    import matplotlib.pyplot as plt
    import pandas as pd

    needed = ["dims", "method", "ms/query", "recall vs exact", "index MB"]
    if not isinstance(table, pd.DataFrame) or table.empty or any(
            c not in table.columns for c in needed):
        raise PlotError("index_tradeoff needs the table of vector_index.compare(...), with the "
                        f"columns {', '.join(needed)}.")
    sizes = sorted({int(d) for d in table["dims"]}, reverse=True)
    fig, axes = plt.subplots(1, len(sizes), figsize=figsize or (5 * len(sizes), 3.8),
                             layout="constrained", squeeze=False, sharey=True)
    methods = list(dict.fromkeys(table["method"]))
    for ax, size in zip(axes[0], sizes):
        for _, row in table[table["dims"] == size].iterrows():
            i = methods.index(row["method"])
            ax.scatter(row["ms/query"], row["recall vs exact"], s=60, color=f"C{i}",
                       label=row["method"], zorder=3)
            ax.annotate(f"{row['index MB']:,.0f} MB" + (
                f" (+{row['rescore MB']:,.0f} to rescore)" if row.get("rescore MB", 0) else ""),
                (row["ms/query"], row["recall vs exact"]), textcoords="offset points",
                xytext=(6, -10 if i % 2 else 5), fontsize=7, color="0.25")
        ax.axhline(target, color="0.3", linestyle="--", linewidth=1)
        ax.set_xscale("log")
        ax.set_xlabel("milliseconds per query, one at a time (log scale)")
        ax.set_title(f"{size} dimensions")
        ax.grid(alpha=0.3, which="both")
        ax.set_axisbelow(True)
    axes[0][0].set_ylabel("share of exact search's top 10 found")
    axes[0][0].legend(fontsize=8, loc="lower left")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig
