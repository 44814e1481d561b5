"""CoPilot as outcome policies: the copilot graph's replies with expert, model, random or no Bridge decisions.

The `copilot` graph (Tutor CoPilot on Bridge's decision model: error -> strategy -> intention -> reply) runs with the
simulated learner as its student; the policy plays the human tutor at each `await_tutor` interrupt, through the
same choices a person has (send, regenerate with a chosen strategy, write their own words). The decision source
is the condition of Bridge's ablation (Wang et al., NAACL 2024):

* `model` — the graph's own decisions (`decisions="bridge"`): a real teacher's three structured decisions, each
  checked by the rules against the verdict (an invalid one replaced); with the offline scripted teacher they are
  the rules' decisions (the tutor's policy move). The suggestion is sent as it is.
* `expert` — the decisions an expert makes knowing the learner's error: on a wrong answer, the learner's known
  error type (its MathDial profile's, `learner.PROFILE_KINDS`) and the strategy and intention Bridge's experts
  chose most often for that error (`EXPERT_BY_ERROR`); on a right answer, affirm; on an ungraded turn, the rules'.
* `random` — an error, a strategy and an intention drawn uniformly among those valid for the verdict
  (`bridge.check_decisions`), from a generator seeded by (seed, learner, problem).
* `none` — a reply written with no decision: a real teacher's `copilot/bridge_respond` without decisions (the
  paper's `none` condition); offline a neutral prompt to go on (`prompts/outcomes/no_decision.md`).

A chosen strategy reaches the reply through the copilot's "another one, with this strategy" (`regenerate`): a real
teacher words the move with it; offline the deterministic copilot takes the first other move with that strategy
(other wordings, the next ladder rungs, a probe), and when none has it, another wording of the same move — the
episode records whether the strategy was met. Every learner turn's decisions and who made each (`model`, `rules`,
`replaced`, `expert`, `random`, `none`) are logged in the episode (`decisions`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from pedagraph.outcomes.learner import PROFILE_KINDS, profile_kind
from pedagraph.outcomes.policies import Episode, Policy, PolicyEnv, dialogue_episode, register_policy
from pedagraph.problems import Problem, steps_of

__all__ = ["CONDITIONS", "EXPERT_BY_ERROR", "CopilotPolicy", "expert_decisions", "known_error", "random_valid"]

CONDITIONS = ("expert", "model", "random", "none")

EXPERT_BY_ERROR: dict[str, tuple[str, str]] = {
    "guess": ("explain_concept", "understand_topic"),
    "diagnose": ("ask_question", "elaborate_answer"),
    "careless": ("ask_question", "hint_mistake"),
    "right_idea": ("explain_concept", "understand_topic"),
    "misinterpret": ("ask_question", "clarify_misunderstanding"),
    "imprecise": ("ask_question", "elaborate_answer"),
}
"""Error type -> (strategy, intention) Bridge's experts chose most often for it on a wrong answer (train.json, 419
rows: the most frequent pair among the coded rows that `check_decisions` accepts on a wrong answer without
reveal). `tests/test_outcomes_policies.py` recounts it when the full Bridge training split is at hand."""
_AFFIRM = {"error": "no_error", "strategy": "affirm_correct_answer", "intention": "signal_goal"}


def known_error(learner: Any) -> str:
    """The learner's error type as its profile sets it (Bridge's label; the same for offline and LLM learners)."""
    misconceptions = getattr(learner, "misconceptions", None) or []
    if misconceptions:
        return str(misconceptions[0].error_type)
    profile = getattr(getattr(learner, "profile", None), "profile", "")
    return PROFILE_KINDS[profile_kind(profile)][2]


def expert_decisions(verdict: str | None, error: str) -> dict[str, str] | None:
    """The expert's decisions for a turn: from the known error on a wrong answer, affirm on a right one, else None."""
    if verdict == "correct":
        return dict(_AFFIRM)
    if verdict != "incorrect":
        return None
    strategy, intention = EXPERT_BY_ERROR.get(error, EXPERT_BY_ERROR["diagnose"])
    return {"error": error, "strategy": strategy, "intention": intention}


def random_valid(rng: random.Random, verdict: str | None) -> dict[str, str]:
    """An error, a strategy and an intention drawn uniformly among those valid for the verdict (no reveal)."""
    from pedagraph.methods.copilot.bridge import ERROR_LABELS, check_decisions
    from pedagraph.taxonomy import Intention, Strategy

    def pick(step: str, values: list[str]) -> str:
        valid = [v for v in values if v != "other" and check_decisions(step, v, verdict=verdict) is None]
        return rng.choice(valid)

    return {"error": pick("error", list(ERROR_LABELS)), "strategy": pick("strategy", [s.value for s in Strategy]),
            "intention": pick("intention", [i.value for i in Intention])}  # fmt: skip


def _no_decision_reply(problem: Problem, state: dict[str, Any], teacher: Any, rng: random.Random) -> tuple[str, str]:
    """(reply, source): a real teacher's reply written without decisions, else the neutral prompt to go on."""
    from langchain_core.messages import HumanMessage

    from pedagraph.llm import ManagedChatModel, get_model
    from pedagraph.messages import message_text
    from pedagraph.methods.copilot.bridge import write_response
    from pedagraph.methods.tutor.replies import variants

    if teacher is not None and not isinstance(teacher, ManagedChatModel):
        teacher = get_model("teacher", model=teacher)  # a model object or spec, as the graphs' contexts take it
    if teacher is not None and not teacher.is_scripted:
        step = steps_of(problem)[min(int(state.get("step_index", 0) or 0), len(steps_of(problem)) - 1)]
        messages = state.get("messages", [])[int(state.get("problem_start", 0) or 0):]
        who = {True: "student", False: "tutor"}
        lines = "\n".join(f"{who[isinstance(m, HumanMessage)]}: {' '.join(message_text(m).split())}"
                          for m in messages[-12:])  # fmt: skip
        text = write_response(teacher, topic=f"{problem.question}\nCurrent step: {step.question}", conversation=lines,
                              decisions=None)  # fmt: skip
        if text:
            return text, "model"
    return rng.choice(variants("outcomes/no_decision")), "template"


@dataclass
class CopilotPolicy:
    """The copilot graph with the simulated learner as its student and one decision source (module docstring)."""

    name: str
    decisions: str = "model"

    def run(self, problem: Problem, learner: Any, env: PolicyEnv) -> Episode:
        """One copilot dialogue on the practice problem, the policy choosing as the human tutor would."""
        from langgraph.checkpoint.memory import InMemorySaver
        from langgraph.types import Command

        from pedagraph.graphs.copilot import Context, build_graph
        from pedagraph.taxonomy import Diagnosis

        context = Context(
            learner_id=env.learner_id, student_mode="simulated", reveal_policy="never", max_turns=env.max_turns,
            student_persona=getattr(learner, "persona", ""), teacher_model=env.models.get("teacher"),
            evaluator_model=env.models.get("evaluator"), student_model=env.models.get("student"),
            student_simulator=learner.simulator(env.rng), decisions="bridge",
        )  # fmt: skip
        graph = build_graph(checkpointer=InMemorySaver())
        config = {"configurable": {"thread_id": f"outcomes-copilot-{env.learner_id}-{problem.id}"},
                  "recursion_limit": 40 + 12 * env.max_turns}  # fmt: skip
        rng = random.Random(f"{env.seed_key}:{problem.id}:copilot-{self.decisions}")
        error = known_error(learner)
        log: list[dict[str, Any]] = []
        fallbacks = 0
        out = graph.invoke({"problem_data": problem.model_dump(mode="json")}, config, context=context)
        while "__interrupt__" in out:
            asked = out["__interrupt__"][0].value
            suggestion = asked.get("suggestion") or {}
            labels = suggestion.get("labels") or {}
            if asked.get("type") != "await_tutor":
                break
            if asked.get("warning"):  # our own words were refused: send the suggestion, which passed the gate
                fallbacks += 1
                choice: dict[str, Any] = {"action": "send"}
            elif suggestion.get("n", 1) > 1:  # the suggestion asked for with the chosen strategy
                if log:
                    log[-1]["met"] = bool(suggestion.get("strategy_met"))
                    log[-1]["sent_strategy"] = labels.get("strategy")
                choice = {"action": "send"}
            elif labels.get("kind") == "open":  # the opener answers no learner turn: nothing to decide
                choice = {"action": "send"}
            else:
                state = graph.get_state(config).values
                diagnosis = Diagnosis.of(state.get("last_diagnosis")) or Diagnosis()
                choice, entry = self._decide(diagnosis, labels, state, problem, error, rng, env)
                log.append({"turn": suggestion.get("turn"), "verdict": diagnosis.verdict, **entry})
            out = graph.invoke(Command(resume=choice), config, context=context)
        return dialogue_episode(out, problem, learner, env, extra={
            "decisions": log, "decision_source": self.decisions, "fallbacks": fallbacks,
            "regenerated": sum(1 for e in log if e.get("asked")),
        })  # fmt: skip

    def _decide(self, diagnosis: Any, labels: dict[str, Any], state: dict[str, Any], problem: Problem, error: str,
                rng: random.Random, env: PolicyEnv) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
        """The tutor's choice on a fresh suggestion and the turn's decision record."""
        error_type = labels.get("error_type")
        own = {"error": "no_error" if error_type == "none" else error_type, "strategy": labels.get("strategy"),
               "intention": labels.get("intention")}  # fmt: skip
        bridge = ((state.get("last_plan") or {}).get("decisions") or {}).get("bridge") or {}
        replaced, by = bridge.get("replaced") or {}, bridge.get("by") or {}
        graph_by = {step: "replaced" if step in replaced else by.get(step, "rules") for step in own}
        if self.decisions == "none":
            text, source = _no_decision_reply(problem, state, env.models.get("teacher"), rng)
            entry = {"error": None, "strategy": None, "intention": None, "by": dict.fromkeys(own, "none"),
                     "reply": source, "met": True, "sent_strategy": None}  # fmt: skip
            return {"action": "own", "text": text}, entry
        verdict = diagnosis.verdict if diagnosis.graded else None
        if self.decisions == "expert":
            wanted = expert_decisions(verdict, error)
        elif self.decisions == "random":
            wanted = random_valid(rng, verdict)
        else:
            wanted = None
        if wanted is None:  # the graph's own decisions (model condition, or an ungraded turn)
            entry = {**own, "by": graph_by, "met": True, "sent_strategy": own["strategy"]}
            return {"action": "send"}, entry
        entry = {**wanted, "by": dict.fromkeys(wanted, self.decisions), "met": wanted["strategy"] == own["strategy"],
                 "sent_strategy": own["strategy"]}  # fmt: skip
        if entry["met"]:
            return {"action": "send"}, entry
        entry["asked"] = True
        return {"action": "regenerate", "strategy": wanted["strategy"]}, entry


def _copilot(decisions: str) -> Any:
    def factory(options: dict[str, Any]) -> Policy:
        return CopilotPolicy(name=f"copilot_{decisions}", decisions=decisions)

    return factory


_DESCRIPTIONS = {
    "expert": "CoPilot (Bridge) with the expert's decisions from the learner's known error",
    "model": "CoPilot (Bridge) with the teacher's own checked decisions (offline: the rules')",
    "random": "CoPilot (Bridge) with uniformly drawn valid decisions (seeded)",
    "none": "CoPilot (Bridge) replies written with no decision",
}
for _condition in CONDITIONS:
    register_policy(f"copilot_{_condition}", _DESCRIPTIONS[_condition])(_copilot(_condition))
