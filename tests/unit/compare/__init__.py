"""Unit tests of harness.compare."""
