"""Unit tests of harness.engine."""
