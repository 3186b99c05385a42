"""Unit tests of harness.zoo."""
