"""helpers: the small, tested package behind the Fine-tuning Embeddings workbook.

Each module is introduced by one notebook and reused by the others:
device, models, profiles, results, paths (00) · data (02) · training (03) · metrics (05) · plots.
Import what you need: ``from helpers import device, models, data``.
"""
__version__ = "0.1.0"


def _decide_network_once() -> None:
    """Offline? Say so to the Hugging Face libraries before they are imported, so nothing waits.

    huggingface_hub reads HF_HUB_OFFLINE when it is first imported; deciding here (one connection
    attempt, milliseconds when there is no network) keeps a workshop on bad Wi-Fi from hanging.
    """
    import os

    if "HF_HUB_OFFLINE" in os.environ:
        return
    from .models import is_online

    is_online()


_decide_network_once()
