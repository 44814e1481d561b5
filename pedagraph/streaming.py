"""Gated streaming of what a learner sees: a reply is forwarded only as far as it passes a check (the reveal gate).

Stream protocol (`stream_mode="custom"`), per reply:

* `{"type": "token", "text": str}` — append to the reply being shown; only text that passed the check is sent,
  a trailing partial word or number is held back until it is complete;
* `{"type": "replace", "text": str}` — the reply changed after some of it was shown: show this text instead;
* `{"type": "final", "text": str}` — the reply is complete; exactly the message added to the conversation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

from langchain_core.messages import BaseMessage
from langgraph.config import get_stream_writer

from pedagraph.answers import find_numbers
from pedagraph.errors import ModelError
from pedagraph.llm import ManagedChatModel

ReplySource = Literal["template", "model", "template_fallback"]
"""Where a reply came from: a deterministic template, the model, or the template after the model failed."""

_HOLD_WORDS = frozenset({"point", "minus", "negative", "and", "a", "an", "$", "€", "£"})


def _numberish(word: str) -> bool:
    stripped = word.strip(".,;:!?()\"'")
    return bool(re.search(r"\d", word)) or stripped.lower() in _HOLD_WORDS or bool(find_numbers(stripped))


HOLD_WORDS_AFTER_NUMBER = 4
"""Words held back after a number until they arrive: what follows can make it a result ("15 things left over")."""


def safe_prefix(text: str) -> str:
    """Return the part of a growing reply that may be judged now.

    Complete words only (the next chunk may extend `1` to `18`); a run of number-like words at the end (`1 8`,
    `eighteen`, `two point`) is held until a plain word follows it, and the last number is held until
    `HOLD_WORDS_AFTER_NUMBER` words after it have arrived.
    """
    cut = max(text.rfind(" "), text.rfind("\n"), text.rfind("\t")) + 1
    prefix = text[:cut]
    while True:
        m = re.search(r"(\S+)\s+$", prefix)
        if not m or not _numberish(m.group(1)):
            break
        prefix = prefix[: m.start()]
    words = list(re.finditer(r"\S+\s+", prefix))
    for i in range(len(words) - 1, max(-1, len(words) - 1 - HOLD_WORDS_AFTER_NUMBER), -1):
        if _is_number(words[i].group(0).strip()):
            return prefix[: words[i].start()]
    return prefix


def _is_number(word: str) -> bool:
    stripped = word.strip(".,;:!?()\"'")
    return bool(re.search(r"\d", word)) or (stripped.lower() not in _HOLD_WORDS and bool(find_numbers(stripped)))


def word_chunks(text: str) -> Iterator[str]:
    """Split a text into word chunks that join back to it exactly."""
    yield from re.findall(r"\s*\S+\s*", text) or [text]


def stream_writer() -> Callable[[Any], None]:
    """The running graph's custom-stream writer (a no-op outside a graph run)."""
    try:
        return get_stream_writer()
    except RuntimeError:
        return lambda _chunk: None


class GatedStream:
    """Forward a reply to the custom stream only as far as it passes `check`."""

    def __init__(self, check: Callable[[str], bool], writer: Callable[[Any], None]) -> None:
        self.check = check
        self.writer = writer
        self.text = ""
        self.sent = ""
        self.tripped = False

    def feed(self, piece: str) -> None:
        """Add a chunk; forward the newly safe part if the reply so far passes the check."""
        self.text += piece
        if self.tripped:
            return
        safe = safe_prefix(self.text)
        if len(safe) > len(self.sent):
            self._forward(safe)

    def close(self) -> str:
        """Judge the whole reply; forward the held-back tail if it passes. Returns the whole reply."""
        if not self.tripped and len(self.text) > len(self.sent):
            self._forward(self.text, always_check=True)
        return self.text

    def feed_known(self, text: str) -> str:
        """Stream a reply known in full (a template): judged once, then sent word by word or not at all."""
        self.text = text
        if self.check(text):
            for chunk in word_chunks(text):
                self.writer({"type": "token", "text": chunk})
            self.sent = text
        else:
            self.tripped = True
        return text

    def discard(self, text: str) -> None:
        """Swap the reply for `text` without sending it (what was shown is replaced by the final event)."""
        self.text, self.tripped = text, True

    def _forward(self, upto: str, *, always_check: bool = False) -> None:
        # every new segment is judged with all that precedes it: a foreign number word or a Roman numeral has
        # no digit, and a result cue ("left over") can arrive after its number
        if not self.check(upto):
            self.tripped = True
            return
        self.writer({"type": "token", "text": upto[len(self.sent) :]})
        self.sent = upto


def stream_reply(
    stream: GatedStream,
    *,
    model: ManagedChatModel | None,
    messages: Sequence[BaseMessage] | Callable[[], Sequence[BaseMessage]],
    fallback: Callable[[], str],
) -> tuple[str, ReplySource]:
    """Stream the model's reply through the gate, or the fallback template when there is no model or it fails.

    `model=None` means the caller's deterministic template is the reply. A model that fails or says nothing
    is replaced by the template: streamed if nothing was shown yet, else left for the final event to replace.
    """
    if model is None:
        return stream.feed_known(fallback()).strip(), "template"
    try:
        for chunk in model.stream(messages() if callable(messages) else messages):
            stream.feed(chunk.text)
        text = stream.close().strip()
    except ModelError:
        text = ""
    if text:
        return text, "model"
    replacement = fallback()
    if stream.sent:
        stream.discard(replacement)
    else:
        stream.feed_known(replacement)
    return replacement.strip(), "template_fallback"


def finish_reply(writer: Callable[[Any], None], final: str, sent: str) -> None:
    """Send the end of a reply: a `replace` event if what was shown differs from `final`, then `final`."""
    if final != sent:
        writer({"type": "replace", "text": final})
    writer({"type": "final", "text": final})
