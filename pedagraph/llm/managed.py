"""The chat model every role gets: a backend behind retries, limits, usage accounting and safe errors."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, Literal

import httpx
from langchain_core import exceptions as lc_exc
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableBinding, RunnableConfig, RunnableLambda
from pydantic import ConfigDict, Field, PrivateAttr

from pedagraph.errors import ModelError, StructuredOutputError
from pedagraph.llm.cache import active_response_cache, cache_key
from pedagraph.llm.limits import BackendLimiter
from pedagraph.llm.schema import SchemaInfo, parse_json_text, schema_info, validation_message
from pedagraph.llm.usage import StructuredOutcome, active_trackers, structured_node
from pedagraph.prompts import render
from pedagraph.redact import redact

log = logging.getLogger(__name__)

StructuredMethod = Literal["json_schema", "function_calling", "json_mode"]

_RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529}


def _openai(*names: str) -> tuple[type[BaseException], ...]:
    """The openai exception classes `names` once openai is imported (none of its errors exists before), else none.

    Not importing openai here keeps it out of processes that never call an OpenAI-compatible server (0.6 s).
    """
    module = sys.modules.get("openai")
    return tuple(getattr(module, name) for name in names) if module is not None else ()


def is_retryable(exc: BaseException) -> bool:
    """True for failures worth retrying: rate limits, 5xx (not 501), timeouts, dropped connections, broken bodies."""
    if isinstance(exc, _openai("APIStatusError")):
        return exc.status_code in _RETRYABLE_STATUS or (exc.status_code >= 500 and exc.status_code != 501)
    if isinstance(
        exc,
        (
            *_openai("APIConnectionError", "APIResponseValidationError"),  # the first includes APITimeoutError
            lc_exc.ModelRateLimitError,
            lc_exc.ModelAPIError,
            lc_exc.ModelConnectionError,
            lc_exc.ModelTimeoutError,
            httpx.TimeoutException,
            httpx.TransportError,
            httpx.RemoteProtocolError,
            json.JSONDecodeError,
            TimeoutError,
            ConnectionError,
        ),
    ):
        return True
    return False


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


_REFUSED: dict[tuple[str | None, str], set[str]] = {}
"""(base URL, model) -> the `response_format` types that server refused (`json_schema`, `json_object`)."""
_REFUSED_LOCK = threading.Lock()
_FALLS_BACK: dict[str, str] = {"json_schema": "json_mode", "json_mode": "prompt"}
"""A structured method a server refused, and the one tried next (`prompt`: the schema in the prompt, no format)."""
_FORMAT_OF: dict[str, str] = {"json_schema": "json_schema", "json_mode": "json_object"}


def refused_formats(base_url: str | None, model: str) -> frozenset[str]:
    """The `response_format` types the server at `base_url` refused for `model` in this process."""
    with _REFUSED_LOCK:
        return frozenset(_REFUSED.get((base_url, model), ()))


def forget_refusals() -> None:
    """Forget which servers refused which `response_format` (the next structured call asks as configured)."""
    with _REFUSED_LOCK:
        _REFUSED.clear()


def _refused_by_server(exc: ModelError) -> bool:
    """True when the server refused the request itself: a 4xx other than auth, not found or rate limit, or a 501."""
    cause = exc.__cause__
    if not isinstance(cause, _openai("APIStatusError")):
        return False
    code = cause.status_code
    return (400 <= code < 500 and code not in (401, 403, 404, 408, 409, 429)) or code == 501


class ManagedChatModel(BaseChatModel):
    """A role's chat model: delegates to a backend model and adds retries, limits, usage and clear errors."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    inner: BaseChatModel = Field(exclude=True)
    role: str
    model_spec: str = Field(description="`provider:model` as configured (never contains secrets).")
    base_url: str | None = None
    max_retries: int = 3
    retry_backoff: float = 1.0
    max_backoff: float = 30.0
    structured_method: StructuredMethod = "json_schema"
    limiter: BackendLimiter = Field(exclude=True)

    _sleep: Callable[[float], None] = PrivateAttr(default=time.sleep)

    @property
    def _llm_type(self) -> str:
        return f"pedagraph:{getattr(self.inner, '_llm_type', 'chat')}"

    @property
    def is_scripted(self) -> bool:
        """True when this role runs on the built-in offline `scripted` model."""
        return getattr(self.inner, "_llm_type", "") == "scripted"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"role": self.role, "model": self.model_spec, "base_url": self.base_url}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = self.inner._get_ls_params(stop=stop, **kwargs)
        params["ls_model_name"] = self.model_spec
        return params

    # -- errors --------------------------------------------------------------------------------------------
    def _error(self, exc: BaseException, attempts: int) -> ModelError:
        """Translate a backend failure into a one-line ModelError naming role and model, with a fix."""
        who = f"{self.role} model {self.model_spec}" + (f" at {self.base_url}" if self.base_url else "")
        detail = redact(" ".join(str(exc).split()))[:300]
        if isinstance(exc, (*_openai("AuthenticationError"), lc_exc.ModelAuthenticationError)):
            return ModelError(
                f"{who}: authentication failed",
                role=self.role,
                model=self.model_spec,
                hint=f"check OPENAI_API_KEY or PEDAGRAPH_{self.role.upper()}_API_KEY",
            )
        if isinstance(exc, (*_openai("NotFoundError"), lc_exc.ModelNotFoundError)):
            return ModelError(
                f"{who}: model or endpoint not found ({detail})",
                role=self.role,
                model=self.model_spec,
                hint="check the model name and that the base URL ends in /v1",
            )
        if isinstance(exc, (*_openai("APITimeoutError"), lc_exc.ModelTimeoutError, httpx.TimeoutException)):
            return ModelError(
                f"{who}: timed out after {attempts} attempt(s)",
                role=self.role,
                model=self.model_spec,
                hint="raise `timeout` in pedagraph.toml or check the server",
            )
        if isinstance(exc, (*_openai("APIConnectionError"), lc_exc.ModelConnectionError, httpx.TransportError)):
            return ModelError(
                f"{who}: cannot connect after {attempts} attempt(s)",
                role=self.role,
                model=self.model_spec,
                hint="is the server running and the base URL right?",
            )
        if is_retryable(exc):
            return ModelError(
                f"{who}: failed after {attempts} attempt(s): {type(exc).__name__}: {detail}",
                role=self.role,
                model=self.model_spec,
            )
        return ModelError(
            f"{who}: {type(exc).__name__}: {detail}", role=self.role, model=self.model_spec
        )

    def _backoff(self, attempt: int, exc: BaseException) -> float:
        hinted = _retry_after(exc)
        delay = self.retry_backoff * (2 ** (attempt - 1)) * (0.5 + random.random() / 2)  # noqa: S311
        if hinted is not None:
            delay = max(delay, hinted)
        return min(delay, self.max_backoff)

    def _record(self, result_msg: BaseMessage | None, seconds: float, retries: int, error: bool) -> None:
        usage = getattr(result_msg, "usage_metadata", None) or {}
        for tracker in active_trackers():
            tracker.record(
                self.role,
                self.model_spec,
                input_tokens=int(usage.get("input_tokens", 0) or 0),
                output_tokens=int(usage.get("output_tokens", 0) or 0),
                seconds=seconds,
                retries=retries,
                error=error,
            )

    # -- cache -----------------------------------------------------------------------------------------------
    def _cache_lookup(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> Any:
        cache = active_response_cache()
        if cache is None:
            return None, None, None
        try:
            params = dict(self.inner._identifying_params)
        except Exception:  # noqa: BLE001 - a backend without identifying params still caches by model name
            params = {}
        key = cache_key(self.model_spec, self.base_url, params, messages, {**kwargs, "stop": stop})
        hit = cache.get(key)
        if hit is not None:
            for tracker in active_trackers():
                tracker.record_cache_hit(self.role, self.model_spec)
        return cache, key, hit

    # -- generation ----------------------------------------------------------------------------------------
    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        cache, key, hit = self._cache_lookup(messages, stop, kwargs)
        if hit is not None:
            return ChatResult(generations=[ChatGeneration(message=hit)])
        start = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            try:
                with self.limiter.slot():
                    result = self.inner._generate(messages, stop=stop, **kwargs)
                self._record(result.generations[0].message, time.perf_counter() - start, attempt - 1, False)
                if cache is not None:
                    cache.put(key, self.model_spec, cacheable_message(result.generations[0]))
                return result
            except ModelError:
                raise
            except Exception as exc:
                if is_retryable(exc) and attempt <= self.max_retries:
                    self._sleep(self._backoff(attempt, exc))
                    continue
                self._record(None, time.perf_counter() - start, attempt - 1, True)
                raise self._error(exc, attempt) from exc

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        cache, key, hit = self._cache_lookup(messages, stop, kwargs)
        if hit is not None:
            return ChatResult(generations=[ChatGeneration(message=hit)])
        start = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self.limiter.aslot():
                    result = await self.inner._agenerate(messages, stop=stop, **kwargs)
                self._record(result.generations[0].message, time.perf_counter() - start, attempt - 1, False)
                if cache is not None:
                    cache.put(key, self.model_spec, cacheable_message(result.generations[0]))
                return result
            except ModelError:
                raise
            except Exception as exc:
                if is_retryable(exc) and attempt <= self.max_retries:
                    await asyncio.sleep(self._backoff(attempt, exc))
                    continue
                self._record(None, time.perf_counter() - start, attempt - 1, True)
                raise self._error(exc, attempt) from exc

    def _inner_streams(self) -> bool:
        return type(self.inner)._stream is not BaseChatModel._stream

    def _inner_astreams(self) -> bool:
        return type(self.inner)._astream is not BaseChatModel._astream

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        cache, key, hit = self._cache_lookup(messages, stop, kwargs)
        if hit is not None:
            chunk = as_chunk(ChatResult(generations=[ChatGeneration(message=hit)]))
            if run_manager:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk
            return
        start = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            started = False
            last: ChatGenerationChunk | None = None
            usage: dict[str, int] = {}
            try:
                with self.limiter.slot():
                    if self._inner_streams():
                        source: Iterator[ChatGenerationChunk] = self.inner._stream(messages, stop=stop, **kwargs)
                    else:
                        source = iter([as_chunk(self.inner._generate(messages, stop=stop, **kwargs))])
                    for chunk in source:
                        started = True
                        last = chunk if last is None else last + chunk
                        _add_usage(usage, chunk)
                        if run_manager:
                            run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                        yield chunk
                self._record(_usage_holder(usage, last), time.perf_counter() - start, attempt - 1, False)
                if cache is not None and last is not None:
                    cache.put(key, self.model_spec, _chunk_message(last))
                return
            except ModelError:
                raise
            except Exception as exc:
                if not started and is_retryable(exc) and attempt <= self.max_retries:
                    self._sleep(self._backoff(attempt, exc))
                    continue
                self._record(None, time.perf_counter() - start, attempt - 1, True)
                raise self._error(exc, attempt) from exc

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        cache, key, hit = self._cache_lookup(messages, stop, kwargs)
        if hit is not None:
            chunk = as_chunk(ChatResult(generations=[ChatGeneration(message=hit)]))
            if run_manager:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk
            return
        start = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            started = False
            last: ChatGenerationChunk | None = None
            usage: dict[str, int] = {}
            try:
                async with self.limiter.aslot():
                    if self._inner_astreams() or self._inner_streams():
                        source = self.inner._astream(messages, stop=stop, **kwargs)
                    else:
                        source = _aiter_one(as_chunk(await self.inner._agenerate(messages, stop=stop, **kwargs)))
                    async for chunk in source:
                        started = True
                        last = chunk if last is None else last + chunk
                        _add_usage(usage, chunk)
                        if run_manager:
                            await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                        yield chunk
                self._record(_usage_holder(usage, last), time.perf_counter() - start, attempt - 1, False)
                if cache is not None and last is not None:
                    cache.put(key, self.model_spec, _chunk_message(last))
                return
            except ModelError:
                raise
            except Exception as exc:
                if not started and is_retryable(exc) and attempt <= self.max_retries:
                    await asyncio.sleep(self._backoff(attempt, exc))
                    continue
                self._record(None, time.perf_counter() - start, attempt - 1, True)
                raise self._error(exc, attempt) from exc

    # -- tools and structured output -----------------------------------------------------------------------
    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | Any],
        *,
        tool_choice: Any = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools the way the backend expects them; calls still go through this model's safeguards."""
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        bound = self.inner.bind_tools(tools, **kwargs)
        if not isinstance(bound, RunnableBinding):
            raise ModelError(f"{self.role} model {self.model_spec} does not support tool binding")
        return self.bind(**bound.kwargs)

    def with_structured_output(  # type: ignore[override]
        self,
        schema: dict[str, Any] | type,
        *,
        method: StructuredMethod | None = None,
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """Return a runnable that yields a validated instance of `schema`, repairing once on invalid output.

        A server that refuses the `response_format` (a 4xx answer to the request, when the same request with the next
        method succeeds) is asked with `json_object`, then with the schema in the prompt alone, for the rest of the
        process (`refused_formats`); the reply is validated and repaired as always.
        """
        info = schema_info(schema)
        chosen: StructuredMethod = method or self.structured_method

        def _parse(ai: AIMessage) -> Any:
            if chosen == "function_calling":
                if not ai.tool_calls:
                    raise ValueError(f"expected a call to tool {info.name!r}, got text instead")
                return info.validate(ai.tool_calls[0]["args"])
            return info.validate(parse_json_text(ai.content if isinstance(ai.content, str) else ""))

        def _plan(value: LanguageModelInput, how: str) -> tuple[list[BaseMessage], dict[str, Any]]:
            msgs = self._convert_input(value).to_messages()
            if how in ("json_mode", "prompt"):
                instructions = render(
                    "llm/json_mode_instructions", schema_name=info.name, schema=json.dumps(info.json_schema)
                )
                msgs = [SystemMessage(content=instructions), *msgs]
            return msgs, ({} if how == "prompt" else self._structured_request(info, how, strict))  # type: ignore[arg-type]

        def _repair_messages(msgs: list[BaseMessage], ai: AIMessage, err: Exception) -> list[BaseMessage]:
            note = render("llm/structured_repair", schema_name=info.name, error=validation_message(err))
            if ai.tool_calls:
                ai = AIMessage(content=json.dumps(ai.tool_calls[0]["args"]))
            return [*msgs, ai, HumanMessage(content=note)]

        def _fail(err: Exception, ai: AIMessage) -> Any:
            raise StructuredOutputError(
                f"{self.role} model {self.model_spec} did not return a valid {info.name} after one repair "
                f"attempt: {redact(validation_message(err, 300))}",
                role=self.role,
                model=self.model_spec,
                hint="use a stronger model, or set structured_method (json_schema/function_calling/json_mode)",
            )

        def _result(ai: AIMessage, parsed: Any, err: Exception | None) -> Any:
            if include_raw:
                return {"raw": ai, "parsed": parsed, "parsing_error": err}
            return parsed

        def _count(outcome: StructuredOutcome) -> None:
            node = structured_node() or info.name
            for tracker in active_trackers():
                tracker.record_structured(self.role, self.model_spec, node, outcome)

        def _first(value: LanguageModelInput, config: RunnableConfig | None) -> tuple[Any, ...]:
            how, refusals = self._structured_method(chosen), []
            while True:
                msgs, request = _plan(value, how)
                try:
                    ai = self.invoke(msgs, config, **request)
                except ModelError as exc:
                    how = self._after_refusal(how, exc, refusals)
                    continue
                self._remember_refusals(refusals, how)
                return msgs, request, ai

        async def _afirst(value: LanguageModelInput, config: RunnableConfig | None) -> tuple[Any, ...]:
            how, refusals = self._structured_method(chosen), []
            while True:
                msgs, request = _plan(value, how)
                try:
                    ai = await self.ainvoke(msgs, config, **request)
                except ModelError as exc:
                    how = self._after_refusal(how, exc, refusals)
                    continue
                self._remember_refusals(refusals, how)
                return msgs, request, ai

        def _repaired(ai2: AIMessage) -> Any:
            try:
                parsed = _parse(ai2)
            except Exception as second:  # noqa: BLE001
                _count("failed")
                if include_raw:
                    return _result(ai2, None, second)
                return _fail(second, ai2)
            _count("repaired")
            return _result(ai2, parsed, None)

        def invoke(value: LanguageModelInput, config: RunnableConfig | None = None) -> Any:
            msgs, request, ai = _first(value, config)
            try:
                parsed = _parse(ai)
            except Exception as first:  # noqa: BLE001 - any parse/validation failure gets one repair
                return _repaired(self.invoke(_repair_messages(msgs, ai, first), config, **request))
            _count("ok")
            return _result(ai, parsed, None)

        async def ainvoke(value: LanguageModelInput, config: RunnableConfig | None = None) -> Any:
            msgs, request, ai = await _afirst(value, config)
            try:
                parsed = _parse(ai)
            except Exception as first:  # noqa: BLE001
                return _repaired(await self.ainvoke(_repair_messages(msgs, ai, first), config, **request))
            _count("ok")
            return _result(ai, parsed, None)

        return RunnableLambda(invoke, afunc=ainvoke, name=f"structured_{info.name}")

    # -- servers that refuse a response format -------------------------------------------------------------
    def _structured_method(self, chosen: str) -> str:
        """The method to ask this server with: `chosen`, or what it falls back to after the server refused it."""
        refused = refused_formats(self.base_url, self.model_spec)
        while chosen in _FORMAT_OF and _FORMAT_OF[chosen] in refused:
            chosen = _FALLS_BACK[chosen]
        return chosen

    @staticmethod
    def _after_refusal(how: str, exc: ModelError, refusals: list[tuple[str, ModelError]]) -> str:
        """The method to try after a first call failed with `exc`, or raise (the first error, when all failed)."""
        if how not in _FALLS_BACK or not _refused_by_server(exc):
            raise refusals[0][1] if refusals else exc
        refusals.append((how, exc))
        return _FALLS_BACK[how]

    def _remember_refusals(self, refusals: list[tuple[str, ModelError]], how: str) -> None:
        """The server answered `how` after refusing the methods in `refusals`: remember that, and say so once."""
        for was, exc in refusals:
            with _REFUSED_LOCK:
                known = _REFUSED.setdefault((self.base_url, self.model_spec), set())
                new = _FORMAT_OF[was] not in known
                known.add(_FORMAT_OF[was])
            if new:
                log.warning("%s model %s refused response_format %s (%s); its structured replies are asked for with %s "
                            "from now on, validated and repaired once", self.role, self.model_spec, _FORMAT_OF[was],
                            exc.one_line(), "the schema in the prompt" if how == "prompt"
                            else f"response_format {_FORMAT_OF[how]}")  # fmt: skip

    def _structured_request(self, info: SchemaInfo, method: StructuredMethod, strict: bool | None) -> dict[str, Any]:
        if method == "json_schema":
            js: dict[str, Any] = {"name": info.name, "schema": info.json_schema}
            if info.description:
                js["description"] = info.description[:1000]
            if strict is not None:
                js["strict"] = strict
            return {"response_format": {"type": "json_schema", "json_schema": js}, "ls_structured_output_format": {
                "kwargs": {"method": method}, "schema": info.json_schema}}
        if method == "function_calling":
            tool = {
                "type": "function",
                "function": {
                    "name": info.name,
                    "description": info.description[:1000] or f"Return a {info.name}.",
                    "parameters": info.json_schema,
                },
            }
            bound = self.bind_tools([tool], tool_choice=info.name)
            return dict(bound.kwargs) if isinstance(bound, RunnableBinding) else {}
        if method == "json_mode":
            return {"response_format": {"type": "json_object"}}
        raise ValueError(f"unknown structured output method {method!r}")


def cacheable_message(generation: ChatGeneration) -> BaseMessage:
    """The reply to store in the response cache: the message with its generation info (e.g. `logprobs`) kept.

    A backend such as ChatOpenAI puts log-probabilities in `generation_info`, which LangChain merges into the
    message's `response_metadata` only after this layer returns; a cache hit must carry them too.
    """
    info = generation.generation_info or {}
    if not info:
        return generation.message
    metadata = {**info, **generation.message.response_metadata}
    return generation.message.model_copy(update={"response_metadata": metadata})


def as_chunk(result: ChatResult) -> ChatGenerationChunk:
    """Turn a whole ChatResult into one stream chunk (text, tool calls and usage kept)."""
    msg = result.generations[0].message
    return ChatGenerationChunk(
        message=AIMessageChunk(
            content=msg.content,
            tool_call_chunks=[
                {"name": tc["name"], "args": json.dumps(tc["args"]), "id": tc["id"], "index": i}
                for i, tc in enumerate(getattr(msg, "tool_calls", []) or [])
            ],
            usage_metadata=getattr(msg, "usage_metadata", None),
            response_metadata=msg.response_metadata,
        )
    )


async def _aiter_one(chunk: ChatGenerationChunk) -> AsyncIterator[ChatGenerationChunk]:
    yield chunk


def _add_usage(acc: dict[str, int], chunk: ChatGenerationChunk) -> None:
    usage = getattr(chunk.message, "usage_metadata", None)
    if usage:
        for key in ("input_tokens", "output_tokens"):
            acc[key] = acc.get(key, 0) + int(usage.get(key, 0) or 0)


def _chunk_message(chunk: ChatGenerationChunk) -> AIMessage:
    msg = chunk.message
    return AIMessage(
        content=msg.content,
        tool_calls=getattr(msg, "tool_calls", []) or [],
        usage_metadata=getattr(msg, "usage_metadata", None),
        response_metadata=msg.response_metadata,
    )


class _UsageHolder:
    def __init__(self, usage: dict[str, int]) -> None:
        self.usage_metadata = usage


def _usage_holder(usage: dict[str, int], last: ChatGenerationChunk | None) -> Any:
    return _UsageHolder(usage)
