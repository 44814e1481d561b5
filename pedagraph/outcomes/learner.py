"""Simulated learners with a knowledge state that persists across problems and changes only through what they read.

Two learners share one interface (`read`, `answer_test`, `simulator`, `rest`, `snapshot`):

* `FeatureLearner` (offline, no model): per operation skill (`addition`, `subtraction`, `multiplication`,
  `division`) a probability `know[skill]` of working a step of that skill right, and misconceptions (a skill
  whose failures follow the learner's own wrong rule). It changes only through the features of the replies
  it reads (`features.read_reply`: operation named, quantities named, a worked calculation, the step result
  stated) and through working a step itself after a reply that did not state its result; never through the
  tutor's own labels. Every rate is a field of `LearnerParams`, documented below and in docs/outcomes.md.
* `LLMLearner`: the student model prompted with the MathDial persona; what it has read (the tutor's replies)
  is its notebook, shown to it in later tests (most recent first kept, `notes_chars` at most): it changes only
  through reading.

The learning model of `FeatureLearner` (per operation skill `s` of the step a reply is about, saturating so
`know` stays below `max_p`)::

    content = learn_operation·[operation named] + learn_quantities·share of operands named
              + learn_example·[worked calculation shown]
    know[s] += content · (1 - know[s])                                  a reply that leaves the result to it
    know[s] += (passive·content + learn_told) · (1 - know[s])           a reply that states the step's result
    after working the step itself (the reply did not state the result):
    know[s] += (learn_attempt + learn_success·[right]) · (1 - know[s])
    between problems:  know[s] -= forget · (know[s] - start[s])   (only above the starting level)

A learner told a step's result copies it (right on that turn) and learns only `passive` of what the reply
shows, plus `learn_told`; one made to work learns all of it, plus `learn_attempt`, and `learn_success` more when
it gets the step right. The defaults order the effects as
Chi & Wylie's ICAP framework does (constructive > active > passive; Educational Psychologist 49(4), 2014) and the
generation effect (Slamecka & Graf 1978): they are assumptions of this simulation, not fitted to learners.

Seeding from a MathDial record (`seed_learner`): the profile sentence gives the misconception's kind (six MathDial
profile kinds, `PROFILE_KINDS`), the teacher's described confusion names its skill (the first operation it
names), and the starting `know` is `p_init` per skill (jittered by the seed), `p_init - weak_gap` on the
misconception's skill.
An active misconception lowers the chance of its skill by `misconception_penalty` and turns failures into the
learner's own wrong rule (another operation on the step's operands); a reply that names the step's operation and
at least half of its quantities, or shows a worked calculation, remediates it with probability `remediate`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from typing import Any

from langchain_core.messages import AIMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field

from pedagraph.answers import compare, format_number
from pedagraph.learning import OPERATION_SKILLS
from pedagraph.messages import last_text, learner_text, swapped_roles
from pedagraph.outcomes.features import ReplyFeatures, operations_in_order, read_reply, step_operations
from pedagraph.problems import Problem, Step, skills_for, steps_of
from pedagraph.prompts import load_prompt, render

__all__ = [
    "PROFILE_KINDS",
    "FeatureLearner",
    "LLMLearner",
    "LearnerParams",
    "LearnerProfile",
    "Misconception",
    "profile_kind",
    "seed_learner",
]


class LearnerParams(BaseModel):
    """The rates of the offline learner (see the module docstring for how each is used)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    p_init: float = Field(0.35, ge=0.0, le=1.0, description="starting chance of working a step of a skill right")
    jitter: float = Field(0.1, ge=0.0, le=0.5, description="starting chance varies by up to this, per learner")
    weak_gap: float = Field(0.15, ge=0.0, le=1.0, description="lower start on the misconception's skill")
    learn_operation: float = Field(0.06, ge=0.0, le=1.0, description="a reply names the step's operation")
    learn_quantities: float = Field(0.04, ge=0.0, le=1.0, description="times the share of operands named")
    learn_example: float = Field(0.06, ge=0.0, le=1.0, description="a reply shows a worked calculation")
    learn_told: float = Field(0.02, ge=0.0, le=1.0, description="a reply states the step's result")
    passive: float = Field(0.4, ge=0.0, le=1.0, description="share of a reply's content learnt when it also "
                           "states the step's result (the learner need not follow the method to have the result)")
    learn_attempt: float = Field(0.04, ge=0.0, le=1.0, description="the learner works the step itself")
    learn_success: float = Field(0.10, ge=0.0, le=1.0, description="... and gets it right")
    forget: float = Field(0.15, ge=0.0, le=1.0, description="share of the gain above the start lost per problem")
    max_p: float = Field(0.95, gt=0.0, le=1.0, description="ceiling of the chance")
    misconception_penalty: float = Field(0.2, ge=0.0, le=1.0, description="lower chance while a misconception holds")
    remediate: float = Field(0.5, ge=0.0, le=1.0, description="chance a targeted reply remediates a misconception")


PROFILE_KINDS: dict[str, tuple[str, str, str]] = {
    # kind: (pattern over the MathDial profile sentence, EduPlanner mistake type, Bridge error type)
    "principles": (r"underlying ideas|principles", "misapplying_formula", "right_idea"),
    "operation": (r"correct order|correct operation", "transposition", "careless"),
    "question": (r"what the problem is asking", "misreading_problem", "misinterpret"),
    "relevance": (r"relevant|irrelevant", "ignoring_conditions", "misinterpret"),
    "strategy": (r"problem type|what strategy", "misapplying_formula", "guess"),
    "procedure": (r"steps or procedures", "calculation", "right_idea"),
}
"""The six kinds of MathDial student profile (the sentence after the name), with their mistake and error types."""


def profile_kind(profile: str) -> str:
    """The kind of a MathDial profile sentence (`principles` when none matches)."""
    for kind, (pattern, _, _) in PROFILE_KINDS.items():
        if re.search(pattern, profile or "", re.IGNORECASE):
            return kind
    return "principles"


class Misconception(BaseModel):
    """A misconception of a simulated learner about one skill."""

    model_config = ConfigDict(extra="forbid")

    skill: str
    description: str
    mistake_type: str
    error_type: str
    active: bool = True


class LearnerProfile(BaseModel):
    """Who a simulated learner is: the MathDial profile, its confusion and where it came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    profile: str
    confusion: str = ""
    source: str = "mathdial"


def _jittered(base: float, spread: float, rng: random.Random) -> float:
    return min(0.95, max(0.02, base + rng.uniform(-spread, spread)))


def seed_learner(profile: LearnerProfile, params: LearnerParams, rng: random.Random, learner_id: str) -> FeatureLearner:
    """A `FeatureLearner` seeded from a MathDial profile (module docstring)."""
    kind = profile_kind(profile.profile)
    _, mistake, error = PROFILE_KINDS[kind]
    named = operations_in_order(profile.confusion)
    named = named or [s for s in skills_for(profile.confusion) if s in OPERATION_SKILLS]
    weak = named[0] if named else rng.choice(OPERATION_SKILLS)
    know = {s: _jittered(params.p_init, params.jitter, rng) for s in OPERATION_SKILLS}
    know[weak] = max(0.02, know[weak] - params.weak_gap)
    description = profile.confusion.strip() or profile.profile.split(".", 1)[-1].strip() or f"{kind} difficulty"
    misconception = Misconception(skill=weak, description=description, mistake_type=mistake, error_type=error)
    return FeatureLearner(learner_id=learner_id, profile=profile, kind=kind, params=params, know=know,
                          start=dict(know), misconceptions=[misconception])  # fmt: skip


def _phrase(rng: random.Random, name: str, **values: str) -> str:
    lines = [line.strip() for line in load_prompt(f"student/templates/{name}").splitlines() if line.strip()]
    text = rng.choice(lines)
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def _wrong_value(step: Step, target: float, avoid: list[float | None]) -> tuple[str | None, float]:
    """The learner's own wrong result: another operation on the step's operands, else off by one."""
    from pedagraph.agents.student import off_by_operation

    off = off_by_operation(step)
    if off is not None and not any(a is not None and compare(off[1], a) for a in avoid):
        return off
    value = target + 1
    while any(a is not None and compare(value, a) for a in avoid):
        value += 1
    return None, value


class FeatureLearner(BaseModel):
    """The offline simulated learner (module docstring); its state is JSON-ready (`snapshot`)."""

    model_config = ConfigDict(extra="forbid")

    learner_id: str
    profile: LearnerProfile
    kind: str
    params: LearnerParams
    know: dict[str, float]
    start: dict[str, float]
    misconceptions: list[Misconception] = Field(default_factory=list)
    read_log: list[dict[str, Any]] = Field(default_factory=list)

    # ---------------------------------------------------------------- state

    def _skills(self, step: Step) -> list[str]:
        ops = [op for op in step_operations(step) if op in self.know]
        return ops or ["addition"]

    def active(self, skill: str) -> Misconception | None:
        """The active misconception about a skill, if any."""
        return next((m for m in self.misconceptions if m.active and m.skill == skill), None)

    def p_step(self, step: Step) -> float:
        """Chance of working this step right now: the weakest of its skills, less an active misconception."""
        p = min(self.know[s] for s in self._skills(step))
        if any(self.active(s) for s in self._skills(step)):
            p -= self.params.misconception_penalty
        return min(self.params.max_p, max(0.02, p))

    def _gain(self, skills: list[str], amount: float) -> None:
        for s in skills:
            self.know[s] = min(self.params.max_p, self.know[s] + amount * (1.0 - self.know[s]))

    # ---------------------------------------------------------------- what changes it

    def read(self, text: str, problem: Problem, step: Step | None, rng: random.Random) -> ReplyFeatures:
        """Read a reply about `step` (None: about the whole problem, every step in turn); learn from its features."""
        steps = [step] if step is not None else steps_of(problem)
        last = ReplyFeatures()
        for s in steps:
            f = read_reply(text, s, problem)
            p = self.params
            content = p.learn_operation * f.operation + p.learn_quantities * f.quantities \
                + p.learn_example * f.worked_example  # fmt: skip
            if f.result_stated:  # given the result, it need not follow the method: read passively
                amount = p.passive * content + p.learn_told
            else:
                amount = content
            skills = self._skills(s)
            self._gain(skills, amount)
            for skill in skills:
                m = self.active(skill)
                if m is not None and ((f.operation and f.quantities >= 0.5) or f.worked_example):
                    if rng.random() < p.remediate:
                        m.active = False
            self.read_log.append({"step": s.index, **f.dump(), "gain": round(amount, 4)})
            last = f
        return last

    def work(
        self, step: Step, rng: random.Random, *, final: float | None = None, self_final: float | None = None
    ) -> tuple[str | None, float, bool]:
        """Work a step itself (and learn from working it): (working shown, value, right).

        `final` is the target when the step is the last; a wrong value never equals `self_final` (the problem's
        final answer) by chance.
        """
        target = final if final is not None else step.answer_value
        right = rng.random() < self.p_step(step)
        self._gain(self._skills(step), self.params.learn_attempt + self.params.learn_success * right)
        if target is None:
            return None, 0.0, False
        if right:
            return step.expression, target, True
        work, value = _wrong_value(step, target, [target, final, self_final])
        return work, value, False

    def after_dialogue(self, replies: list[str], problem: Problem, rng: random.Random) -> None:
        """Nothing more: it read each reply during the dialogue."""

    def rest(self) -> None:
        """Time passes between problems: part of each gain above the starting level is forgotten."""
        for s, p in self.know.items():
            if p > self.start[s]:
                self.know[s] = p - self.params.forget * (p - self.start[s])

    # ---------------------------------------------------------------- what it says

    def answer_test(self, problem: Problem, rng: random.Random, **_: Any) -> str:
        """Solve a test problem alone, step by step, writing its working (no learning from a test)."""
        from pedagraph.outcomes.items import swap_numbers

        lines: list[str] = []
        steps = steps_of(problem)
        value: float | None = None
        own: dict[float, float] = {}  # a step's true result -> the learner's own (it works from its own results)
        for i, step in enumerate(steps):
            last = i == len(steps) - 1
            target = problem.final_value if last and problem.final_value is not None else step.answer_value
            if target is None:
                continue
            if rng.random() < self.p_step(step):
                value, work = target, step.expression
            else:
                work, value = _wrong_value(step, target, [target, problem.final_value])
            shown = swap_numbers(work, own) if work else None
            lines.append(f"{shown} = {format_number(value)}" if shown else format_number(value))
            if step.answer_value is not None and not compare(value, step.answer_value):
                own[step.answer_value] = value
        if value is None:
            return "I don't know."
        return "\n".join([*lines, f"Answer: {format_number(value)}"])

    def simulator(self, rng: random.Random) -> Callable[[Mapping[str, Any], Any], str]:
        """The learner as the tutor graph's simulated student: read the last reply, then answer the step asked."""

        def turn(state: Mapping[str, Any], ctx: Any) -> str:
            problem = Problem.model_validate(state["problem"])
            steps = steps_of(problem)
            if not steps:
                return "I'm not sure."
            idx = min(int(state.get("step_index", 0) or 0), len(steps) - 1)
            step = steps[idx]
            last = idx == len(steps) - 1
            final = problem.final_value if last else None
            target = final if final is not None else step.answer_value
            f = self.read(last_text(list(state.get("messages", [])), AIMessage), problem, step, rng)
            if target is None:
                return _phrase(rng, "ungraded")
            if f.result_stated or (last and f.final_stated):
                return _phrase(rng, "answer", value=format_number(target))  # told: it copies the result
            work, value, _ = self.work(step, rng, final=final, self_final=problem.final_value)
            if work:
                return _phrase(rng, "work", work=work, value=format_number(value))
            return _phrase(rng, "answer", value=format_number(value))

        return turn

    def snapshot(self) -> dict[str, Any]:
        """The knowledge state now (JSON-ready)."""
        return {
            "know": {s: round(p, 4) for s, p in self.know.items()},
            "misconceptions": [m.model_dump() for m in self.misconceptions],
        }


class LLMLearner(BaseModel):
    """The student model as a learner: a MathDial persona and a notebook of the replies it has read."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    learner_id: str
    profile: LearnerProfile
    model: Any
    notes: list[str] = Field(default_factory=list)
    notes_chars: int = 1500

    @property
    def persona(self) -> str:
        """The persona the student model plays."""
        return render("student/mathdial_persona", profile=self.profile.profile,
                      confusion=self.profile.confusion or "(not described)",
                      solution="(none written down)").strip()  # fmt: skip

    def notebook(self) -> str:
        """What it has read, most recent kept, at most `notes_chars` characters."""
        kept: list[str] = []
        size = 0
        for note in reversed(self.notes):
            if size + len(note) > self.notes_chars:
                break
            kept.insert(0, note)
            size += len(note)
        return "\n\n".join(kept) or "(nothing yet)"

    def read(self, text: str, problem: Problem, step: Step | None, rng: random.Random) -> ReplyFeatures:
        """Read a reply: it goes into the notebook; the features are returned for the record only."""
        if text.strip():
            self.notes.append(" ".join(text.split()))
        return read_reply(text, step, problem)

    def answer_test(self, problem: Problem, rng: random.Random, **_: Any) -> str:
        """Solve a test problem alone, with its notebook."""
        system = render("outcomes/test_answer", persona=self.persona, notes=self.notebook())
        reply = self.model.invoke([SystemMessage(content=system), ("user", problem.question)])
        return learner_text(reply)

    def simulator(self, rng: random.Random) -> Callable[[Mapping[str, Any], Any], str]:
        """The learner as the tutor graph's simulated student (the MathDial rules, its persona and notebook)."""

        def turn(state: Mapping[str, Any], ctx: Any) -> str:
            problem = Problem.model_validate(state["problem"])
            persona = f"{self.persona}\n\nYour notes from earlier lessons:\n{self.notebook()}"
            system = render("student/mathdial", persona=persona, problem=problem.question)
            history = swapped_roles(list(state.get("messages", [])), int(state.get("problem_start", 0) or 0))
            return learner_text(self.model.invoke([SystemMessage(content=system), *history]))

        return turn

    def after_dialogue(self, replies: list[str], problem: Problem, rng: random.Random) -> None:
        """A finished dialogue's replies go into the notebook (during it, they were in the conversation)."""
        for text in replies:
            self.read(text, problem, None, rng)

    def rest(self) -> None:
        """Nothing is forgotten but what falls out of the notebook."""

    def snapshot(self) -> dict[str, Any]:
        """The notebook's size now."""
        return {"notes": len(self.notes), "notebook_chars": len(self.notebook())}
