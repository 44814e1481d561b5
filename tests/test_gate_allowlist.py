"""The allow-list, render-exact text, checked streaming, the reading of questions, the guess limit, own problems.

Each part has fixed fixtures and, where the issue asks to close a class, inputs generated with hypothesis.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from pedagraph.answers import format_number
from pedagraph.llm import StandInChatModel
from pedagraph.problems import get_problem, steps_of
from pedagraph.reveal import RevealGate, implied_values
from pedagraph.visible import chat_text, visible_text

PID = "gsm8k-sample-1"  # Janet's ducks: 16 eggs, eats 3, bakes with 4, $2 each; steps 9, then 18
PROBLEM = get_problem(PID)
GATE = RevealGate.for_problem(PROBLEM)


@pytest.fixture
def problem():
    return get_problem(PID)


@pytest.fixture
def gate(problem):
    return RevealGate.for_problem(problem)


# -- render-exact ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("a \u202e12\u202c b", "a 12 b"),  # bidi override: what the browser would have reversed is removed
        ("x\u200by\u2060z\ufeff", "xyz"),
        ("<img src=http://e.example/a.png alt='7'> tail", " tail"),
        ("![alt text](http://e.example/a.png) tail", "alt text tail"),
        ("[course notes](https://e.example) [notes p. 2]", "course notes [notes p. 2]"),
        ("&amp;#55; and &#x37;", "7 and 7"),
        ("visit www.e.example/x or https://e.example now", "visit  or  now"),
        ("**bold** and `code`", "**bold** and `code`"),
        ("<b unclosed", "&lt;b unclosed"),
        ("3 < 5 and 5 > 3", "3 < 5 and 5 > 3"),
    ],
)
def test_chat_text_keeps_limited_markdown_only(raw, shown):
    assert chat_text(raw) == shown


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_chat_text_is_a_fixed_point_with_no_format_characters(text):
    import unicodedata

    once = chat_text(text)
    assert chat_text(once) == once
    assert not any(unicodedata.category(c) in ("Cf", "Cc", "Co", "Cs") and c not in "\n\t" for c in once)


# -- the allow-list ------------------------------------------------------------------------------------------------


def test_a_model_reply_may_state_what_the_learner_sees_or_earned(gate, problem):
    ok = [
        "Janet's ducks lay 16 eggs; she eats 3 and bakes with 4.",  # the problem's numbers
        "Each egg sells for $2, so think about what one egg brings.",
        "Take it one step at a time: two quantities matter here.",  # trivial counts
        "Look at step 2 of the problem.",  # a step label
    ]
    for text in ok:
        assert not gate.check(text, allowed_values=()).blocked, text
    assert gate.check("So 9 eggs are left to sell.", allowed_values=()).reason == "unlisted_value"
    # the learner said it: now it may be repeated; a template's or cited passage's value likewise
    assert not gate.check("So 9 eggs are left to sell.", learner_messages=["16 - 3 - 4 = 9"], allowed_values=()).blocked
    assert not gate.check("For example 7 x 6 = 42.", allowed_values=[7, 6, 42]).blocked
    assert gate.check("For example 7 x 6 = 42.", allowed_values=[]).reason == "unlisted_value"
    # the tutor's own words are judged by the answer rules only
    assert not gate.check("So 9 eggs are left to sell.").blocked


def test_the_constants_a_problems_words_imply_are_visible():
    found = implied_values("She works 5 days a week for 25% more per hour, three-fourths of a dozen.")
    assert {7.0, 100.0, 0.25, 1.25, 0.75, 24.0, 60.0, 12.0, 3.0, 4.0} <= found


SEEN = implied_values(PROBLEM.question) | PROBLEM.numbers() | {18.0}  # what the problem shows or implies (day: 24)
unseen = st.integers(min_value=20, max_value=10**6).filter(lambda n: float(n) not in SEEN)
wrappers = st.sampled_from(["It is {}.", "Try {} next.", "Maybe {} eggs?", "I'd say {} dollars.", "{} is close."])


@settings(max_examples=150, deadline=None)
@given(unseen, wrappers, st.sampled_from(["digits", "words", "spaced", "money", "decimal"]))
def test_any_value_the_learner_has_not_seen_is_blocked_in_any_form(n, wrapper, form):
    from num2words import num2words

    written = {"digits": str(n), "words": num2words(n), "spaced": f"{n:,}", "money": f"${n}.00",
               "decimal": f"{n}.5"}[form]  # fmt: skip
    result = GATE.check(wrapper.format(written), allowed_values=())
    assert result.blocked, (written, result)


# -- checked streaming: nothing before every check ------------------------------------------------------------------


def _turn(reply: str, says: str, learner: str):
    from pedagraph.graphs.tutor import Context, build_graph

    graph = build_graph(checkpointer=InMemorySaver())
    teacher = StandInChatModel(reply_fn=lambda call: None if call.schema_name else reply)
    context = Context(learner_id=learner, teacher_model=teacher, leak_check=False)
    config = {"configurable": {"thread_id": learner}}
    graph.invoke({"problem_id": PID}, config, context=context)
    events = list(graph.stream(Command(resume=says), config, context=context, stream_mode=["custom", "values"]))
    state = [chunk for mode, chunk in events if mode == "values"][-1]
    tokens = [chunk["text"] for mode, chunk in events if mode == "custom" and chunk["type"] == "token"]
    return state, tokens, [chunk for mode, chunk in events if mode == "custom"]


BENIGN = ["Good thinking.", "Which numbers does this step use?", "Look at the 16 eggs again.",
          "What happens to 3 of them?", "Try it step by step!", "Read the question once more.",
          "What does she do with 4 eggs?"]  # fmt: skip
sentences = st.lists(st.sampled_from(BENIGN), min_size=1, max_size=4)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sentences)
def test_a_reply_passing_every_check_streams_exactly_the_final_text(chosen):
    reply = " ".join(chosen)
    state, tokens, events = _turn(reply, "can I have a hint?", f"ok-{abs(hash(reply)) % 10**8}")
    assert state["messages"][-1].content == reply == "".join(tokens)
    assert not any(e["type"] == "replace" for e in events) and not state["reveal_events"]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sentences, st.sampled_from(["So 9 eggs are left.", "That's right, well done!", "She has 18 dollars.",
                                   "Her ducks lay 4 eggs a day."]))  # fmt: skip
def test_no_part_of_a_failing_sentence_is_ever_shown(chosen, failing):
    reply = " ".join([*chosen, failing, "Keep going."])
    state, tokens, _events = _turn(reply, "16 - 3 = 13", f"bad-{abs(hash(reply)) % 10**8}")
    final, streamed = state["messages"][-1].content, "".join(tokens)
    assert failing not in final and failing not in streamed
    assert final == streamed  # what was shown stays; the rest is the move's own words
    assert state["reveal_events"][-1]["action"] in ("cut", "replaced", "regenerated")


def test_a_weak_affirmation_of_a_wrong_attempt_is_flagged(problem):
    """Guards the weak-affirmation rule: each of these, to a wrong attempt, is replaced (never shown)."""
    from pedagraph.methods.tutor.verdict import verdict_disagreement
    from pedagraph.taxonomy import Diagnosis, StudentResponse

    wrong = Diagnosis(category=StudentResponse.INCORRECT, verdict="incorrect", value=13.0, act="attempt")
    for n, reply in enumerate(("Great! Let's continue.", "Yes, and now the next part.", "Perfect. On to the market.",
                               "Excellent, keep going.")):  # fmt: skip
        assert verdict_disagreement(reply, wrong).reason == "affirms_wrong_answer", reply
        state, tokens, _ = _turn(reply, "16 - 3 = 13", f"weak-{n}")
        assert reply not in state["messages"][-1].content and not "".join(tokens).startswith(reply[:5])
        assert state["reveal_events"][-1]["reason"] == "affirms_wrong_answer"


def test_question_mode_with_two_started_problems_blocks_the_second_answer():
    """Guards the question-mode gate over several problems: the answer of the second one started is blocked."""
    from pedagraph.agents.teacher_questions import _question_check
    from pedagraph.graphs.tutor import Context, build_graph

    from pedagraph.methods.tutor.context import TutoringContext

    graph = build_graph(checkpointer=InMemorySaver())
    context = Context(learner_id="two-problems", leak_check=False)
    first, second = get_problem("gsm8k-sample-1"), get_problem("gsm8k-sample-3")
    for n, p in enumerate((first, second)):
        config = {"configurable": {"thread_id": f"two-{n}"}}
        graph.invoke({"problem_id": p.id}, config, context=context)
        graph.invoke(Command(resume="7001"), config, context=context)
    check = _question_check({}, TutoringContext(learner_id="two-problems"), "how do profits work?")
    assert check("Profit is what is left after costs.")
    assert not check(f"The profit there is {format_number(second.final_value)} dollars.")
    assert not check(f"The duck money is {format_number(first.final_value)} dollars.")


# -- questions are not attempts ---------------------------------------------------------------------------------

QUESTIONS = [
    "Do I need to use all {n} of the numbers here?", "Why is it {n} and not something else?",
    "Is {a} x {b} = {c} something I should remember?", "What does {n} percent mean?",
    "Should I start with the {n} eggs?", "How do I know if {n} is the right thing to subtract?",
    "Can you explain where the {n} comes from?", "Does {n} percent mean the same as {d}?",
    "Would it help to draw {n} boxes?", "Is {n} a prime number?", "Why do we divide {a} by {b}?",
    "Is it okay to round {d} to {n}?", "Can I use {a} - {b} for this step?", "Where did you get {n} from?",
]  # fmt: skip
ATTEMPTS = [
    "is it {v}?", "{v}?", "maybe {a} + {b}", "I think it's {v}", "{v}", "is the answer {v}?", "would it be {v} eggs?",
    "could it be {v}?", "what about {v}?", "do I get {v}?", "{a} + {b} = {v}", "is {a} + {b} = {v}?", "so {v}?",
    "I got {v}", "hmm, {v} eggs?", "maybe {v}?", "I'd say {v}.", "{v} dollars?",
]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(QUESTIONS), st.integers(2, 99), st.integers(2, 99), st.sampled_from(["", "Sorry, ", "Hmm, "]))
def test_a_question_with_numbers_is_answered_never_graded(template, a, b, lead):
    from pedagraph.methods.tutor.acts import read_act

    text = lead + template.format(n=a, a=a, b=b, c=a * b, d=f"{a}.5")
    reading = read_act(text, PROBLEM, steps_of(PROBLEM)[0])
    assert reading.act not in ("attempt", "working", "setup", "guess"), (text, reading)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(ATTEMPTS), st.integers(1, 60), st.integers(1, 60))
def test_an_offered_number_is_graded_however_tentative(template, a, b):
    from pedagraph.methods.tutor.acts import read_act

    text = template.format(v=a + b, a=a, b=b)
    reading = read_act(text, PROBLEM, steps_of(PROBLEM)[0])
    assert reading.act in ("attempt", "working", "setup"), (text, reading)
    if reading.act != "setup":
        assert reading.value == a + b


# -- the guess limit, own problems, counted turns -------------------------------------------------------------------


def test_after_bare_guesses_the_working_comes_before_a_confirmation(problem):
    from pedagraph.graphs.tutor import Context, build_graph

    graph = build_graph(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "guesser"}}
    right = format_number(problem.steps[0].answer_value)

    def turns(limit: int, says: list[str]):
        context = Context(learner_id=f"guesser-{limit}", guess_limit=limit, explanation_budget=0, step_tell_after=99)
        cfg = {"configurable": {"thread_id": f"guesser-{limit}"}}
        graph.invoke({"problem_id": PID}, cfg, context=context)
        return [graph.invoke(Command(resume=s), cfg, context=context) for s in says]

    out = turns(3, ["5", "7", right, right, f"16 - 3 - 4 = {right}"])
    assert [o["step_index"] for o in out] == [0, 0, 0, 0, 1]
    asked = out[2]["messages"][-1].content
    assert "how did you get it" in asked.lower() or "how you worked out" in asked.lower()
    assert out[2]["last_diagnosis"]["needs_working"] and not out[2]["last_diagnosis"]["correct"]
    out = turns(5, ["5", "7", right])  # a larger limit: confirmed at the third
    assert out[-1]["step_index"] == 1
    del config


@pytest.mark.parametrize("answer", ["9" * 309, "inf", float("nan"), -(10.0**16)])
def test_an_unusable_own_answer_is_refused_before_a_thread_starts(answer):
    from pedagraph.graphs.tutor import Context, build_graph

    from pedagraph.errors import DataError
    from pedagraph.problems import Problem

    if answer == "inf":  # no number in it: an own problem without a checked answer, not an error
        assert Problem.from_text("How many?", answer).final_value is None
        return
    with pytest.raises(DataError, match="not a usable number"):
        Problem.from_text("How many?", answer)
    graph = build_graph(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": f"own-{str(answer)[:4]}"}}
    with pytest.raises(DataError):
        graph.invoke({"problem_text": "How many apples?", "answer": answer}, config,
                     context=Context(learner_id="own"))  # fmt: skip
    assert not graph.get_state(config).values.get("messages")
    graph.invoke({"problem_text": "How many apples?", "answer": "12"}, config, context=Context(learner_id="own"))


def test_a_turn_committed_twice_counts_its_hints_once(tmp_path):
    from pedagraph.learner import LearnerStore
    from pedagraph.learning import commit, reply_shown, session_started

    store = LearnerStore(tmp_path / "l.sqlite")
    turn = session_started() + reply_shown(hint=True, revealed=False, problem_id=PID, session_id="s1", turn=3,
                                           text="a hint")  # fmt: skip
    commit(store, "ana", turn)
    commit(store, "ana", turn)  # a crash between the commit and the checkpoint replays the node
    stats = store.get("ana").stats
    assert (stats.hints_received, stats.sessions) == (1, 1)
    commit(store, "ana", reply_shown(hint=True, revealed=False, problem_id=PID, session_id="s1", turn=4, text="x"))
    assert store.get("ana").stats.hints_received == 2


def test_visible_text_of_chat_text_is_what_the_gate_reads(gate):
    reply = "It is \u202e81\u202c, <span>or</span> ❶❽."
    assert visible_text(chat_text(reply)) == "It is 81, or 18."
    assert gate.check(chat_text(reply), allowed_values=()).blocked


@pytest.mark.parametrize("regeneration", ["Which numbers does this step use?", "It must be 9 eggs then."])
def test_an_unlisted_value_regenerates_once_then_falls_back_to_the_moves_own_words(regeneration):
    from pedagraph.graphs.tutor import Context, build_graph

    from pedagraph.methods.tutor.replies import template_reply
    from pedagraph.taxonomy import TutorMove

    def reply(call):
        if call.schema_name:
            return None
        return "You should get 9 eggs." if call.last_user else regeneration

    graph = build_graph(checkpointer=InMemorySaver())
    teacher = StandInChatModel(reply_fn=reply)
    context = Context(learner_id=f"regen-{len(regeneration)}", teacher_model=teacher, leak_check=False)
    config = {"configurable": {"thread_id": f"regen-{len(regeneration)}"}}
    graph.invoke({"problem_id": PID}, config, context=context)
    out = graph.invoke(Command(resume="can I have a hint?"), config, context=context)
    event = out["reveal_events"][-1]
    assert event["reason"] == "unlisted_value" and event["matched"] == "9"
    final = out["messages"][-1].content
    if "9" in regeneration:  # the regeneration failed too: the move's own words
        move = TutorMove.model_validate(out["last_plan"])
        assert event["action"] == "replaced" and final == template_reply(move, live=True)
    else:
        assert event["action"] == "regenerated" and final == regeneration
    assert len([c for c in teacher.calls if not c.schema_name]) == 2


@pytest.mark.parametrize("reveals", [False, True])
def test_with_a_real_leak_check_the_reply_is_held_until_the_evaluator_judged_it(reveals):
    from pedagraph.graphs.tutor import Context, build_graph

    text = "Good thinking. Which numbers does this step use? Look at the 16 eggs again."
    teacher = StandInChatModel(reply_fn=lambda call: None if call.schema_name else text)
    judged: list[int] = []

    def evaluator(call):
        if call.schema_name == "LeakCheck":
            judged.append(len(seen))
            return {"reveals": reveals, "reason": "test"}
        return None

    seen: list[dict] = []
    graph = build_graph(checkpointer=InMemorySaver())
    context = Context(learner_id=f"held-{reveals}", teacher_model=teacher,
                      evaluator_model=StandInChatModel(reply_fn=evaluator), leak_check=True)  # fmt: skip
    config = {"configurable": {"thread_id": f"held-{reveals}"}}
    graph.invoke({"problem_id": PID}, config, context=context)
    seen.clear()
    for mode, chunk in graph.stream(Command(resume="can I have a hint?"), config, context=context,
                                    stream_mode=["custom", "values"]):  # fmt: skip
        if mode == "custom":
            seen.append(chunk)
        else:
            state = chunk
    assert judged and judged[0] == 0  # nothing was on screen when the evaluator judged the reply
    tokens = "".join(c["text"] for c in seen if c["type"] == "token")
    assert tokens == state["messages"][-1].content
    assert (text in tokens) is not reveals
