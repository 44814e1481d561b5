"""Keep secrets out of everything pedagraph prints, logs, traces or stores."""

from __future__ import annotations

import os
import re
import threading

_SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|AUTH)", re.IGNORECASE)
_KEY_PATTERNS = (
    re.compile(r"\bsk-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"\b(?:Bearer|bearer)\s+[A-Za-z0-9._\-]{8,}"),
)
_registered: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that `redact` removes it from any text."""
    if value and len(value) >= 6 and value.upper() not in {"EMPTY", "NONE", "OLLAMA"}:
        with _lock:
            _registered.add(value)


def mask_secret(value: str | None) -> str:
    """Show that a secret is set without showing it: `set (…wxyz)` for long keys, `set` otherwise."""
    if not value:
        return "not set"
    if value.upper() in {"EMPTY", "NONE", "OLLAMA"}:
        return f"placeholder ({value})"
    return f"set (…{value[-4:]})" if len(value) >= 20 else "set"


def _env_secrets() -> list[str]:
    return [v for k, v in os.environ.items() if _SECRET_NAME.search(k) and v and len(v) >= 8]


def redact(text: str) -> str:
    """Replace every known secret and key-shaped token in `text` with `***`."""
    if not text:
        return text
    with _lock:
        known = list(_registered)
    for secret in sorted({*known, *_env_secrets()}, key=len, reverse=True):
        text = text.replace(secret, "***")
    for pattern in _KEY_PATTERNS:
        text = pattern.sub("***", text)
    return text
