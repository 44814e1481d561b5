"""Interventions between the pre-test and the post-test, in one registry every method plugs into.

A policy gets the practice problem, the simulated learner and a `PolicyEnv` (the run's models, budgets, the
learner's id in the shared learner model) and returns an `Episode`: the replies the learner read, what it said,
and the help spent. The learner learns only from the replies (see `outcomes.learner`).

Shipped policies (`POLICIES`):

* `none` — no intervention: the learner meets the post-test after the pre-test;
* `tell` — "tell the answer at once": a single reply holding the final answer and the whole worked solution;
* `tutor` — the `tutor` graph (CLASS scaffolding, hint ladder, reveal gate) with its Theory-of-Mind worked
  explanations (budget `explanation_budget`, default 3), the learner as its simulated student;
* `tutor_no_tom` — the same tutor with no worked explanations (budget 0);
* `lesson` — an EduPlanner lesson on the practice problem's skills (the planner's draft plan: knowledge points,
  the practice problem as a worked example, an exercise), read once; compare it with `none`;
* `tutor_library` — `tutor` whose teacher reads a distilled strategy library (`TutoringContext.strategies`;
  option `library`, else the library the suite builds with `strategy_distill` on scenarios disjoint from the
  outcome items); only a real teacher reads strategies, so offline it is `tutor`;
* `copilot_expert`, `copilot_model`, `copilot_random`, `copilot_none` — the copilot graph with Bridge decisions
  from each source (`outcomes.copilot`).

A method adds itself with `register_policy(name, description)(factory)`, where `factory(options) -> Policy`.
`policy_names()` lists them; an unknown name is a one-line DataError.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from langchain_core.messages import AIMessage, HumanMessage

from pedagraph.errors import DataError
from pedagraph.outcomes.features import count_tokens, read_reply
from pedagraph.problems import Problem, steps_of
from pedagraph.prompts import render

__all__ = [
    "LIBRARY",
    "POLICIES",
    "Episode",
    "Policy",
    "PolicyEnv",
    "dialogue_episode",
    "get_policy",
    "policy_names",
    "register_policy",
]

LIBRARY = "outcomes"
"""The strategy library `tutor_library` reads when the run gives no `library` option (the suite builds it)."""


@dataclass
class PolicyEnv:
    """What a policy may use: the run's models (by role), the learner's id, budgets and a seeded generator."""

    learner_id: str
    rng: Any
    models: dict[str, Any] = field(default_factory=dict)
    max_turns: int = 8
    options: dict[str, Any] = field(default_factory=dict)
    seed_key: str = ""
    """(seed, learner) of the run: policies seed their own draws from it (`run_learner` sets it)."""
    memory: Any = None
    """The memory the tutor retrieves a strategy library from (None: the default one)."""


@dataclass
class Episode:
    """One intervention on one practice problem: replies read, learner messages, help spent, telling."""

    replies: list[str] = field(default_factory=list)
    learner: list[str] = field(default_factory=list)
    explanations: int = 0
    told: bool = False
    solved: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def turns(self) -> int:
        """Replies the learner read."""
        return len(self.replies)

    @property
    def tokens(self) -> int:
        """Word pieces of the replies (`features.count_tokens`: the same count for every policy and model)."""
        return sum(count_tokens(r) for r in self.replies)

    def dump(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"turns": self.turns, "tokens": self.tokens, "explanations": self.explanations, "told": self.told,
                "solved": self.solved, "replies": self.replies, "learner": self.learner, **self.extra}  # fmt: skip


class Policy(Protocol):
    """An intervention: `run(problem, learner, env) -> Episode`."""

    name: str

    def run(self, problem: Problem, learner: Any, env: PolicyEnv) -> Episode:
        """Teach `learner` on `problem`."""
        ...


@dataclass(frozen=True)
class PolicySpec:
    """A registered policy: its factory and a one-line description."""

    name: str
    description: str
    factory: Callable[[dict[str, Any]], Policy]


POLICIES: dict[str, PolicySpec] = {}


def register_policy(name: str, description: str) -> Callable[[Callable[[dict[str, Any]], Policy]], Any]:
    """Decorator: register `factory(options) -> Policy` under `name`."""

    def add(factory: Callable[[dict[str, Any]], Policy]) -> Callable[[dict[str, Any]], Policy]:
        POLICIES[name] = PolicySpec(name, description, factory)
        return factory

    return add


def policy_names() -> list[str]:
    """The registered policy names, in registration order."""
    return list(POLICIES)


def get_policy(name: str, options: dict[str, Any] | None = None) -> Policy:
    """The policy called `name` (a one-line DataError listing the others otherwise)."""
    spec = POLICIES.get(name.strip())
    if spec is None:
        raise DataError(f"outcomes: unknown policy {name!r}", hint=f"one of: {', '.join(POLICIES)}")
    return spec.factory(dict(options or {}))


# ------------------------------------------------------------------------------------------------ shipped


@dataclass
class NoIntervention:
    """Nothing between the tests."""

    name: str = "none"

    def run(self, problem: Problem, learner: Any, env: PolicyEnv) -> Episode:
        """No reply at all."""
        return Episode()


@dataclass
class TellAtOnce:
    """One reply: the final answer and the whole worked solution."""

    name: str = "tell"

    def run(self, problem: Problem, learner: Any, env: PolicyEnv) -> Episode:
        """Tell, and let the learner read it."""
        solution = "\n".join(s.solution_text for s in steps_of(problem)) or problem.solution
        reply = render("outcomes/tell", answer=problem.final_answer, solution=solution).strip()
        learner.read(reply, problem, None, env.rng)
        return Episode(replies=[reply], explanations=1, told=True)


@dataclass
class TutorGraph:
    """The `tutor` graph in simulated mode with the learner as its student."""

    name: str = "tutor"
    explanation_budget: int = 3
    strategies: Any = None
    """A strategy library the teacher reads (`TutoringContext.strategies`: a library name in `env.memory`)."""
    approved_only: bool = False

    def run(self, problem: Problem, learner: Any, env: PolicyEnv) -> Episode:
        """One tutoring dialogue on the practice problem, up to `env.max_turns` learner turns."""
        from langgraph.checkpoint.memory import InMemorySaver

        from pedagraph.graphs.tutor import Context, build_graph

        context = Context(
            learner_id=env.learner_id,
            student_mode="simulated",
            reveal_policy="never",
            max_turns=env.max_turns,
            explanation_budget=self.explanation_budget,
            student_persona=getattr(learner, "persona", ""),
            teacher_model=env.models.get("teacher"),
            evaluator_model=env.models.get("evaluator"),
            student_model=env.models.get("student"),
            student_simulator=learner.simulator(env.rng),
            strategies=self.strategies,
            strategy_approved_only=self.approved_only,
        )
        graph = build_graph(checkpointer=InMemorySaver(), memory=env.memory)
        config = {"configurable": {"thread_id": f"outcomes-{env.learner_id}-{problem.id}"},
                  "recursion_limit": 30 + 8 * env.max_turns}  # fmt: skip
        out = graph.invoke({"problem_data": problem.model_dump(mode="json")}, config, context=context)
        extra: dict[str, Any] = {}
        if self.strategies is not None:
            extra["strategies_used"] = sum(len(t.get("strategies") or []) for t in out.get("turns", []))
        return dialogue_episode(out, problem, learner, env, extra=extra)


def dialogue_episode(out: dict[str, Any], problem: Problem, learner: Any, env: PolicyEnv,
                     extra: dict[str, Any] | None = None) -> Episode:  # fmt: skip
    """The episode of a finished tutor or copilot dialogue: replies read, learner turns, telling, explanations."""
    from pedagraph.evals.suites.tutoring import first_success, first_telling, states_number

    messages = out.get("messages", [])[out.get("problem_start", 0):]
    replies = [_text(m) for m in messages if isinstance(m, AIMessage)]
    said = [_text(m) for m in messages if isinstance(m, HumanMessage)]
    learner.after_dialogue(replies, problem, env.rng)
    final = problem.final_value
    in_question = final is not None and states_number(problem.question, final)
    success = first_success(said, final)
    told = first_telling(replies, final, problem.question, in_question, success) is not None
    explained = sum(1 for t in out.get("turns", []) if (t.get("plan") or {}).get("kind") == "explain"
                    and (t.get("copilot") or {}).get("action", "send") == "send")  # the copilot's own words: none
    steps = steps_of(problem)
    results_told = sum(1 for r in replies for s in steps[:-1] if read_reply(r, s, problem).result_stated)
    return Episode(replies=replies, learner=said, explanations=explained, told=told, solved=success is not None,
                   extra={"end_reason": out.get("end_reason"), "step_results_told": results_told,
                          **(extra or {})})  # fmt: skip


@dataclass
class Lesson:
    """An EduPlanner lesson on the practice problem's skills, read once (knowledge points, a worked example).

    The lesson is the planner's draft (`methods.eduplanner.plans.draft_plan`): knowledge points, the practice problem as
    its worked example, an exercise. The learner reads it and practises nothing more.
    """

    name: str = "lesson"

    def run(self, problem: Problem, learner: Any, env: PolicyEnv) -> Episode:
        """Draft the lesson and let the learner read it."""
        from pedagraph.evals.suites.tutoring import tutor_states_answer
        from pedagraph.methods.eduplanner.plans import draft_plan

        lesson = draft_plan(problem.question[:80], [problem], {}, None)
        learner.read(lesson, problem, None, env.rng)
        told = tutor_states_answer(lesson, problem.final_value, problem.question)
        return Episode(replies=[lesson], explanations=1, told=told)


def _text(message: Any) -> str:
    content = message.content
    return content if isinstance(content, str) else str(content)


@register_policy("none", "no intervention between the tests")
def _none(options: dict[str, Any]) -> Policy:
    return NoIntervention()


@register_policy("tell", "tell the answer at once: a single reply holding the answer and the whole worked solution")
def _tell(options: dict[str, Any]) -> Policy:
    return TellAtOnce()


@register_policy("tutor", "the tutor graph (CLASS scaffolding, reveal gate) with Theory-of-Mind explanations")
def _tutor(options: dict[str, Any]) -> Policy:
    return TutorGraph(name="tutor", explanation_budget=int(options.get("explanation_budget", 3)))


@register_policy("lesson", "an EduPlanner lesson (the planner's draft) on the practice problem, read once")
def _lesson(options: dict[str, Any]) -> Policy:
    return Lesson()


@register_policy("tutor_no_tom", "the tutor graph without worked explanations (explanation budget 0)")
def _tutor_no_tom(options: dict[str, Any]) -> Policy:
    return TutorGraph(name="tutor_no_tom", explanation_budget=0)


@register_policy("tutor_library", "the tutor graph whose teacher reads a distilled strategy library (offline: = tutor)")
def _tutor_library(options: dict[str, Any]) -> Policy:
    approved = str(options.get("approved_only", "")).strip().lower() in ("1", "true", "yes", "on")
    return TutorGraph(name="tutor_library", explanation_budget=int(options.get("explanation_budget", 3)),
                      strategies=str(options.get("library") or LIBRARY), approved_only=approved)  # fmt: skip
