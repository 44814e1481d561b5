"""`pedagraph._ast_lock`: CPython's AST builder is not thread-safe, so no two threads run `ast.parse` at once."""

from __future__ import annotations

import ast
import threading
import time

import pedagraph  # noqa: F401 - importing pedagraph installs the lock
from pedagraph import _ast_lock
from pedagraph.answers import evaluate_arithmetic


def test_importing_pedagraph_wraps_ast_parse_once_and_it_still_parses():
    assert getattr(ast.parse, "__pedagraph_locked__", False)
    wrapped = ast.parse
    _ast_lock.install()
    assert ast.parse is wrapped  # idempotent: not wrapped twice
    assert isinstance(ast.parse("x = 1"), ast.Module) and ast.parse("1 + 2", mode="eval").body.op.__class__ is ast.Add
    assert evaluate_arithmetic("(1 + 2) * 4") == 12.0


def test_no_two_threads_build_an_ast_at_once(monkeypatch):
    """Any caller (ours, langchain-core's, pydantic's) goes through the one lock: never two parses at a time."""
    inside, most = [0], [0]
    real = ast.parse.__wrapped__

    def slow_parse(*args, **kwargs):
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        time.sleep(0.002)  # lets another thread run, as a garbage collection inside the real builder can
        inside[0] -= 1
        return real(*args, **kwargs)

    monkeypatch.setattr(ast, "parse", slow_parse)
    _ast_lock.install()  # wrap the stand-in as pedagraph wraps the real one
    callers = [lambda: ast.parse("a + b"), lambda: evaluate_arithmetic("2 * (3 + 4)"), lambda: ast.literal_eval("[1]")]
    threads = [threading.Thread(target=lambda f=f: [f() for _ in range(20)]) for f in callers * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1
