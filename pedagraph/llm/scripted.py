"""`scripted`: a deterministic, offline chat model that is a real LangChain provider.

It streams, answers structured-output requests (OpenAI `response_format` JSON schema, JSON mode, or a
forced tool call) with schema-valid JSON, supports `bind_tools`, records every call it receives, and can be
given scripted replies or a reply function. With nothing scripted it returns templated text that says it
is scripted, so a person is never misled into thinking a language model wrote it.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    ToolMessage,
)
from langchain_core.messages.utils import count_tokens_approximately
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from pedagraph.llm.schema import build_instance

SCRIPTED_NOTICE = "[scripted model: no language model is configured]"

Reply = str | AIMessage | dict[str, Any] | BaseModel


@dataclass
class ScriptedCall:
    """One call the scripted model received: the prompt and the request options."""

    messages: list[BaseMessage]
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: Any = None
    response_format: dict[str, Any] | None = None
    stop: list[str] | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def system(self) -> str:
        """Text of the system messages of this call."""
        return "\n".join(str(m.content) for m in self.messages if m.type == "system")

    @property
    def last_user(self) -> str:
        """Text of the last human message of this call."""
        for m in reversed(self.messages):
            if isinstance(m, HumanMessage):
                return str(m.content)
        return ""

    @property
    def schema_name(self) -> str | None:
        """Name of the structured-output schema requested, if any."""
        if self.response_format and self.response_format.get("type") == "json_schema":
            return self.response_format.get("json_schema", {}).get("name")
        forced = _forced_tool(self.tools, self.tool_choice)
        return forced["function"]["name"] if forced else None


ReplyFn = Callable[[ScriptedCall], Reply | None]


def _forced_tool(tools: list[dict[str, Any]], tool_choice: Any) -> dict[str, Any] | None:
    if not tools or tool_choice in (None, "none", "auto"):
        return None
    if tool_choice in ("any", "required", True):
        return tools[0]
    name = tool_choice
    if isinstance(tool_choice, dict):
        name = tool_choice.get("function", {}).get("name") or tool_choice.get("name")
    for tool in tools:
        if tool["function"]["name"] == name:
            return tool
    return tools[0]


class ScriptedChatModel(BaseChatModel):
    """Deterministic offline chat model: scripted replies, a reply function, or templated defaults."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_name: str = Field(default="default", description="Name shown in usage and headers.")
    replies: list[Any] = Field(default_factory=list, description="Replies returned in order before defaults.")
    reply_fn: ReplyFn | None = Field(default=None, exclude=True, description="Called when `replies` is empty.")
    max_recorded_calls: int = 1000
    chunk_words: int = 1

    _calls: deque[ScriptedCall] = PrivateAttr()
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _queue: deque[Any] = PrivateAttr()

    def model_post_init(self, __context: Any) -> None:
        """Set up the reply queue and the call record."""
        self._calls = deque(maxlen=self.max_recorded_calls)
        self._queue = deque(self.replies)

    # -- public helpers ------------------------------------------------------------------------------------
    @property
    def calls(self) -> list[ScriptedCall]:
        """Every call received so far (most recent last, bounded by `max_recorded_calls`)."""
        with self._lock:
            return list(self._calls)

    def add_replies(self, *replies: Reply) -> None:
        """Queue more scripted replies."""
        with self._lock:
            self._queue.extend(replies)

    def reset(self) -> None:
        """Forget recorded calls and queued replies."""
        with self._lock:
            self._calls.clear()
            self._queue.clear()

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | Any],
        *,
        tool_choice: Any = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (OpenAI format); a forced `tool_choice` makes every reply a call to that tool."""
        formatted = [convert_to_openai_tool(t) for t in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=formatted, **kwargs)

    # -- core ----------------------------------------------------------------------------------------------
    def _record(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> ScriptedCall:
        call = ScriptedCall(
            messages=list(messages),
            tools=list(kwargs.get("tools") or []),
            tool_choice=kwargs.get("tool_choice"),
            response_format=kwargs.get("response_format"),
            stop=stop,
            kwargs={k: v for k, v in kwargs.items() if k not in {"tools", "tool_choice", "response_format"}},
        )
        with self._lock:
            self._calls.append(call)
        return call

    def _next_scripted(self, call: ScriptedCall) -> Reply | None:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        if self.reply_fn is not None:
            return self.reply_fn(call)
        return None

    def _respond(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> AIMessage:
        call = self._record(messages, stop, kwargs)
        reply = self._next_scripted(call)
        message = self._to_message(reply, call)
        text = message.content if isinstance(message.content, str) else json.dumps(message.content)
        if stop and isinstance(message.content, str):
            for s in stop:
                if s and s in text:
                    text = text[: text.index(s)]
            message = message.model_copy(update={"content": text})
        inp = count_tokens_approximately(messages)
        out = count_tokens_approximately([message]) if (text or message.tool_calls) else 0
        message.usage_metadata = {"input_tokens": inp, "output_tokens": out, "total_tokens": inp + out}
        message.response_metadata = {**message.response_metadata, "model_name": self.model_name}
        return message

    def _to_message(self, reply: Reply | None, call: ScriptedCall) -> AIMessage:
        forced = _forced_tool(call.tools, call.tool_choice)
        auto_tool = call.tools and call.tool_choice in (None, "auto") and not _answered_tool(call.messages)
        if isinstance(reply, AIMessage):
            return reply.model_copy(deep=True)
        if isinstance(reply, BaseModel):
            reply = reply.model_dump(mode="json")
        if forced is not None or (reply is None and auto_tool):
            tool = forced or call.tools[0]
            if reply is None:
                args = build_instance(tool["function"].get("parameters", {"type": "object"}))
            elif isinstance(reply, dict):
                args = reply
            else:
                return AIMessage(content=str(reply))
            name = tool["function"]["name"]
            return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": _call_id(call, name)}])
        rf = call.response_format
        if rf and rf.get("type") in ("json_schema", "json_object"):
            if reply is None:
                schema = rf.get("json_schema", {}).get("schema") or _schema_in_prompt(call.messages)
                reply = build_instance(schema)
            return AIMessage(content=reply if isinstance(reply, str) else json.dumps(reply))
        if isinstance(reply, dict):
            return AIMessage(content=json.dumps(reply))
        if reply is None:
            return AIMessage(content=self.default_text(call))
        return AIMessage(content=str(reply))

    def default_text(self, call: ScriptedCall) -> str:
        """Templated reply when nothing is scripted: says it is scripted and echoes what it was asked."""
        asked = " ".join(call.last_user.split())
        if len(asked) > 80:
            asked = asked[:77] + "..."
        if asked:
            return f'{SCRIPTED_NOTICE} You said: "{asked}"'
        return SCRIPTED_NOTICE

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = self._respond(messages, stop, kwargs)
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        message = self._respond(messages, stop, kwargs)
        for chunk in self._chunks(message):
            if run_manager:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        message = self._respond(messages, stop, kwargs)
        for chunk in self._chunks(message):
            if run_manager:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    def _chunks(self, message: AIMessage) -> Iterator[ChatGenerationChunk]:
        if message.tool_calls:
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content="",
                    tool_call_chunks=[
                        {"name": tc["name"], "args": json.dumps(tc["args"]), "id": tc["id"], "index": i}
                        for i, tc in enumerate(message.tool_calls)
                    ],
                    usage_metadata=message.usage_metadata,
                    response_metadata=message.response_metadata,
                )
            )
            return
        text = message.content if isinstance(message.content, str) else json.dumps(message.content)
        pieces = _split_words(text, self.chunk_words)
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content=piece,
                    usage_metadata=message.usage_metadata if last else None,
                    response_metadata=message.response_metadata if last else {},
                )
            )


def _schema_in_prompt(messages: list[BaseMessage]) -> dict[str, Any]:
    """Find the JSON schema a JSON-mode prompt carries in its system text (or an empty object schema)."""
    decoder = json.JSONDecoder()
    for m in messages:
        if m.type != "system" or not isinstance(m.content, str):
            continue
        text = m.content
        for i, ch in enumerate(text):
            if ch != "{":
                continue
            try:
                obj, _ = decoder.raw_decode(text, i)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict) and ("properties" in obj or "type" in obj):
                return obj
    return {"type": "object"}


def _answered_tool(messages: list[BaseMessage]) -> bool:
    return bool(messages) and isinstance(messages[-1], ToolMessage)


def _call_id(call: ScriptedCall, name: str) -> str:
    digest = hashlib.sha1(f"{name}:{len(call.messages)}:{call.last_user}".encode()).hexdigest()[:12]
    return f"call_{digest}"


def _split_words(text: str, per_chunk: int) -> list[str]:
    if not text:
        return [""]
    words = text.split(" ")
    out: list[str] = []
    for i in range(0, len(words), per_chunk):
        piece = " ".join(words[i : i + per_chunk])
        out.append(piece if i + per_chunk >= len(words) else piece + " ")
    return out


class StandInChatModel(ScriptedChatModel):
    """A scripted model that plays a real one: its provider is `stand-in`, not `scripted`.

    Graphs choose their offline templates only when a role resolves to the built-in `scripted` model; give a
    role a `StandInChatModel(replies=..., reply_fn=...)` to drive the real-model path (prompts, structured
    output, streaming, fallbacks) offline and assert on what was sent (`calls`).
    """

    @property
    def _llm_type(self) -> str:
        return "stand-in"
