"""Evaluation suites, one module per suite, registered with the shared runner."""
