"""Shared test setup: tests never write into build/ or the real data cache unless they mean to."""
import os

import pytest

os.environ.setdefault("WORKBOOK_PROFILE", "smoke")


@pytest.fixture()
def results_file(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    monkeypatch.setenv("WORKBOOK_RESULTS", str(path))
    return path
