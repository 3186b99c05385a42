"""Unit tests of harness.measure."""
