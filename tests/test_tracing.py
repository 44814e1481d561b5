"""Tracing: runs reach LangSmith (a local stand-in of its API) with pedagraph's metadata, never a secret or answer."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from pedagraph.answers import compare, find_numbers
from pedagraph.llm import StandInChatModel
from pedagraph.problems import get_problem
from pedagraph.testing.trace_server import TraceServer
from pedagraph.tracing import HIDDEN, TraceMask, traced

PID = "gsm8k-sample-1"
OPENAI_KEY = "sk-test-0123456789abcdefSECRET"
LANGSMITH_KEY = "lsv2_pt_0123456789abcdefSECRET"


def parts(body: bytes) -> dict[str, Any]:
    """The JSON parts of LangSmith multipart run uploads, by part name (`post.<run id>.inputs`, ...)."""
    out: dict[str, Any] = {}
    # Content-Length counts bytes: cut the bytes (a cut of decoded text runs past a part holding "’" into the next
    # boundary, whose random letters and digits then read as numbers)
    for match in re.finditer(rb'name="([^"]+)"\r?\nContent-Type: application/json\r?\nContent-Length: (\d+)\r?\n\r?\n',
                             body):  # fmt: skip
        start = match.end()
        chunk = body[start : start + int(match.group(2))].decode("utf-8", "replace")
        name = match.group(1).decode("utf-8", "replace")
        try:
            out[name] = json.loads(chunk)
        except json.JSONDecodeError:
            out[name] = chunk
    return out


def strings(value: Any) -> list[str]:
    """Every string in a JSON value (strings that are themselves JSON are opened)."""
    if isinstance(value, str):
        if value[:1] in "{[":
            try:
                return strings(json.loads(value))
            except json.JSONDecodeError:
                pass
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


@pytest.fixture
def langsmith(monkeypatch):
    """LangSmith switched on by its environment variables, pointing at a local stand-in; yields the server."""
    import pedagraph.tracing as tracing

    with TraceServer() as server:
        monkeypatch.setenv("LANGSMITH_TRACING", "true")
        monkeypatch.setenv("LANGSMITH_ENDPOINT", server.url)
        monkeypatch.setenv("LANGSMITH_API_KEY", LANGSMITH_KEY)
        monkeypatch.setenv("LANGSMITH_DISABLE_RUN_COMPRESSION", "true")
        monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
        monkeypatch.setattr(tracing, "_CLIENT", None)  # a client for this server
        yield server
        tracing.flush()


def test_a_traced_tutoring_session_carries_metadata_and_no_secret_or_answer(langsmith):
    from pedagraph.graphs.tutor import Context, build_graph

    import pedagraph.tracing as tracing

    problem = get_problem(PID)
    step = problem.steps[0]

    def evaluator(call):  # a real-model path: its prompt holds the step's expected result
        return {"category": "a", "error_type": "careless", "misconception": "subtracted only once"} \
            if call.schema_name == "Diagnosis" else None  # fmt: skip

    graph = build_graph(checkpointer=InMemorySaver())
    context = Context(learner_id="ana", evaluator_model=StandInChatModel(reply_fn=evaluator))
    config = {"configurable": {"thread_id": "session-7"}}
    with traced(learner_id="ana", session="session-7", suite="tutoring", seed=11):
        graph.invoke({"problem_id": PID}, config, context=context)
        graph.invoke(Command(resume=f"is it 13? my key is {OPENAI_KEY}"), config, context=context)
    tracing.flush()

    body = langsmith.bodies()
    runs = parts(body)
    assert any(name.endswith(".inputs") for name in runs), "nothing was traced"
    assert not [n for n, v in runs.items() if isinstance(v, str) and "\r\n--" in v]  # each part cut at its end
    extras = [v for name, v in runs.items() if name.endswith(".extra") and isinstance(v, dict)]
    meta = [e.get("metadata", {}) for e in extras]
    assert any(m.get("learner_id") == "ana" and m.get("session_id") == "session-7" and m.get("suite") == "tutoring"
               and m.get("seed") == 11 for m in meta)  # fmt: skip
    # secrets: nowhere in what was sent
    assert OPENAI_KEY.encode() not in body and LANGSMITH_KEY.encode() not in body
    # hidden answers: no input or output states the final answer or the step's result, the evaluator's prompt included
    payload = [s for name, v in runs.items() if name.endswith((".inputs", ".outputs")) for s in strings(v)]
    assert payload and any(HIDDEN in s for s in payload)
    secrets = [problem.final_value, step.answer_value]
    for text in payload:
        if " " not in text:
            continue  # ids, timestamps, names: what a learner or a model wrote has spaces
        text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\b[0-9a-f]{12,}\b", "<id>", text)
        text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?", "<time>", text)  # at 18:07, "18" is no answer
        bad = [m for m in find_numbers(text) if any(compare(m.value, v) for v in secrets)]
        assert not bad, [text[max(0, m.start - 150) : m.end + 50] for m in bad]
    assert any("Diagnosis" in s or "expected" in s.lower() for s in payload) or len(payload) > 10


def test_nothing_is_sent_when_no_tracer_is_configured(monkeypatch):
    for name in ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2", "LANGFUSE_PUBLIC_KEY"):
        monkeypatch.delenv(name, raising=False)
    with TraceServer() as server:
        monkeypatch.setenv("LANGSMITH_ENDPOINT", server.url)
        from pedagraph.graphs.tutor import Context, build_graph

        with traced(learner_id="ana", session="s") as meta:
            build_graph().invoke({"problem_id": PID}, context=Context(learner_id="ana", max_turns=0))
        assert meta["learner_id"] == "ana"
        assert not [r for r in server.requests if r.method == "POST"]


def test_the_mask_hides_answer_fields_learned_answers_and_secrets(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    mask = TraceMask()
    problem = get_problem(PID).model_dump(mode="json")
    masked = mask({"problem": problem, "note": f"the answer is 18, eighteen, key {OPENAI_KEY}; 180 and 1.8 stay"})
    assert masked["problem"]["final_answer"] == HIDDEN and masked["problem"]["steps"][0]["answer"] == HIDDEN
    assert masked["problem"]["question"] == problem["question"]  # the problem's own text stays readable
    note = masked["note"]
    assert "18," not in note and "eighteen" not in note and OPENAI_KEY not in note
    assert "180" in note and "1.8" in note
    # learned once, masked in later payloads with no problem in them (a model prompt)
    prompt = mask({"messages": ["Expected result of step 1: 9"]})["messages"][0]
    assert "9" not in [m.text for m in find_numbers(prompt)]


def otlp_strings(body: bytes) -> list[str]:
    """Every string attribute of the spans in an OTLP/HTTP protobuf export (what Langfuse receives)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    out = []
    for resource in request.resource_spans:
        for scope in resource.scope_spans:
            for span in scope.spans:
                out += [a.value.string_value for a in span.attributes if a.value.HasField("string_value")]
    return out


def test_langfuse_gets_the_same_masked_trace(monkeypatch):
    pytest.importorskip("langfuse", reason="the langfuse extra is not installed")
    import gzip

    from pedagraph.graphs.tutor import Context, build_graph

    import pedagraph.tracing as tracing

    for name in ("LANGSMITH_TRACING", "LANGCHAIN_TRACING_V2"):
        monkeypatch.delenv(name, raising=False)
    problem = get_problem(PID)
    with TraceServer() as server:
        monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", "pk-lf-test")
        monkeypatch.setenv("LANGFUSE_SECRET_KEY", "sk-lf-0123456789SECRET")
        monkeypatch.setenv("LANGFUSE_HOST", server.url)
        monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
        monkeypatch.setattr(tracing, "_LANGFUSE", None)
        graph = build_graph(checkpointer=InMemorySaver())
        config, context = {"configurable": {"thread_id": "lf-1"}}, Context(learner_id="ana")
        with traced(learner_id="ana", session="lf-1", suite="demo"):
            graph.invoke({"problem_id": PID}, config, context=context)
            graph.invoke(Command(resume=f"is it {problem.steps[0].answer}? key {OPENAI_KEY}"), config, context=context)
        tracing._LANGFUSE.flush()
        exports = [gzip.decompress(r.body) if r.headers.get("Content-Encoding") == "gzip" else r.body
                   for r in server.requests if r.path.endswith("/v1/traces")]  # fmt: skip
    assert exports, "nothing reached the Langfuse endpoint"
    texts = [s for body in exports for s in otlp_strings(body)]
    joined = "\n".join(texts)
    assert "ana" in joined and "lf-1" in joined and HIDDEN in joined
    assert OPENAI_KEY not in joined and all(OPENAI_KEY.encode() not in body for body in exports)
    for text in texts:
        text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\b[0-9a-f]{12,}\b", "<id>", text)
        text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?", "<time>", text)  # at 18:07, "18" is no answer
        if " " in text:
            assert not [m for m in find_numbers(text) if compare(m.value, problem.final_value)], text[:300]
