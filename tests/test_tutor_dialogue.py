"""The tutor as a learner meets it: dialogue acts before grading, the learner's own numbers, diagnosis from the
working, the hint ladder, a session that continues after the problem, course answers, embedding."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from pedagraph.answers import find_numbers, format_number
from pedagraph.learner import get_learner_store
from pedagraph.llm import StandInChatModel
from pedagraph.methods.tutor.diagnosis import classify_turn
from pedagraph.problems import Problem, Step, bundled_problems, get_problem
from pedagraph.reveal import RevealGate

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
QUESTIONS = json.loads((FIXTURES / "dialogue" / "questions_with_numbers.json").read_text())


@pytest.fixture
def tutor():
    from pedagraph.graphs.tutor import build_graph

    return build_graph(checkpointer=InMemorySaver())


def cfg(thread: str) -> dict:
    return {"configurable": {"thread_id": thread}}


def ctx(**kw):
    from pedagraph.graphs.tutor import Context

    return Context(**kw)


def say(graph, thread, context, text):
    return graph.invoke(Command(resume=text), cfg(thread), context=context)


def replies(state) -> list[str]:
    return [m.content for m in state["messages"] if isinstance(m, AIMessage)]


def pizza() -> Problem:
    """A one-step problem whose answer is a fraction: what is left, not what was eaten."""
    step = Step(index=0, question="What fraction of the pizza is left?", solution_text="1 - 5/8 = 3/8",
                hint="", expression="1 - 5/8", answer="0.375", answer_value=0.375, skills=["fractions", "subtraction"])
    question = "A pizza is cut into 8 equal slices and Tom eats 5 of them. What fraction of the pizza is left?"
    return Problem(id="pizza", question=question, steps=[step], final_answer="3/8", final_value=0.375,
                   solution="1 - 5/8 = 3/8", skills=["fractions", "subtraction"], license="test")  # fmt: skip


# ------------------------------------------------------------------------------------------------ dialogue acts


@pytest.mark.parametrize(("pid", "step", "question"), QUESTIONS)
def test_questions_that_quote_numbers_are_never_graded(pid, step, question):
    d = classify_turn(question, get_problem(pid), step)
    assert d.act in ("problem_question", "course_question") and not d.graded and d.category.value == "f", question


@pytest.mark.parametrize(
    ("text", "act", "verdict"),
    [
        ("is it 9?", "attempt", "correct"), ("9 eggs?", "attempt", "correct"), ("do I get 9?", "attempt", "correct"),
        ("would it be $9?", "attempt", "correct"), ("is 9 right?", "attempt", "correct"),
        ("what about 10?", "attempt", "incorrect"), ("nine", "attempt", "correct"),
        ("9 because 16 - 3 - 4 = 9", "working", "correct"), ("is 16 - 3 - 4 = 9?", "working", "correct"),
        ("I subtracted 3 and 4 from 16 and got 10", "working", "incorrect"), ("16 - 3 - 4", "setup", "no_answer"),
        ("I think we subtract", "method", "no_answer"), ("is it 8 or 9?", "guess", "ambiguous"),
        ("is it more than 10?", "guess", "no_answer"), ("just tell me the answer", "answer_request", "no_answer"),
        ("Can I have a hint?", "hint_request", "no_answer"), ("I don't know", "dont_know", "no_answer"),
        ("can we go back to the previous step", "go_back", "no_answer"), ("thanks!", "greeting", "no_answer"),
        ("hello", "greeting", "no_answer"), ("can I have another problem?", "meta", "no_answer"),
        ("What is your favourite football team these days?", "off_topic", "no_answer"),
        ("What is the denominator of a fraction?", "course_question", "no_answer"),
        ("what does remainder mean", "problem_question", "no_answer"),
    ],
)  # fmt: skip
def test_every_message_gets_its_dialogue_act_before_grading(text, act, verdict):
    d = classify_turn(text, get_problem("gsm8k-sample-1"), 0)
    assert (d.act, d.verdict) == (act, verdict), text


def test_questions_with_numbers_leave_mastery_alone_in_the_graph(tutor, home):
    context = ctx(learner_id="asker")
    for i, (pid, step, question) in enumerate(QUESTIONS[:8]):
        tutor.invoke({"problem_id": pid}, cfg(f"q{i}"), context=context)
        problem = get_problem(pid)
        for s in problem.steps[:step]:
            say(tutor, f"q{i}", context, s.answer)
        before = get_learner_store().get("asker").model_dump(include={"skills", "misconceptions"})
        out = say(tutor, f"q{i}", context, question)
        assert out["attempts"] == [0] * len(problem.steps) and out["last_plan"]["kind"] == "inquiry", question
        assert get_learner_store().get("asker").model_dump(include={"skills", "misconceptions"}) == before


def test_a_real_evaluator_reads_the_act_but_never_the_verdict(tutor):
    problem = get_problem("gsm8k-sample-1")
    acts = iter(["problem_question", "attempt"])

    def judge(call):
        return {"category": "f", "act": next(acts)} if call.schema_name == "Diagnosis" else None

    context = ctx(learner_id="ev", evaluator_model=StandInChatModel(reply_fn=judge))
    tutor.invoke({"problem_id": problem.id}, cfg("ev"), context=context)
    out = say(tutor, "ev", context, "so 7 eggs get used up?")  # the rules read an attempt of 7: the model a question
    assert out["last_diagnosis"]["act"] == "problem_question" and not out["attempts"][0]
    assert out["last_diagnosis"]["verdict"] == "no_answer" and not get_learner_store().get("ev").skills
    out = say(tutor, "ev", context, "9")  # right: the model is not even asked, and nothing turns it into a question
    assert out["last_diagnosis"]["verdict"] == "correct" and out["step_index"] == 1
    out = say(tutor, "ev", context, "what do I do with 5 and 2?")  # the model reads an attempt: checked, not trusted
    assert out["last_diagnosis"]["act"] == "attempt" and out["last_diagnosis"]["verdict"] == "incorrect"


# ------------------------------------------------------------------------------------------------ the learner's words


def test_numbers_are_echoed_in_the_learners_own_form(tutor):
    context = ctx(learner_id="form")
    problem = pizza()
    tutor.invoke({"problem_data": problem.model_dump(mode="json")}, cfg("pz"), context=context)
    out = say(tutor, "pz", context, "5/8")
    reply = out["messages"][-1].content
    assert "5/8" in reply and "0.625" not in reply
    d = out["last_diagnosis"]
    assert d["value_text"] == "5/8" and d["error_type"] == "misinterpret" and "other part" in d["misconception"]
    assert "slip" not in d["misconception"]
    out = tutor.invoke({"problem_id": "gsm8k-sample-1"}, cfg("eg"), context=context)
    out = say(tutor, "eg", context, "I think it's $11.00")
    assert "$11.00" in out["messages"][-1].content


def test_the_diagnosis_reads_the_working():
    house = get_problem("gsm8k-sample-3")
    d = classify_turn("150% of 130000 is 195000", house, 1)
    assert d.act == "working" and d.error_type == "misinterpret"
    assert "130000" in d.misconception and "How much did the house cost" in d.misconception
    assert "without" not in d.misconception  # not "gave a number without any working"
    d = classify_turn("I added 80000 and 50000 to get 140000", house, 0)
    assert d.error_type == "careless" and "80000 + 50000" in d.feedback and "140000" in d.feedback
    d = classify_turn("80000 + 50000 = 120000", house, 0)  # a slip that lands on another step's result is a slip
    assert d.category.value == "a" and d.error_type == "careless"
    d = classify_turn("80000 * 150 = 12000000", house, 1)
    assert d.error_type == "imprecise" and "150%" in d.misconception
    d = classify_turn("16 + 3 + 4 = 23", get_problem("gsm8k-sample-1"), 0)
    assert d.misconception == "Used addition where the step needed subtraction."
    final = classify_turn("200000 + 130000 = 330000", house, 3)  # the final step: the operation it needs is not named
    assert "subtraction" not in final.feedback and "subtraction" not in final.misconception


# ------------------------------------------------------------------------------------------------ the hint ladder


def names_setup(reply: str, step: Step) -> bool:
    """Whether a reply names every amount of the step's calculation and its operation together."""
    from pedagraph.methods.tutor.mistakes import step_operands, step_operations

    numbers = {m.value for m in find_numbers(reply)}
    amounts = all(any(abs(v - n) < 1e-9 for n in numbers) for v in step_operands(step))
    symbols = {"addition": "+", "subtraction": "-", "multiplication": "*", "division": "/"}
    ops = step_operations(step)
    named = any(op in reply.lower() or f" {symbols[op]} " in reply for op in ops)
    return amounts and named


@pytest.mark.parametrize("pid", ["gsm8k-sample-1", "gsm8k-sample-3", "gsm8k-sample-5", "gsm8k-sample-7"])
def test_sixteen_i_dont_knows_never_repeat_a_reply(tutor, pid):
    context = ctx(learner_id=f"idk-{pid}", max_turns=20)
    problem = get_problem(pid)
    tutor.invoke({"problem_id": pid}, cfg(pid), context=context)
    for _ in range(16):
        out = say(tutor, pid, context, "I don't know")
    texts = replies(out)[1:]
    assert len(texts) == 16 and len(set(texts)) == 16
    finals = [t for t in out["turns"][1:] if t["plan"]["step_index"] == len(problem.steps) - 1]
    assert not any(names_setup(t["reply"], problem.steps[-1]) for t in finals)
    gate = RevealGate.for_problem(problem)
    assert not any(gate.check(t, learner_messages=["I don't know"]).blocked for t in texts)


def test_final_step_hints_never_name_both_amounts_and_the_operation():
    from pedagraph.methods.tutor.ladder import ladder_hint, method_of

    for problem in bundled_problems():
        step = problem.steps[-1]
        said: list[str] = []
        for level in range(1, 9):
            hint = ladder_hint(problem, step, level, said)
            said.append(hint.text)
            assert not names_setup(hint.text, step), (problem.id, level, hint.text)
        assert not names_setup(method_of(step, problem), step), problem.id


def test_ladder_climbs_concept_quantities_operation_example_setup():
    from pedagraph.methods.tutor.ladder import ladder_hint

    problem = get_problem("gsm8k-sample-1")
    step, said = problem.steps[0], []
    for level, rung in zip(range(1, 6), (1, 2, 3, 4, 5), strict=True):
        hint = ladder_hint(problem, step, level, said)
        said.append(hint.text)
        assert hint.rung == rung
    assert "eats three for breakfast" in said[1]  # the quantities, quoted from the problem
    assert "subtraction" in said[2] and "16, 3 and 4" in said[2]
    example = re.search(r"(\d+) - (\d+) - (\d+) = (\d+)", said[3])
    assert example and int(example[1]) - int(example[2]) - int(example[3]) == int(example[4])
    assert {example[1], example[2], example[3], example[4]}.isdisjoint({"16", "3", "4", "9", "18"})
    assert "16 - 3 - 4" in said[4] and "?" not in said[4].split("16 - 3 - 4")[1][:3]


def test_every_wrong_answer_does_not_get_the_same_reply(tutor):
    context = ctx(learner_id="varied", explanation_budget=0)
    tutor.invoke({"problem_id": "gsm8k-sample-4"}, cfg("va"), context=context)
    for wrong in ("7", "8", "10", "11", "12", "13"):
        out = say(tutor, "va", context, wrong)
    texts = replies(out)[1:]
    assert len(set(texts)) == len(texts)
    assert sum(t.startswith("Not quite. Can you walk me through") for t in texts) <= 1


def test_templates_proof_read_as_a_set():
    """Every reply template renders, has no doubled words or punctuation, and no wording appears twice."""
    from pedagraph.prompts import load_prompt, placeholders

    from pedagraph.methods.tutor.replies import variants

    root = REPO / "prompts" / "tutor"
    seen: dict[str, str] = {}
    for path in sorted([*root.glob("templates/*.md"), *root.glob("ladder/*.md"), *root.glob("openings/*.md"),
                        *root.glob("ideas/*.md"), *root.glob("mistakes/*.md")]):  # fmt: skip
        name = str(path.relative_to(REPO / "prompts").with_suffix(""))
        values = {p: f"⟨{p}⟩" for p in placeholders(name)}
        for text in variants(name, **values) if load_prompt(name).strip() else []:
            assert not re.search(r"\b(\w+) \1\b", " ".join(text.lower().split())), (name, text)
            assert not re.search(r"[.?!]\.|\?\?|\s[,.;:]|,,|::", text.replace("…", "")), (name, text)
            fragment = name.rsplit("/", 1)[-1] in ("meaning_step", "meaning_problem", "needed_final", "course_scope")
            assert text[0].isupper() or text[0] in "⟨(“{[" or fragment, (name, text)
            assert text not in seen or seen[text] == name, (name, seen.get(text))
            seen[text] = name


# ------------------------------------------------------------------------------------------------ misconceptions


def test_a_misconception_is_resolved_when_later_graded_evidence_contradicts_it(tutor, home):
    context = ctx(learner_id="fixer")
    problem = get_problem("gsm8k-sample-12")  # two subtraction steps
    tutor.invoke({"problem_id": problem.id}, cfg("fx"), context=context)
    say(tutor, "fx", context, "23 + 6 = 29")
    store = get_learner_store()
    active = store.get("fixer").active_misconceptions()
    assert [m.description for m in active] == ["Used addition where the step needed subtraction."]
    before = store.get("fixer").revision
    say(tutor, "fx", context, "23 - 6 = 17")
    learner = store.get("fixer")
    assert not learner.active_misconceptions() and learner.misconceptions[0].status == "remediated"
    assert learner.revision == before + 1  # graded evidence and the resolution: one transaction


# ------------------------------------------------------------------------------------------------ after the problem


def test_after_the_problem_the_session_continues(tutor, home):
    context = ctx(learner_id="after")
    problem = get_problem("gsm8k-sample-1")
    tutor.invoke({"problem_id": problem.id}, cfg("af"), context=context)
    for s in problem.steps:
        out = say(tutor, "af", context, s.answer)
    assert out["done"] and "What next?" in out["messages"][-1].content and out["suggested_problem"]
    assert "__interrupt__" not in out
    out = tutor.invoke({"question": "show me the solution"}, cfg("af"), context=context)
    reply = out["messages"][-1].content
    assert out["mode"] == "review" and "9 * 2 = $18" in reply and "16 - 3 - 4 = 9" in reply and "__interrupt__" in out
    out = say(tutor, "af", context, "what does remainder mean?")
    assert "what is left" in out["messages"][-1].content
    out = say(tutor, "af", context, "next problem please")
    suggested = get_problem(out["suggested_problem"])
    assert f"problem {suggested.id.rsplit('-', 1)[-1]}" in out["messages"][-1].content
    out = tutor.invoke({"problem_id": suggested.id}, cfg("af"), context=context)
    assert out["mode"] == "problem" and suggested.steps[0].question in out["messages"][-1].content


def test_the_next_problem_practises_the_weakest_skill():
    from pedagraph.learner import GradedEvidence, LearnerModel
    from pedagraph.learning import primary_skill
    from pedagraph.methods.tutor.suggest import suggest_next

    learner = LearnerModel(learner_id="s")
    store_like = [("division", False), ("addition", True), ("multiplication", True)]
    from pedagraph.learner import EvidenceUpdate, LearnerUpdate, apply_update

    ev = [EvidenceUpdate.checked(k, ok, GradedEvidence(grader="step_check", session_id="x", turn=i))
          for i, (k, ok) in enumerate(store_like)]  # fmt: skip
    apply_update(learner, LearnerUpdate(evidence=tuple(ev)))
    suggestion = suggest_next(learner, bundled_problems())
    assert suggestion is not None and suggestion.skill == "division"
    assert any(primary_skill(s.skills) == "division" for s in suggestion.problem.steps)


# ------------------------------------------------------------------------------------------------ embedding


def test_reinvoking_the_same_problem_continues_and_another_starts_explicitly(tutor):
    context = ctx(learner_id="emb")
    first = tutor.invoke({"problem_id": "gsm8k-sample-1"}, cfg("em"), context=context)
    opener = first["__interrupt__"][0].value["tutor"]
    say(tutor, "em", context, "9")
    out = tutor.invoke({"problem_id": "gsm8k-sample-1"}, cfg("em"), context=context)  # the same problem: continue
    assert len(out["messages"]) == 3 and out["step_index"] == 1 and replies(out).count(opener) == 1
    assert out["__interrupt__"][0].value["tutor"] == out["messages"][-1].content
    out = tutor.invoke({"problem_id": "gsm8k-sample-1", "restart": True}, cfg("em"), context=context)
    assert out["step_index"] == 0 and out["problem_start"] == 3 and len(out["messages"]) == 4
    out = tutor.invoke({"problem_id": "gsm8k-sample-2"}, cfg("em"), context=context)  # another problem: a new one
    assert out["problem"]["id"] == "gsm8k-sample-2" and out["problem_start"] == 4 and out["restart"] is None


# ------------------------------------------------------------------------------------------------ course answers


def test_passages_are_cut_at_sentence_ends_around_what_was_asked():
    from pedagraph.methods.tutor.material import trim_passage

    text = (FIXTURES / "notes" / "fractions_percentages.md").read_text()
    section = text.split("## Percent increase")[1].split("##")[0]
    quote = trim_passage("Percent increase.\n" + section * 2, 320, "What does an increase of 150% mean?")
    assert quote.endswith((".", "…")) and "The key result" in quote and len(quote) <= 330
    assert not re.search(r"\w …$", quote.replace(". …", ""))  # never cut inside a sentence


def test_a_quoted_passage_never_opens_with_the_learners_own_question():
    from pedagraph.methods.tutor.material import trim_passage

    faq = "## What does an increase of 150% mean?\n\n**What does an increase of 150% mean?** It adds 1.5 times it."
    quote = trim_passage(faq, 300, "What does an increase of 150% mean?")
    assert quote == "It adds 1.5 times it."


def test_rerank_puts_the_passage_that_defines_the_term_first():
    from pedagraph.methods.tutor.material import rerank

    hits = [
        {"citation": "f.md § Fractions > Adding fractions, part 1", "score": 0.61,
         "text": "To add two fractions, first rewrite them over a common denominator. The common denominator is "
                 "a number both denominators divide into."},
        {"citation": "f.md § Fractions > Parts of a fraction, part 2", "score": 0.57,
         "text": "A fraction has two parts. The number on the bottom is the denominator: it tells you into how many "
                 "equal parts the whole is divided."},
    ]  # fmt: skip
    assert rerank(hits, "What is the denominator of a fraction?")[0]["citation"].endswith("part 2")
    assert rerank(hits, "How do I add fractions?")[0]["citation"].endswith("part 1")


# ------------------------------------------------------------------------------------------------ no developer text

CODE_WORDS = re.compile(
    r"`|\b[a-z]+_[a-z_]+\b|\bPEDAGRAPH_\w+|--[a-z]|\bpedagraph\s+(?:ingest|ui|eval|data|models)\b"
    r"|\b(?:problem_id|thread_id|learner_id|json|"
    r"stdin|stdout|config|api|env|localhost|127\.0\.0\.1|traceback|exception|None|True|False)\b|\w+\.(?:py|toml)\b"
)


def learner_facing() -> list[tuple[str, str]]:
    """Every template and UI string a learner can see: (where, text)."""
    from pedagraph.prompts import load_prompt

    out = []
    for folder in ("tutor/templates", "tutor/ladder", "tutor/openings", "tutor/ideas", "tutor/mistakes",
                   "tutor/concepts", "tutor/suggest", "ui"):  # fmt: skip
        for path in sorted((REPO / "prompts" / folder).glob("*.md")):
            text = load_prompt(f"{folder}/{path.stem}")
            text = re.sub(r"\{[a-z_]+\}", "X", text)
            out.append((f"{folder}/{path.stem}", text))
    for path in sorted((REPO / "ui").glob("*.py")):
        for m in re.finditer(r"(?:label|placeholder|value|info|notice|title)=\"([^\"]+)\"|Reply\(notice=\"([^\"]+)\"",
                             path.read_text()):  # fmt: skip
            out.append((path.name, m.group(1) or m.group(2)))
    return out


def test_no_developer_text_reaches_a_learner():
    offenders = [(where, m.group(0)) for where, text in learner_facing() for m in CODE_WORDS.finditer(text)]
    assert not offenders, offenders


def test_the_scan_catches_developer_text():
    for bad in ("start the tutor with a `problem_id`", "run pedagraph ingest PATH", "set PEDAGRAPH_MODEL",
                "see settings.toml", "a problem_text input"):  # fmt: skip
        assert CODE_WORDS.search(bad), bad
    assert not CODE_WORDS.search("Pick a problem and press **Start**; upload your notes under **Course material**.")


# Everything the learners' app renders, not a list of known strings: the Blocks config (labels, placeholders,
# Markdown, buttons, choices) and every output of its handlers over generated conversations.
LEARNER_NEVER = re.compile(
    r"\bscripted\b|\b(?:openai|ollama|anthropic|hf|llamacpp|tiny|stand-in):|\bturn \d+|\bevent\(s\)|reveal gate"
    r"|\buser:\w|\b(?:learner|ui|thread)-[0-9a-f]{4,}|\bchunk \d|\bgate\b|\bCLASS\b|\b(?:misinterpret|right_idea|"
    r"ask_question|diagnose_mistake|probing|telling)\b|\bCLSCODE7\b"
)
"""What a learner never sees: model names, ids, counters, gate and research labels, their class's code."""
HIDDEN_PROPS = ("label", "value", "placeholder", "info", "choices", "title", "description")
"""The component properties a browser shows."""


def _texts(value) -> list[str]:
    """Every string inside an app output or config value (dicts, lists, updates), HTML and SVG reduced to text."""
    if isinstance(value, str):
        return [re.sub(r"<[^>]+>", " ", value)] if value.lstrip().startswith("<") else [value]
    if isinstance(value, dict):
        if value.get("role") == "user":  # the learner's own words, shown back to them
            return []
        return [t for k, v in value.items() if k not in ("__type__", "elem_id", "elem_classes") for t in _texts(v)]
    if isinstance(value, list | tuple):
        return [t for v in value for t in _texts(v)]
    return []


def _learner_app_config() -> list[tuple[str, str]]:
    from pedagraph.ui.app import build_app

    config = build_app().get_config_file()
    return [(f"{c.get('type')}.{key}", text) for c in config["components"] for key in HIDDEN_PROPS
            for text in _texts((c.get("props") or {}).get(key))]  # fmt: skip


def _offenders(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(where, m.group(0), text[:160]) for where, text in found
            for pattern in (CODE_WORDS, LEARNER_NEVER) for m in pattern.finditer(text)]  # fmt: skip


def test_nothing_the_learner_app_shows_has_developer_text(home):
    assert not _offenders(_learner_app_config())


LEARNER_SAYS = st.one_of(
    st.sampled_from(["13", "9", "18", "16 - 3 - 4 = 9", "I think 16 + 3 = 19", "$18", "nine"]),  # answers, working
    st.sampled_from(["hint please", "I don't know", "what does remainder mean?", "can you just tell me?",
                     "what is your name?", "", "   ", "?"]),  # help, questions, off-topic, empty  # fmt: skip
    st.integers(-10**6, 10**6).map(str),  # any number
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40),  # anything typed
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(said=st.lists(LEARNER_SAYS, min_size=1, max_size=5), first=st.sampled_from(["ask", "start", "own"]))
def test_no_developer_text_in_anything_the_learner_app_renders(home, said, first):
    from pedagraph.ui.app import Handlers
    from pedagraph.ui.service import TutorService

    from pedagraph.accounts import Account

    handlers = Handlers(TutorService())
    ana = Account(f"ana{abs(hash((tuple(said), first))) % 10**8}", "learner", "Ana", "CLSCODE7")
    shown = [("restore", t) for t in _texts(handlers.restore(ana))]
    if first == "start":
        shown += [("start", t) for out in handlers.start(ana, "gsm8k-sample-1") for t in _texts(out)]
    elif first == "own":
        shown += [("start_own", t) for out in handlers.start_own(ana, "A pen costs 3 dollars. How much do 4 pens "
                                                                      "cost?", "12") for t in _texts(out)]  # fmt: skip
    for text in said:
        shown += [(f"send {text!r}", t) for out in handlers.send(ana, text) for t in _texts(out)]
        shown += [("extras", t) for t in _texts(handlers.extras(ana))]
    shown += [("next", t) for out in handlers.start_next(ana) for t in _texts(out)]
    past = handlers.extras(ana)[1]
    for key in [c[1] if isinstance(c, list | tuple) else c for c in (past.get("choices") or [])][:2]:
        shown += [("past", t) for t in _texts(handlers.past(ana, key))]
    handlers.service.close()
    assert not _offenders(shown)


def test_the_next_problem_is_named_only_after_a_first_answer(home):
    from pedagraph.ui.app import Handlers
    from pedagraph.ui.service import TutorService

    from pedagraph.accounts import Account

    handlers = Handlers(TutorService())
    ana = Account("ana", "learner", "Ana")
    handlers.restore(ana)
    assert handlers.extras(ana)[3] == "Next problem for me"
    list(handlers.start(ana, "gsm8k-sample-1"))
    assert handlers.extras(ana)[3] == "Next problem for me"
    *_, last = handlers.send(ana, "13")
    assert last[5].startswith("Next problem for me: problem ") and handlers.extras(ana)[3] == last[5]
    handlers.service.close()


def test_the_learner_app_scan_catches_what_it_must(home):
    from pedagraph.ui.app import next_label

    for bad in ("Problem 1 · step 1 of 2 · turn 3 · your turn.", "teacher: scripted · student: openai:gpt-4o",
                "Learner `learner-d61f0a`", "Reveal gate: 0 event(s)", "[notes.md § Eggs, chunk 2]",
                "error type misinterpret → strategy ask_question", "for the course CLSCODE7"):  # fmt: skip
        assert _offenders([("x", bad)]), bad
    assert not _offenders([("x", "That's not it yet. Which amounts does this step use? [notes.md § Eggs, part 2]")])
    assert _texts({"__type__": "update", "value": "<svg><text>turn 3</text></svg>"}) == ["  turn 3  "]
    assert next_label(None) == "Next problem for me"


def test_scripted_notice_is_said_once_per_problem(tutor):
    context = ctx(learner_id="notice")
    tutor.invoke({"problem_id": "gsm8k-sample-3"}, cfg("nt"), context=context)
    for q in ("What does an increase of 150% mean?", "what is a profit?", "What is your favourite football team?"):
        out = say(tutor, "nt", context, q)
    assert sum("fixed templates" in r for r in replies(out)) == 1


def test_worked_lines_end_with_a_full_stop(tutor):
    context = ctx(learner_id="stop", step_tell_after=1)
    tutor.invoke({"problem_id": "gsm8k-sample-2"}, cfg("fs"), context=context)
    out = say(tutor, "fs", context, "7")
    reply = out["messages"][-1].content
    assert out["last_plan"]["kind"] == "correction" and "bolt of white fiber." in reply
    assert format_number(get_problem("gsm8k-sample-2").final_value) not in reply.split("Next step")[0][-3:]
    assert not any(isinstance(m, HumanMessage) and m.content in r for m in out["messages"] for r in replies(out))
