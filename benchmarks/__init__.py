"""pytest-benchmark suites: run with ``pytest benchmarks/`` (see README.md here)."""
