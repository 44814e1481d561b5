"""Gated streaming of what a learner sees: no model text is shown before every check that can replace it passed.

Stream protocol (`stream_mode="custom"`), per reply:

* `{"type": "token", "text": str}` — append to the reply being shown. A model's reply is shown sentence by sentence
  (up to a `.`, `!`, `?` or `…` followed by a space, or a line break), each sentence only after the reply
  so far passed the check (the reveal gate with its allow-list, the verdict check, the misquote check), in the
  form the chat shows (`chat_text`); with a check that needs the whole reply (a real evaluator's leak check) the
  reply is held and shown only at its end;
* `{"type": "replace", "text": str}` — the reply changed after some of it was shown: show this text instead
  (only when a model failed after a sentence was shown: what was shown is not retracted otherwise);
* `{"type": "final", "text": str}` — the reply is complete; exactly the message added to the conversation.

When no check replaces anything, the streamed tokens join to the final text; a reply that fails a check is
never shown in part (sentences that passed stay, the rest is the move's own words).
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
from pedagraph.visible import chat_text

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


_SENTENCE_END_RE = re.compile(r"(?:(?<!\d)[.!?…](?:[\"')\]*_`]*)[ \t]+|\n+)")
_OPEN_MARKUP_RE = re.compile(r"<[^>]*$|&[#\w]{0,12}$|!?\[[^\]\n]*(?:\]\([^)\n]*)?$|\b(?:https?|www)\S*$")


def sentence_cut(text: str) -> int:
    """Where the last complete sentence of a growing text ends (0: none yet); "18. " after a digit is not one."""
    ends = [m.end() for m in _SENTENCE_END_RE.finditer(text)]
    return ends[-1] if ends else 0


def _markup_cut(raw: str) -> int:
    """How much of a growing raw reply has no unfinished markup (a tag, entity, link or URL still arriving)."""
    m = _OPEN_MARKUP_RE.search(raw)
    return m.start() if m else len(raw)


class GatedStream:
    """Forward a model's reply sentence by sentence, each once the reply so far passes `check` (or hold it)."""

    def __init__(self, check: Callable[[str], bool], writer: Callable[[Any], None], *, hold: bool = False) -> None:
        self.check = check
        self.writer = writer
        self.hold = hold
        self.raw = ""
        self.text = ""
        self.sent = ""
        self.tripped = False

    def feed(self, piece: str) -> None:
        """Add a chunk; forward the sentences completed since the last one if the reply so far passes the check."""
        self.raw += piece
        if self.tripped or self.hold:
            return
        shown = chat_text(self.raw[: _markup_cut(self.raw)]).lstrip()
        upto = shown[: sentence_cut(shown)]
        if len(upto.strip()) > len(self.sent.strip()):
            self._forward(upto)

    def close(self) -> str:
        """Judge the whole reply as the chat shows it; forward the rest if it passes. Returns that text."""
        self.text = chat_text(self.raw).strip()
        if not self.tripped and not self.hold and len(self.text) > len(self.sent.rstrip()):
            self._forward(self.text)
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

    def _forward(self, upto: str) -> None:
        # the reply so far is judged as a whole: a result cue ("left over") or a digit can follow in a later sentence
        if not upto.startswith(self.sent) or not self.check(upto):
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
    """Send the end of a reply: the rest as a token if `final` continues what was shown, else `replace`; `final`."""
    if final.startswith(sent):
        if final[len(sent) :]:
            writer({"type": "token", "text": final[len(sent) :]})
    elif sent:
        writer({"type": "replace", "text": final})
    writer({"type": "final", "text": final})
