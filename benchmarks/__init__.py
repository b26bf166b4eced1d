"""Benchmarks (``make bench``): each ``bench_*.py`` module has ``run() -> dict``; results are written as JSON."""
