"""Benchmark package."""
