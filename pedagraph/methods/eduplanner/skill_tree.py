"""EduPlanner's skill tree for a group of learners: five abilities at levels 1-5 and the persona text agents see.

A `Group` is what a lesson is planned for: five ability levels (Numerical Calculation, Abstract Thinking, Logical
Reasoning, Analogy Association, Spatial Imagination; methods.md §2.2) given directly as a profile, or derived from
the shared learner models of real learners (`ability_levels` of `pedagraph.learner`, averaged over the learners and
rounded), together with the misconceptions those learners hold. The level descriptors are in
`prompts/planner/skill_tree.md`; the persona text is their concatenation, as in the original.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pedagraph.errors import DataError
from pedagraph.learner import Ability, LearnerStore, ability_levels
from pedagraph.prompts import load_prompt

__all__ = ["ABILITIES", "Group", "descriptor", "group_from_learners", "group_from_levels", "parse_levels"]

ABILITIES: tuple[Ability, ...] = tuple(Ability)
"""The five abilities in EduPlanner's order."""
MAX_HELD = 8
"""Misconceptions of a learner group passed on to the planner (the most frequent)."""
WEAK_MASTERY = 0.6
"""A skill whose mean mastery over the group is below this is one of the group's weak skills."""
MAX_WEAK = 2


def _descriptors() -> dict[tuple[str, int], str]:
    out: dict[tuple[str, int], str] = {}
    for line in load_prompt("planner/skill_tree").splitlines():
        head, sep, text = line.partition(":")
        if not sep:
            continue
        name, _, level = head.strip().rpartition(" ")
        out[(name, int(level))] = text.strip()
    return out


def descriptor(ability: Ability, level: int) -> str:
    """What a learner at this level of this ability can and cannot do."""
    return _descriptors()[(ability.value, level)]


class Group(BaseModel):
    """A group of learners as EduPlanner sees it: five ability levels, who is in it and what they get wrong."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    levels: dict[Ability, int]
    """Level 1-5 of each of the five abilities."""
    learner_ids: tuple[str, ...] = ()
    """The learners the group was formed from (empty for a profile)."""
    misconceptions: tuple[dict[str, Any], ...] = ()
    """The group's most frequent active misconceptions: skill, error type, mistake type, description, learners."""
    name: str = Field("profile", max_length=200)
    weak_skills: tuple[str, ...] = ()
    """The learners' weakest skills (lowest mean mastery with graded evidence, below `WEAK_MASTERY`), weakest first."""

    @property
    def vector(self) -> list[int]:
        """The five levels in EduPlanner's order, e.g. `[4, 4, 3, 4, 3]`."""
        return [self.levels[a] for a in ABILITIES]

    @property
    def mean_level(self) -> float:
        """The mean of the five levels."""
        return sum(self.vector) / len(ABILITIES)

    def persona(self) -> str:
        """The persona text agents are given: one line per ability with its level and descriptor."""
        return "\n".join(f"- {a.label} (level {self.levels[a]}/5): {descriptor(a, self.levels[a])}" for a in ABILITIES)

    def weakest(self) -> Ability:
        """The ability at the lowest level (the first in EduPlanner's order on a tie)."""
        return min(ABILITIES, key=lambda a: self.levels[a])


def parse_levels(value: Mapping[str, Any] | Iterable[Any]) -> dict[Ability, int]:
    """Read five levels (a list in EduPlanner's order or a mapping by ability); DataError on a bad one."""
    if isinstance(value, Mapping):
        items: list[tuple[Any, Any]] = list(value.items())
    else:
        values = list(value)
        if len(values) != len(ABILITIES):
            order = ", ".join(a.label for a in ABILITIES)
            raise DataError(f"a skill-tree profile has {len(ABILITIES)} levels, got {len(values)}",
                            hint=f"e.g. [4, 4, 3, 4, 3] in the order {order}")  # fmt: skip
        items = list(zip(ABILITIES, values, strict=True))
    levels: dict[Ability, int] = {}
    for key, raw in items:
        try:
            ability = Ability(key)
        except ValueError:
            raise DataError(f"unknown ability {key!r}", hint=", ".join(a.value for a in ABILITIES)) from None
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise DataError(f"level of {ability.label} must be a whole number 1-5, got {raw!r}")
        try:
            level = int(str(raw).strip())
        except ValueError:
            raise DataError(f"level of {ability.label} must be a whole number 1-5, got {raw!r}") from None
        if not 1 <= level <= 5 or float(raw) != level:
            raise DataError(f"level of {ability.label} must be a whole number 1-5, got {raw!r}")
        levels[ability] = level
    missing = [a.label for a in ABILITIES if a not in levels]
    if missing:
        raise DataError(f"the skill-tree profile lacks a level for {', '.join(missing)}")
    return {a: levels[a] for a in ABILITIES}


def group_from_levels(value: Mapping[str, Any] | Iterable[Any], *, name: str = "profile") -> Group:
    """A group from a skill-tree profile (five levels 1-5)."""
    return Group(levels=parse_levels(value), name=name)


def group_from_learners(store: LearnerStore, learner_ids: Iterable[str]) -> Group:
    """A group from real learners: their ability levels averaged (rounded) and their active misconceptions.

    Refuses an empty group and learner ids with no stored record (DataError naming them).
    """
    ids = list(dict.fromkeys(str(i).strip() for i in learner_ids if str(i).strip()))
    if not ids:
        raise DataError("the group has no learners", hint="pick at least one learner, or give a skill-tree profile")
    unknown = [i for i in ids if not store.exists(i)]
    if unknown:
        raise DataError(f"no stored learner {', '.join(map(repr, unknown))}", hint="the Class tab lists the learners")
    models = [store.get(i) for i in ids]
    sums: Counter[Ability] = Counter()
    for model in models:
        for ability, level in ability_levels(model).items():
            sums[ability] += level
    levels = {a: max(1, min(5, int(sums[a] / len(models) + 0.5))) for a in ABILITIES}
    held: dict[tuple[str, str, str], dict[str, Any]] = {}
    for model in models:
        for m in model.active_misconceptions():
            key = (m.skill, m.error_type.value, m.description.strip().lower())
            entry = held.setdefault(key, {"skill": m.skill, "error_type": m.error_type.value,
                                          "mistake_type": m.mistake_type.value if m.mistake_type else None,
                                          "description": m.description.strip(), "learners": []})  # fmt: skip
            if model.learner_id not in entry["learners"]:
                entry["learners"].append(model.learner_id)
    common = sorted(held.values(), key=lambda e: (-len(e["learners"]), e["skill"], e["description"]))[:MAX_HELD]
    name = ids[0] if len(ids) == 1 else f"{len(ids)} learners"
    return Group(levels=levels, learner_ids=tuple(ids), misconceptions=tuple(common), name=name,
                 weak_skills=_weak_skills(models))  # fmt: skip


def _weak_skills(models: Iterable[Any]) -> tuple[str, ...]:
    """Skills whose mean mastery (over the learners with evidence on them) is below WEAK_MASTERY, weakest first."""
    sums: dict[str, list[float]] = {}
    for model in models:
        for name, state in model.skills.items():
            if state.has_evidence:
                sums.setdefault(name, []).append(state.p_mastery)
    means = {name: sum(ps) / len(ps) for name, ps in sums.items()}
    weak = sorted((n for n, p in means.items() if p < WEAK_MASTERY), key=lambda n: (means[n], n))
    return tuple(weak[:MAX_WEAK])
