"""Comparing models: the parent, the per-model child, the report, analysis and figures."""
