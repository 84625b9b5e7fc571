"""What this run uses: Python and library versions, the device, Colab, the network (00_setup).

``report()`` is the table notebook 00 shows before anything else, so a learner (or an instructor
reading a screenshot) sees at once which versions, device and network the numbers come from.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from . import device, network

if TYPE_CHECKING:
    import pandas as pd


def report() -> pd.DataFrame:
    """A small table of what this run uses: versions, device, Colab, network (introduced in
    00_setup)."""
    import platform

    import pandas as pd

    def version(pkg: str) -> str:
        try:
            from importlib.metadata import version as v
            return v(pkg)
        except Exception:
            return "not installed"

    info = device.detect()
    rows = [
        ("Python", platform.python_version()),
        ("torch", version("torch")),
        ("sentence-transformers", version("sentence-transformers")),
        ("transformers", version("transformers")),
        ("datasets", version("datasets")),
        ("device", info.summary()),
        ("advice", info.advice()),
        ("Colab", "yes" if info.is_colab else "no"),
        ("network", "online: models can come from the Hugging Face hub" if network.is_online()
         else "offline: bundled model and data only"),
    ]
    return pd.DataFrame(rows, columns=["item", "value"]).set_index("item")
