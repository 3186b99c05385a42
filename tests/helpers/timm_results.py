"""timm's published results in ../shared/data/timm-results, read with the csv module."""

from __future__ import annotations

import pytest

from tests.helpers import SHARED, read_csv

RESULTS = SHARED / "data" / "timm-results"
shared = pytest.mark.skipif(not RESULTS.is_dir(), reason=f"{RESULTS} is absent")


def percent(text: str) -> float:
    """A figure of timm's CSV files ("1,013.01" has a thousands comma) as a float."""
    return float(text.replace(",", ""))


def csv_rows(name: str) -> list[dict[str, str]]:
    return read_csv(RESULTS / name)
