"""Unit tests of harness.data."""
