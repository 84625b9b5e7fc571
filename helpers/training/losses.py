"""The loss functions ``fine_tune`` can train with, and one batch's loss (03_fine_tuning).

``build_loss(model, "mnrl")`` returns the sentence-transformers loss object (optionally wrapped in
MatryoshkaLoss); ``batch_loss(model, rows)`` computes it on a few rows without training, so a lesson
can show that training lowered it.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .settings import LOSSES, Loss, TrainingError, check_train_data

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

    from .settings import TrainData


def build_loss(model: SentenceTransformer, loss: Loss = "mnrl",
               matryoshka_dims: Sequence[int] | None = None,
               settings: dict[str, Any] | None = None,
               guide: SentenceTransformer | None = None,
               gather_across_devices: bool = False) -> torch.nn.Module:
    """The sentence-transformers loss object for ``loss`` (see :data:`LOSSES`), optionally wrapped
    in MatryoshkaLoss (introduced in 04_matryoshka). ``guide`` is the frozen base model for
    ``"gist"``. ``gather_across_devices``: in data-parallel training
    (``helpers.training.distributed``) the in-batch-negative losses score each anchor against the
    batches of every process, not only its own (ignored by ``"triplet"``: no in-batch
    negatives)."""
    from sentence_transformers.sentence_transformer import losses

    settings = settings or {}
    scale = float(settings.get("scale", 20.0))
    gather = bool(gather_across_devices)
    if loss == "mnrl":
        base = losses.MultipleNegativesRankingLoss(model, scale=scale,
                                                   gather_across_devices=gather)
    elif loss == "mnrl_symmetric":
        base = losses.MultipleNegativesRankingLoss(
            model, scale=scale, directions=("query_to_doc", "doc_to_query"),
            gather_across_devices=gather)
    elif loss == "cached_mnrl":
        base = losses.CachedMultipleNegativesRankingLoss(
            model, scale=scale, mini_batch_size=int(settings.get("mini_batch_size", 32)),
            gather_across_devices=gather)
    elif loss == "triplet":
        base = losses.TripletLoss(model)
    elif loss == "gist":
        if guide is None:
            raise TrainingError("loss='gist' needs a guide model (the frozen base model).")
        base = losses.GISTEmbedLoss(model, guide, gather_across_devices=gather)
    else:
        raise TrainingError(f"Unknown loss {loss!r}: choose one of {', '.join(LOSSES)}.")
    if matryoshka_dims:
        dims = sorted({int(d) for d in matryoshka_dims}, reverse=True)
        full = model.get_embedding_dimension()
        if any(d <= 0 or d > full for d in dims):
            raise TrainingError(f"matryoshka_dims must lie between 1 and the model's {full} "
                                f"dimensions; got {list(matryoshka_dims)}.")
        base = losses.MatryoshkaLoss(model, base, matryoshka_dims=dims)
    return base


def batch_loss(model: SentenceTransformer, data: TrainData, loss: Loss = "mnrl") -> float:
    """The loss of ``model`` on the rows of ``data`` taken as one batch, without training (dropout
    off; introduced in 03_fine_tuning). Handy to show that training lowered it: compare before and
    after on the same rows."""
    import torch

    data = check_train_data(data, loss)
    loss_obj = build_loss(model, loss)
    was_training = model.training
    model.eval()
    try:
        features = [model.preprocess(list(data[col])) for col in data.column_names]
        features = [{k: v.to(model.device) if hasattr(v, "to") else v for k, v in f.items()}
                    for f in features]
        with torch.no_grad():
            value = loss_obj(features, None)
    finally:
        model.train(was_training)
    return float(value)
