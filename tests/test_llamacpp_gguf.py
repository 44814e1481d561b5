"""The `llamacpp:` provider on a real GGUF file: the tiny model's SmolLM2-135M-Instruct.Q4_1.gguf.

Needs llama-cpp-python (the `[local]` extra, which compiles llama.cpp) and the tiny model's package; skipped with
the reason where either is missing. llama.cpp constrains JSON output with a grammar built from the schema, so
here structured output must validate even on a 135M model.
"""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage
from pydantic import BaseModel, Field

from pedagraph.llm import get_model, track_usage
from pedagraph.llm.llamacpp import llama_cpp_available
from pedagraph.llm.tiny import TINY_INSTALL, find_tiny_gguf

GGUF = find_tiny_gguf()

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(
        not llama_cpp_available(),
        reason="llama-cpp-python is not installed (pip install 'pedagraph[local]'; it compiles llama.cpp)",
    ),
    pytest.mark.skipif(GGUF is None, reason=f"the tiny model's GGUF is not installed ({TINY_INSTALL})"),
]


def model(**overrides):
    return get_model("student", model=f"llamacpp:{GGUF}", **{"max_tokens": 32, "temperature": 0, **overrides})


def test_invoke_and_stream_a_real_gguf_with_usage():
    m = model()
    with track_usage() as usage:
        reply = m.invoke([HumanMessage(content="Name three colours.")])
        chunks = [c.content for c in m.stream([HumanMessage(content="Name three colours.")])]
    assert isinstance(reply.content, str) and reply.content.strip()
    assert reply.usage_metadata["input_tokens"] > 5 and 0 < reply.usage_metadata["output_tokens"] <= 32
    assert sum(1 for c in chunks if c) > 1 and "".join(chunks).strip()
    row = usage.to_dict()["per_role_model"][0]
    assert row["calls"] == 2 and row["errors"] == 0 and row["model"] == f"llamacpp:{GGUF}"


def test_structured_output_is_grammar_constrained_and_valid():
    class Answer(BaseModel):
        """An answer to an arithmetic question."""

        answer: int
        explanation: str = Field(max_length=80)

    m = model(max_tokens=96)
    with track_usage() as usage:
        result = m.with_structured_output(Answer).invoke("What is 12 divided by 3?")
    assert isinstance(result, Answer)
    assert usage.totals()["calls"] in (1, 2)


def test_one_load_per_process_shared_by_roles():
    from pedagraph.llm import llamacpp

    a = get_model("teacher", model=f"llamacpp:{GGUF}")
    b = get_model("student", model=f"llamacpp:{GGUF}", max_tokens=8)
    assert a.inner.client is b.inner.client
    assert sum(1 for key in llamacpp._LOADED if key[0] == str(GGUF.resolve())) == 1
