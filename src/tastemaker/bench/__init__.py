"""Benchmarks (`tastemaker bench ...`): each prints JSON; figures in docs/benchmarks.md."""
