"""helpers.plots.metric_vs_dims (notebook 04) on a small hand-made table."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from helpers import plots  # noqa: E402


@pytest.fixture()
def table():
    rows = []
    for model, scores in (("base", [0.6, 0.55, 0.4]), ("matryoshka", [0.7, 0.69, 0.65])):
        for dims, value in zip((384, 64, 32), scores):
            rows.append({"model": model, "dims": dims, "ndcg@10": value, "recall@10": value + 0.1,
                         "ndcg@10_ci_low": value - 0.02, "ndcg@10_ci_high": value + 0.02})
    return pd.DataFrame(rows)


def test_metric_vs_dims_draws_one_panel_per_metric(table):
    fig = plots.metric_vs_dims(table, title="toy", reference={"ndcg@10": (0.6, "base at 384")})
    axes = fig.axes
    assert len(axes) == 2
    assert [ax.get_title() for ax in axes] == ["NDCG@10", "Recall@10"]
    assert all(ax.get_xscale() == "log" for ax in axes)
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["32", "64", "384"]
    labels = axes[0].get_legend_handles_labels()[1]
    assert labels == ["base", "matryoshka", "base at 384"]
    assert len(axes[0].collections) == 2          # a shaded interval per model (ndcg has CIs)
    assert len(axes[1].collections) == 0          # recall has none in this table
    x, y = axes[0].lines[1].get_data()
    assert list(x) == [32, 64, 384] and list(y) == [0.65, 0.69, 0.7]
    plt.close(fig)


def test_metric_vs_dims_single_metric_and_errors(table):
    fig = plots.metric_vs_dims(table, metric_names="recall@10")
    assert len(fig.axes) == 1
    plt.close(fig)
    with pytest.raises(plots.PlotError, match="no column 'map@10'"):
        plots.metric_vs_dims(table, metric_names=["map@10"])
    with pytest.raises(plots.PlotError, match="non-empty"):
        plots.metric_vs_dims(pd.DataFrame())
    with pytest.raises(plots.PlotError, match="no column 'model'"):
        plots.metric_vs_dims(table.drop(columns="model"))
