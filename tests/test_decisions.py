"""Model-made decisions, rules as checker: Bridge's three steps in the copilot, the CLASS turn in the tutor.

The OpenAI stub answers the structured decisions over HTTP; each decision must reach the reply prompt and the
turn's trace; an invalid one (against the deterministic verdict) is replaced by the rule's and counted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from pedagraph.llm.usage import track_usage
from pedagraph.methods.copilot.bridge import check_decisions
from pedagraph.methods.tutor.decisions import ClassTurn, check_class_turn
from pedagraph.taxonomy import StudentResponse, SubproblemState, TutorAction, TutorMove

PID = "gsm8k-sample-1"
WRONG = "7001"


def cfg(thread: str) -> dict:
    return {"configurable": {"thread_id": thread}}


def schema_of(body: dict) -> str | None:
    fmt = body.get("response_format") or {}
    return (fmt.get("json_schema") or {}).get("name")


def stub_env(monkeypatch, stub):
    monkeypatch.setenv("PEDAGRAPH_MODEL", "openai:stub-model")
    monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")


def prompts(stub) -> list[str]:
    return [str(r.body["messages"][0].get("content", "")) for r in stub.chat_requests if not schema_of(r.body)]


@pytest.mark.parametrize(("strategy", "replaced"), [("provide_similar_problem", False),
                                                    ("affirm_correct_answer", True)])  # fmt: skip
def test_copilot_bridge_steps_reach_the_suggestion_and_the_trace(monkeypatch, strategy, replaced):
    from pedagraph.graphs.copilot import Context, build_graph

    from pedagraph.testing.openai_stub import OpenAIStub

    want = "ask_question" if replaced else strategy  # the policy's probe on a first wrong answer replaces it

    def reply(body):
        name = schema_of(body)
        if name == "ErrorDecision":
            return {"error": "careless", "reason": "a slip"}
        if name == "StrategyDecision":
            assert "The student's error: careless" in body["messages"][0]["content"]  # B is given A
            return {"strategy": strategy, "reason": "r"}
        if name == "IntentionDecision":
            assert f"The strategy of the next message: {want}" in body["messages"][0]["content"]  # C: A, B checked
            return {"intention": "support_thinking", "reason": "r"}
        if name:
            return None
        return "What did you do with the eggs she ate for breakfast?"

    with OpenAIStub(reply_fn=reply) as stub, track_usage() as usage:
        stub_env(monkeypatch, stub)
        graph, context = build_graph(checkpointer=InMemorySaver()), Context(learner_id=f"dec-{strategy}")
        graph.invoke({"problem_id": PID}, cfg("d"), context=context)
        graph.invoke(Command(resume={"action": "send"}), cfg("d"), context=context)
        out = graph.invoke(Command(resume=WRONG), cfg("d"), context=context)
        labels = out["__interrupt__"][0].value["suggestion"]["labels"]
        suggest_prompt = [p for p in prompts(stub) if "An expert's decision for this turn" in p][-1]
        out = graph.invoke(Command(resume={"action": "send"}), cfg("d"), context=context)
    assert (labels["error_type"], labels["strategy"], labels["intention"]) == ("careless", want, "support_thinking")
    assert f"- strategy: {want}" in suggest_prompt and "- error type: careless" in suggest_prompt
    bridge = out["turns"][-1]["plan"]["decisions"]["bridge"]
    assert bridge["values"]["strategy"] == want and bridge["by"]["error"] == "model"
    assert bridge["by"]["strategy"] == ("rules" if replaced else "model")
    assert ("strategy" in bridge["replaced"]) is replaced and "affirms a wrong answer" in bridge["replaced"].get(
        "strategy", "affirms a wrong answer")
    counts = usage.decision_rows()["bridge.strategy"]
    assert counts["replaced"] == int(replaced) and counts["model"] == int(not replaced)


def test_tutor_class_turn_valid_fields_are_adopted_invalid_ones_replaced(monkeypatch):
    from pedagraph.graphs.tutor import Context, build_graph

    from pedagraph.testing.openai_stub import OpenAIStub

    def reply(body):
        name = schema_of(body)
        if name == "ClassTurn":  # claims the wrong answer is right and that the step is finished: both invalid
            return {"evaluation": "b", "action": "1", "subproblem_state": "y", "focus": "Look at the eggs eaten."}
        if name:
            return None
        return "Let's look again at how many eggs are left after breakfast."

    with OpenAIStub(reply_fn=reply) as stub, track_usage() as usage:
        stub_env(monkeypatch, stub)
        graph, context = build_graph(checkpointer=InMemorySaver()), Context(learner_id="class-dec")
        graph.invoke({"problem_id": PID}, cfg("c"), context=context)
        out = graph.invoke(Command(resume=WRONG), cfg("c"), context=context)
        respond = [p for p in prompts(stub) if "Never state the final answer" in p][-1]
    decided = out["turns"][-1]["plan"]["decisions"]["class"]
    assert decided["values"] == {"evaluation": "a", "action": "1", "subproblem_state": "x"}
    assert decided["by"] == {"evaluation": "replaced", "action": "model", "subproblem_state": "replaced"}
    assert "against the verdict's a" in decided["replaced"]["evaluation"]
    assert out["step_index"] == 0 and out["turns"][-1]["plan"]["focus"] == "Look at the eggs eaten."
    assert "Look at the eggs eaten." in respond  # the model's focus reaches the reply prompt
    rows = usage.decision_rows()
    assert rows["class.evaluation"]["replaced"] == 1 and rows["class.action"]["model"] == 1


def _move(category: StudentResponse, action: TutorAction, state=SubproblemState.IN_PROGRESS, reveal=False):
    return TutorMove.make("probe", category, 0, "t", action=action, sub_state=state, reveal=reveal)


@pytest.mark.parametrize(("rule", "turn", "bad"), [
    (_move(StudentResponse.INCORRECT, TutorAction.FLAG_MISTAKE_HINT), ("a", "1", "x"), set()),
    (_move(StudentResponse.INCORRECT, TutorAction.FLAG_MISTAKE_HINT), ("a", "2", "x"), {"action"}),  # no reveal
    (_move(StudentResponse.INCORRECT, TutorAction.FLAG_MISTAKE_HINT, reveal=True), ("a", "2", "x"), set()),
    (_move(StudentResponse.INCORRECT, TutorAction.FLAG_MISTAKE_HINT), ("b", "3", "y"),
     {"evaluation", "action", "subproblem_state"}),
    (_move(StudentResponse.AMBIGUOUS, TutorAction.ASK_CLARIFY), ("e", "7", "x"), set()),  # ungraded: model's call
    (_move(StudentResponse.AMBIGUOUS, TutorAction.ASK_CLARIFY), ("a", "1", "x"), {"evaluation", "action"}),
    (_move(StudentResponse.INQUIRY, TutorAction.HINT_ON_REQUEST), ("f", "9", "x"), {"action"}),
])  # fmt: skip
def test_class_turn_checks(rule, turn, bad):
    t = ClassTurn(evaluation=turn[0], action=turn[1], subproblem_state=turn[2])
    assert set(check_class_turn(t, rule)) == bad


def test_bridge_checks_follow_the_verdict():
    assert check_decisions("error", "no_error", verdict="incorrect")
    assert check_decisions("error", "careless", verdict="correct")
    assert check_decisions("strategy", "affirm_correct_answer", verdict="incorrect")
    assert check_decisions("strategy", "provide_correction", verdict="incorrect", reveal=False)
    assert check_decisions("strategy", "provide_correction", verdict="incorrect", reveal=True) is None
    assert check_decisions("intention", "correct_mistake", verdict="correct")
    assert check_decisions("strategy", "affirm_correct_answer", verdict=None) is None  # ungraded: the model's call


def test_scripted_suites_count_every_decision_as_the_rules(tmp_path):
    from pedagraph.evals.runner import RunConfig, get_suite, run_suite_sync

    bundled = Path(__file__).resolve().parents[1] / "pedagraph" / "data" / "problems" / "gsm8k_sample.jsonl"
    problems = tmp_path / "p.jsonl"
    problems.write_text(bundled.read_text().splitlines()[0] + "\n")
    result = run_suite_sync(get_suite("tutoring")({}), RunConfig(out_dir=tmp_path / "o", data_path=problems,
                                                                 cache=False), progress=False)  # fmt: skip
    decisions = result.summary["decisions"]
    assert decisions["rules_share"] == 1.0 and decisions["total"]["model"] == 0
    assert decisions["per_kind"]["class.action"]["rules"] > 0
    assert "Decisions: 0 by the model" in result.report_path.read_text()
