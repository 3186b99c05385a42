"""Measuring: speed and memory, the conditions a timing was taken in, statistics."""
