"""One server for both apps: the learners' app at `/`, the teachers' app at `/teacher/`, both behind a login.

FastAPI with the two Gradio apps mounted (`gr.mount_gradio_app`), each with Gradio's own login flow, so that a
browser gets the login page and a script logs in with `gradio_client.Client(url, auth=(name, password))`. The
learners' app lets every account in (each works on their own learner record: a teacher can try the tutor), the
teachers' app only teachers and admins; every endpoint checks again on each call (`ui/identity.py`).

On first start (no teacher or admin account yet) the server creates a local teacher account and prints a
one-time login link, as Jupyter prints its token: `GET /login-link?token=...` logs the browser into both apps
once (it lands on the teachers' app), and the token is then spent. With `[ui] proxy_user_header` set, a trusted
reverse proxy names the logged-in account in that header instead (single sign-on; off by default).
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, RedirectResponse
from gradio.utils import get_upload_folder
from pedagraph.ui.app import MAX_UPLOAD, THREADS_BESIDE_CHAT, build_app
from pedagraph.ui.service import TutorService
from pedagraph.ui.teacher_app import build_teacher_app

from pedagraph.accounts import AccountStore, generate_password, get_account_store, token_hash
from pedagraph.redact import register_secret

__all__ = ["LoginLinks", "Server", "SessionTokens", "build_server", "first_teacher", "serve"]

FIRST_TEACHER = "teacher"
TEACHER_PATH = "/teacher"
COOKIE_IDS = {"learner": "pedagraph-learner", "teacher": "pedagraph-teacher"}
"""The names in each app's login cookie (`access-token-<id>`): fixed, so a restarted server reads the old cookies
(Gradio draws a new one per process)."""


class _Hashed(str):
    """A session key as the sessions table keeps it (a hash), for Gradio's loop over `tokens.keys()` at logout."""


class SessionTokens(MutableMapping[str, str]):
    """Gradio's login tokens of one app (`App.tokens`), kept in the accounts database: a restart keeps logins.

    Only a hash of each token is stored, with an expiry (`[ui] session_days`); `users set-password`, `users remove`
    and logging out revoke them.
    """

    def __init__(self, app: str, seconds: float) -> None:
        self.app, self.seconds = app, seconds

    def __getitem__(self, token: str) -> str:
        store = get_account_store()
        if isinstance(token, _Hashed):
            name = dict(store.session_hashes(self.app)).get(str(token))
        else:
            name = store.session_user(self.app, token)
        if name is None:
            raise KeyError("no such login")
        return name

    def __setitem__(self, token: str, name: str) -> None:
        get_account_store().open_session(self.app, token, name, self.seconds)

    def __delitem__(self, token: str) -> None:
        store = get_account_store()
        store.revoke_session(hashed=str(token) if isinstance(token, _Hashed) else token_hash(token))

    def __iter__(self) -> Iterator[str]:
        return iter([_Hashed(h) for h, _ in get_account_store().session_hashes(self.app)])

    def __len__(self) -> int:
        return len(get_account_store().session_hashes(self.app))

    def __contains__(self, token: object) -> bool:
        try:
            return isinstance(token, str) and bool(self[token])
        except KeyError:
            return False


@dataclass
class LoginLinks:
    """One-time login links: a token logs its account into the teachers' app once."""

    tokens: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, name: str) -> str:
        """A new token for an account (kept only in this process's memory)."""
        token = secrets.token_urlsafe(32)
        register_secret(token)
        with self.lock:
            self.tokens[token] = name
        return token

    def redeem(self, token: str) -> str | None:
        """The account of a token, once; None for a spent or unknown token."""
        with self.lock:
            for known in list(self.tokens):
                if hmac.compare_digest(known, token or ""):
                    return self.tokens.pop(known)
        return None


@dataclass
class Server:
    """The FastAPI app and what the launcher needs from it."""

    app: FastAPI
    service: TutorService
    links: LoginLinks
    teacher_gradio: Any = None
    learner_gradio: Any = None


def first_teacher(store: AccountStore) -> tuple[str, str] | None:
    """Create the local teacher account on first start (no teacher or admin yet): (name, password), else None."""
    if any(a.is_teacher for a in store.list()):
        return None
    name = FIRST_TEACHER
    while store.get(name) is not None:
        name = f"{FIRST_TEACHER}-{secrets.token_hex(2)}"
    password = generate_password()
    register_secret(password)
    store.add(name, "teacher", password, display_name="Teacher", actor="first-start")
    return name, password


def _login(roles: tuple[str, ...]) -> Callable[[str, str], bool]:
    def check(name: str, password: str) -> bool:
        account = get_account_store().verify(name, password)
        return account is not None and account.role in roles

    return check


def _proxy_user(header: str, roles: tuple[str, ...]) -> Callable[[Request], str | None]:
    def user(request: Request) -> str | None:
        name = (request.headers.get(header) or "").strip()
        account = get_account_store().get(name) if name else None
        return account.name if account is not None and account.role in roles else None

    return user


def _mounted(app: FastAPI, path: str) -> Any:
    for route in app.routes:
        if getattr(route, "path", None) == path:
            return route.app  # type: ignore[attr-defined]
    raise RuntimeError(f"no app mounted at {path}")


def build_server(service: TutorService | None = None) -> Server:
    """Both apps on one FastAPI app (not started)."""
    service = service or TutorService()
    settings = service.settings
    links = LoginLinks()
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/login-link")
    def login_link(token: str = "") -> Any:
        name = links.redeem(token)
        if name is None:
            return PlainTextResponse("This login link was used already or is not valid: log in with your password.",
                                     status_code=403)  # fmt: skip
        response = RedirectResponse(f"{TEACHER_PATH}/", status_code=303)
        for gradio_app in (server.teacher_gradio, server.learner_gradio):  # logged into both apps
            session = secrets.token_urlsafe(32)
            gradio_app.tokens[session] = name
            response.set_cookie(f"access-token-{gradio_app.cookie_id}", session, httponly=True, samesite="none",
                                secure=True)  # fmt: skip
            response.set_cookie(f"access-token-unsecure-{gradio_app.cookie_id}", session, httponly=True)
        return response

    header = settings.ui.proxy_user_header
    teachers, everyone = ("teacher", "admin"), ("learner", "teacher", "admin")
    common: dict[str, Any] = {"max_file_size": MAX_UPLOAD, "footer_links": ["api"], "ssr_mode": False}
    if header:
        teacher_auth: dict[str, Any] = {"auth_dependency": _proxy_user(header, teachers)}
        learner_auth: dict[str, Any] = {"auth_dependency": _proxy_user(header, everyone)}
    else:
        message = "Log in with the name and password your teacher gave you."
        teacher_auth = {"auth": _login(teachers), "auth_message": "Teachers: log in (or use the one-time link)."}
        learner_auth = {"auth": _login(everyone), "auth_message": message}
    teacher_blocks = build_teacher_app(service)
    learner_blocks = build_app(service)
    seconds = settings.ui.session_days * 24 * 3600
    _logout_route(app, TEACHER_PATH)  # before the mounts: these take the apps' own /logout
    _logout_route(app, "")
    gr.mount_gradio_app(app, teacher_blocks, path=TEACHER_PATH, **teacher_auth, **common)
    # the learners' app hands out no files: it serves none of Gradio's cache, where the teachers' exports are
    blocked = [str(Path(get_upload_folder()).resolve())]
    gr.mount_gradio_app(app, learner_blocks, path="/", blocked_paths=blocked, **learner_auth, **common)
    server = Server(app=app, service=service, links=links, teacher_gradio=_mounted(app, TEACHER_PATH),
                    learner_gradio=_mounted(app, ""))  # fmt: skip
    for kind, gradio_app in (("teacher", server.teacher_gradio), ("learner", server.learner_gradio)):
        gradio_app.cookie_id = COOKIE_IDS[kind]
        gradio_app.tokens = SessionTokens(kind, seconds)
    return server


def _logout_route(app: FastAPI, path: str) -> None:
    """`GET <path>/logout`: forget this browser's login in both apps (its sessions are revoked in the database)."""

    @app.get(f"{path}/logout")
    def logout(request: Request) -> Any:
        store = get_account_store()
        response = RedirectResponse(f"{path}/", status_code=302)
        for cookie in COOKIE_IDS.values():
            for name in (f"access-token-{cookie}", f"access-token-unsecure-{cookie}"):
                token = request.cookies.get(name)
                if token:
                    store.revoke_session(token)
                response.delete_cookie(name, path="/")
        return response


def serve(host: str, port: int, announce: Callable[[str, str | None], None] | None = None) -> None:
    """Start the server and serve until interrupted; `announce(base_url, login_link)` once it listens."""
    import uvicorn

    service = TutorService()
    created = first_teacher(get_account_store())
    server = build_server(service)
    shown = host if host not in ("0.0.0.0", "::") else "127.0.0.1"
    base = f"http://{'[' + shown + ']' if ':' in shown else shown}:{port}"
    link = None
    if created is not None:
        link = f"{base}/login-link?token={server.links.issue(created[0])}"
    config = uvicorn.Config(server.app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2,
                            limit_concurrency=None)  # fmt: skip
    runner = uvicorn.Server(config)
    import anyio.to_thread

    async def start() -> None:
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = max(limiter.total_tokens, service.settings.ui.concurrency + THREADS_BESIDE_CHAT)
        if announce is not None:

            def tell() -> None:
                while not runner.started and not runner.should_exit:
                    runner_event.wait(0.05)
                if runner.started:
                    announce(f"{base}/", link)

            runner_event = threading.Event()
            threading.Thread(target=tell, daemon=True).start()
        await runner.serve()

    try:
        anyio.run(start)
    finally:
        service.close()
