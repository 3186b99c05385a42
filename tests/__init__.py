"""The test suite: unit/ mirrors harness/, e2e/ holds scenarios by behaviour
(docs/development.md)."""
