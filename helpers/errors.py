"""One base for every error the workbook raises on purpose (introduced in 00_setup).

Each module has its own error (``data.DataError``, ``metrics.MetricsError``, ...) whose message says
what is wrong and how to fix it; all of them derive from :class:`WorkbookError`, so a notebook or a
tool can catch "a problem the workbook explained" in one ``except`` and let real bugs through.
"""
from __future__ import annotations

from numbers import Integral


class WorkbookError(Exception):
    """A problem the workbook detected and explained; the message says how to fix it."""


class InputError(WorkbookError, ValueError):
    """Bad input to a helper (a wrong value, a missing column); the base of the per-module
    errors."""


def check_whole(value, name: str = "k", error: type[InputError] = InputError) -> int:
    """``value`` as an int when it is a whole number of 1 or more (not a bool); otherwise raise
    ``error`` (the calling module's own) saying so. The one such check every module uses."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise error(f"{name} must be a whole number of 1 or more, got {value!r}.")
    return int(value)


__all__ = ["InputError", "WorkbookError", "check_whole"]
