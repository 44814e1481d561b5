"""The managed layer with in-process backends (the HTTP path is in test_http_backend.py)."""

import asyncio
import threading
import time

import httpx
import pytest
from langchain_core.messages import AIMessage

from pedagraph.errors import ConfigError, ModelError
from pedagraph.llm import ScriptedChatModel, get_model, reset_models, track_usage
from pedagraph.llm.limits import BackendLimiter


class Flaky(ScriptedChatModel):
    """Fails with a given exception for the first `failures` calls."""

    failures: int = 0
    exc: type[Exception] = httpx.ConnectError

    def _respond(self, messages, stop, kwargs):
        if self.failures > 0:
            self.failures -= 1
            self._record(messages, stop, kwargs)
            raise self.exc("boom sk-abcdefghijklmnop1234")
        return super()._respond(messages, stop, kwargs)


def test_retries_transient_errors_then_succeeds():
    inner = Flaky(failures=2, replies=["fine"])
    m = get_model("teacher", model=inner, retry_backoff=0.001)
    with track_usage() as usage:
        assert m.invoke("x").content == "fine"
    assert len(inner.calls) == 3
    assert usage.by_role()["teacher"].retries == 2


def test_gives_up_after_max_retries_with_one_line_error_and_no_secret():
    inner = Flaky(failures=10)
    m = get_model("student", model=inner, retry_backoff=0.001, max_retries=2)
    with track_usage() as usage:
        with pytest.raises(ModelError) as info:
            m.invoke("x")
    assert len(inner.calls) == 3
    msg = info.value.one_line()
    assert "student" in msg and "cannot connect" in msg
    assert "sk-abcdef" not in msg
    assert usage.by_role()["student"].errors == 1


def test_non_retryable_error_is_not_retried():
    inner = Flaky(failures=5, exc=ValueError)
    m = get_model("teacher", model=inner, retry_backoff=0.001)
    with pytest.raises(ModelError):
        m.invoke("x")
    assert len(inner.calls) == 1


def test_stream_retries_before_first_token():
    inner = Flaky(failures=1, replies=["a b c"])
    m = get_model("teacher", model=inner, retry_backoff=0.001)
    assert "".join(c.content for c in m.stream("x")) == "a b c"


def test_async_retries():
    inner = Flaky(failures=1, replies=["ok"])
    m = get_model("teacher", model=inner, retry_backoff=0.001)
    assert asyncio.run(m.ainvoke("x")).content == "ok"


def test_get_model_caches_and_reset():
    a = get_model("teacher")
    assert get_model("teacher") is a
    assert get_model("student") is not a
    reset_models()
    assert get_model("teacher") is not a


def test_hosted_openai_without_key_is_a_config_error():
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        get_model("teacher", model="openai:gpt-4o-mini")


def test_local_server_needs_no_key(monkeypatch):
    m = get_model("student", model="openai:qwen", base_url="http://127.0.0.1:1/v1")
    assert m.base_url == "http://127.0.0.1:1/v1"
    monkeypatch.setenv("OLLAMA_HOST", "10.0.0.5:11434")
    m = get_model("student", model="ollama:qwen2.5:7b")
    assert m.base_url == "http://10.0.0.5:11434/v1"


def test_teacher_and_student_on_different_backends(monkeypatch):
    monkeypatch.setenv("PEDAGRAPH_TEACHER_MODEL", "openai:big-model")
    monkeypatch.setenv("PEDAGRAPH_TEACHER_BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("PEDAGRAPH_STUDENT_MODEL", "ollama:small")
    t, s = get_model("teacher"), get_model("student")
    assert t.model_spec == "openai:big-model" and s.model_spec == "ollama:small"
    assert t.base_url != s.base_url
    assert t.limiter is not s.limiter


def test_unknown_provider_is_a_clear_error():
    with pytest.raises(ConfigError, match="provider|cannot use"):
        get_model("teacher", model="nosuchprovider:model-x")


def test_gguf_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="not found|llama-cpp"):
        get_model("student", model=f"llamacpp:{tmp_path / 'missing.gguf'}")


def test_limiter_caps_concurrency_across_threads():
    limiter = BackendLimiter(2)
    active, peak, lock = [0], [0], threading.Lock()

    def work():
        with limiter.slot():
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            time.sleep(0.02)
            with lock:
                active[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2
    assert limiter.in_use == 0


def test_limiter_caps_concurrency_async_and_survives_cancellation():
    limiter = BackendLimiter(3)
    active, peak = [0], [0]

    async def work():
        async with limiter.aslot():
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            await asyncio.sleep(0.01)
            active[0] -= 1

    async def main():
        tasks = [asyncio.create_task(work()) for _ in range(12)]
        await asyncio.sleep(0)
        tasks[-1].cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run(main())
    assert peak[0] == 3
    assert limiter.in_use == 0


def test_limiter_paces_requests_per_minute():
    limiter = BackendLimiter(10, requests_per_minute=60 * 50)  # one every 20 ms
    starts = []
    for _ in range(4):
        with limiter.slot():
            starts.append(time.monotonic())
    # pacing is by schedule: one late start lets the next follow sooner, but the rate over the run holds
    assert starts[-1] - starts[0] >= 3 * 0.020 * 0.9


def test_scripted_model_accepts_ai_message_with_tool_calls():
    inner = ScriptedChatModel(replies=[AIMessage(content="", tool_calls=[{"name": "t", "args": {}, "id": "1"}])])
    out = get_model("teacher", model=inner).invoke("x")
    assert out.tool_calls[0]["name"] == "t"


def test_a_schema_is_described_once_per_class_and_each_caller_gets_its_own_copy():
    from pydantic import BaseModel, ConfigDict

    from pedagraph.llm.schema import schema_info

    class Verdict(BaseModel):
        """Whether the step is right."""

        model_config = ConfigDict(title="StepVerdict")
        correct: bool

    first, second = schema_info(Verdict), schema_info(Verdict)
    assert (first.name, first.description) == ("StepVerdict", "Whether the step is right.")
    assert first.json_schema == second.json_schema and "correct" in first.json_schema["properties"]
    first.json_schema["properties"].clear()  # a request builder changing its copy changes no one else's
    assert "correct" in schema_info(Verdict).json_schema["properties"]
    assert schema_info(Verdict).validate({"correct": True}).correct is True
