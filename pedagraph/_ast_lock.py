"""One `ast.parse` at a time in the whole process: CPython's AST builder is not thread-safe.

CPython 3.11 keeps the AST constructor's recursion depth in interpreter-wide state, so two threads that build ASTs
at once can raise "SystemError: AST constructor recursion depth mismatch" (gh-106905). Suite items run in worker
threads, and more than our code parses there: langchain-core reads a function's source with `ast.parse` when it
wraps it, pydantic when it reads attribute docstrings. A lock around our own parse (the arithmetic of answers) still
let 1 of 72 outcome items fail, so `install` wraps `ast.parse` itself, once, with one re-entrant lock.
"""

from __future__ import annotations

import ast
import functools
import threading
from typing import Any

LOCK = threading.RLock()
"""Held while any thread builds an AST through `ast.parse`."""


def install() -> None:
    """Wrap `ast.parse` with `LOCK` (idempotent; the wrapped function keeps its signature and behaviour)."""
    if getattr(ast.parse, "__pedagraph_locked__", False):
        return
    parse = ast.parse

    @functools.wraps(parse)
    def locked_parse(*args: Any, **kwargs: Any) -> Any:
        with LOCK:
            return parse(*args, **kwargs)

    locked_parse.__pedagraph_locked__ = True  # type: ignore[attr-defined]
    ast.parse = locked_parse  # type: ignore[assignment]
