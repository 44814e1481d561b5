import asyncio
import json
from typing import Literal

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from pydantic import BaseModel, Field

from pedagraph.errors import StructuredOutputError
from pedagraph.llm import SCRIPTED_NOTICE, ScriptedChatModel, get_model, track_usage


class Diagnosis(BaseModel):
    """A diagnosis of a student turn."""

    category: Literal["incorrect", "correct", "partial"]
    confidence: float = Field(ge=0.5, le=1.0)
    steps: list[str] = Field(min_length=2)
    note: str | None = None


@tool
def lookup(term: str, limit: int = 3) -> str:
    """Look a term up."""
    return term


def test_default_text_says_it_is_scripted_and_is_deterministic():
    m = ScriptedChatModel()
    a = m.invoke("What is 2+2?").content
    b = ScriptedChatModel().invoke("What is 2+2?").content
    assert a == b
    assert SCRIPTED_NOTICE in a
    assert "What is 2+2?" in a


def test_scripted_replies_then_reply_fn_then_default():
    seen = []

    def fn(call):
        seen.append(call.last_user)
        return f"fn:{call.last_user}"

    m = ScriptedChatModel(replies=["first", AIMessage(content="second")], reply_fn=fn)
    assert m.invoke("a").content == "first"
    assert m.invoke("b").content == "second"
    assert m.invoke("c").content == "fn:c"
    assert seen == ["c"]


def test_records_calls_with_prompts_and_options():
    m = ScriptedChatModel()
    m.invoke([SystemMessage(content="You are a tutor."), HumanMessage(content="hi")], stop=["END"])
    call = m.calls[-1]
    assert call.system == "You are a tutor."
    assert call.last_user == "hi"
    assert call.stop == ["END"]
    assert len(m.calls) == 1


def test_streaming_yields_several_chunks_that_reassemble():
    m = ScriptedChatModel(replies=["one two three four"])
    chunks = list(m.stream("x"))
    assert len([c for c in chunks if c.content]) == 4
    assert "".join(c.content for c in chunks) == "one two three four"


def test_async_stream():
    m = ScriptedChatModel(replies=["alpha beta"])

    async def run():
        return [c.content async for c in m.astream("x")]

    assert "".join(asyncio.run(run())) == "alpha beta"


def test_structured_output_pydantic_is_valid_instance():
    m = get_model("evaluator")
    out = m.with_structured_output(Diagnosis).invoke("diagnose")
    assert isinstance(out, Diagnosis)
    assert out.confidence >= 0.5
    assert len(out.steps) >= 2


@pytest.mark.parametrize("method", ["json_schema", "function_calling", "json_mode"])
def test_structured_output_every_method(method):
    m = get_model("evaluator")
    out = m.with_structured_output(Diagnosis, method=method).invoke("diagnose")
    assert isinstance(out, Diagnosis)


def test_structured_output_json_schema_dict():
    schema = {
        "title": "Verdict",
        "type": "object",
        "properties": {"ok": {"type": "boolean"}, "n": {"type": "integer", "minimum": 3}},
        "required": ["ok", "n"],
        "additionalProperties": False,
    }
    out = get_model("evaluator").with_structured_output(schema).invoke("x")
    assert out == {"ok": False, "n": 3}


def test_structured_output_scripted_reply_is_used_and_sent_schema_recorded():
    inner = ScriptedChatModel(replies=[{"category": "partial", "confidence": 0.9, "steps": ["a", "b"]}])
    m = get_model("evaluator", model=inner)
    out = m.with_structured_output(Diagnosis).invoke("x")
    assert out.category == "partial"
    call = inner.calls[-1]
    assert call.schema_name == "Diagnosis"
    assert call.response_format["json_schema"]["schema"]["properties"]["category"]["enum"] == [
        "incorrect",
        "correct",
        "partial",
    ]


def test_structured_output_repairs_once_with_the_validation_error():
    bad = json.dumps({"category": "wrong-label", "confidence": 0.9, "steps": ["a", "b"]})
    good = {"category": "correct", "confidence": 0.7, "steps": ["a", "b"]}
    inner = ScriptedChatModel(replies=[bad, good])
    out = get_model("evaluator", model=inner).with_structured_output(Diagnosis).invoke("x")
    assert out.category == "correct"
    assert len(inner.calls) == 2
    repair = inner.calls[1].last_user
    assert "Diagnosis" in repair and "category" in repair


def test_structured_output_fails_clearly_after_repair():
    inner = ScriptedChatModel(replies=["not json at all", "{still not"])
    m = get_model("evaluator", model=inner)
    with pytest.raises(StructuredOutputError) as info:
        m.with_structured_output(Diagnosis).invoke("x")
    msg = str(info.value)
    assert "evaluator" in msg and "Diagnosis" in msg
    assert len(inner.calls) == 2


def test_structured_include_raw_reports_parsing_error_instead_of_raising():
    inner = ScriptedChatModel(replies=["nope", "nope again"])
    out = get_model("evaluator", model=inner).with_structured_output(Diagnosis, include_raw=True).invoke("x")
    assert out["parsed"] is None
    assert out["parsing_error"] is not None
    assert isinstance(out["raw"], AIMessage)


def test_structured_output_accepts_code_fences():
    inner = ScriptedChatModel(replies=['```json\n{"category": "correct", "confidence": 1, "steps": ["a","b"]}\n```'])
    out = get_model("evaluator", model=inner).with_structured_output(Diagnosis).invoke("x")
    assert out.category == "correct"


def test_async_structured_output():
    out = asyncio.run(get_model("evaluator").with_structured_output(Diagnosis).ainvoke("x"))
    assert isinstance(out, Diagnosis)


def test_bind_tools_forced_and_auto():
    inner = ScriptedChatModel()
    m = get_model("teacher", model=inner)
    forced = m.bind_tools([lookup], tool_choice="lookup").invoke("find fractions")
    assert forced.tool_calls[0]["name"] == "lookup"
    assert isinstance(forced.tool_calls[0]["args"]["term"], str)
    sent = inner.calls[-1].tools[0]
    assert sent["function"]["name"] == "lookup"
    assert "term" in sent["function"]["parameters"]["properties"]
    # auto: calls the tool first, answers in text once the tool result is there
    auto = m.bind_tools([lookup])
    first = auto.invoke([HumanMessage(content="q")])
    assert first.tool_calls
    second = auto.invoke(
        [HumanMessage(content="q"), first, ToolMessage(content="result", tool_call_id=first.tool_calls[0]["id"])]
    )
    assert not second.tool_calls and second.content


def test_tool_call_streams():
    m = get_model("teacher").bind_tools([lookup], tool_choice="lookup")
    chunks = list(m.stream("x"))
    merged = chunks[0]
    for c in chunks[1:]:
        merged = merged + c
    assert merged.tool_calls[0]["name"] == "lookup"


def test_usage_is_counted_per_role():
    with track_usage() as usage:
        get_model("teacher").invoke("hello")
        get_model("student").invoke("hello again")
        get_model("student").invoke("and again")
    per_role = usage.by_role()
    assert per_role["teacher"].calls == 1
    assert per_role["student"].calls == 2
    assert per_role["student"].input_tokens > 0 and per_role["student"].output_tokens > 0
    assert usage.totals()["calls"] == 3


def test_stop_sequences_cut_text():
    m = ScriptedChatModel(replies=["answer END more"])
    assert m.invoke("x", stop=["END"]).content == "answer "
