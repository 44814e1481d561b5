"""Who is calling: every endpoint of both apps learns its caller's account from the server, never from the client.

Gradio's login flow (or the optional trusted proxy header) puts the account name on the request (`gr.Request`);
`endpoint(role)` wraps a handler `fn(account, *inputs)` into a Gradio event function `(*inputs, request)` that
looks the account up on every call, checks the role, and turns any refusal (`Refused`, or a `PedagraphError` raised
before anything changed) into one line for the caller (`gr.Error`), so a refused call changes nothing.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Literal

import gradio as gr

from pedagraph.accounts import Account, get_account_store
from pedagraph.errors import PedagraphError
from pedagraph.redact import redact

__all__ = ["Refused", "authorize", "endpoint", "teacher_only"]

Who = Literal["learner", "teacher"]
"""`learner`: any logged-in account, acting on its own learner record; `teacher`: teachers and admins."""


class Refused(PedagraphError):
    """A call the caller may not make (not logged in, wrong role, not theirs); one line, nothing changed."""


def authorize(request: gr.Request | None, who: Who) -> Account:
    """The caller's account, checked against the role an endpoint needs (Refused otherwise)."""
    name = getattr(request, "username", None) if request is not None else None
    if not name:
        raise Refused("log in first")
    account = get_account_store().get(str(name))
    if account is None:
        raise Refused("this account no longer exists: ask your teacher")
    if who == "teacher" and not account.is_teacher:
        raise Refused("this is for teachers only")
    return account  # the learners' app: everyone works on their own learner record (a teacher tries the tutor)


def endpoint(who: Who, *, account: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wrap `fn(account, *inputs)` as a Gradio event function `(*inputs, request)` for callers of role `who`.

    With `account=False` the handler is `fn(*inputs)`: the role is checked, the account not passed.
    """

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(fn)
        params = list(sig.parameters.values())[1 if account else 0 :]
        request = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                    annotation=gr.Request)
        shown = sig.replace(parameters=[*params, request], return_annotation=inspect.Signature.empty)

        def prepare(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
            bound = shown.bind(*args, **kwargs)
            bound.apply_defaults()
            req = bound.arguments.pop("request")
            caller = authorize(req, who)
            return ((caller,) if account else ()), dict(bound.arguments)

        def refusal(exc: PedagraphError) -> gr.Error:
            return gr.Error(redact(exc.one_line()), print_exception=False)

        if inspect.isgeneratorfunction(fn):

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    first, values = prepare(args, kwargs)
                    yield from fn(*first, **values)
                except PedagraphError as exc:
                    raise refusal(exc) from None

        else:

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    first, values = prepare(args, kwargs)
                    return fn(*first, **values)
                except PedagraphError as exc:
                    raise refusal(exc) from None

        wrapper.__signature__ = shown  # type: ignore[attr-defined]
        wrapper.__annotations__ = {"request": gr.Request}
        wrapper.__name__ = wrapper.__qualname__ = fn.__name__
        wrapper.__doc__ = fn.__doc__
        return wrapper

    return wrap


teacher_only = endpoint("teacher", account=False)
"""A handler of the teachers' app that needs the role, not the account."""
