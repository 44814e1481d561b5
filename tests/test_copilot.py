"""The copilot graph: Bridge-labelled suggestions, every tutor action through the interrupt, restarts, log, gate."""

from __future__ import annotations

import sqlite3

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command

from pedagraph.answers import format_number
from pedagraph.errors import DataError
from pedagraph.learner import get_learner_store
from pedagraph.llm import StandInChatModel
from pedagraph.methods.copilot.suggestions import MAX_TUTOR_CHARS, parse_choice
from pedagraph.problems import get_problem
from pedagraph.reveal import RevealGate
from pedagraph.testing.tom import prompt_opening

PID = "gsm8k-sample-1"
WRONG = "7001"


@pytest.fixture
def problem():
    return get_problem(PID)


def cfg(thread: str) -> dict:
    return {"configurable": {"thread_id": thread}}


def ctx(**kw):
    from pedagraph.graphs.copilot import Context

    return Context(**{"learner_id": "student-1", **kw})


def build(saver=None):
    from pedagraph.graphs.copilot import build_graph

    return build_graph(checkpointer=saver or InMemorySaver())


def pause(out: dict) -> dict:
    """The pending interrupt's value."""
    assert "__interrupt__" in out, "the graph should be waiting"
    return out["__interrupt__"][0].value


def resume(graph, thread, context, value):
    return graph.invoke(Command(resume=value), cfg(thread), context=context)


def to_first_suggestion(graph, thread, context):
    """Open the problem, send the suggested opener, the student answers wrong: the tutor's first real suggestion."""
    first = pause(graph.invoke({"problem_id": PID}, cfg(thread), context=context))
    assert first["type"] == "await_tutor" and first["suggestion"]["labels"]["kind"] == "open"
    assert pause(resume(graph, thread, context, {"action": "send"}))["type"] == "await_learner"
    return resume(graph, thread, context, WRONG)


def sent(out: dict) -> list[str]:
    return [m.content for m in out["messages"] if isinstance(m, AIMessage)]


# ------------------------------------------------------------------------------------------------ the suggestion


def test_suggestion_carries_bridge_labels_and_the_learner_model(problem):
    graph, context = build(), ctx()
    waiting = pause(to_first_suggestion(graph, "s1", context))
    assert waiting["type"] == "await_tutor" and waiting["learner"] == WRONG
    s = waiting["suggestion"]
    labels = s["labels"]
    # a wrong number without working: Bridge A is known (guess), B/C follow the tutor's CLASS policy (a probe)
    assert labels["error_type"] == "guess" and labels["class_category"] == "incorrect"
    assert (labels["strategy"], labels["intention"], labels["move"]) == ("ask_question", "diagnose_mistake", "probing")
    assert WRONG in s["text"] and s["source"] == "template" and s["n"] == 1
    skills = set(problem.steps[0].skills)
    assert set(s["learner"]["mastery"]) == skills  # grounded in the learner model of the step's skills
    assert s["learner"]["misconceptions"] and s["learner"]["misconceptions"][0]["error_type"] == "guess"
    # nothing reaches the student until the tutor sends it
    state = graph.get_state(cfg("s1")).values
    assert len(sent(state)) == 1 and s["text"] not in sent(state)


def test_regenerate_offers_different_moves_each_with_its_own_labels():
    graph, context = build(), ctx()
    out = to_first_suggestion(graph, "r1", context)
    seen = [pause(out)["suggestion"]]
    for _ in range(3):
        out = resume(graph, "r1", context, {"action": "regenerate"})
        seen.append(pause(out)["suggestion"])
    texts = [s["text"] for s in seen]
    assert len(set(texts)) == 4 and [s["n"] for s in seen] == [1, 2, 3, 4]
    assert seen[0]["labels"]["strategy"] == "ask_question" and seen[1]["labels"]["strategy"] == "provide_hint"
    assert not any(s["repeated"] for s in seen)
    log = out["choices"]
    assert [c["action"] for c in log[1:]] == ["regenerate"] * 3
    assert [c["suggestion"] for c in log[1:]] == texts[:3]  # each logged with the suggestion it replaced


# ------------------------------------------------------------------------------------------------ every action


def _restart(path, thread):
    """A fresh process's view: a new connection, a new saver, a new compiled graph on the same database."""
    conn = sqlite3.connect(path, check_same_thread=False)
    return build(SqliteSaver(conn)), conn


@pytest.mark.parametrize(
    ("choice", "expect"),
    [
        ({"action": "send"}, "suggested"),
        ({"action": "edit", "text": "Nice try! Which numbers came first?"}, "Nice try! Which numbers came first?"),
        ({"action": "own", "text": "Tell me how you got that."}, "Tell me how you got that."),
        ({"action": "ignore", "text": "Let's read it again together."}, "Let's read it again together."),
        ({"action": "regenerate"}, None),
    ],
)  # fmt: skip
def test_every_tutor_action_resumes_across_a_restart(tmp_path, choice, expect):
    db = tmp_path / "copilot.sqlite"
    context = ctx()
    graph, conn = _restart(db, "x")
    suggestion = pause(to_first_suggestion(graph, "x", context))["suggestion"]["text"]
    conn.close()  # the app stops while the tutor is looking at the suggestion
    graph, conn = _restart(db, "x")
    assert graph.get_state(cfg("x")).interrupts[0].value["suggestion"]["text"] == suggestion
    out = resume(graph, "x", context, choice)
    entry = out["choices"][-1]
    assert entry["action"] == choice["action"] and entry["suggestion"] == suggestion
    if expect is None:  # another suggestion, still waiting for the tutor, nothing sent
        waiting = pause(out)
        assert waiting["type"] == "await_tutor" and waiting["suggestion"]["text"] != suggestion
        assert entry["outcome"] == "replaced" and len(sent(out)) == 1
    else:
        text = suggestion if expect == "suggested" else expect
        assert pause(out) == {"type": "await_learner", "tutor": text}
        assert sent(out)[-1] == text and entry["outcome"] == "sent" and entry["sent"] == text
        assert entry["replaced"] == (None if expect == "suggested" else suggestion)
        assert out["turns"][-1]["copilot"]["action"] == choice["action"]
        out = resume(graph, "x", context, "I took 16 minus 3")  # the student's next turn continues the thread
        assert pause(out)["type"] == "await_tutor"
    conn.close()


def test_the_log_records_every_choice_in_order(problem):
    graph, context = build(), ctx()
    to_first_suggestion(graph, "log", context)
    resume(graph, "log", context, {"action": "regenerate"})
    resume(graph, "log", context, {"action": "edit", "text": "What did you do with 16 and 3?"})
    out = resume(graph, "log", context, problem.steps[0].answer)
    out = resume(graph, "log", context, {"action": "send"})
    actions = [(c["turn"], c["action"], c["outcome"]) for c in out["choices"]]
    assert actions == [(0, "send", "sent"), (1, "regenerate", "replaced"), (1, "edit", "sent"), (2, "send", "sent")]
    assert out["choices"][2]["replaced"] == out["choices"][1]["suggestion"] or out["choices"][2]["replaced"]
    assert out["choices"][3]["labels"]["strategy"] == "affirm_correct_answer"  # the right step answer affirmed
    assert out["step_index"] == 1
    assert [t["copilot"]["action"] for t in out["turns"]] == ["send", "edit", "send"]


# ------------------------------------------------------------------------------------------------ the reveal gate


def test_what_the_tutor_sends_is_checked_with_a_warning_they_can_override(problem):
    graph, context = build(), ctx()
    to_first_suggestion(graph, "g1", context)
    leak = f"The answer is {format_number(problem.final_value)}."
    out = resume(graph, "g1", context, {"action": "own", "text": leak})
    waiting = pause(out)
    assert waiting["type"] == "await_tutor" and waiting["warning"]["kind"] == "reveal"
    assert waiting["warning"]["matched"] == format_number(problem.final_value) and leak not in sent(out)
    assert out["choices"][-1]["outcome"] == "warned"
    out = resume(graph, "g1", context, {"action": "own", "text": leak, "override": True})
    assert pause(out)["type"] == "await_learner" and sent(out)[-1] == leak
    assert out["choices"][-1]["override"] is True and out["choices"][-1]["warning"]["kind"] == "reveal"
    assert out["reveal_events"][-1]["action"] == "tutor_override" and out["revealed"] is True
    assert get_learner_store().get("student-1").stats.answers_revealed == 1


def leaky_teacher(problem) -> StandInChatModel:
    final = format_number(problem.final_value)

    def reply(call):
        if call.schema_name:
            return None
        return f"Just tell them it is {final} dollars."

    return StandInChatModel(reply_fn=reply)


def test_suggestions_pass_the_reveal_gate_before_the_tutor_sees_them(problem):
    graph, context = build(), ctx(teacher_model=leaky_teacher(problem))
    out = to_first_suggestion(graph, "g2", context)
    s = pause(out)["suggestion"]
    gate = RevealGate.for_problem(problem)
    assert not gate.check(s["text"]).blocked
    assert s["gate"]["action"] in ("regenerated", "replaced") and s["gate"]["reason"] == "final_answer"


def test_malformed_choices_are_refused_with_one_line_and_lose_nothing():
    graph, context = build(), ctx()
    before = pause(to_first_suggestion(graph, "m1", context))["suggestion"]
    for bad in ({"action": "shout"}, {"action": "edit"}, {"action": "own", "text": "x" * (MAX_TUTOR_CHARS + 1)}, 42):
        out = resume(graph, "m1", context, bad)
        waiting = pause(out)
        assert waiting["type"] == "await_tutor" and waiting["suggestion"] == before
        assert waiting["warning"]["kind"] == "invalid" and "\n" not in waiting["warning"]["message"]
        assert len(sent(out)) == 1
    assert [c["outcome"] for c in out["choices"][1:]] == ["refused"] * 4
    out = resume(graph, "m1", context, "send")  # a bare action name works
    assert sent(out)[-1] == before["text"]


def test_parse_choice_errors_are_one_line():
    with pytest.raises(DataError) as err:
        parse_choice({"action": "edit", "text": "   "})
    assert "needs the text" in str(err.value).splitlines()[0]
    assert parse_choice({"action": "own", "text": "  hi  "}).text == "hi"


# ------------------------------------------------------------------------------- real model, simulated student


def test_real_teacher_words_the_suggestion_from_the_bridge_decision_and_avoids_rejected_ones():
    said = iter(["Can you show me the numbers you used?", "What happens to the eggs Janet eats?"])

    def reply(call):
        return None if call.schema_name else next(said)

    teacher = StandInChatModel(reply_fn=reply)
    graph, context = build(), ctx(teacher_model=teacher)
    out = to_first_suggestion(graph, "rm", context)
    s = pause(out)["suggestion"]
    assert s["text"] == "Can you show me the numbers you used?" and s["source"] == "model"
    prompt = [c for c in teacher.calls if not c.schema_name][-1].system
    labels = s["labels"]  # the real teacher frames the policy's move (its intention), then words it
    assert f"strategy: {labels['strategy']}" in prompt and f"intention: {labels['intention']}" in prompt
    assert "error type: guess" in prompt and f"Student: {WRONG}" in prompt and "subtraction: mastery" in prompt
    out = resume(graph, "rm", context, {"action": "regenerate"})
    assert pause(out)["suggestion"]["text"] == "What happens to the eggs Janet eats?"
    prompt = [c for c in teacher.calls if not c.schema_name][-1].system
    assert "Can you show me the numbers you used?" in prompt  # told what the tutor already turned down


def test_a_simulated_student_in_place_of_the_second_person(problem):
    graph, context = build(), ctx(student_mode="simulated", student_simulator="probabilistic", max_turns=6)
    out = graph.invoke({"problem_id": PID}, cfg("sim"), context=context)
    kinds = []
    while "__interrupt__" in out:
        kinds.append(pause(out)["type"])
        out = resume(graph, "sim", context, {"action": "send"})
    assert set(kinds) == {"await_tutor"} and len(kinds) >= 3  # only the tutor is ever asked
    assert out["end_reason"] in ("solved", "turn_limit", "revealed")
    learners = [m for m in out["messages"] if isinstance(m, HumanMessage)]
    assert len(learners) == len(kinds) - 1 and len(sent(out)) == len(kinds)


def test_over_http_a_leaking_model_never_reaches_the_tutor_unflagged(monkeypatch, problem):
    from pedagraph.testing.openai_stub import OpenAIStub

    final = format_number(problem.final_value)

    def reply(body):
        if body.get("response_format") or body.get("tools"):
            return None  # schema-valid defaults for the structured calls
        return f"Tell them: the answer is {final}."

    with OpenAIStub(reply_fn=reply) as stub:
        monkeypatch.setenv("PEDAGRAPH_MODEL", "openai:stub-model")
        monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        graph, context = build(), ctx()
        s = pause(to_first_suggestion(graph, "http", context))["suggestion"]
        opening = prompt_opening("copilot/suggest", 8)
        sent_prompts = [str(r.body["messages"][0].get("content", "")) for r in stub.chat_requests]
        assert any(p.startswith(opening) for p in sent_prompts)  # the suggestion prompt went over HTTP
    assert not RevealGate.for_problem(problem).check(s["text"]).blocked
    assert s["gate"]["action"] in ("regenerated", "replaced") and final not in s["text"]


def test_without_a_problem_the_copilot_refuses_with_one_line_and_keeps_the_thread():
    graph, context = build(), ctx()
    with pytest.raises(DataError) as err:
        graph.invoke({"question": "what is a fraction?"}, cfg("none"), context=context)
    assert "none is active" in str(err.value) and "\n" not in str(err.value)
    assert not graph.get_state(cfg("none")).values.get("messages")  # nothing was written
    waiting = pause(graph.invoke({"problem_id": PID}, cfg("none"), context=context))
    assert waiting["type"] == "await_tutor"


def test_the_app_rooms_keep_turns_and_views_apart():
    from pedagraph.ui.copilot_tab import CopilotRooms

    rooms = CopilotRooms()
    try:
        code = rooms.open(PID)
        with pytest.raises(DataError, match="wait for the tutor"):
            rooms.student_say(code, "9")  # the tutor has not sent anything yet
        tutor = rooms.view(code, "tutor")
        assert tutor.suggestion and "Bridge error type: none" in tutor.labels and code in tutor.status
        student = rooms.view(code, "student")
        assert student.chat == [] and not student.suggestion and not student.labels
        rooms.tutor_act(code, "send")
        with pytest.raises(DataError, match="student's turn"):
            rooms.tutor_act(code, "send")
        rooms.student_say(code.lower(), WRONG)  # codes are read case-insensitively
        student = rooms.view(code, "student")
        assert [m["role"] for m in student.chat] == ["assistant", "user"] and student.status == "The tutor is writing…"
        assert [m["role"] for m in rooms.view(code, "tutor").chat] == ["user", "assistant"]  # own words right
        for bad in ("", "ABC", "ZZZZZZ"):
            with pytest.raises(DataError) as err:
                rooms.view(bad, "student")
            assert "\n" not in str(err.value)
        with pytest.raises(DataError, match="limit"):
            rooms.tutor_act(code, "own", "x" * (MAX_TUTOR_CHARS + 1))
    finally:
        rooms.close()


def test_the_tutor_can_ask_for_another_suggestion_with_a_chosen_strategy():
    graph, context = build(), ctx()
    first = pause(to_first_suggestion(graph, "st", context))["suggestion"]
    out = resume(graph, "st", context, {"action": "regenerate", "strategy": "provide_strategy"})
    s = pause(out)["suggestion"]
    assert s["labels"]["strategy"] == "provide_strategy" and s["labels"]["move"] == "focus"
    assert s["asked_strategy"] == "provide_strategy" and s["strategy_met"] and s["text"] != first["text"]
    assert out["choices"][-1]["strategy"] == "provide_strategy"
    out = resume(graph, "st", context, {"action": "regenerate", "strategy": "encourage_student"})  # none on offer
    s = pause(out)["suggestion"]
    assert not s["strategy_met"] and s["labels"]["strategy"] != "encourage_student"
    out = resume(graph, "st", context, {"action": "regenerate", "strategy": "shout"})
    assert pause(out)["warning"]["kind"] == "invalid" and "strategy" in pause(out)["warning"]["message"]
    out = resume(graph, "st", context, {"action": "send"})
    assert graph.get_state(cfg("st")).values["wanted_strategy"] is None


def test_a_real_teacher_words_the_strategy_the_tutor_chose():
    teacher = StandInChatModel(reply_fn=lambda call: None if call.schema_name else "What does Janet do with her eggs?")
    graph, context = build(), ctx(teacher_model=teacher)
    to_first_suggestion(graph, "rs", context)
    s = pause(resume(graph, "rs", context, {"action": "regenerate", "strategy": "provide_hint"}))["suggestion"]
    assert s["labels"]["strategy"] == "provide_hint" and s["labels"]["move"] == "focus" and s["strategy_met"]
    assert "strategy: provide_hint" in [c for c in teacher.calls if not c.schema_name][-1].system


def test_the_app_rooms_pass_the_tutors_strategy():
    from pedagraph.ui.copilot_tab import CopilotRooms, _labels_markdown

    rooms = CopilotRooms()
    try:
        code = rooms.open(PID)
        rooms.tutor_act(code, "send")
        rooms.student_say(code, WRONG)
        rooms.tutor_act(code, "regenerate", strategy="provide_similar_problem")
        graph_value = rooms.graph.get_state(rooms._config(code)).interrupts[0].value["suggestion"]
        assert graph_value["labels"]["strategy"] == "provide_similar_problem"
        rooms.tutor_act(code, "regenerate", strategy="encourage_student")
        assert "No suggestion takes “encourage” for this turn" in rooms.view(code, "tutor").labels
        assert "No suggestion takes" not in _labels_markdown({**graph_value, "asked_strategy": None})
        # a teacher's words, the research label on hover
        assert '<abbr title="Bridge strategy: provide_similar_problem">try a similar problem</abbr>' in (
            _labels_markdown(graph_value))
    finally:
        rooms.close()
