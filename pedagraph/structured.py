"""One way to ask a model for structured output with a deterministic fallback, counted per node."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

from pedagraph.errors import PedagraphError
from pedagraph.llm import ManagedChatModel
from pedagraph.llm.usage import active_trackers, asking_from

T = TypeVar("T", bound=BaseModel)


def ask(model: ManagedChatModel, schema: type[T], prompt: Any, *, node: str) -> T | None:
    """Return the model's answer as a validated `schema` instance, or None (the caller falls back), counted.

    The model layer validates and repairs once; a failure, an error of the model or an answer of another type
    is counted as a `fallback` of `node` in the usage counters, and the caller's deterministic path is used.
    """
    try:
        with asking_from(node):
            result = model.with_structured_output(schema).invoke(prompt)
    except PedagraphError:
        result = None
    if isinstance(result, schema):
        return result
    record_fallback(model, node)
    return None


def record_fallback(model: ManagedChatModel, node: str) -> None:
    """Count that `node` used its deterministic fallback instead of the model's structured answer."""
    for tracker in active_trackers():
        tracker.record_structured(model.role, model.model_spec, node, "fallback")


def graph_schemas() -> list[type[BaseModel]]:
    """Every structured-output schema the graphs and suites ask models for (the real-model tier and the bench)."""
    from pedagraph.agents.coach import ModelMoments, ModelScores, ModelSuggestions
    from pedagraph.agents.evaluator import ALL_DIMENSIONS, judgement_schema
    from pedagraph.distill.coach import ScenarioDraft, StrategyDraft
    from pedagraph.evals.suites.coach import SuggestionRating
    from pedagraph.mental_model import SimulatedAnswer
    from pedagraph.outcomes.realism import ErrorJudgement
    from pedagraph.planning.plans import CIDDPScores, Prediction, ProblemMistakes
    from pedagraph.tutoring.bridge import ErrorDecision, IntentionDecision, StrategyDecision
    from pedagraph.tutoring.copilot import TutorChoice
    from pedagraph.tutoring.decisions import ClassTurn
    from pedagraph.tutoring.decompose import Decomposition
    from pedagraph.tutoring.diagnosis import EvaluatorDiagnosis
    from pedagraph.tutoring.gate import LeakCheck

    return [EvaluatorDiagnosis, ClassTurn, ErrorDecision, StrategyDecision, IntentionDecision, LeakCheck,
            Decomposition, TutorChoice, CIDDPScores, Prediction, ProblemMistakes, ModelScores, ModelMoments,
            ModelSuggestions, SuggestionRating, StrategyDraft, ScenarioDraft, SimulatedAnswer, ErrorJudgement,
            judgement_schema(ALL_DIMENSIONS)]  # fmt: skip
