"""Shared test setup: tests never write into build/ or the real data cache unless they mean to."""
import os

import pytest

os.environ.setdefault("WORKBOOK_PROFILE", "smoke")


def skip_or_fail_in_ci(why: str) -> None:
    """Skip a test whose tool or network is missing here, with the reason; in CI (``CI`` set),
    where everything it needs is installed, fail instead: such a test must not pass by skipping."""
    if os.environ.get("CI"):
        pytest.fail(f"this test must run in CI, but {why}")
    pytest.skip(why)


@pytest.fixture()
def results_file(tmp_path, monkeypatch):
    path = tmp_path / "results.json"
    monkeypatch.setenv("WORKBOOK_RESULTS", str(path))
    return path
