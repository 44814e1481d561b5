"""The real ChatOpenAI, obtained through `get_model`, against a real OpenAI-compatible HTTP server (the stub)."""

from __future__ import annotations

import asyncio
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import HumanMessage
from pedagraph.prompts import load_prompt
from pydantic import BaseModel, Field
from rich.console import Console
from typer.testing import CliRunner

from pedagraph.errors import ModelError, StructuredOutputError
from pedagraph.llm import ManagedChatModel, get_model, global_usage, track_usage
from pedagraph.testing.openai_stub import REDACTED, OpenAIStub

SECRET = "sk-test-SECRET-1234567890"
MODEL = "openai:stub-model"
REPAIR_OPENING = load_prompt("llm/structured_repair").splitlines()[0].split("`")[0].strip()


class Quiz(BaseModel):
    """A quiz question."""

    question: str = Field(min_length=3)
    difficulty: int = Field(ge=1, le=5)
    choices: list[str] = Field(min_length=2)


DICT_SCHEMA: dict[str, Any] = {
    "title": "Feedback",
    "type": "object",
    "properties": {
        "correct": {"type": "boolean"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "comment": {"type": "string", "minLength": 1},
    },
    "required": ["correct", "score", "comment"],
    "additionalProperties": False,
}


@pytest.fixture
def stub():
    """A running stub server, stopped after the test."""
    with OpenAIStub() as server:
        yield server


def model_for(server: OpenAIStub, role: str = "teacher", **overrides: Any) -> ManagedChatModel:
    """The role's model as users get it, pointed at the stub, with fast retries."""
    settings: dict[str, Any] = {
        "model": MODEL,
        "base_url": server.base_url,
        "api_key": SECRET,
        "retry_backoff": 0.01,
        "timeout": 5.0,
    }
    settings.update(overrides)
    return get_model(role, **settings)


def closed_port_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# -- plain calls and streaming ---------------------------------------------------------------------------------


def test_plain_invoke_reaches_the_server(stub):
    model = model_for(stub)
    reply = model.invoke("What is a fraction?")
    assert reply.content == "stub reply to: What is a fraction?"
    assert reply.usage_metadata and reply.usage_metadata["input_tokens"] > 0
    [request] = stub.chat_requests
    assert request.body["model"] == "stub-model"
    assert request.messages[-1] == {"role": "user", "content": "What is a fraction?"}
    assert request.body.get("stream") in (None, False)


def test_reply_queue_and_reply_fn():
    with OpenAIStub(replies=["first"], reply_fn=lambda body: f"n={len(body['messages'])}") as server:
        model = model_for(server)
        assert model.invoke("a").content == "first"
        assert model.invoke([HumanMessage("a"), HumanMessage("b")]).content == "n=2"


def test_stream_yields_several_chunks_that_reassemble(stub):
    model = model_for(stub)
    prompt = "Explain photosynthesis to a ten year old in a few words"
    with track_usage() as usage:
        chunks = list(model.stream(prompt))
    texts = [c.content for c in chunks if c.content]
    assert len(texts) >= 4
    assert "".join(texts) == f"stub reply to: {prompt}"
    [request] = stub.chat_requests
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    teacher = usage.by_role()["teacher"]
    assert teacher.calls == 1 and teacher.input_tokens > 0 and teacher.output_tokens > 0


def test_stream_retries_a_fault_before_the_first_chunk(stub):
    stub.add_faults("429", "500")
    text = "".join(str(c.content) for c in model_for(stub).stream("hi there"))
    assert text == "stub reply to: hi there"
    assert [r.fault for r in stub.chat_requests] == ["429", "500", None]


def test_ainvoke_and_astream(stub):
    model = model_for(stub)

    async def run() -> tuple[str, list[str]]:
        reply = await model.ainvoke("async hello")
        parts = [str(c.content) async for c in model.astream("async stream of several words")]
        return str(reply.content), parts

    text, parts = asyncio.run(run())
    assert text == "stub reply to: async hello"
    assert len([p for p in parts if p]) >= 3
    assert "".join(parts) == "stub reply to: async stream of several words"
    assert len(stub.chat_requests) == 2


# -- structured output -----------------------------------------------------------------------------------------


def test_structured_output_json_schema(stub):
    quiz = model_for(stub).with_structured_output(Quiz).invoke("Make a quiz")
    assert isinstance(quiz, Quiz)
    assert 1 <= quiz.difficulty <= 5 and len(quiz.choices) >= 2
    [request] = stub.chat_requests
    fmt = request.body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "Quiz"
    assert "tools" not in request.body


@pytest.mark.parametrize("provider", ["openai", "vllm", "ollama", "llamacpp-server", "lmstudio"])
def test_openai_compatible_servers_get_the_json_schema_and_keep_the_repair_path(stub, provider):
    """The request carries the schema itself (servers that constrain decode by it); a bad reply is still repaired."""
    model = model_for(stub, model=f"{provider}:m")
    assert model.structured_method == "json_schema"
    stub.add_faults("bad_json_content")
    quiz = model.with_structured_output(Quiz).invoke("Make a quiz")
    assert isinstance(quiz, Quiz)
    first, repair = stub.chat_requests
    for request in (first, repair):
        fmt = request.body["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "Quiz"
        schema = fmt["json_schema"]["schema"]
        assert schema["required"] == ["question", "difficulty", "choices"]
        difficulty = schema["properties"]["difficulty"]
        assert (difficulty["type"], difficulty["minimum"], difficulty["maximum"]) == ("integer", 1, 5)


def _quiz_when_asked(body: dict[str, Any]) -> dict[str, Any] | None:
    """A server's model that writes the quiz the prompt asks for (a schema there, or in `response_format`)."""
    return {"question": "What is 2 + 3?", "difficulty": 2, "choices": ["5", "6"]}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    status=st.sampled_from([400, 405, 415, 422, 501]),
    message=st.text(min_size=0, max_size=80),
    refused=st.sampled_from([("json_schema",), ("json_schema", "json_object")]),
    use_async=st.booleans(),
)
def test_a_server_that_refuses_the_response_format_is_asked_again_without_it(status, message, refused, use_async,
                                                                               caplog):  # fmt: skip
    """Any 4xx (or 501) answer to the format, whatever its words: the next method, remembered for that server."""
    from pedagraph.llm import forget_refusals, refused_formats

    forget_refusals()
    caplog.clear()
    with OpenAIStub(refuse_formats=refused, refusal_status=status, refusal_message=message,
                    reply_fn=_quiz_when_asked) as server:  # fmt: skip
        model = model_for(server, max_retries=1)
        runnable = model.with_structured_output(Quiz)
        async def twice() -> list[Any]:  # one event loop: the async client is bound to it
            return [await runnable.ainvoke("Make a quiz") for _ in range(2)]

        with track_usage() as usage:
            quizzes = asyncio.run(twice()) if use_async else [runnable.invoke("Make a quiz") for _ in range(2)]
        assert all(isinstance(quiz, Quiz) for quiz in quizzes)
        kinds = [(r.body.get("response_format") or {}).get("type") for r in server.chat_requests]
        accepted = "json_object" if refused == ("json_schema",) else None
        # the first call tries each refused format once; the second goes straight to the one that worked
        assert kinds == [*refused, accepted, accepted]
        for request in server.chat_requests[len(refused):]:
            instructions = request.messages[0]
            assert instructions["role"] == "system" and '"difficulty"' in instructions["content"]
    assert refused_formats(server.base_url, MODEL) == frozenset(refused)
    [row] = usage.to_dict()["structured"]
    assert (row["calls"], row["repaired"], row["failed"]) == (2, 0, 0)
    warnings = [r.getMessage() for r in caplog.records if "refused response_format" in r.getMessage()]
    assert len(warnings) == len(refused)  # said once per format, not per call
    assert all(SECRET not in w for w in warnings)


@pytest.mark.parametrize("status", [401, 404, 429])
def test_a_refusal_that_is_not_about_the_format_is_not_worked_around(status):
    """Auth, not found and rate limits are errors of their own: raised as they are, nothing remembered."""
    from pedagraph.llm import refused_formats

    with OpenAIStub(refuse_formats=["json_schema"], refusal_status=status) as server:
        with pytest.raises(ModelError):
            model_for(server, max_retries=0).with_structured_output(Quiz).invoke("Make a quiz")
        assert len(server.chat_requests) == 1
    assert refused_formats(server.base_url, MODEL) == frozenset()


def test_a_request_the_server_refuses_whatever_its_format_raises_the_first_error():
    """A 400 for every request (a prompt too long, say): each method is tried once, the first error raised."""
    from pedagraph.llm import refused_formats

    with OpenAIStub(refuse_formats=["json_schema", "json_object", None], refusal_message="too long ({type})") as server:
        with pytest.raises(ModelError, match="json_schema"):
            model_for(server, max_retries=0).with_structured_output(Quiz).invoke("Make a quiz")
        assert [(r.body.get("response_format") or {}).get("type") for r in server.chat_requests] == [
            "json_schema", "json_object", None]  # fmt: skip
    assert refused_formats(server.base_url, MODEL) == frozenset()


def test_structured_output_function_calling(stub):
    quiz = model_for(stub).with_structured_output(Quiz, method="function_calling").invoke("Make a quiz")
    assert isinstance(quiz, Quiz)
    [request] = stub.chat_requests
    assert [t["function"]["name"] for t in request.body["tools"]] == ["Quiz"]
    assert request.body["tool_choice"]["function"]["name"] == "Quiz"
    assert "response_format" not in request.body


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_structured_output_with_a_dict_schema(stub, method):
    result = model_for(stub).with_structured_output(DICT_SCHEMA, method=method).invoke("Grade this")
    assert isinstance(result, dict)
    assert set(result) == {"correct", "score", "comment"}
    assert 0 <= result["score"] <= 1


def test_structured_output_async(stub):
    runnable = model_for(stub).with_structured_output(Quiz)
    quiz = asyncio.run(runnable.ainvoke("Make a quiz"))
    assert isinstance(quiz, Quiz)


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_bad_json_content_once_is_repaired(stub, method):
    stub.add_faults("bad_json_content")
    quiz = model_for(stub).with_structured_output(Quiz, method=method).invoke("Make a quiz")
    assert isinstance(quiz, Quiz)
    first, second = stub.chat_requests
    assert REPAIR_OPENING not in first.text
    last = second.messages[-1]
    assert last["role"] == "user" and REPAIR_OPENING in last["content"] and "Quiz" in last["content"]
    assert second.messages[-2]["role"] == "assistant"  # the broken reply is shown back to the model


def test_bad_json_content_is_repaired_async(stub):
    stub.add_faults("bad_json_content")
    quiz = asyncio.run(model_for(stub).with_structured_output(Quiz).ainvoke("Make a quiz"))
    assert isinstance(quiz, Quiz)
    assert REPAIR_OPENING in stub.chat_requests[1].messages[-1]["content"]


def test_bad_json_content_twice_raises_structured_output_error(stub):
    stub.add_faults("bad_json_content", "bad_json_content")
    with pytest.raises(StructuredOutputError) as info:
        model_for(stub, role="evaluator").with_structured_output(Quiz).invoke("Make a quiz")
    message = str(info.value)
    assert "evaluator" in message and MODEL in message and "Quiz" in message
    assert len(stub.chat_requests) == 2


# -- usage accounting ------------------------------------------------------------------------------------------


def test_usage_counts_calls_and_tokens_per_role(stub):
    teacher, student = model_for(stub, role="teacher"), model_for(stub, role="student")
    with track_usage() as usage:
        replies = [teacher.invoke("one"), teacher.invoke("two two"), student.invoke("three")]
    roles = usage.by_role()
    assert roles["teacher"].calls == 2 and roles["student"].calls == 1
    assert roles["teacher"].input_tokens == sum(r.usage_metadata["input_tokens"] for r in replies[:2])
    assert roles["teacher"].output_tokens == sum(r.usage_metadata["output_tokens"] for r in replies[:2])
    assert roles["student"].total_tokens == replies[2].usage_metadata["total_tokens"]
    assert roles["teacher"].retries == 0 and roles["teacher"].errors == 0
    assert global_usage().by_role()["teacher"].calls == 2
    assert usage.to_dict()["per_role_model"][0]["model"] == MODEL


# -- retries ---------------------------------------------------------------------------------------------------


def test_429_then_success_is_retried_after_retry_after():
    with OpenAIStub(faults=["429"], retry_after=0.2) as server, track_usage() as usage:
        start = time.perf_counter()
        reply = model_for(server).invoke("hello")
        elapsed = time.perf_counter() - start
    assert reply.content == "stub reply to: hello"
    assert [r.fault for r in server.chat_requests] == ["429", None]
    assert elapsed >= 0.2  # the Retry-After header was honoured over the 0.01 s backoff
    teacher = usage.by_role()["teacher"]
    assert teacher.calls == 1 and teacher.retries == 1 and teacher.errors == 0


def test_500_then_success(stub):
    stub.add_faults("500")
    with track_usage() as usage:
        assert model_for(stub).invoke("hello").content == "stub reply to: hello"
    assert len(stub.chat_requests) == 2
    assert usage.by_role()["teacher"].retries == 1


@pytest.mark.parametrize("fault", ["malformed", "disconnect"])
def test_broken_responses_are_retried(stub, fault):
    stub.add_faults(fault)
    with track_usage() as usage:
        assert model_for(stub).invoke("hello").content == "stub reply to: hello"
    assert [r.fault for r in stub.chat_requests] == [fault, None]
    assert usage.by_role()["teacher"].retries == 1


def test_hang_then_success_with_a_short_timeout(stub):
    stub.add_faults("hang")
    start = time.perf_counter()
    assert model_for(stub, timeout=0.5).invoke("hello").content == "stub reply to: hello"
    assert 0.45 <= time.perf_counter() - start < 1.8
    assert len(stub.chat_requests) == 2


def test_hang_then_success_async(stub):
    stub.add_faults("hang")
    reply = asyncio.run(model_for(stub, timeout=0.3).ainvoke("hello"))
    assert reply.content == "stub reply to: hello"
    assert [r.fault for r in stub.chat_requests] == ["hang", None]


def test_always_hanging_server_times_out_after_max_retries(stub):
    stub.add_faults("hang", "hang", "hang", "hang")
    with track_usage() as usage, pytest.raises(ModelError) as info:
        model_for(stub, role="coach", timeout=0.3, max_retries=2).invoke("hello")
    message = str(info.value)
    assert "coach" in message and MODEL in message and "timed out" in message
    assert "3 attempt" in message
    assert len(stub.chat_requests) == 3  # max_retries + 1, never more
    coach = usage.by_role()["coach"]
    assert coach.errors == 1 and coach.retries == 2


def test_failures_give_up_after_max_retries(stub):
    stub.add_faults("500", "500", "500")
    with pytest.raises(ModelError) as info:
        model_for(stub, max_retries=1).invoke("hello")
    assert "2 attempt" in str(info.value)
    assert len(stub.chat_requests) == 2


# -- errors that must not be retried, and say what is wrong ---------------------------------------------------


def test_wrong_api_key_is_an_authentication_error_without_the_key():
    with OpenAIStub(api_key="sk-the-right-key-0987654321") as server:
        with pytest.raises(ModelError) as info:
            model_for(server).invoke("hello")
        requests = server.chat_requests
    err = info.value
    assert "authentication" in str(err).lower()
    assert "teacher" in str(err) and MODEL in str(err)
    for text in (str(err), err.one_line(), repr(err), err.hint):
        assert SECRET not in text and "SECRET-1234" not in text
    assert len(requests) == 1  # not retried
    assert requests[0].authorized is False


def test_wrong_model_name_is_not_found():
    with OpenAIStub(models=["stub-model"], strict_models=True) as server:
        with pytest.raises(ModelError) as info:
            model_for(server, model="openai:no-such-model").invoke("hello")
        assert len(server.chat_requests) == 1
    message = str(info.value)
    assert "not found" in message and "openai:no-such-model" in message


def test_connection_refused_says_cannot_connect():
    url = closed_port_url()
    with pytest.raises(ModelError) as info:
        get_model("planner", model=MODEL, base_url=url, api_key=SECRET, retry_backoff=0.01, max_retries=1).invoke(
            "hello"
        )
    message = str(info.value)
    assert "cannot connect" in message and "planner" in message and url in message
    assert SECRET not in message


def test_authorization_header_reaches_the_server_redacted_in_the_record():
    with OpenAIStub(api_key=SECRET) as server:
        model_for(server).invoke("hello")
        [request] = server.chat_requests
    assert request.authorized is True
    assert request.header("Authorization") == f"Bearer {REDACTED}"
    assert SECRET not in repr(request)


# -- limits ----------------------------------------------------------------------------------------------------


def test_concurrency_limit_holds_for_async_callers():
    with OpenAIStub(delay=0.1) as server:
        model = model_for(server, concurrency=2)

        async def run() -> list[Any]:
            return await asyncio.gather(*(model.ainvoke(f"q{i}") for i in range(8)))

        replies = asyncio.run(run())
        assert sorted(r.content for r in replies) == sorted(f"stub reply to: q{i}" for i in range(8))
        assert len(server.chat_requests) == 8
        assert server.max_concurrent == 2  # the limit was reached and never exceeded


def test_concurrency_limit_holds_for_threads():
    with OpenAIStub(delay=0.1) as server:
        model = model_for(server, concurrency=3)
        with ThreadPoolExecutor(max_workers=9) as pool:
            replies = list(pool.map(lambda i: model.invoke(f"t{i}"), range(9)))
        assert len(replies) == 9
        assert server.max_concurrent == 3


def test_requests_per_minute_paces_calls(stub):
    model = model_for(stub, requests_per_minute=600)  # one request every 0.1 s
    for i in range(4):
        model.invoke(f"paced {i}")
    times = [r.time for r in stub.chat_requests]
    assert [r.messages[-1]["content"] for r in stub.chat_requests] == [f"paced {i}" for i in range(4)]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert times[-1] - times[0] >= 0.27, gaps  # three intervals of 0.1 s, less scheduling jitter
    assert min(gaps) >= 0.05, gaps  # never two requests back to back


# -- the stub itself -------------------------------------------------------------------------------------------


def test_stub_lists_models_and_checks_the_key():
    with OpenAIStub(models=["a", "b"], api_key="sk-key-abcdefghijkl") as server:
        ok = httpx.get(f"{server.base_url}/models", headers={"Authorization": "Bearer sk-key-abcdefghijkl"})
        bad = httpx.get(f"{server.base_url}/models")
    assert [m["id"] for m in ok.json()["data"]] == ["a", "b"]
    assert bad.status_code == 401


def test_stub_random_faults_are_seeded_and_near_the_rate():
    def faults(seed: int) -> list[str | None]:
        with OpenAIStub(fail_rate=0.2, seed=seed, random_faults=["500"]) as server:
            with httpx.Client() as client:
                for _ in range(100):
                    client.post(f"{server.base_url}/chat/completions", json={"model": "m", "messages": []})
            return [r.fault for r in server.chat_requests]

    first = faults(7)
    assert first == faults(7)
    assert 10 <= first.count("500") <= 30


def test_stub_stop_does_not_wait_for_hanging_requests():
    server = OpenAIStub(faults=["hang"], hang_seconds=30).start()
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(
            httpx.post, f"{server.base_url}/chat/completions", json={"model": "m", "messages": []}, timeout=10
        )
        deadline = time.monotonic() + 2
        while server.in_flight == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        start = time.perf_counter()
        server.stop()
        assert time.perf_counter() - start < 1.0
        with pytest.raises(httpx.HTTPError):
            pending.result(timeout=2)
    assert not server.running


def test_stub_rejects_unknown_faults():
    with pytest.raises(ValueError, match="unknown fault"):
        OpenAIStub(faults=["teapot"])


# -- `pedagraph models` against the server ---------------------------------------------------------------------


def _cli_env(url: str) -> dict[str, str]:
    return {"PEDAGRAPH_TEACHER_MODEL": MODEL, "PEDAGRAPH_TEACHER_BASE_URL": url}


def test_cli_models_checks_a_live_server(stub, monkeypatch):
    from pedagraph import cli

    monkeypatch.setattr(cli, "console", Console(width=300))
    result = CliRunner().invoke(cli.app, ["models", "--role", "teacher"], env=_cli_env(stub.base_url))
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "teacher" in line)
    assert "ok" in row and "stub-model" in row and stub.base_url in row
    assert len(stub.chat_requests) == 1


def test_cli_models_reports_a_stopped_server_in_one_line():
    from pedagraph import cli

    server = OpenAIStub().start()
    url = server.base_url
    server.stop()
    result = CliRunner().invoke(cli.app, ["models", "--role", "teacher"], env=_cli_env(url))
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    failures = [line for line in result.output.splitlines() if "cannot connect" in line]
    assert len(failures) == 1
    assert "failed" in failures[0] and "teacher" in failures[0] and MODEL in failures[0]
