"""helpers.plots.loss_curves (notebook 03) on small hand-made training histories: no model, no
training, milliseconds."""
import matplotlib

matplotlib.use("Agg")

from types import SimpleNamespace  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from helpers import plots  # noqa: E402


def history(losses, steps_per_epoch=10):
    steps = np.arange(1, len(losses) + 1) * 2
    return pd.DataFrame({"step": steps, "epoch": steps / steps_per_epoch, "loss": losses})


@pytest.fixture()
def runs():
    # one Run-like object (anything with .history) and one bare history table
    return {"long": SimpleNamespace(history=history([2.0, 1.0, 0.5, 0.4], steps_per_epoch=8)),
            "short": history([4.0, 3.0], steps_per_epoch=4)}


def test_one_line_per_run_on_the_epoch_scale(runs):
    fig = plots.loss_curves(runs, title="losses")
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert len(lines) == 2
    np.testing.assert_allclose(lines[0].get_xdata(), [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(lines[0].get_ydata(), [2.0, 1.0, 0.5, 0.4])
    np.testing.assert_allclose(lines[1].get_xdata(), [0.5, 1.0])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["long", "short"]
    assert ax.get_title() == "losses"
    assert "epoch" in ax.get_xlabel() and ax.get_ylabel() == "training loss"
    plt.close(fig)


def test_steps_and_relative_scale(runs):
    fig = plots.loss_curves(runs, x="step", relative=True)
    ax = fig.axes[0]
    first, second = ax.get_lines()[:2]
    np.testing.assert_allclose(first.get_xdata(), [2, 4, 6, 8])
    np.testing.assert_allclose(first.get_ydata(), [1.0, 0.5, 0.25, 0.2])
    np.testing.assert_allclose(second.get_ydata(), [1.0, 0.75])
    assert ax.get_xlabel() == "optimiser step" and "first value" in ax.get_ylabel()
    plt.close(fig)


def test_draws_on_a_given_axis_and_falls_back_to_steps_without_epochs():
    fig, (left, right) = plt.subplots(1, 2)
    table = history([1.0, 0.8]).assign(epoch=np.nan)
    out = plots.loss_curves({"a": table}, ax=right)
    assert out is fig and not left.get_lines() and len(right.get_lines()) == 1
    np.testing.assert_allclose(right.get_lines()[0].get_xdata(), [2, 4])
    plt.close(fig)


@pytest.mark.parametrize("bad, message", [
    ({}, "dict"),
    ([1, 2], "dict"),
    ({"a": [1.0, 0.5]}, "Run from"),
    ({"a": pd.DataFrame(columns=["step", "epoch", "loss"])}, "no logged training loss"),
    ({"a": pd.DataFrame({"step": [1], "value": [0.3]})}, "no logged training loss"),
])
def test_bad_input_is_explained(bad, message):
    with pytest.raises(plots.PlotError, match=message):
        plots.loss_curves(bad)


def test_unknown_x_and_zero_first_loss():
    with pytest.raises(plots.PlotError, match="'epoch' or 'step'"):
        plots.loss_curves({"a": history([1.0])}, x="time")
    with pytest.raises(plots.PlotError, match="first logged loss"):
        plots.loss_curves({"a": history([0.0, 0.0])}, relative=True)
    plt.close("all")
