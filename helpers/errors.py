"""One base for every error the workbook raises on purpose (introduced in 00_setup).

Each module has its own error (``data.DataError``, ``metrics.MetricsError``, ...) whose message says
what is wrong and how to fix it; all of them derive from :class:`WorkbookError`, so a notebook or a
tool can catch "a problem the workbook explained" in one ``except`` and let real bugs through.
"""
from __future__ import annotations


class WorkbookError(Exception):
    """A problem the workbook detected and explained; the message says how to fix it."""


class InputError(WorkbookError, ValueError):
    """Bad input to a helper (a wrong value, a missing column); the base of the per-module errors."""


__all__ = ["InputError", "WorkbookError"]
