"""Batch evaluation: the shared runner, suites, metrics, reports and benchmarks."""
