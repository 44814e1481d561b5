"""In-process GGUF models through llama-cpp-python (the `[local]` extra)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, convert_to_openai_messages
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr

from pedagraph.errors import ConfigError
from pedagraph.llm.managed import as_chunk

_LOADED: dict[tuple[str, int], Any] = {}
_LOAD_LOCK = threading.Lock()


def llama_cpp_available() -> bool:
    """True when llama-cpp-python is installed."""
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return False
    return True


def load_gguf(path: str, n_ctx: int = 4096) -> Any:
    """Load a GGUF file once per process (keyed by path and context length)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"GGUF model file not found: {file}", hint="give `llamacpp:/absolute/path/model.gguf`")
    try:
        from llama_cpp import Llama
    except ImportError:
        raise ConfigError(
            "the llamacpp provider needs llama-cpp-python", hint="pip install 'pedagraph[local]'"
        ) from None
    key = (str(file.resolve()), n_ctx)
    with _LOAD_LOCK:
        if key not in _LOADED:
            try:
                _LOADED[key] = Llama(model_path=key[0], n_ctx=n_ctx, verbose=False)
            except Exception as exc:  # llama.cpp raises ValueError/RuntimeError for corrupt files
                raise ConfigError(f"cannot load GGUF model {file}: {exc}") from None
        return _LOADED[key]


class LlamaCppChatModel(BaseChatModel):
    """A GGUF model run in this process with llama.cpp's OpenAI-style chat completion API."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_path: str
    n_ctx: int = 4096
    temperature: float | None = None
    max_tokens: int | None = None
    client: Any = Field(default=None, exclude=True)

    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def model_post_init(self, __context: Any) -> None:
        """Load the model file (once per process)."""
        if self.client is None:
            self.client = load_gguf(self.model_path, self.n_ctx)

    @property
    def _llm_type(self) -> str:
        return "llamacpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "n_ctx": self.n_ctx}

    def bind_tools(
        self, tools: Any, *, tool_choice: Any = None, **kwargs: Any
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools in OpenAI format; llama.cpp's chat handlers accept them."""
        formatted = [convert_to_openai_tool(t) for t in tools]
        if isinstance(tool_choice, str) and tool_choice not in ("auto", "none", "any", "required"):
            tool_choice = {"type": "function", "function": {"name": tool_choice}}
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=formatted, **kwargs)

    def _request(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        req: dict[str, Any] = {"messages": convert_to_openai_messages(messages)}
        if self.temperature is not None:
            req["temperature"] = self.temperature
        if self.max_tokens is not None:
            req["max_tokens"] = self.max_tokens
        if stop:
            req["stop"] = stop
        rf = kwargs.get("response_format")
        if rf and rf.get("type") == "json_schema":
            req["response_format"] = {"type": "json_object", "schema": rf["json_schema"]["schema"]}
        elif rf:
            req["response_format"] = rf
        for key in ("tools", "tool_choice", "seed", "top_p"):
            if key in kwargs:
                req[key] = kwargs[key]
        return req

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with self._lock:  # one llama.cpp context is not thread-safe
            out = self.client.create_chat_completion(**self._request(messages, stop, kwargs))
        return ChatResult(generations=[ChatGeneration(message=_to_message(out))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        req = self._request(messages, stop, kwargs)
        if "tools" in req or "response_format" in req:
            yield as_chunk(self._generate(messages, stop, **kwargs))
            return
        with self._lock:
            for part in self.client.create_chat_completion(stream=True, **req):
                delta = part["choices"][0].get("delta", {})
                text = delta.get("content") or ""
                if not text:
                    continue
                chunk = ChatGenerationChunk(message=AIMessageChunk(content=text))
                if run_manager:
                    run_manager.on_llm_new_token(text, chunk=chunk)
                yield chunk


def _to_message(out: dict[str, Any]) -> AIMessage:
    import json

    choice = out["choices"][0]["message"]
    tool_calls = []
    for i, tc in enumerate(choice.get("tool_calls") or []):
        fn = tc.get("function", {})
        try:
            args = json.loads(fn.get("arguments") or "{}")
        except json.JSONDecodeError:
            args = {}
        tool_calls.append({"name": fn.get("name", ""), "args": args, "id": tc.get("id") or f"call_{i}"})
    usage = out.get("usage") or {}
    return AIMessage(
        content=choice.get("content") or "",
        tool_calls=tool_calls,
        usage_metadata={
            "input_tokens": usage.get("prompt_tokens", 0),
            "output_tokens": usage.get("completion_tokens", 0),
            "total_tokens": usage.get("total_tokens", 0),
        },
        response_metadata={"model_name": out.get("model", "llamacpp")},
    )

