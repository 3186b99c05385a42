"""Unit tests of the scripts in benchmarks/."""
