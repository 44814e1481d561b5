"""Markdown views of the app: the models header and the live learner panel."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pedagraph.prompts import render

from pedagraph.errors import PedagraphError
from pedagraph.learner import LearnerModel, ability_levels
from pedagraph.settings import ROLES
from pedagraph.taxonomy import Strategy

TUTOR_ROLES = ("teacher", "evaluator")
"""Roles the tutor graph calls in human mode (the student role only answers in simulated mode)."""
HINT_STRATEGIES = frozenset(
    {Strategy.PROVIDE_HINT.value, Strategy.PROVIDE_STRATEGY.value, Strategy.EXPLAIN_CONCEPT.value}
)
"""Strategies the tutor counts as a hint (as `reveal_gate` does for the learner's stats)."""


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def models_header() -> tuple[str, bool]:
    """Return the header naming the model behind every role, and whether the tutor's replies are scripted."""
    from pedagraph.llm import describe_model

    parts, scripted_roles = [], []
    for role in ROLES:
        try:
            info = describe_model(role)
        except PedagraphError as exc:
            parts.append(f"{role}: **config error** ({_cell(exc.one_line())})")
            continue
        where = f" @ {info.base_url}" if info.base_url else ""
        parts.append(f"{role}: `{info.model}`{where}")
        if info.is_scripted and role in TUTOR_ROLES:
            scripted_roles.append(role)
    header = "**pedagraph tutor** · models: " + " · ".join(parts)
    if scripted_roles:
        notice = render("ui/scripted_notice", roles=" and ".join(scripted_roles)).strip()
        header = f"{header}\n\n> {notice}"
    return header, bool(scripted_roles)


def learner_panel(model: LearnerModel, values: dict[str, Any]) -> str:
    """Return the learner panel: mastery per skill, misconceptions, stats, and this session's moves and gate events."""
    lines = [f"### Learner model\n`{model.learner_id}`\n"]
    stats = model.stats
    lines.append(
        f"Sessions **{stats.sessions}** · hints received **{stats.hints_received}** · "
        f"answers revealed **{stats.answers_revealed}**"
    )
    if model.skills:
        lines.append("\n| Skill | Mastery | Evidence |\n|---|---|---|")
        for name, state in sorted(model.skills.items()):
            evidence = f"{state.n_correct}/{state.n_obs} correct" if state.n_obs else "prior only"
            lines.append(f"| {_cell(name)} | {state.p_mastery:.2f} | {evidence} |")
        levels = ability_levels(model)
        if any(state.abilities for state in model.skills.values()):
            lines.append("\nAbility levels (1–5): " + ", ".join(f"{a.value} {lvl}" for a, lvl in levels.items()))
    else:
        lines.append("\nNo graded answers yet: mastery appears after your first answer.")
    active = model.active_misconceptions()
    lines.append("\n**Misconceptions**" + ("" if active else ": none diagnosed"))
    for m in active[-8:]:
        lines.append(f"- {_cell(m.skill)}: {_cell(m.description)} ({m.error_type}, confidence {m.confidence:.2f})")
    lines.append(session_summary(values))
    return "\n".join(lines)


def session_summary(values: dict[str, Any]) -> str:
    """Return this session's part of the panel: moves used, hints given and reveal-gate events."""
    turns = [t for t in values.get("turns", []) if isinstance(t, dict)]
    if not values.get("problem"):
        return question_summary(turns)
    moves: Counter[str] = Counter()
    hints = 0
    for t in turns:
        plan = t.get("plan") or {}
        if plan.get("kind") == "open":
            continue
        moves[f"{plan.get('move', '?')} ({plan.get('strategy', '?')})"] += 1
        action = (t.get("gate") or {}).get("action")
        hints += int(action in ("replaced", "regenerated") or plan.get("strategy") in HINT_STRATEGIES)
    lines = ["\n### This session", f"Problem `{_cell(values['problem'].get('id'))}` · hints given **{hints}**\n"]
    lines.append("**Moves used**: " + (", ".join(f"{k} ×{v}" for k, v in moves.most_common()) or "none yet"))
    events = [e for e in values.get("reveal_events", []) if isinstance(e, dict)]
    lines.append(f"\n**Reveal gate**: {len(events)} event(s)" + ("" if events else " — nothing blocked"))
    for e in events[-6:]:
        lines.append(f"- turn {e.get('turn')}: {_cell(e.get('reason'))} → {_cell(e.get('action'))}")
    return "\n".join(lines)


def question_summary(turns: list[dict[str, Any]]) -> str:
    """Return this session's part of the panel before any problem: questions answered and the sources cited."""
    questions = [t for t in turns if (t.get("plan") or {}).get("mode") == "question"]
    lines = ["\n### This session", "No problem started yet."]
    if questions:
        lines.append(f"\nQuestions answered from the course material **{len(questions)}**")
        sources = Counter(c for t in questions for c in t.get("citations") or [])
        cited = ", ".join(f"{_cell(c)} ×{n}" for c, n in sources.most_common(6))
        lines.append("\n**Sources cited**: " + (cited or "none yet"))
    return "\n".join(lines)
