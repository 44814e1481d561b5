"""Message helpers every graph shares: the text of a message, the visible history, a learner's resume value."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage


def message_text(message: BaseMessage) -> str:
    """Return the plain text of a message (text parts of multimodal content joined with spaces)."""
    content = message.content
    if isinstance(content, str):
        return content
    return " ".join(str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content)


def last_text(messages: Sequence[BaseMessage], kind: type[BaseMessage]) -> str:
    """Return the text of the latest message of `kind` (HumanMessage: the learner, AIMessage: the tutor)."""
    for message in reversed(messages):
        if isinstance(message, kind):
            return message_text(message)
    return ""


def visible_history(messages: Sequence[BaseMessage], start: int = 0) -> tuple[list[str], list[str]]:
    """Return (learner texts, tutor replies) of the conversation from index `start`."""
    since = messages[start:]
    learner = [message_text(m) for m in since if isinstance(m, HumanMessage)]
    tutor = [message_text(m) for m in since if isinstance(m, AIMessage)]
    return learner, tutor


def dialogue(messages: Sequence[BaseMessage], start: int = 0) -> list[BaseMessage]:
    """Return the learner and tutor messages from index `start` (what a model may see of the conversation)."""
    return [m for m in messages[start:] if isinstance(m, HumanMessage | AIMessage)]


def swapped_roles(messages: Sequence[BaseMessage], start: int = 0) -> list[BaseMessage]:
    """Return the conversation from `start` with the roles swapped: the tutor speaks as the user."""
    turns: list[BaseMessage] = []
    for message in messages[start:]:
        if isinstance(message, AIMessage):
            turns.append(HumanMessage(content=message_text(message)))
        elif isinstance(message, HumanMessage):
            turns.append(AIMessage(content=message_text(message)))
    return turns


def learner_text(value: Any) -> str:
    """Turn a resume value (text, `{"text": ...}` / `{"content": ...}`, or a message) into the learner's text."""
    if isinstance(value, BaseMessage):
        return message_text(value).strip()
    if isinstance(value, dict):
        value = value.get("text", value.get("content", ""))
    return ("" if value is None else str(value)).strip()
