"""Test helpers that ship with the package: an OpenAI-compatible stub server and a dataset file server."""
