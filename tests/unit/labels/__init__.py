"""Unit tests of harness.labels."""
