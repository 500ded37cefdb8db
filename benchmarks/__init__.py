"""Benchmarks: ``python -m benchmarks`` (``./run bench``) runs every scenario and writes
docs/BENCHMARKS.md; ``python -m benchmarks.<name>`` runs one of the older single benchmarks."""
