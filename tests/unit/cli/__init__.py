"""Unit tests of harness.cli."""
