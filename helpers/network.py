"""Is the Hugging Face hub reachable? Asked once, when first needed (introduced in 00_setup).

``is_online()`` asks the hub one bounded question the first time something needs it (``profiles.start``,
the first call of every lesson; ``models.load`` of a hub model; ``data.load`` of a hub dataset):
an HTTPS request to the hub's address, name lookup, connection, TLS handshake and answer included,
that must finish within ``timeout`` seconds (1.5 by default) or counts as "offline". It honours the
standard proxy variables (``HTTPS_PROXY`` ...), so a laptop behind a proxy is asked the same way its
browser is, and a captive portal or a proxy that accepts connections but never answers costs those
seconds, not minutes. The answer is remembered. Offline, it also sets ``HF_HUB_OFFLINE=1`` so that
the Hugging Face libraries never wait on the network either; online, it gives their own requests a
time limit (``HF_HUB_ETAG_TIMEOUT``, ``HF_HUB_DOWNLOAD_TIMEOUT``) unless you set one.
``import helpers`` itself opens no connection.
"""
from __future__ import annotations

import os
import sys
import threading
import urllib.error
import urllib.request

_ONLINE: bool | None = None
_TRUE = {"1", "true", "yes", "on"}
HUB_TIMEOUTS = {"HF_HUB_ETAG_TIMEOUT": 10, "HF_HUB_DOWNLOAD_TIMEOUT": 30}
"""Seconds the Hugging Face libraries may wait for a metadata answer and for a download chunk."""


def offline_by_setting() -> bool:
    """True when ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``) says so ("1", "true", "yes", "on")."""
    return any(os.environ.get(name, "").strip().lower() in _TRUE
               for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def _set_hub_constant(name: str, value) -> None:
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:  # already imported: it read the variables at import time
        setattr(constants, name, value)


def go_offline() -> None:
    """From here on, the Hugging Face libraries must not try the network (no retries, no waiting)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    _set_hub_constant("HF_HUB_OFFLINE", True)


def limit_hub_waits() -> None:
    """Give the Hugging Face libraries' own requests a time limit, unless one is set already."""
    for name, seconds in HUB_TIMEOUTS.items():
        if name not in os.environ:
            os.environ[name] = str(seconds)
            _set_hub_constant(name, seconds)


def hub_url() -> str:
    """The hub's address (``HF_ENDPOINT`` moves it, e.g. to a mirror)."""
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def reachable(url: str, timeout: float = 1.5) -> bool:
    """Does ``url`` answer an HTTP(S) request within ``timeout`` seconds, everything included?

    Any HTTP answer counts (even an error status: something answered). The request runs in a
    background thread, so a name lookup or a handshake that ignores socket time-outs cannot hold the
    caller longer than ``timeout``.
    """
    answered = threading.Event()

    def ask():
        try:
            request = urllib.request.Request(url, method="HEAD")
            with urllib.request.urlopen(request, timeout=timeout):
                pass
            answered.set()
        except urllib.error.HTTPError:
            answered.set()
        except Exception:  # no name, refused, reset, TLS failure, time-out: not reachable
            pass

    worker = threading.Thread(target=ask, name="workbook-online-check", daemon=True)
    worker.start()
    worker.join(timeout)
    return answered.is_set()


def is_online(timeout: float = 1.5, refresh: bool = False) -> bool:
    """Can we reach the Hugging Face hub? Decided once, within ``timeout`` seconds; honours
    ``HF_HUB_OFFLINE`` (introduced in 00_setup)."""
    global _ONLINE
    if offline_by_setting():
        return False
    if _ONLINE is not None and not refresh:
        return _ONLINE
    _ONLINE = reachable(hub_url(), timeout)
    if _ONLINE:
        limit_hub_waits()
    else:
        go_offline()
    return _ONLINE


__all__ = ["HUB_TIMEOUTS", "go_offline", "hub_url", "is_online", "limit_hub_waits",
           "offline_by_setting", "reachable"]
