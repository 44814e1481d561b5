"""Markdown views of the app: the models header and the live learner panel."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pedagraph.prompts import load_prompt, render

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


def learner_header() -> str:
    """The learners' app's header in the learner's words: no model names; a plain notice when replies are canned."""
    _, scripted = models_header()
    head = "**pedagraph tutor**"
    return f"{head}\n\n> {load_prompt('ui/learner_scripted_notice').strip()}" if scripted else head


MOVE_WORDS = {
    "affirm_next": "confirmed a right answer", "affirm_done": "confirmed a right answer",
    "probe": "asked how you worked it out", "hint": "gave a hint", "example": "showed a worked example",
    "strategy": "helped set up the calculation", "explain": "explained the method",
    "correction": "showed a step's working", "partial": "pointed out an answer to another step",
    "setup": "confirmed your set-up", "clarify": "asked you to say more", "redirect": "brought you back to the problem",
    "refuse": "gave a hint instead of the answer", "reveal": "showed the solution", "go_back": "went back a step",
    "inquiry": "answered a question", "question": "answered a question", "greet": "answered your greeting",
    "review": "talked about the finished problem", "suggest": "suggested a problem",
}  # fmt: skip
"""What each kind of tutor move is, in the learner's words."""


def _level(p: float) -> str:
    """Mastery in words, with dots and a percentage."""
    dots = round(p * 5)
    words = "not yet" if p < 0.4 else "getting there" if p < 0.7 else "strong" if p < 0.9 else "mastered"
    return f"{'●' * dots}{'○' * (5 - dots)} {words} ({round(p * 100)}%)"


def _skills(model: LearnerModel) -> list[str]:
    if not model.skills:
        return ["\nNo checked answers yet: your skills appear after your first answer."]
    lines = ["\n| Skill | Mastery | Evidence |\n|---|---|---|"]
    for name, state in sorted(model.skills.items()):
        evidence = f"{state.n_correct}/{state.n_obs} correct" if state.n_obs else "not checked yet"
        lines.append(f"| {_cell(name.capitalize())} | {_level(state.p_mastery)} | {evidence} |")
    levels = ability_levels(model)
    if any(state.abilities for state in model.skills.values()):
        lines.append("\nAbility levels (1–5): " + ", ".join(f"{a.label} {lvl}" for a, lvl in levels.items()))
    return lines


def _misconceptions(model: LearnerModel) -> list[str]:
    # a bare guess is kept in the learner model but is not something to work on
    active = [m for m in model.active_misconceptions() if m.error_type != "guess"]
    fixed = [m for m in model.misconceptions if m.status == "remediated" and m.error_type != "guess"]
    lines = ["\n**Things to work on**" + ("" if active else ": nothing right now")]
    for m in active[-8:]:
        seen = len(m.evidence)
        times = f" (seen {seen} times)" if seen > 1 else ""
        lines.append(f"- {_cell(m.skill.capitalize())}: {_cell(m.description)}{times}")
    if fixed:
        lines.append("\n**Fixed since**")
        counts = Counter((m.skill, m.description) for m in fixed)
        for skill, description in list(dict.fromkeys((m.skill, m.description) for m in reversed(fixed)))[:5]:
            times = f" ({counts[skill, description]} times)" if counts[skill, description] > 1 else ""
            lines.append(f"- ✓ {_cell(skill.capitalize())}: {_cell(description)}{times}")
    return lines


def learner_panel(model: LearnerModel, values: dict[str, Any]) -> str:
    """Return the learner panel in the learner's words: skills, what to work on, what was fixed, this problem."""
    stats = model.stats
    lines = ["### Your progress\n",
             f"Sessions **{stats.sessions}** · hints received **{stats.hints_received}** · "
             f"answers shown **{stats.answers_revealed}**"]  # fmt: skip
    lines += _skills(model) + _misconceptions(model)
    lines.append(session_summary(values))
    return "\n".join(lines)


def session_summary(values: dict[str, Any]) -> str:
    """Return this problem's part of the panel: what the tutor did, hints given, replies reworded to keep the answer."""
    turns = [t for t in values.get("turns", []) if isinstance(t, dict)]
    if not values.get("problem"):
        return question_summary(turns)
    moves: Counter[str] = Counter()
    hints = 0
    for t in turns:
        plan = t.get("plan") or {}
        if plan.get("kind") == "open":
            continue
        moves[MOVE_WORDS.get(str(plan.get("kind")), "replied")] += 1
        action = (t.get("gate") or {}).get("action")
        hints += int(action in ("replaced", "regenerated") or plan.get("strategy") in HINT_STRATEGIES)
    pid = str(values["problem"].get("id", ""))
    name = f"Problem {pid.rsplit('-', 1)[-1]}" if pid.startswith("gsm8k-sample-") else "Your problem"
    lines = ["\n### This problem", f"{_cell(name)} · hints given **{hints}**\n"]
    lines.append("**What the tutor did**: " + (", ".join(f"{k} ×{v}" for k, v in moves.most_common()) or "nothing yet"))
    events = [e for e in values.get("reveal_events", []) if isinstance(e, dict)]
    blocked = [e for e in events if e.get("action") != "allowed"]
    if blocked:  # in the learner's words: no gate, no counters of it
        lines.append(f"\nThe tutor reworded {len(blocked)} reply(ies) that would have given the answer away.")
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
