"""The coach agent: read a transcript, score it (A), find highlights and missed opportunities (B), suggest (C), filter.

Each node calls `methods.coach.coaching`; with a real coach model (`Context.coach_model`, else `get_model("coach")`)
A, B and C are structured calls whose turn numbers are checked against the transcript (a cited turn that does not
exist, or a score off its scale, is dropped; nothing valid left -> the deterministic reading). The novelty check is
deterministic whoever wrote the suggestions: it drops those the teacher already carries out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from langgraph.runtime import Runtime
from pedagraph.prompts import render
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from pedagraph.errors import DataError
from pedagraph.llm import ManagedChatModel
from pedagraph.methods.coach.coaching import (
    DIMENSIONS,
    ELICIT_MOVES,
    CoachTurn,
    ElicitMove,
    Finding,
    Score,
    Suggestion,
    coach_markdown,
    find_moments,
    novelty_check,
    parse_transcript,
    score_transcript,
    suggest_elicitations,
)
from pedagraph.runtime import BaseContext, ModelOverride, context_of, real_model
from pedagraph.structured import ask

__all__ = ["CoachContext", "CoachState", "moments", "novelty_filter", "read_transcript", "report", "score", "suggest"]


@dataclass
class CoachContext(BaseContext):
    """Run-time settings of a coaching run."""

    coach_model: ModelOverride = None
    """Override of the coach model (`provider:model` or a chat model); default: `get_model("coach")`; the scripted
    model reads the transcript with deterministic rules."""
    max_items: int = 5
    """Most highlights, missed opportunities and suggestions each."""


def _merge(a: dict[str, str], b: dict[str, str]) -> dict[str, str]:
    return {**a, **b}


class CoachState(TypedDict, total=False):
    """A coaching run: the transcript, (A) scores, (B) findings, (C) suggestions and what the novelty check dropped."""

    transcript: str | None
    """The transcript as text (plain `Speaker: text` lines, CSV, JSON or a MathDial conversation)."""
    format: Literal["auto", "text", "csv", "json", "mathdial"]
    """How to read `transcript` (default: auto)."""
    mathdial: dict[str, Any] | None
    """A MathDial record (its `conversation` is the transcript)."""
    turns: list[dict[str, Any]]
    """The numbered turns (`CoachTurn` dumps)."""
    scores: list[dict[str, Any]]
    """(A) One `Score` per dimension."""
    findings: list[dict[str, Any]]
    """(B) Highlights and missed opportunities (`Finding` dumps)."""
    proposed: list[dict[str, Any]]
    """(C) Every suggestion before the novelty check."""
    suggestions: list[dict[str, Any]]
    """(C) The suggestions kept."""
    dropped: list[dict[str, Any]]
    """Suggestions dropped as already done, each with `reason`, `done_at`, `evidence` and `why`."""
    sources: Annotated[dict[str, str], _merge]
    """Who produced each part: `model` or `rules` (A: scores, B: findings, C: suggestions)."""
    report: str
    """The whole output as Markdown."""


def _turns(state: CoachState) -> list[CoachTurn]:
    return [CoachTurn.model_validate(t) for t in state.get("turns", [])]


def _numbered(turns: list[CoachTurn]) -> str:
    return "\n".join(f"{t.n}. {t.speaker.capitalize()}: {t.text}" for t in turns)


def _coach(runtime: Runtime[CoachContext]) -> tuple[CoachContext, ManagedChatModel | None]:
    ctx = context_of(runtime, CoachContext)
    return ctx, real_model(ctx, "coach")


def _reading(state: CoachState, runtime: Runtime[CoachContext]
             ) -> tuple[CoachContext, ManagedChatModel | None, list[CoachTurn], dict[int, CoachTurn]]:  # fmt: skip
    """The context, the coach model (None: rules), the turns and the teacher turns by number."""
    ctx, coach = _coach(runtime)
    turns = _turns(state)
    return ctx, coach, turns, {t.n: t for t in turns if t.speaker == "teacher"}


def read_transcript(state: CoachState, runtime: Runtime[CoachContext]) -> dict[str, Any]:
    """Read the transcript into numbered turns (an empty, huge or malformed one is refused with one line)."""
    record = state.get("mathdial")
    if record:
        if not isinstance(record.get("conversation"), str):
            raise DataError("the MathDial record has no conversation")
        turns = parse_transcript(record["conversation"], "mathdial")
    else:
        turns = parse_transcript(str(state.get("transcript") or ""), state.get("format") or "auto")
    return {"turns": [t.model_dump() for t in turns]}


class _ModelScore(BaseModel):
    code: str = Field(description="Dimension code.")
    score: int = Field(description="Integer score on the dimension's scale.")
    evidence: list[int] = Field(default_factory=list, description="Turn numbers the score rests on.")
    reason: str = Field("", description="One sentence.")


class ModelScores(BaseModel):
    """A coach model's scores of a transcript."""

    scores: list[_ModelScore]


class _ModelFinding(BaseModel):
    turn: int = Field(description="Turn number.")
    reason: str = Field(description="One sentence.")


class ModelMoments(BaseModel):
    """A coach model's highlights and missed opportunities."""

    highlights: list[_ModelFinding] = Field(default_factory=list)
    missed: list[_ModelFinding] = Field(default_factory=list)


class _ModelSuggestion(BaseModel):
    turn: int = Field(description="The teacher turn the suggestion applies to.")
    move: ElicitMove = Field(description="The elicitation move it asks for.")
    suggestion: str = Field(description="What the teacher could say or do there.")


class ModelSuggestions(BaseModel):
    """A coach model's suggestions to elicit student reasoning."""

    suggestions: list[_ModelSuggestion] = Field(default_factory=list)


def score(state: CoachState, runtime: Runtime[CoachContext]) -> dict[str, Any]:
    """(A) Scores on the observation dimensions, with evidence turns."""
    ctx, coach = _coach(runtime)
    turns = _turns(state)
    found: list[Score] = []
    if coach is not None:
        dims = "\n".join(f"- {code}: {name}, 1-{top}" for code, (name, top) in DIMENSIONS.items())
        out = ask(coach, ModelScores, render("coach/score", transcript=_numbered(turns), dimensions=dims),
                  node="coach.score")  # fmt: skip
        valid = {t.n for t in turns}
        for s in out.scores if out is not None else []:
            code = s.code.strip().upper()
            if code in DIMENSIONS and 1 <= s.score <= DIMENSIONS[code][1] and all(n in valid for n in s.evidence):
                found.append(Score(code=code, name=DIMENSIONS[code][0], score=s.score, scale=DIMENSIONS[code][1],
                                   evidence=s.evidence[:5], reason=s.reason.strip()[:300]))  # fmt: skip
        found = list({s.code: s for s in found}.values())
    rules = {s.code: s for s in score_transcript(turns)}
    merged = [next((s for s in found if s.code == code), rules[code]) for code in DIMENSIONS]
    filled = [code for code in DIMENSIONS if not any(s.code == code for s in found)]
    source = "rules" if not found else "model" if not filled else f"model; rules filled {', '.join(filled)}"
    return {"scores": [s.model_dump() for s in merged], "sources": {"scores": source}}


def moments(state: CoachState, runtime: Runtime[CoachContext]) -> dict[str, Any]:
    """(B) Highlights and missed opportunities, each tied to a teacher turn."""
    ctx, coach, turns, by_n = _reading(state, runtime)
    found: list[Finding] = []
    if coach is not None:
        out = ask(coach, ModelMoments, render("coach/moments", transcript=_numbered(turns)), node="coach.moments")
        for kind, items in (("highlight", out.highlights if out else []), ("missed", out.missed if out else [])):
            for f in [f for f in items if f.turn in by_n][: ctx.max_items]:
                found.append(Finding(kind=kind, turn=f.turn, quote=by_n[f.turn].text[:140], reason=f.reason[:300]))
    source = "model" if found else "rules"
    findings = found or find_moments(turns, ctx.max_items)
    return {"findings": [f.model_dump() for f in findings], "sources": {"findings": source}}


def suggest(state: CoachState, runtime: Runtime[CoachContext]) -> dict[str, Any]:
    """(C) Actionable suggestions to elicit student reasoning, each tied to a teacher turn and a move."""
    ctx, coach, turns, by_n = _reading(state, runtime)
    found: list[Suggestion] = []
    if coach is not None:
        moves = "\n".join(f"- {name}: {what}" for name, what in ELICIT_MOVES.items())
        out = ask(coach, ModelSuggestions, render("coach/suggest", transcript=_numbered(turns), moves=moves),
                  node="coach.suggest")  # fmt: skip
        for s in out.suggestions if out is not None else []:
            if s.turn in by_n and s.suggestion.strip() and len(found) < ctx.max_items:
                found.append(Suggestion(turn=s.turn, move=s.move, suggestion=s.suggestion.strip()[:500],
                                        quote=by_n[s.turn].text[:140]))  # fmt: skip
    source = "model" if found else "rules"
    proposed = found or suggest_elicitations(turns, find_moments(turns, ctx.max_items), ctx.max_items)
    return {"proposed": [s.model_dump() for s in proposed], "sources": {"suggestions": source}}


def novelty_filter(state: CoachState, runtime: Runtime[CoachContext]) -> dict[str, Any]:
    """Drop the suggestions the teacher already carries out, saying why."""
    kept, dropped = novelty_check(_turns(state), [Suggestion.model_validate(s) for s in state.get("proposed", [])])
    return {"suggestions": [s.model_dump() for s in kept], "dropped": dropped}


def report(state: CoachState, runtime: Runtime[CoachContext]) -> dict[str, Any]:
    """The Markdown export of the whole output."""
    return {"report": coach_markdown(state)}
