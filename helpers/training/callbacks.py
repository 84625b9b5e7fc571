"""What the learner sees while a model trains (03_fine_tuning).

``ReadableProgress`` replaces the Trainer's raw log dicts with one readable line per log step
(``step 20/230 · epoch 0.09 · loss 0.8123 · lr 1.00e-04``) under the usual progress bar;
``Evaluate`` measures retrieval quality on a test split at the start, a few times during training
and at the end, so a lesson can draw a learning curve in steps.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback
from transformers.trainer_callback import ProgressCallback

from .. import metrics

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from transformers import TrainingArguments
    from transformers.trainer_callback import TrainerControl, TrainerState

    from ..metrics.retrieval import Split


class ReadableProgress(ProgressCallback):
    """tqdm progress bar (when ``bar``); each log line (when ``lines``) reads
    ``step 20/230 · epoch 0.09 · loss 0.8123 · lr 1.00e-04``."""

    def __init__(self, bar: bool = True, lines: bool = True) -> None:
        super().__init__()
        self.bar, self.lines = bar, lines

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       **kwargs: Any) -> None:
        """Open the progress bar (when ``bar``)."""
        if self.bar:
            super().on_train_begin(args, state, control, **kwargs)

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    **kwargs: Any) -> None:
        """Advance the progress bar (when ``bar``)."""
        if self.bar:
            super().on_step_end(args, state, control, **kwargs)

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                     **kwargs: Any) -> None:
        """Close the progress bar (when it is open)."""
        if self.bar and self.training_bar is not None:
            super().on_train_end(args, state, control, **kwargs)

    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, float] | None = None, **kwargs: Any) -> None:
        """Write one readable line for a log entry that holds the training loss (when ``lines``)."""
        if not self.lines or not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        line = (f"step {state.global_step}/{state.max_steps} · epoch "
                f"{logs.get('epoch', state.epoch or 0):.2f} · loss {logs['loss']:.4f} · lr "
                f"{logs.get('learning_rate', 0):.2e}")
        if self.bar and self.training_bar is not None:
            self.training_bar.write(line)
        else:
            print(line, flush=True)


class Evaluate(TrainerCallback):
    """Measure retrieval quality of ``model`` on ``split`` every ``every`` steps (and at 0 and at
    the end); ``rows`` holds one dict per measurement, ``seconds`` the time it took (not training
    time)."""

    def __init__(self, model: SentenceTransformer, split: Split, every: int,
                 ks: Sequence[int]) -> None:
        self.model, self.split, self.every, self.ks = model, split, every, ks
        self.rows: list[dict] = []
        self.seconds = 0.0

    def _run(self, state):
        start = time.perf_counter()
        was_training = self.model.training
        self.model.eval()  # no dropout while measuring
        try:
            table = metrics.evaluate(self.model, self.split, ks=self.ks, show_progress_bar=False)
        finally:
            self.model.train(was_training)
        row = {"step": state.global_step, "epoch": round(float(state.epoch or 0), 4)}
        for r in table.itertuples(index=False):
            k = getattr(r, "k", None)
            name = r.metric if k is None or k != k else f"{r.metric}@{int(k)}"
            row[name] = float(r.value)
        self.rows.append(row)
        self.seconds += time.perf_counter() - start

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       **kwargs: Any) -> None:
        """Measure before the first step."""
        self._run(state)

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                    **kwargs: Any) -> None:
        """Measure every ``every`` steps (the last step is measured by :meth:`on_train_end`)."""
        if state.global_step % self.every == 0 and state.global_step < state.max_steps:
            self._run(state)

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                     **kwargs: Any) -> None:
        """Measure the trained model."""
        self._run(state)


__all__ = ["Evaluate", "ReadableProgress"]
