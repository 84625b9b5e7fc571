"""Is the Hugging Face hub reachable? Asked once, when first needed (introduced in 00_setup).

``is_online()`` makes one quick connection attempt (1.5 s at most) the first time something needs the
hub (``models.load`` of a hub model, ``data.load`` of a hub dataset, the environment report), and
remembers the answer. Offline, it also sets ``HF_HUB_OFFLINE=1`` so that the Hugging Face libraries
never wait on network time-outs either; a workshop on bad Wi-Fi decides in milliseconds.
``import helpers`` itself opens no connection.
"""
from __future__ import annotations

import os
import socket
import sys

_ONLINE: bool | None = None
_TRUE = {"1", "true", "yes", "on"}


def offline_by_setting() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) says so ("1", "true", "yes", "on")."""
    return any(os.environ.get(name, "").strip().lower() in _TRUE
               for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def go_offline() -> None:
    """From here on, the Hugging Face libraries must not try the network (no retries, no waiting)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:  # already imported: it read the variable at import time
        constants.HF_HUB_OFFLINE = True


def is_online(timeout: float = 1.5, refresh: bool = False) -> bool:
    """Can we reach the Hugging Face hub? Decided once, quickly; honours ``HF_HUB_OFFLINE``."""
    global _ONLINE
    if offline_by_setting():
        return False
    if _ONLINE is not None and not refresh:
        return _ONLINE
    host = os.environ.get("HF_ENDPOINT", "https://huggingface.co").split("://")[-1].split("/")[0]
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            _ONLINE = True
    except OSError:
        _ONLINE = False
        go_offline()
    return _ONLINE


__all__ = ["go_offline", "is_online", "offline_by_setting"]
