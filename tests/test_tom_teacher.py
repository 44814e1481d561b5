"""The Theory-of-Mind teacher (Saha et al. 2023): probabilities, calibration, intervention functions, the
`tom_teacher` graph, the `tom` suite and the app tab — offline, on students of known behaviour."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
from conftest import data_file
from typer.testing import CliRunner

from pedagraph.errors import DataError
from pedagraph.learner import LearnerStore
from pedagraph.llm import StandInChatModel, get_model
from pedagraph.methods.tom.calibration import TeachingConfig, setup_seed
from pedagraph.methods.tom.curves import budget_curves, episode, function_costs
from pedagraph.methods.tom.items import TeachItem, parse_option
from pedagraph.methods.tom.measure import ALL_SIGNALS, TeachingModels, score_item
from pedagraph.methods.tom.mental_model import (
    DEPLOYABLE,
    INTERVENTION_FUNCTIONS,
    ItemSignals,
    budget_count,
    decide,
    plan_interventions,
    rank_items,
)
from pedagraph.probability import option_of, option_probs, probs_from_logprobs
from pedagraph.testing.logprobs import logprobs_metadata, reply_with_probs
from pedagraph.testing.tom import KnownStudent, SeeingTeacher, synthetic_items

# -- a world of known behaviour ------------------------------------------------------------------------------


class World:
    """Synthetic yes/no items, a student whose behaviour is known, and a teacher whose mental model sees it."""

    def __init__(self, n_test=40, n_pool=24, *, p_pre=0.5, p_help=0.6, p_hurt=0.0, seed=1, logprobs=True):
        items = synthetic_items(n_test + n_pool)
        self.test, self.pool = items[:n_test], items[n_test:]
        self.truth = KnownStudent.random(items, p_pre=p_pre, p_help=p_help, p_hurt=p_hurt, seed=seed)
        self.student_double = StandInChatModel(model_name="student", reply_fn=self.truth)
        self.teacher_double = StandInChatModel(model_name="teacher",
                                               reply_fn=SeeingTeacher(self.truth, logprobs=logprobs))  # fmt: skip
        self.student = get_model("student", model=self.student_double)
        self.teacher = get_model("teacher", model=self.teacher_double)

    def dumps(self, items):
        return [i.model_dump(mode="json") for i in items]

    def setup(self, seed=41, store=None, **config):
        store = store or LearnerStore(Path.cwd() / "learners.sqlite")
        return setup_seed(self.student, self.teacher, self.pool, seed=seed, config=TeachingConfig(**config),
                          store=store, learner_id="llm:student", student_spec="stand-in:student")  # fmt: skip

    def records(self, seeds=(41, 42, 43), kinds=("human",), **config):
        models = TeachingModels(self.student, self.teacher)
        out = []
        for seed in seeds:
            setup = self.setup(seed, **config)
            out += [score_item(i, setup, models, types=kinds, signals=set(ALL_SIGNALS), samples=3) for i in self.test]
        return out


def accuracy(records, key):
    return sum(bool(r[key]["correct"]) if key == "pre" else bool(r["types"]["human"]["post"]["correct"])
               for r in records) / len(records)  # fmt: skip


# -- probabilities -----------------------------------------------------------------------------------------------


def test_option_of_reads_a_token_as_an_option():
    assert option_of("Yes", ["yes", "no"]) == "yes"
    assert option_of(" n", ["yes", "no"]) == "no"
    assert option_of("B.", ["A", "B", "C"]) == "B"
    assert option_of("maybe", ["yes", "no"]) is None and option_of("  ", ["yes", "no"]) is None


def test_probs_from_logprobs_find_the_answer_slot_after_a_preamble():
    meta = {"logprobs": logprobs_metadata("yes", {"yes": 0.6, "Yes": 0.2, "no": 0.1, "Maybe": 0.1})}
    probs = probs_from_logprobs(meta, ["yes", "no"])
    assert probs == pytest.approx({"yes": 0.8 / 0.9, "no": 0.1 / 0.9})
    preamble = {"logprobs": {"content": [{"token": "Answer", "logprob": 0.0, "top_logprobs": []},
                                         {"token": ":", "logprob": 0.0, "top_logprobs": []},
                                         {"token": " no", "logprob": -0.1, "top_logprobs": [
                                             {"token": " no", "logprob": -0.1}, {"token": " yes", "logprob": -2.4}]}]}}
    assert probs_from_logprobs(preamble, ["yes", "no"])["no"] > 0.9
    assert probs_from_logprobs({}, ["yes", "no"]) is None


def test_option_probs_from_logprobs_is_one_call():
    double = StandInChatModel(reply_fn=lambda call: reply_with_probs("no", {"yes": 0.3, "no": 0.7}))
    probs = option_probs(get_model("teacher", model=double), [], ["yes", "no"], parse=str.strip, samples=5)
    assert probs.method == "logprobs" and probs.p("no") == pytest.approx(0.7)
    assert probs.cost.calls == 1 and len(double.calls) == 1
    assert double.calls[0].kwargs.get("logprobs") is True


def test_option_probs_sample_k_times_without_logprobs():
    double = StandInChatModel(reply_fn=lambda call: "yes" if call.kwargs.get("seed") in (1, 2) else "no")
    probs = option_probs(get_model("teacher", model=double), [], ["yes", "no"], parse=str.strip, samples=5)
    assert probs.method == "samples" and probs.samples == 5 and probs.cost.calls == 5
    assert probs.p("yes") == pytest.approx(0.4) and probs.text == "no"
    seeds = [c.kwargs.get("seed") for c in double.calls[1:]]
    assert seeds == [1, 2, 3, 4] and all(c.kwargs.get("temperature") == 1.0 for c in double.calls[1:])
    single = option_probs(get_model("teacher", model=double), [], ["yes", "no"], parse=str.strip, samples=1)
    assert single.method == "none" and single.p("yes") is None


def test_a_backend_that_refuses_logprobs_is_sampled_instead():
    def reply(call):
        if call.kwargs.get("logprobs"):
            raise ValueError("this server does not support logprobs")
        return "yes"

    model = get_model("teacher", model=StandInChatModel(model_name="refuses", reply_fn=reply))
    probs = option_probs(model, [], ["yes", "no"], parse=str.strip, samples=3)
    assert probs.method == "samples" and probs.p("yes") == 1.0


def test_stub_server_logprobs_survive_the_response_cache(tmp_path):
    from langchain_core.messages import HumanMessage

    from pedagraph.llm.cache import use_response_cache
    from pedagraph.testing.openai_stub import OpenAIStub

    with OpenAIStub(replies=["yes"], logprobs_fn=lambda body, text: {"yes": 0.75, "no": 0.25}) as stub:
        model = get_model("teacher", model="openai:stub-model", base_url=stub.base_url)
        with use_response_cache(tmp_path / "cache.sqlite"):
            first = option_probs(model, [HumanMessage("q?")], ["yes", "no"], parse=str.strip)
            again = option_probs(model, [HumanMessage("q?")], ["yes", "no"], parse=str.strip)
        assert len(stub.chat_requests) == 1 and stub.chat_requests[0].body["logprobs"] is True
    assert first.method == again.method == "logprobs"
    assert first.p("yes") == again.p("yes") == pytest.approx(0.75)


def test_parse_option_per_kind():
    yn = TeachItem(id="a", dataset="d", kind="yes_no", question="Q?", gold=True)
    assert [parse_option(yn, t) for t in ["Yes", "no.", "Answer: No, because", "maybe"]] == ["yes", "no", "no", None]
    mc = TeachItem(id="b", dataset="d", kind="choice", question="Q?", options=("red", "green", "blue"), gold=2)
    assert [parse_option(mc, t) for t in ["C", "(b)", "Answer: blue", "purple"]] == ["C", "B", "C", None]
    num = TeachItem(id="c", dataset="d", kind="number", question="Q?", gold=18.0)
    assert parse_option(num, "9 * 2 = 18\nAnswer: 18") == "18" and num.is_correct("18")
    assert mc.gold_label == "C" and mc.wrong_label() != "C" and yn.wrong_label() == "no"


def test_the_mental_model_reads_letters_for_choices_and_a_verdict_for_numbers():
    from pedagraph.learner import TeachingDemo
    from pedagraph.methods.tom.mental_model import simulate_fewshot

    demo = TeachingDemo(question="2+2?", learner_answer="5", correct=False)
    mc = TeachItem(id="b", dataset="d", kind="choice", question="Q?", options=("red", "green", "blue"), gold=1)
    double = StandInChatModel(reply_fn=lambda call: reply_with_probs("B", {"B": 0.6, "C": 0.3, "A": 0.1}))
    p, probs = simulate_fewshot(get_model("teacher", model=double), [demo], mc, None)
    assert p == pytest.approx(0.6) and "The correct answer is B" in double.calls[-1].last_user
    num = TeachItem(id="c", dataset="d", kind="number", question="3*6?", gold=18.0)
    double = StandInChatModel(reply_fn=lambda call: reply_with_probs("yes", {"yes": 0.7, "no": 0.3}))
    p, probs = simulate_fewshot(get_model("teacher", model=double), [demo], num, "Multiply.")
    prompt = double.calls[-1].last_user
    assert p == pytest.approx(0.7) and prompt.rstrip().endswith("Student answers correctly:")
    assert "Student's answer: 5 (wrong)" in prompt and "Explanation: Multiply." in prompt


def test_dataset_loaders_keep_the_human_explanations():
    from pedagraph.methods.tom.items import registry_harmful, registry_items

    sqa = registry_items("strategyqa", "test", limit=2)
    assert sqa[0].kind == "yes_no" and sqa[0].explanation.endswith(".")
    pool = len(registry_items("strategyqa", "pool"))  # the full training pool, else the bundled sample's 48
    assert pool > 2000 if data_file("strategyqa/train.json").origin != "sample" else pool == 48
    ecqa = registry_items("ecqa", "test", limit=1)[0]
    assert ecqa.kind == "choice" and len(ecqa.options) == 5 and ecqa.explanation
    gsm = registry_items("gsm8k", "test", limit=1)[0]
    assert gsm.kind == "number" and "<<" not in gsm.explanation and "####" not in gsm.explanation
    harmful = registry_harmful("strategyqa")
    assert len(harmful) == 12 and all(h.wrong_answer in ("yes", "no") for h in harmful)


# -- calibration ---------------------------------------------------------------------------------------------------


def test_calibration_fills_the_students_learner_model_and_is_reused(tmp_path):
    world = World()
    store = LearnerStore(tmp_path / "learners.sqlite")
    setup = world.setup(store=store, calibration_items=12, mm_demos=4, teacher_demos=3)
    learner = store.get("llm:student")
    assert learner.kind == "llm_student"
    mine = [d for d in learner.demos if d.session_id == setup.session]
    assert len(mine) == 36 and sum(d.with_explanation for d in mine) == 24  # unaided, human- and teacher-explained
    useful = {d.item_id for d in learner.useful_explanations()}
    assert useful and all(not world.truth.truth[i][0] and world.truth.truth[i][1] for i in useful)
    assert len(setup.mm_pre) == 4 and all(not d.with_explanation for d in setup.mm_pre)
    assert {d.learner_answer for d in setup.mm_pre} == {"yes", "no"}  # balanced by predicted label
    assert all(d.with_explanation for d in setup.mm_post) and len(setup.personalised_demos) == 3
    calls = len(world.student_double.calls)
    again = world.setup(store=store, calibration_items=12, mm_demos=4, teacher_demos=3)
    assert again.summary["reused"] and len(world.student_double.calls) == calls
    assert again.model_dump() == {**setup.model_dump(), "summary": again.summary}
    other = world.setup(seed=42, store=store, calibration_items=12)
    assert other.session != setup.session and not other.summary["reused"]


# -- intervention functions ---------------------------------------------------------------------------------------


def test_functions_rank_by_their_signal_and_budgets_count_items():
    s = [ItemSignals("a", p_pre=0.9, p_post=0.95, teacher_p=0.2),
         ItemSignals("b", p_pre=0.1, p_post=0.9, teacher_p=0.9),
         ItemSignals("c", p_pre=0.4, p_post=0.3, teacher_p=0.5)]  # fmt: skip
    assert rank_items("expected_utility", s, seed=1) == ["b", "a", "c"]
    assert rank_items("misaligned", s, seed=1) == ["c", "a", "b"]
    assert rank_items("mm_pre", s, seed=1) == ["b", "c", "a"]
    assert rank_items("mm_post", s, seed=1) == ["a", "b", "c"]
    assert rank_items("teacher_confidence", s, seed=1) == ["b", "c", "a"]
    assert sorted(rank_items("random", s, seed=1)) == ["a", "b", "c"]
    assert [budget_count(b, 10) for b in (0, 0.2, 0.25, 0.6, 1)] == [0, 2, 2, 6, 10]
    with pytest.raises(DataError):
        budget_count(1.5, 10)
    with pytest.raises(DataError):
        rank_items("psychic", s, seed=1)


def test_plan_spends_the_budget_down_the_ranking_with_the_tutors_rule():
    s = [ItemSignals(f"i{k}", p_pre=0.2, p_post=0.2 + 0.1 * k) for k in range(6)]
    plan = plan_interventions("expected_utility", s, 0.5, seed=3)
    assert [i for i, d in plan if d.explain] == ["i5", "i4", "i3"]
    assert plan[0][1].simulator == "fewshot" and plan[3][1].reason == "explanation budget used up"
    strict = plan_interventions("expected_utility", s, 0.5, seed=3, threshold=0.45)
    assert [i for i, d in strict if d.explain] == ["i5"]
    assert decide(0.2, 0.7, budget_left=1, threshold=0.15).explain  # the tutor's decision, same rule


def test_budget_0_and_1_are_no_intervention_and_always_explain_for_every_function():
    records = World(n_test=30, p_hurt=0.2).records(seeds=(41, 42))
    for seed in (41, 42):
        rs = [r for r in records if r["seed"] == seed]
        for function in set(INTERVENTION_FUNCTIONS) - {"oracle"}:  # the oracle ignores the budget
            assert episode(rs, "human", function, 0.0, seed=seed) == (accuracy(rs, "pre"), 0)
            assert episode(rs, "human", function, 1.0, seed=seed) == (accuracy(rs, "post"), 30)


def _synthetic_records(n=50, seed=0):
    rng = random.Random(seed)
    return [{"id": f"x{i}", "seed": 0, "pre": {"correct": rng.random() < 0.4},
             "types": {"human": {"post": {"correct": rng.random() < 0.8}}}} for i in range(n)]  # fmt: skip


def test_random_lies_on_the_line_between_budget_0_and_1_in_expectation():
    records = _synthetic_records()
    a0, a1 = accuracy(records, "pre"), accuracy(records, "post")
    for budget in (0.2, 0.4, 0.6, 0.8):
        mean = sum(episode(records, "human", "random", budget, seed=s)[0] for s in range(400)) / 400
        assert mean == pytest.approx(a0 + budget * (a1 - a0), abs=0.01)


def test_expected_utility_beats_random_at_low_budgets_when_the_mental_model_sees_the_student():
    world = World(n_test=40, p_pre=0.5, p_help=0.5, p_hurt=0.2)
    curves = budget_curves(world.records(), kinds=["human"], functions=["random", "expected_utility"],
                           budgets=[0.2, 0.3, 0.4])["human"]  # fmt: skip
    for eu, rnd in zip(curves["expected_utility"], curves["random"], strict=True):
        assert eu["mean"] >= rnd["mean"] + 0.05, (eu, rnd)


def test_a_misaligned_teacher_scores_below_no_intervention():
    world = World(n_test=30, p_pre=0.6, p_help=0.5)
    records = world.records(seeds=(41,), kinds=("human", "harmful"))
    harmful = [r["types"]["harmful"] for r in records]
    assert all(h["explanation"]["answer"] != r["gold"] for h, r in zip(harmful, records, strict=True))
    no_intervention = accuracy(records, "pre")
    for budget in (0.4, 1.0):
        assert episode(records, "harmful", "misaligned", budget, seed=41)[0] < no_intervention


def test_gold_probability_shows_a_shift_that_no_answer_shows():
    from pedagraph.methods.tom.curves import gold_probability

    records = [{"gold": "yes", "pre": {"label": "no", "confidence": 0.9},
                "types": {"human": {"post": {"label": "no", "confidence": 0.7}}}},
               {"gold": "no", "pre": {"label": "no", "p_gold": 0.8, "confidence": 0.8},
                "types": {"human": {"post": {"label": "no", "p_gold": 0.9}}}},
               {"gold": "no", "pre": {"label": "no"}, "types": {"human": {"post": {"label": "no"}}}}]  # fmt: skip
    assert gold_probability(records, "human") == {"n": 2, "pre": pytest.approx(0.45), "post": pytest.approx(0.6)}


def test_function_costs_count_what_ranking_needs():
    world = World(n_test=10)
    costs = function_costs(world.records(seeds=(41,), kinds=("personalised",)), kind="personalised",
                           functions=list(DEPLOYABLE))  # fmt: skip
    assert costs["random"]["decide"]["calls"] == 0 and costs["random"]["explain"]["calls"] == 2
    assert costs["mm_pre"]["decide"]["calls"] == 1
    assert costs["expected_utility"]["decide"]["calls"] == 3  # explain every item + two simulations
    assert costs["expected_utility"]["explain"]["calls"] == 1  # the explanation is already paid for


# -- the graph ------------------------------------------------------------------------------------------------------


def test_graph_teaches_one_item_from_python(tmp_path):
    from pedagraph.graphs.tom_teacher import Context, build_graph

    world = World()
    store = LearnerStore(tmp_path / "learners.sqlite")
    graph = build_graph(learners=store)
    item = world.test[0]
    out = graph.invoke({"items": world.dumps([item]), "pool": world.dumps(world.pool)},
                       context=Context(student_model=world.student, teacher_model=world.teacher, budget=1.0,
                                       explanation="personalised", calibration_items=8))  # fmt: skip
    result = out["result"]
    assert result["items"] == 1 and result["explained"] == 1
    assert result["per_item"][0]["correct"] == world.truth.truth[item.id][1]
    assert out["plan"][0]["explain"] and out["setup"]["learner_id"] == "llm:stand-in:StandInChatModel"
    assert store.get(out["setup"]["learner_id"]).kind == "llm_student"


def test_graph_scores_in_parallel_and_asks_only_what_the_function_needs(tmp_path):
    from pedagraph.graphs.tom_teacher import Context, build_graph

    world = World(n_test=20)
    graph = build_graph(learners=LearnerStore(tmp_path / "learners.sqlite"))
    state = {"items": world.dumps(world.test), "pool": world.dumps(world.pool)}
    context = Context(student_model=world.student, teacher_model=world.teacher, budget=0.25, function="random",
                      explanation="human", calibration_items=6)  # fmt: skip
    before = len(world.student_double.calls)
    out = graph.invoke(state, context=context)
    assert out["result"]["explained"] == 5 and len(out["scores"]) == 20
    assert not any(c.last_user.startswith("You are predicting") for c in world.teacher_double.calls)
    assert len(world.student_double.calls) - before == 18 + 20  # calibration (3 per item), one answer per item
    eu = graph.invoke({**state, "setup": out["setup"]}, context=Context(**{**context.__dict__,
                                                                            "function": "expected_utility"}))
    assert eu["result"]["accuracy"] >= out["result"]["accuracy"]
    assert sum(c.last_user.startswith("You are predicting") for c in world.teacher_double.calls) == 40


def test_graph_runs_offline_on_the_scripted_models(tmp_path):
    from pedagraph.graphs.tom_teacher import Context, build_graph

    world = World(n_test=4, n_pool=6)
    graph = build_graph(learners=LearnerStore(tmp_path / "learners.sqlite"))
    out = graph.invoke({"items": world.dumps(world.test), "pool": world.dumps(world.pool)},
                       context=Context(budget=0.5, explanation="personalised", calibration_items=2, measure=True,
                                       measure_explanations=["personalised", "harmful"]))  # fmt: skip
    record = out["scores"][0]
    assert record["types"]["personalised"]["explanation"]["source"] == "template"
    assert "p_pre" not in record  # a scripted teacher has no mental model
    assert out["result"]["items"] == 4


def test_graph_refuses_an_unknown_function():
    from pedagraph.graphs.tom_teacher import Context, build_graph

    graph = build_graph()  # the full state (the served `graph` shows a learner-facing view)

    with pytest.raises(DataError, match="psychic"):
        graph.invoke({"items": World(n_test=1).dumps(synthetic_items(1))}, context=Context(function="psychic"))


# -- the suite -------------------------------------------------------------------------------------------------------


def _write_strategyqa(items, path):
    rows = [{"qid": i.id, "question": i.question, "answer": i.gold, "facts": [i.explanation]} for i in items]
    path.write_text(json.dumps(rows))
    return path


def test_tom_suite_writes_the_curves_and_a_resumed_sweep_redoes_nothing(tmp_path, data_file):
    from pedagraph.evals.runner import RunConfig, get_suite, run_suite_sync

    world = World(n_test=16, n_pool=20, p_hurt=0.1)
    data = _write_strategyqa(world.test, tmp_path / "test.json")
    pool = _write_strategyqa(world.pool, tmp_path / "pool.json")
    harmful = data_file("strategyqa/harmful_explanations.json").path  # --data's companions go beside it
    shutil.copy(harmful, tmp_path / "harmful_explanations.json")
    options = {"pool": str(pool), "seeds": "41,42", "explanations": "human,harmful", "calibration_items": 6,
               "multiturn": "0,2", "functions": "random,expected_utility,oracle,misaligned"}  # fmt: skip
    models = {"student": {"model": world.student_double}, "teacher": {"model": world.teacher_double}}
    config = RunConfig(out_dir=tmp_path / "run", data_path=data, models=models, concurrency=4)
    result = run_suite_sync(get_suite("tom")(options), config, progress=False)
    assert result.ok == 16 and result.errors == 0
    metrics = json.loads(result.summary_path.read_text())["metrics"]
    assert metrics["acc[human|random|0]"]["value"] == metrics["acc[human|expected_utility|0]"]["value"]
    oracle = {metrics[f"acc[human|oracle|{b:g}]"]["value"] for b in (0, 0.2, 0.4, 0.6, 0.8, 1)}
    assert len(oracle) == 1 and oracle.pop() >= metrics["acc[human|random|1]"]["value"]  # ignores the budget
    assert metrics["oracle_explained"] == pytest.approx(1 - metrics["acc[human|random|0]"]["value"])
    assert metrics["methods"]["mm_pre"] == {"logprobs": 32}
    assert metrics["p_gold"]["human"]["n"] == 0  # the known student states answers without probabilities
    assert set(metrics["multiturn"]) == {"teacher", "none", "human"}
    assert [p["explained_demos"] for p in metrics["multiturn"]["none"]] == [0, 2]
    assert "multiturn[none|2]" in metrics and "multiturn[human|2]" in metrics
    report = result.report_path.read_text()
    assert "### Student accuracy against budget (human explanations)" in report and "expected utility (ToM)" in report
    assert "### Cost per item" in report and "### Calibration" in report
    assert "| demos | teacher-explained | unexplained (control) | human-explained |" in report
    assert "oracle: where the student is wrong, any budget (ref., reads the student)" in report
    for png in ("budget_human.png", "budget_harmful.png", "explanation_types.png", "multiturn.png"):
        assert (tmp_path / "run" / png).stat().st_size > 1000
    calls = len(world.student_double.calls) + len(world.teacher_double.calls)
    again = run_suite_sync(get_suite("tom")(options), config, progress=False)
    assert again.ran == 0 and again.skipped == 16
    assert len(world.student_double.calls) + len(world.teacher_double.calls) == calls


def test_eval_tom_from_the_command_line_with_suite_flags(tmp_path):
    from pedagraph.cli import app

    out = tmp_path / "run"
    args = ["eval", "tom", "--dataset", "strategyqa", "--budgets", "0,0.5,1", "--functions", "random,mm_pre",
            "--seeds", "41", "--limit", "3", "--option", "calibration_items=2", "--option", "multiturn=",
            "--option", "samples=1", "--out", str(out), "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    run = json.loads((out / "run.json").read_text())
    assert run["options"]["budgets"] == "0,0.5,1" and run["data"]["path"].endswith("strategyqa/dev.json")
    assert "acc[human|mm_pre|0.5]" in json.loads((out / "summary.json").read_text())["metrics"]
    bad = CliRunner().invoke(app, ["eval", "tom", "--functions", "psychic", "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "psychic" in str(bad.exception or bad.output)


# -- the app tab -------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_app_tab_runs_a_sweep_through_gradio_client(tmp_path):
    import gradio as gr
    from gradio_client import Client
    from pedagraph.ui.tom_tab import build_tom_tab

    from pedagraph.testing.apps import launch_with_login, teacher_login

    with gr.Blocks() as demo:
        build_tom_tab()
    url = launch_with_login(demo)
    try:
        client = Client(url, auth=teacher_login(), verbose=False)
        job = client.submit("scripted", "scripted", "strategyqa", 0, 3, 0.4, "human", ["random", "expected_utility"],
                            "41", 2, api_name="/tom_sweep")  # fmt: skip
        plot, table, status = job.result(timeout=240)
        assert Path(plot).is_file() and '<span title="random">at random</span>' in table and "scripted model" in status
    finally:
        demo.close()


# -- the tiny real model -------------------------------------------------------------------------------------------


@pytest.mark.real_model
def test_the_tiny_model_gives_first_token_probabilities():
    from langchain_core.messages import HumanMessage

    from pedagraph.llm.tiny import TINY_INSTALL, find_tiny_gguf

    if find_tiny_gguf() is None:
        pytest.skip(f"the tiny model is not installed ({TINY_INSTALL})")
    item = TeachItem(id="t", dataset="d", kind="yes_no", question="Is Paris the capital of France?", gold=True)
    from pedagraph.methods.tom.calls import answer_prompt

    model = get_model("student", model="tiny")
    probs = option_probs(model, [HumanMessage(answer_prompt(item, [], None))], item.labels,
                         parse=lambda text: parse_option(item, text), max_tokens=3)  # fmt: skip
    assert probs.method == "logprobs" and probs.cost.calls == 1
    assert sum(probs.probs.values()) == pytest.approx(1.0) and set(probs.probs) == {"yes", "no"}
    assert parse_option(item, probs.text) == probs.top()  # greedy decoding says the most probable option


def test_the_tab_says_when_every_function_ties_instead_of_naming_a_winner(tmp_path):
    from pedagraph.ui.tom_tab import run_sweep, sweep_outputs

    functions = ["random", "expected_utility"]
    records = run_sweep("scripted", "scripted", "strategyqa", 0, 3, "human", [41], 2, functions=functions)
    _, text = sweep_outputs(records, "human", functions, 0.4, "strategyqa[0:3]: scripted teaches scripted", tmp_path)
    head = text.splitlines()[0]
    assert head == "At budget **0.4**, all functions tie at 0.000: the scripted student never changes its answer."
    assert "best function" not in text


def test_the_tab_says_when_its_items_come_from_the_bundled_sample(data_file):
    from pedagraph.ui.tom_tab import _sweep

    *_, (plot, table, status) = _sweep("scripted", "scripted", "strategyqa", 0, 2, 0.4, "human", ["random"], "41", 2,
                                       progress=lambda *a, **k: None)  # fmt: skip
    sample = data_file("strategyqa/dev.json").origin == "sample"
    assert status.startswith("Done: 2 item scores.") and plot
    assert ("The StrategyQA items come from the small sample shipped with pedagraph (its first 40 rows)" in status) \
        == sample, status
    assert "pedagraph data" not in status


def test_the_tab_never_names_a_reference_the_best_choice():
    """References read the student's real answers: the tab's headline picks among the deployable functions."""
    from pedagraph.ui.tom_tab import FUNCTION_WORDS, _worded

    from pedagraph.methods.tom.mental_model import INTERVENTION_FUNCTIONS

    assert set(FUNCTION_WORDS) == set(INTERVENTION_FUNCTIONS)  # every function has a teacher's wording
    assert 'title="expected_utility"' in _worded("expected_utility")


@pytest.mark.parametrize("means", [{"oracle": 0.9, "expected_utility": 0.7, "random": 0.5},
                                   {"true_utility": 0.8, "random": 0.6, "expected_utility": 0.6}])
def test_the_headline_picks_among_deployable_functions_and_names_references_apart(tmp_path, monkeypatch, means):
    """A reference that beats every function is reported as a reference, never as the best choice."""
    from pedagraph.ui import tom_tab

    from pedagraph.methods.tom import curves
    from pedagraph.methods.tom.mental_model import DEPLOYABLE, REFERENCES

    fake = {f: [{"budget": b, "mean": m, "se": 0.0} for b in (*tom_tab.BUDGETS, 0.4)] for f, m in means.items()}
    monkeypatch.setattr(curves, "budget_curves", lambda *a, **k: {"human": fake})
    _, text = tom_tab.sweep_outputs([], "human", list(means), 0.4, "t", tmp_path)
    head = text.splitlines()[0]
    deployable = {f: m for f, m in means.items() if f in DEPLOYABLE}
    top = max(deployable.values())
    for f, m in deployable.items():
        assert (tom_tab._worded(f) in head.split(" The references")[0]) == (m == top), (f, head)
    (ref,) = [f for f in means if f in REFERENCES]
    assert f"reach {means[ref]:.3f} ({tom_tab._worded(ref)})" in head
