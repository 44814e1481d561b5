"""ToM teacher parity with Saha, Hase & Bansal 2023 (swarnaHub/ExplanationIntervention): the chain-of-thought
student, the post bank from the teacher's explanations, the rationalizing teacher, the oracle and the
student-confidence references, and multi-turn teaching against unexplained and human-explained demos."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage

from pedagraph.learner import LearnerStore
from pedagraph.llm import StandInChatModel, get_model
from pedagraph.methods.tom.calibration import TeachingConfig, setup_seed
from pedagraph.methods.tom.calls import explain, final_answer, student_answer
from pedagraph.methods.tom.curves import episode, multiturn_curves
from pedagraph.methods.tom.items import TeachItem
from pedagraph.methods.tom.measure import ALL_SIGNALS, TeachingModels, item_signals, score_item
from pedagraph.methods.tom.mental_model import REFERENCES, ItemSignals, plan_interventions, rank_items
from pedagraph.testing.tom import KnownStudent, SeeingTeacher, synthetic_items

ITEM = TeachItem(id="t1", dataset="d", kind="yes_no", question="Can a penguin fly?", gold=False,
                 explanation="Penguins are flightless birds.")  # fmt: skip


def _stand_in(name, reply_fn):
    double = StandInChatModel(model_name=name, reply_fn=reply_fn)
    return double, get_model("student", model=double)


# -- 1. the chain-of-thought student ----------------------------------------------------------------------------


def test_the_unaided_student_reasons_first_and_its_answer_is_read_from_the_last_line():
    double, model = _stand_in("cot", lambda call: "Yes, birds fly; no wait, penguins do not.\nAnswer: no")
    answer = student_answer(model, ITEM, [], None, mode="cot")
    prompt = double.calls[-1].last_user
    assert prompt.rstrip().endswith("Explanation:") and "last line `Answer: <yes or no>`" in prompt
    assert answer.label == "no" and answer.correct and answer.mode == "cot" and not answer.regenerated
    assert double.calls[-1].kwargs["max_tokens"] >= 100  # room to reason, not a one-word slot
    # given the teacher's explanation it answers directly, in both modes
    explained = student_answer(model, ITEM, [], "Penguins cannot fly.", mode="cot")
    assert "Reply with yes or no only." in double.calls[-1].last_user and explained.mode == "direct"
    assert double.calls[-1].kwargs["max_tokens"] == 4


def test_the_direct_mode_is_kept_as_an_option():
    double, model = _stand_in("direct", lambda call: "no")
    answer = student_answer(model, ITEM, [], None, mode="direct")
    assert answer.mode == "direct" and answer.label == "no"
    assert "Reply with yes or no only." in double.calls[-1].last_user
    with pytest.raises(ValueError, match="student mode"):
        student_answer(model, ITEM, [], None, mode="telepathy")


def test_a_reasoned_reply_without_an_answer_is_asked_again_with_its_own_reasoning():
    replies = iter(["Penguins are birds that swim rather than fly.", "no"])
    double, model = _stand_in("regen", lambda call: next(replies))
    answer = student_answer(model, ITEM, [], None, mode="cot")
    assert answer.label == "no" and answer.regenerated and answer.cost.calls == 2
    assert "Explanation: Penguins are birds that swim rather than fly." in double.calls[-1].last_user


def test_the_reasoned_answer_is_the_last_lines_not_a_yes_or_no_in_the_reasoning():
    assert final_answer(ITEM, "Yes, it is a bird.\nBut it cannot fly.\nAnswer: no") == "no"
    assert final_answer(ITEM, "No one would say so.\nyes") == "yes"
    assert final_answer(ITEM, "Answer: yes\nthinking more") is None


@settings(max_examples=60, deadline=None)
@given(reasoning=st.lists(st.sampled_from(["Yes.", "No.", "yes it is", "no way", "Answer: yes", "Answer: no",
                                           "Birds fly.", "Penguins swim."]), max_size=4),  # fmt: skip
       label=st.sampled_from(["yes", "no"]), cue=st.sampled_from(["Answer: ", "answer: ", "So the answer is ", ""]))
def test_the_last_line_wins_whatever_the_reasoning_says(reasoning, label, cue):
    assert final_answer(ITEM, "\n".join([*reasoning, f"{cue}{label}"])) == label


def test_cot_probabilities_are_read_at_the_last_answer_token_through_the_stub():
    from pedagraph.testing.openai_stub import OpenAIStub

    reply = "Yes, penguins are birds, but they cannot fly.\nAnswer: no"
    with OpenAIStub(replies=[reply], logprobs_fn=lambda body, text: {"no": 0.7, "yes": 0.3},
                    logprobs_slot="last") as stub:  # fmt: skip
        model = get_model("student", model="openai:stub-model", base_url=stub.base_url)
        answer = student_answer(model, ITEM, [], None, mode="cot")
        assert stub.chat_requests[0].body["logprobs"] is True
    assert answer.method == "logprobs" and answer.label == "no"
    assert answer.p_gold == pytest.approx(0.7) and answer.confidence == pytest.approx(0.7)


def test_cot_confidence_without_log_probabilities_counts_the_last_lines_of_samples():
    replies = iter(["Birds fly.\nAnswer: yes", "Penguins swim.\nAnswer: no", "Hm.\nAnswer: no", "x\nAnswer: no"])
    _, model = _stand_in("samples", lambda call: next(replies))
    answer = student_answer(model, ITEM, [], None, mode="cot", samples=4)
    assert answer.method == "samples" and answer.label == "yes"  # the greedy reply's answer
    assert answer.p_gold == pytest.approx(0.75) and answer.confidence == pytest.approx(0.25)


def test_the_scripted_student_is_deterministic_in_cot_mode():
    first = student_answer(get_model("student"), ITEM, [], None, mode="cot").to_dict()
    again = student_answer(get_model("student"), ITEM, [], None, mode="cot").to_dict()
    assert first == again and first["mode"] == "cot"


# -- 2. the post bank from the teacher's explanations ------------------------------------------------------------


class MisleadingTeacher:
    """A teacher whose explanations state the wrong answer; its mental model is never asked here."""

    def __init__(self, items):
        self.by_question = {i.prompt_question(): i for i in items}

    def __call__(self, call):
        question = re.findall(r"Question: (.*)", call.last_user)[-1].strip()
        item = self.by_question[question]
        return f"The answer to this question is {item.wrong_label()}.\nAnswer: {item.wrong_label()}"


def test_the_post_bank_holds_the_teachers_explanations_and_the_students_answers_after_them(tmp_path):
    items = synthetic_items(30)
    truth = KnownStudent(items, {i.id: (False, True) for i in items})  # the human explanation always helps
    student = get_model("student", model=StandInChatModel(model_name="s", reply_fn=truth))
    teacher = get_model("teacher", model=StandInChatModel(model_name="t", reply_fn=MisleadingTeacher(items)))
    setup = setup_seed(student, teacher, items, seed=41, store=LearnerStore(tmp_path / "l.sqlite"),
                       config=TeachingConfig(calibration_items=12, mm_demos=4, bank_explanation="unpersonalised"),
                       learner_id="llm:s", student_spec="s")  # fmt: skip
    assert setup.bank_explanation == "unpersonalised" and len(setup.mm_post) == 4
    for demo in setup.mm_post:  # the teacher's explanation, and what the student actually answered after it
        assert demo.explanation.startswith("The answer to this question is") and not demo.correct
    assert setup.summary["post_accuracy"] == 1.0 and setup.summary["teacher_post_accuracy"] == 0.0
    # the personalised teacher's demos are still chosen with the human explanations (wrong -> right)
    assert setup.personalised_demos and all(d.explanation.startswith("Fact about") for d in setup.personalised_demos)


def test_a_stored_calibration_with_its_teacher_bank_is_reused_without_a_call(tmp_path):
    items = synthetic_items(30)
    truth = KnownStudent.random(items, p_pre=0.5, p_help=0.6, seed=3)
    student_double = StandInChatModel(model_name="s", reply_fn=truth)
    teacher_double = StandInChatModel(model_name="t", reply_fn=SeeingTeacher(truth))
    student, teacher = get_model("student", model=student_double), get_model("teacher", model=teacher_double)
    store = LearnerStore(tmp_path / "l.sqlite")
    kwargs = dict(seed=41, store=store, config=TeachingConfig(calibration_items=8), learner_id="llm:s",
                  student_spec="s")  # fmt: skip
    first = setup_seed(student, teacher, items, **kwargs)
    calls = len(student_double.calls) + len(teacher_double.calls)
    again = setup_seed(student, teacher, items, **kwargs)
    assert again.summary["reused"] and len(student_double.calls) + len(teacher_double.calls) == calls
    assert [d.id for d in again.mm_post] == [d.id for d in first.mm_post]
    direct = setup_seed(student, teacher, items, **{**kwargs, "config": TeachingConfig(calibration_items=8,
                                                                                        student_mode="direct")})
    assert not direct.summary["reused"] and direct.session != first.session  # another mode, another calibration


# -- the rationalizing teacher -------------------------------------------------------------------------------------


def test_the_rationalizing_teacher_answers_first_and_is_not_told_the_gold_answer():
    double = StandInChatModel(model_name="r", reply_fn=lambda call: "yes\nExplanation: Some penguins glide.")
    teacher = get_model("teacher", model=double)
    expl = explain(teacher, ITEM, "rationalize", demos=[])
    prompt = double.calls[-1].last_user
    assert prompt.rstrip().endswith("Answer:") and "The answer to the last question is" not in prompt
    assert expl.answer == "yes" and expl.text == "Some penguins glide."  # its own (wrong) answer, explained


# -- 3. the oracle and the student-confidence references ----------------------------------------------------------


def test_the_oracle_explains_exactly_where_the_unaided_student_is_wrong_at_any_budget():
    s = [ItemSignals(f"i{k}", student_correct=k % 3 == 0, student_post_correct=True) for k in range(9)]
    wrong = {f"i{k}" for k in range(9) if k % 3}
    for budget in (0.0, 0.2, 0.5, 1.0):
        plan = plan_interventions("oracle", s, budget, seed=1)
        assert {i for i, d in plan if d.explain} == wrong


def test_the_student_confidence_references_rank_by_the_real_students_probabilities():
    s = [ItemSignals("a", student_confidence=0.9, student_p_gold_pre=0.9, student_p_gold_post=0.95),
         ItemSignals("b", student_confidence=0.6, student_p_gold_pre=0.4, student_p_gold_post=0.9),
         ItemSignals("c", student_confidence=0.8, student_p_gold_pre=0.2, student_p_gold_post=0.3)]  # fmt: skip
    assert rank_items("least_confident", s, seed=1) == ["b", "c", "a"]
    assert rank_items("student_pre_gold", s, seed=1) == ["c", "b", "a"]
    assert rank_items("student_post_gold", s, seed=1) == ["a", "b", "c"]
    assert rank_items("true_utility", s, seed=1) == ["b", "c", "a"]
    assert set(REFERENCES) == {"oracle", "least_confident", "student_pre_gold", "student_post_gold", "true_utility"}


def _with_probs(text, probs, *, at_last):
    """A reply whose first (or last) token carries the candidate probabilities `probs`."""
    words = text.split(" ")
    entries = [{"token": (" " if i else "") + w, "logprob": 0.0, "top_logprobs": []} for i, w in enumerate(words)]
    entries[-1 if at_last else 0]["top_logprobs"] = [{"token": t, "logprob": math.log(p)} for t, p in probs.items()]
    return AIMessage(content=text, response_metadata={"logprobs": {"content": entries}})


def _prob_student(items, p_pre, p_post):
    """A student stand-in that reasons, then answers with known log-probabilities of the gold answer."""
    by_question = {i.prompt_question(): i for i in items}

    def reply(call):
        text = call.last_user
        item = by_question[re.findall(r"Question: (.*)", text)[-1].strip()]
        explained = not text.rstrip().endswith("Explanation:")
        p = (p_post if explained else p_pre)[item.id]
        label = item.gold_label if p >= 0.5 else item.wrong_label()
        body = label if explained else f"Some thoughts.\nAnswer: {label}"
        return _with_probs(body, {item.gold_label: p, item.wrong_label(): 1 - p}, at_last=not explained)

    return reply


def test_the_references_read_the_students_gold_probabilities_from_measured_records(tmp_path):
    items = synthetic_items(14)
    test, pool = items[:6], items[6:]
    p_pre = {i.id: 0.1 + 0.05 * k for k, i in enumerate(items)}
    p_post = {i.id: 0.9 - 0.04 * k for k, i in enumerate(items)}
    student = get_model("student", model=StandInChatModel(model_name="p", reply_fn=_prob_student(items, p_pre,
                                                                                                  p_post)))
    setup = setup_seed(student, None, pool, seed=41, store=LearnerStore(tmp_path / "l.sqlite"),
                       config=TeachingConfig(student_demos=2, calibration_items=4), learner_id="llm:p",
                       student_spec="p")  # fmt: skip
    records = [score_item(i, setup, TeachingModels(student, None), types=["human"], signals=set(ALL_SIGNALS),
                          samples=3) for i in test]  # fmt: skip
    signals = {r["id"]: item_signals(r, "human") for r in records}
    for i in test:
        assert signals[i.id].student_p_gold_pre == pytest.approx(p_pre[i.id])
        assert signals[i.id].student_p_gold_post == pytest.approx(p_post[i.id])
    utility = sorted(test, key=lambda i: -(p_post[i.id] - p_pre[i.id]))
    assert rank_items("true_utility", list(signals.values()), seed=1) == [i.id for i in utility]
    # at budget 1/3 true utility explains the two items with the largest gain
    _, explained = episode(records, "human", "true_utility", 2 / 6, seed=41)
    assert explained == 2


# -- 4. multi-turn ---------------------------------------------------------------------------------------------------


def test_multiturn_demos_are_teacher_explained_unexplained_and_human_explained_for_the_same_items(tmp_path):
    items = synthetic_items(40)
    truth = KnownStudent.random(items, p_pre=0.5, p_help=0.6, seed=2)
    student_double = StandInChatModel(model_name="s", reply_fn=truth)
    student = get_model("student", model=student_double)
    teacher = get_model("teacher", model=StandInChatModel(model_name="t", reply_fn=MisleadingTeacher(items)))
    setup = setup_seed(student, teacher, items[:30], seed=41, store=LearnerStore(tmp_path / "l.sqlite"),
                       config=TeachingConfig(calibration_items=6, multiturn=(2, 4, 6, 8, 10)),
                       learner_id="llm:s", student_spec="s")  # fmt: skip
    teacher_set, control, human = setup.multiturn_demos, setup.multiturn_control, setup.multiturn_human
    assert len(teacher_set) == len(control) == len(human) == 10
    assert [d.question for d in teacher_set] == [d.question for d in control] == [d.question for d in human]
    by_question = {i.prompt_question(): i for i in items}
    for t, c, h in zip(teacher_set, control, human, strict=True):
        item = by_question[t.question]
        assert t.answer == c.answer == item.wrong_label() and t.explanation.startswith("The answer to this")
        assert c.explanation == "" and h.explanation == item.explanation and h.answer == item.gold_label
    record = score_item(items[35], setup, TeachingModels(student, teacher), types=["human"], signals={"pre"},
                        multiturn=(2, 10))  # fmt: skip
    assert set(record["multiturn"]) == {"teacher", "none", "human"}
    control_prompts = [c.last_user for c in student_double.calls[-6:]]
    assert sum("Explanation: The answer to" in p for p in control_prompts) == 2  # the teacher-explained runs only
    curves = multiturn_curves([record], (2, 10))
    assert set(curves) == {"teacher", "none", "human"} and [p["explained_demos"] for p in curves["none"]] == [2, 10]


def test_the_suite_report_shows_the_references_and_the_multiturn_control(tmp_path):
    import json

    from pedagraph.evals.runner import RunConfig, get_suite, run_suite_sync

    items = synthetic_items(30)
    truth = KnownStudent.random(items, p_pre=0.5, p_help=0.6, p_hurt=0.1, seed=4)
    test, pool = items[:8], items[8:]
    data = tmp_path / "test.json"
    data.write_text(json.dumps([{"qid": i.id, "question": i.question, "answer": i.gold, "facts": [i.explanation]}
                                for i in test]))  # fmt: skip
    (tmp_path / "pool.json").write_text(json.dumps([{"qid": i.id, "question": i.question, "answer": i.gold,
                                                     "facts": [i.explanation]} for i in pool]))  # fmt: skip
    models = {"student": {"model": StandInChatModel(model_name="s", reply_fn=truth)},
              "teacher": {"model": StandInChatModel(model_name="t", reply_fn=SeeingTeacher(truth))}}  # fmt: skip
    options = {"pool": str(tmp_path / "pool.json"), "seeds": "41", "calibration_items": 4, "multiturn": "2,4",
               "explanations": "rationalize", "functions": ",".join(["random", "expected_utility", *REFERENCES])}
    result = run_suite_sync(get_suite("tom")(options), RunConfig(out_dir=tmp_path / "run", data_path=data,
                                                                 models=models), progress=False)  # fmt: skip
    assert result.errors == 0
    report = Path(result.report_path).read_text()
    for label in ("least-confident student (ref., reads the student)", "highest true utility",
                  "lowest student P(gold) unaided", "highest student P(gold) explained", "| 4 |",
                  "The oracle ignores the budget", "by reasoning first (chain of thought",
                  "teacher's `rationalize` explanations"):  # fmt: skip
        assert label in report, label
    metrics = json.loads(result.summary_path.read_text())["metrics"]
    assert {"multiturn[teacher|2]", "multiturn[none|2]", "multiturn[human|4]"} <= set(metrics)


def test_an_offline_run_says_its_tables_check_the_pipeline(tmp_path):
    from conftest import data_file
    from pedagraph.evals.runner import RunConfig, get_suite, run_suite_sync

    options = {"seeds": "41", "calibration_items": 2, "multiturn": "2", "samples": 1}
    config = RunConfig(out_dir=tmp_path / "run", data_path=data_file("strategyqa/dev.json").path, limit=2)
    result = run_suite_sync(get_suite("tom")(options), config, progress=False)
    assert result.errors == 0
    report = Path(result.report_path).read_text()
    assert "check the pipeline" in report and "| demos | teacher-explained | unexplained (control) |" in report


@pytest.mark.real_model
def test_the_tiny_model_answers_as_a_reasoning_student():
    from pedagraph.llm.tiny import TINY_INSTALL, find_tiny_gguf

    if find_tiny_gguf() is None:
        pytest.skip(f"the tiny model is not installed ({TINY_INSTALL})")
    model = get_model("student", model="tiny")
    answer = student_answer(model, ITEM, [], None, mode="cot")
    assert answer.mode == "cot" and answer.text.strip()
    assert answer.label in ("yes", "no") or answer.label is None
    assert answer.cost.calls == (2 if answer.regenerated else 1)
    explained = student_answer(model, ITEM, [], "Penguins are flightless birds.", mode="cot")
    assert explained.mode == "direct" and explained.method == "logprobs" and explained.label in ("yes", "no")


def test_the_graph_runs_the_oracle_at_budget_zero_and_explains_every_wrong_item(tmp_path):
    from pedagraph.graphs.tom_teacher import Context, build_graph

    items = synthetic_items(20)
    truth = KnownStudent.random(items, p_pre=0.5, p_help=1.0, seed=5)
    student = get_model("student", model=StandInChatModel(model_name="s", reply_fn=truth))
    teacher = get_model("teacher", model=StandInChatModel(model_name="t", reply_fn=SeeingTeacher(truth)))
    graph = build_graph(learners=LearnerStore(tmp_path / "l.sqlite"))
    test, pool = items[:8], items[8:]
    out = graph.invoke({"items": [i.model_dump(mode="json") for i in test],
                        "pool": [i.model_dump(mode="json") for i in pool]},
                       context=Context(student_model=student, teacher_model=teacher, function="oracle", budget=0.0,
                                       explanation="unpersonalised", calibration_items=4))  # fmt: skip
    wrong = {i.id for i in test if not truth.truth[i.id][0]}
    assert wrong and {p["id"] for p in out["plan"] if p["explain"]} == wrong
    assert out["result"]["accuracy"] == 1.0  # every wrong item explained, and explanations always help here


def test_the_graph_refuses_a_bad_student_mode_or_bank_type_in_one_line():
    from pedagraph.graphs.tom_teacher import Context, graph

    from pedagraph.errors import DataError

    items = [i.model_dump(mode="json") for i in synthetic_items(1)]
    with pytest.raises(DataError, match="student mode"):
        graph.invoke({"items": items}, context=Context(student_mode="telepathy"))
    with pytest.raises(DataError, match="bank_explanation"):
        graph.invoke({"items": items}, context=Context(bank_explanation="harmful"))
