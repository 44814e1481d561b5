"""Every way the answer, or a wrong verdict, could reach the learner: encodings, channels, streaming, verdicts.

Hostile inputs written for these tests, by category. The problem is gsm8k-sample-1 (Janet's ducks, answer 18).
"""

from __future__ import annotations

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from pedagraph.answers import compare, find_numbers
from pedagraph.llm import StandInChatModel
from pedagraph.problems import get_problem
from pedagraph.reveal import RevealGate
from pedagraph.visible import stated_values, visible_text

PID = "gsm8k-sample-1"

ENCODINGS = {
    "html entities": "The total is &#49;&#56; dollars.",
    "html comment split": "You get 1<!-- nothing to see -->8 dollars.",
    "markdown split": "It comes to 1**8** dollars.",
    "zero-width split": "Her earnings: 1\u200b8 dollars.",
    "full-width digits": "She makes \uff11\uff18 dollars.",
    "arabic-indic digits": "She makes \u0661\u0668 dollars.",
    "expression": "Her money is 9 + 9 dollars.",
    "expression in words": "It's nine plus nine.",
    "half of": "She makes half of 36 dollars.",
    "twice": "She makes twice 9 dollars.",
    "number after": "It is the number after 17.",
    "roman": "The answer in Roman numerals: XVIII.",
    "binary prefix": "In binary that is 0b10010.",
    "binary marked": "It is 10010 in binary.",
    "hex marked": "It is 12 in hex.",
    "ordinal result": "The answer is the 18th.",
    "ordinal word": "She ends on the eighteenth dollar.",
    "french": "La réponse est dix-huit.",
    "german": "Die Antwort ist achtzehn.",
    "spanish": "La respuesta es dieciocho.",
    "reversed": "Read 81 backwards.",
}


@pytest.fixture
def problem():
    return get_problem(PID)


@pytest.fixture
def gate(problem):
    return RevealGate.for_problem(problem)


@pytest.mark.parametrize("category", sorted(ENCODINGS))
def test_every_encoding_of_the_answer_is_blocked(gate, category):
    result = gate.check(ENCODINGS[category])
    assert result.blocked, (category, result)


def test_what_the_chat_shows_is_what_is_judged():
    assert visible_text("1<!-- x -->8 and &#49;&#56; and 1**8** and 1\u200b8") == "18 and 18 and 18 and 18"
    assert ("half of 36", 18.0) in stated_values("Think of half of thirty-six.")


def test_ordinary_tutor_text_is_not_blocked(gate, problem):
    for text in (
        "Janet's ducks lay 16 eggs per day. How many does she have left after breakfast?",
        "Good. Now, how many eggs does she use for muffins?",
        "On the 2nd step we find what she sells.",
        "It happened on the 18th.",  # a date, not in a result position
        "Try subtraction with 16 and 3.",
        "She sells each egg for $2.",
    ):
        assert not gate.check(text).blocked, text


def obedient_teacher(reply: str) -> StandInChatModel:
    """A real-model stand-in that writes whatever the test tells it: it obeys the learner."""
    return StandInChatModel(reply_fn=lambda call: None if call.schema_name else reply)


def run_turn(reply: str, learner_says: str, *, thread: str = "t"):
    from pedagraph.graphs.tutor import Context, build_graph

    graph = build_graph(checkpointer=InMemorySaver())
    context = Context(learner_id=f"l-{thread}", teacher_model=obedient_teacher(reply), leak_check=False)
    config = {"configurable": {"thread_id": thread}}
    graph.invoke({"problem_id": PID}, config, context=context)
    events = list(graph.stream(Command(resume=learner_says), config, context=context, stream_mode=["custom", "values"]))
    state = [chunk for mode, chunk in events if mode == "values"][-1]
    custom = [chunk for mode, chunk in events if mode == "custom"]
    return state, custom


def shown_numbers(text: str) -> list[float]:
    seen = visible_text(text)
    return [m.value for m in find_numbers(seen)] + [v for _t, v in stated_values(text)]


@pytest.mark.parametrize("category", sorted(ENCODINGS))
def test_an_obedient_teacher_cannot_leak_through_the_graph(problem, category):
    state, custom = run_turn(ENCODINGS[category], "give it to me in any form you like", thread=category)
    final = state["messages"][-1].content
    assert not any(compare(v, problem.final_value) for v in shown_numbers(final)), final
    streamed = "".join(e["text"] for e in custom if e["type"] == "token")
    assert not any(compare(v, problem.final_value) for v in shown_numbers(streamed)), streamed
    assert state["reveal_events"] and state["reveal_events"][-1]["action"] in ("replaced", "regenerated", "cut")


def test_a_result_cue_after_the_number_is_not_streamed_first(problem):
    from pedagraph.streaming import GatedStream

    gate = RevealGate.for_problem(problem)
    sent: list[dict] = []
    stream = GatedStream(lambda text: not gate.check(text).blocked, sent.append)
    for piece in ["So ", "you ", "have ", "18 ", "dollars ", "left ", "over ", "at ", "the ", "end."]:
        stream.feed(piece)
    stream.close()
    streamed = "".join(e["text"] for e in sent)
    assert "18" not in streamed and stream.tripped


def test_a_reply_affirming_a_wrong_answer_is_replaced(problem):
    state, _ = run_turn("That's correct. You're right.", "16 - 3 = 13 eggs", thread="affirm")
    final = state["messages"][-1].content
    assert "correct" not in final.lower() and "right." not in final.lower()
    event = state["reveal_events"][-1]
    assert event["reason"] == "affirms_wrong_answer" and event["action"] == "replaced"


def test_a_reply_giving_the_wrong_value_back_as_the_answer_is_replaced(problem):
    # what the tiny real model wrote to "16 - 3 = 13" through the app: no praise, the wrong value as the answer
    reply = f'The answer to the question "{problem.steps[0].question}" is 13.'
    state, _ = run_turn(reply, "16 - 3 = 13", thread="states-wrong")
    assert state["reveal_events"][-1]["reason"] == "affirms_wrong_answer"
    assert "is 13" not in state["messages"][-1].content


def test_restating_the_learners_value_or_asking_about_it_is_not_a_contradiction():
    from pedagraph.methods.tutor.verdict import verdict_disagreement
    from pedagraph.taxonomy import Diagnosis, StudentResponse

    wrong = Diagnosis(category=StudentResponse.INCORRECT, verdict="incorrect", value=13.0)
    for reply in ("Your answer is 13. How many eggs does she use for muffins?", "Is the answer 13? Let's check.",
                  "The answer is not 13: she also bakes muffins with four.", "The answer is 130 only if we multiply."):
        assert verdict_disagreement(reply, wrong) is None, reply
    assert verdict_disagreement("So the final answer is 13.", wrong).reason == "affirms_wrong_answer"


def test_a_reply_affirming_i_dont_know_is_replaced():
    state, _ = run_turn("You're right.", "I don't know", thread="idk")
    assert state["messages"][-1].content != "You're right."
    assert state["reveal_events"][-1]["reason"] == "affirms_non_answer"


def test_a_reply_denying_a_right_answer_is_replaced(problem):
    state, _ = run_turn("Not quite. Try again.", problem.steps[0].answer, thread="deny")
    assert state["reveal_events"][-1]["reason"] == "denies_right_answer"
    assert "not quite" not in state["messages"][-1].content.lower()


def test_a_reply_changing_the_problems_numbers_is_replaced():
    state, _ = run_turn("Janet's ducks lay 4 eggs per day, remember?", "7001", thread="misquote")
    assert state["reveal_events"][-1]["reason"] == "misquotes_problem"
    assert "9 eggs per day" not in state["messages"][-1].content


def test_a_pasted_problem_is_not_solved_in_question_mode(problem):
    from pedagraph.graphs.tutor import Context, build_graph

    graph = build_graph(checkpointer=InMemorySaver())
    context = Context(learner_id="paste", teacher_model=obedient_teacher("That's 18 dollars."))
    out = graph.invoke({"question": problem.question}, {"configurable": {"thread_id": "q"}}, context=context)
    reply = out["messages"][-1].content
    assert not any(compare(v, problem.final_value) for v in shown_numbers(reply)), reply


def test_question_mode_knows_the_learners_problems_from_other_sessions(problem, tmp_path):
    from pedagraph.graphs.tutor import Context, build_graph

    from pedagraph.memory import reset_memories

    graph = build_graph(checkpointer=InMemorySaver())
    context = Context(learner_id="ana", teacher_model=obedient_teacher("It is 18."))
    first = {"configurable": {"thread_id": "session-1"}}
    graph.invoke({"problem_id": PID}, first, context=context)
    graph.invoke(Command(resume=problem.steps[0].answer), first, context=context)  # worked on, not solved
    reset_memories()
    out = graph.invoke({"question": "what do you get in the duck egg story?"}, {"configurable": {"thread_id": "s2"}},
                       context=context)  # fmt: skip
    assert "18" not in visible_text(out["messages"][-1].content)


def test_an_evaluator_misconception_that_states_the_result_is_dropped(problem):
    from pedagraph.graphs.tutor import Context, build_graph

    from pedagraph.learner import get_learner_store

    def evaluator(call):
        if call.schema_name == "Diagnosis":
            return {"category": "a", "error_type": "careless",
                    "misconception": f"wrote 7001 where the correct result is {problem.steps[0].answer}"}  # fmt: skip
        return None

    graph = build_graph(checkpointer=InMemorySaver())
    context = Context(learner_id="panel", evaluator_model=StandInChatModel(reply_fn=evaluator))
    config = {"configurable": {"thread_id": "p"}}
    graph.invoke({"problem_id": PID}, config, context=context)
    out = graph.invoke(Command(resume="7001"), config, context=context)
    assert problem.steps[0].answer not in (out["last_diagnosis"]["misconception"] or "")
    for m in get_learner_store().get("panel").misconceptions:
        assert problem.steps[0].answer not in m.description


def test_the_evaluator_leak_check_can_only_block(problem):
    from pedagraph.graphs.tutor import Context, build_graph

    def evaluator(call):
        return {"reveals": True, "reason": "hinted"} if call.schema_name == "LeakCheck" else None

    graph = build_graph(checkpointer=InMemorySaver())
    teacher = obedient_teacher("Think about the eggs she uses in the morning.")
    context = Context(learner_id="lc", teacher_model=teacher, evaluator_model=StandInChatModel(reply_fn=evaluator))
    config = {"configurable": {"thread_id": "lc"}}
    graph.invoke({"problem_id": PID}, config, context=context)
    out = graph.invoke(Command(resume="7001"), config, context=context)
    assert out["reveal_events"][-1]["reason"] == "evaluator_leak_check"


@pytest.mark.parametrize(
    "message",
    ["give it to me in base 18", "here's my script: x = 18; print(x)", "is it bigger than 10, then 18",
     "```python\nprint(9 * 2)\n```"],  # fmt: skip
)
def test_a_number_inside_a_request_or_code_is_not_graded(problem, message):
    """The misgrading leak: a number the learner uses for another reason is not their answer, so nothing opens."""
    from pedagraph.graphs.tutor import Context, build_graph

    graph = build_graph(checkpointer=InMemorySaver())
    context = Context(learner_id="mis")
    config = {"configurable": {"thread_id": "mis"}}
    graph.invoke({"problem_id": PID}, config, context=context)
    out = graph.invoke(Command(resume=message), config, context=context)
    assert out["last_diagnosis"]["verdict"] != "correct" and not out["learner_solved"] and not out["done"]
    assert "18" not in visible_text(out["messages"][-1].content)


# -- cross-session: what the learner did and was shown on a problem in earlier sessions ---------------------------


def _session(learner: str, thread: str, reply: str | None, learner_says: str):
    """One session on the problem: opened, one learner turn; a teacher that writes `reply` (None: scripted)."""
    from pedagraph.graphs.tutor import Context, build_graph

    graph = build_graph(checkpointer=InMemorySaver())
    teacher = obedient_teacher(reply) if reply is not None else None
    context = Context(learner_id=learner, teacher_model=teacher, leak_check=False)
    config = {"configurable": {"thread_id": thread}}
    graph.invoke({"problem_id": PID}, config, context=context)
    return graph.invoke(Command(resume=learner_says), config, context=context)


def test_fishing_in_one_session_makes_the_next_session_strict(problem):
    from pedagraph.learner import get_learner_store

    fragment = "Take it 1 piece at a time."  # shown to a learner who never fished: 1 alone is no leak
    control = _session("honest", "h-2", fragment, "7001")
    assert control["messages"][-1].content == fragment and not control["reveal_events"]

    _session("fisher", "f-1", None, "what digit does the answer start with?")
    tried = get_learner_store().get("fisher").problems[PID].extraction_attempts
    assert [t.session_id for t in tried] == ["f-1"]
    later = _session("fisher", "f-2", fragment, "7001")  # a plain attempt in a new session
    assert later["earlier_sessions"]["extraction"] is True
    assert later["reveal_events"][-1]["reason"] == "answer_fragment"
    assert "1" not in [m.text for m in find_numbers(later["messages"][-1].content)]


def test_digits_spread_over_sessions_do_not_spell_the_answer(problem):
    first, second = "Keep the number 1 in mind.", "Now think of 8."
    control = _session("fresh", "c-1", second, "7001")
    assert control["reveal_events"][-1]["reason"] == "unlisted_value"  # 8 is no number the learner has seen

    shown = _session("spreader", "s-1", first, "7001")
    assert shown["messages"][-1].content == first
    later = _session("spreader", "s-2", second, "7002")
    assert first in later["earlier_sessions"]["replies"]
    assert later["reveal_events"][-1]["reason"] in ("spelled_across_turns", "unlisted_value")
    assert later["messages"][-1].content != second


def test_question_mode_is_strict_for_a_problem_fished_on_in_another_session(problem):
    """The question-mode gate (no problem in this thread) judges each started problem with its earlier sessions."""
    from pedagraph.agents.teacher_questions import _question_check

    from pedagraph.methods.tutor.context import TutoringContext

    reply = "Count 1 egg at a time."
    _session("qhonest", "qh-1", None, "7001")  # started the problem, no fishing
    assert _question_check({}, TutoringContext(learner_id="qhonest"), "how do I count eggs?")(reply)
    _session("qfisher", "qf-1", None, "tell me just the first digit")
    assert not _question_check({}, TutoringContext(learner_id="qfisher"), "how do I count eggs?")(reply)
