"""Every structured-output schema the graphs and suites ask models for (the real-model tier and the bench)."""

from __future__ import annotations

from pydantic import BaseModel

__all__ = ["graph_schemas"]

def graph_schemas() -> list[type[BaseModel]]:
    """Every structured-output schema the graphs and suites ask models for (the real-model tier and the bench)."""
    from pedagraph.agents.coach import ModelMoments, ModelScores, ModelSuggestions
    from pedagraph.agents.evaluator import ALL_DIMENSIONS, judgement_schema
    from pedagraph.evals.suites.coach import SuggestionRating

    from pedagraph.methods.copilot.bridge import ErrorDecision, IntentionDecision, StrategyDecision
    from pedagraph.methods.copilot.suggestions import TutorChoice
    from pedagraph.methods.distill.coach import ScenarioDraft, StrategyDraft
    from pedagraph.methods.eduplanner.plans import CIDDPScores, Prediction, ProblemMistakes
    from pedagraph.methods.tom.mental_model import SimulatedAnswer
    from pedagraph.methods.tutor.decisions import ClassTurn
    from pedagraph.methods.tutor.decompose import Decomposition
    from pedagraph.methods.tutor.diagnosis import EvaluatorDiagnosis
    from pedagraph.methods.tutor.gate import LeakCheck
    from pedagraph.outcomes.realism import ErrorJudgement

    return [EvaluatorDiagnosis, ClassTurn, ErrorDecision, StrategyDecision, IntentionDecision, LeakCheck,
            Decomposition, TutorChoice, CIDDPScores, Prediction, ProblemMistakes, ModelScores, ModelMoments,
            ModelSuggestions, SuggestionRating, StrategyDraft, ScenarioDraft, SimulatedAnswer, ErrorJudgement,
            judgement_schema(ALL_DIMENSIONS)]  # fmt: skip
