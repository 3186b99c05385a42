"""harness: evaluate and benchmark pretrained image classifiers side by side."""

from __future__ import annotations

__version__ = "0.1.0"
