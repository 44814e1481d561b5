"""pedagraph: build, run and evaluate LLM teachers."""

from importlib.metadata import PackageNotFoundError, version

from pedagraph._ast_lock import install as _install_ast_lock

_install_ast_lock()  # CPython's AST builder is not thread-safe; suite items parse in worker threads

try:
    __version__ = version("pedagraph")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
