"""Unit tests by module: unit/<subpackage>/test_<module>.py tests
harness/<subpackage>/<module>.py."""
