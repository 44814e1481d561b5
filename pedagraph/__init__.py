"""pedagraph: build, run and evaluate LLM teachers."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pedagraph")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
