"""Prompt templates, one file per agent action, loaded by name.

A prompt is `prompts/<group>/<action>.md`, loaded as `load_prompt("group/action")`. Placeholders are
`{name}`; only names passed to `render` are substituted, so JSON braces in a prompt are left alone.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from pedagraph.errors import PedagraphError

_PLACEHOLDER = re.compile(r"\{([a-zA-Z_][a-zA-Z0-9_]*)\}")


@cache
def load_prompt(name: str) -> str:
    """Return the text of the prompt file `name` (without extension), e.g. `llm/structured_repair`."""
    if not re.fullmatch(r"[a-z0-9_]+(/[a-z0-9_]+)*", name):
        raise PedagraphError(f"invalid prompt name {name!r}")
    root = resources.files(__name__)
    for ext in (".md", ".txt"):
        path = root.joinpath(*f"{name}{ext}".split("/"))
        if path.is_file():
            return path.read_text(encoding="utf-8").strip() + "\n"
    raise PedagraphError(f"prompt {name!r} not found in pedagraph.prompts")


def placeholders(name: str) -> set[str]:
    """Return the placeholder names a prompt expects."""
    return set(_PLACEHOLDER.findall(load_prompt(name)))


def render(name: str, /, **values: object) -> str:
    """Load prompt `name` and fill its `{placeholders}`; every placeholder must be given."""
    text = load_prompt(name)
    missing = placeholders(name) - set(values)
    if missing:
        raise PedagraphError(f"prompt {name!r} needs values for: {', '.join(sorted(missing))}")
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), text)
