"""helpers.plots.learning_curve (notebook 07) on a hand-made summary table."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from helpers import plots  # noqa: E402


def summary():
    n = [25, 100, 1000]
    rows = []
    for metric, base, means in (("recall@10", 0.70, [0.70, 0.72, 0.80]),
                                ("ndcg@10", 0.55, [0.55, 0.57, 0.64])):
        for size, mean, sig in zip(n, means, [False, False, True]):
            rows.append({"n": size, "metric": metric, "base": base, "mean": mean,
                         "band_low": mean - 0.03, "band_high": mean + 0.03,
                         "seed_min": mean - 0.01, "seed_max": mean + 0.01, "significant": sig})
    return pd.DataFrame(rows)


def test_learning_curve_draws_what_the_table_says():
    fig = plots.learning_curve(summary(), "recall@10")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert ax.get_ylabel() == "Recall@10" and "training pairs" in ax.get_xlabel()
    line = [ln for ln in ax.get_lines() if ln.get_label().startswith("fine-tuned")][0]
    assert list(line.get_xdata()) == [25, 100, 1000]
    assert np.allclose(line.get_ydata(), [0.70, 0.72, 0.80])
    base = [ln for ln in ax.get_lines() if ln.get_label() == "base model"][0]
    assert base.get_ydata()[0] == pytest.approx(0.70)
    filled = [c for c in ax.collections if c.get_label() == "gain significant"][0]
    hollow = [c for c in ax.collections if c.get_label() == "gain not significant"][0]
    assert len(filled.get_offsets()) == 1 and len(hollow.get_offsets()) == 2
    assert [t.get_text() for t in ax.get_xticklabels()] == ["25", "100", "1,000"]
    plt.close(fig)


def test_learning_curve_on_a_given_axis_and_other_metric():
    fig, axes = plt.subplots(1, 2)
    out = plots.learning_curve(summary(), "ndcg@10", title="support", ax=axes[1])
    assert out is fig and axes[1].get_title() == "support" and axes[1].get_ylabel() == "NDCG@10"
    plt.close(fig)


def test_learning_curve_bad_input():
    with pytest.raises(plots.PlotError, match="costs.summarise"):
        plots.learning_curve(pd.DataFrame({"n": [1]}))
    with pytest.raises(plots.PlotError, match="No rows for metric 'mrr@10'"):
        plots.learning_curve(summary(), "mrr@10")
