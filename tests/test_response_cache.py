import asyncio

from pydantic import BaseModel

from pedagraph.llm import ScriptedChatModel, get_model, track_usage
from pedagraph.llm.cache import ResponseCache, use_response_cache


class Answer(BaseModel):
    value: int


def counting_model():
    counter = {"n": 0}

    def fn(call):
        counter["n"] += 1
        if call.schema_name:
            return {"value": counter["n"]}
        return f"reply {counter['n']} to {call.last_user}"

    return ScriptedChatModel(reply_fn=fn), counter


def test_same_request_is_served_from_cache_across_processes_worth_of_objects(tmp_path):
    inner, counter = counting_model()
    m = get_model("teacher", model=inner)
    path = tmp_path / "cache.sqlite"
    with use_response_cache(path) as cache, track_usage() as usage:
        first = m.invoke("hello").content
        again = m.invoke("hello").content
        other = m.invoke("something else").content
    assert first == again == "reply 1 to hello"
    assert other == "reply 2 to something else"
    assert counter["n"] == 2
    assert cache.hits == 1 and usage.by_role()["teacher"].cache_hits == 1
    assert usage.by_role()["teacher"].calls == 2  # only real calls count as calls
    # a new cache object on the same file (a rerun) costs no model call and gives the same replies
    with use_response_cache(ResponseCache(path)):
        assert m.invoke("hello").content == first
        assert m.invoke("something else").content == other
    assert counter["n"] == 2
    # outside the block nothing is cached
    assert m.invoke("hello").content == "reply 3 to hello"


def test_parameters_are_part_of_the_key(tmp_path):
    inner, counter = counting_model()
    m = get_model("teacher", model=inner)
    with use_response_cache(tmp_path / "c.sqlite"):
        m.invoke("x")
        m.invoke("x", stop=["END"])
        m.with_structured_output(Answer).invoke("x")
        m.with_structured_output(Answer).invoke("x")
    assert counter["n"] == 3


def test_streaming_and_async_use_the_cache(tmp_path):
    inner, counter = counting_model()
    m = get_model("teacher", model=inner)
    with use_response_cache(tmp_path / "c.sqlite"):
        streamed = "".join(c.content for c in m.stream("s"))
        assert "".join(c.content for c in m.stream("s")) == streamed
        assert asyncio.run(m.ainvoke("s")).content == streamed

        async def astream():
            return "".join([c.content async for c in m.astream("s")])

        assert asyncio.run(astream()) == streamed
    assert counter["n"] == 1
