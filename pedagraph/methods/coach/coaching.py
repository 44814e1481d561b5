"""Teacher coaching (Wang & Demszky 2023, "Is ChatGPT a Good Teacher Coach?"; methods.md §7.1): plain functions.

A transcript (pasted text, a CSV or JSON file, or a MathDial conversation) becomes numbered turns; then

* (A) scores on observation dimensions (CLASS positive climate and instructional dialogue, 1–7; MQI remediation
  of student errors and student mathematical reasoning, 1–3), each with the evidence turns it rests on;
* (B) highlights and missed opportunities, each tied to a turn;
* (C) actionable suggestions to elicit more student reasoning, each tied to a turn and labelled with the
  elicitation move it asks for;
* the novelty check: the study found 82% of the model's suggestions pointed at what the teacher already did, so
  a suggestion is dropped when the teacher already makes its move at or just after the cited turn, or already
  says nearly its words; the result says how many were dropped and why.

The deterministic reading of a turn (`teacher_moves`, `student_reasons`) is what the scripted coach scores and
suggests from, and what the novelty check uses whoever wrote the suggestions.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

from pedagraph.answers import find_numbers, normalize_text
from pedagraph.errors import DataError

__all__ = [
    "DIMENSIONS",
    "ELICIT_MOVES",
    "MAX_TRANSCRIPT_CHARS",
    "MAX_TURNS",
    "CoachTurn",
    "Finding",
    "Score",
    "Suggestion",
    "coach_markdown",
    "find_moments",
    "novelty_check",
    "parse_transcript",
    "score_transcript",
    "student_reasons",
    "suggest_elicitations",
    "teacher_moves",
]

MAX_TRANSCRIPT_CHARS = 200_000
"""Longest transcript accepted (a long lesson is about 60,000 characters)."""
MAX_TURNS = 1_000
"""Most turns accepted in one transcript."""
NOVELTY_WINDOW = 2
"""A suggestion at turn t is already done when the teacher makes its move in turns t .. t + this."""

Speaker = Literal["teacher", "student"]
ElicitMove = Literal["press_reasoning", "revoice", "invite_others", "compare", "check_understanding", "wait_time"]
ELICIT_MOVES: dict[str, str] = {
    "press_reasoning": "ask the student to explain how or why (their reasoning, not just the answer)",
    "revoice": "repeat the student's idea back in their words and ask them to build on it",
    "invite_others": "ask other students to agree, disagree or add to an idea",
    "compare": "ask the student to compare two methods, answers or representations",
    "check_understanding": "check what the student understands before moving on",
    "wait_time": "give the student room to try on their own before telling",
}
"""The elicitation moves a suggestion asks for (what the novelty check looks for in the transcript)."""

DIMENSIONS: dict[str, tuple[str, int]] = {
    "CLPC": ("positive climate (CLASS)", 7),
    "CLINSTD": ("instructional dialogue (CLASS)", 7),
    "REMED": ("remediation of student errors (MQI)", 3),
    "SMQR": ("student mathematical questioning and reasoning (MQI)", 3),
}
"""Observation dimensions scored: code -> (name, top of the scale; every scale starts at 1)."""

_TEACHER = re.compile(r"^(?:t|teacher|tutor|instructor|coach|ms\.?\s+\w+|mr\.?\s+\w+|mrs\.?\s+\w+)$", re.I)
_STUDENT = re.compile(r"^(?:s|st|student|learner|pupil|child|kid|class|students|s\d+|student\s*\d+)$", re.I)
_LINE = re.compile(r"^\s*(?:\[?\d{1,2}:\d{2}(?::\d{2})?\]?\s*)?(?:\d+[.)]\s*)?([A-Za-z][\w .'-]{0,30}?)\s*:\s*(.*)$")
_MOVE_LABEL = re.compile(r"^\((\w+)\)\s*")

_PATTERNS: dict[str, re.Pattern[str]] = {
    "press_reasoning": re.compile(
        r"\b(?:why|how (?:did|do|would|could|can) you|how do you know|how did you (?:get|find|work)|explain|"
        r"walk me through|talk me through|tell me (?:how|why|more|what you)|what makes you (?:think|say)|"
        r"convince|show me how|what was your (?:first )?(?:step|thinking)|how come|prove|justify)\b"
    ),
    "revoice": re.compile(r"\b(?:so you(?:'re| are)? saying|you said|so you think|if i understand|"
                          r"in other words|what i hear)\b"),  # fmt: skip
    "invite_others": re.compile(r"\b(?:does anyone|anyone else|who (?:else|agrees|disagrees)|do you all|"
                                r"what do (?:the )?others|agree or disagree|add on)\b"),  # fmt: skip
    "compare": re.compile(r"\b(?:compare|same or different|another way|different way|which (?:way|method) |"
                          r"what(?:'s| is) the difference)\b"),  # fmt: skip
    "check_understanding": re.compile(r"\b(?:does (?:that|this) make sense|do you (?:understand|see why)|"
                                      r"what do you (?:notice|think)|what does .{1,30} mean)\b"),  # fmt: skip
    "wait_time": re.compile(r"\b(?:take your time|have a go|try (?:it|again|that)|give it a try|"
                            r"see if you can|your turn)\b"),  # fmt: skip
}
_PRAISE = re.compile(r"\b(?:good|great|well done|nice|excellent|brilliant|perfect|that's it|correct|right|"
                     r"awesome|good job|fantastic|thank you|thanks)\b")  # fmt: skip
_TELLING = re.compile(r"\b(?:the answer is|you need to|you have to|you should|it(?:'s| is) just|"
                      r"no[,.!]|not quite|wrong|incorrect)\b|=")  # fmt: skip
_HARSH = re.compile(r"\b(?:stupid|lazy|pay attention|stop it|be quiet|shut up|careless)\b")
_REASON = re.compile(r"\b(?:because|since|so|therefore|first|then|which means|that means|i think|i did|"
                     r"i added|i subtracted|i multiplied|i divided)\b")  # fmt: skip
_WORDS = re.compile(r"[a-z]{4,}")


class CoachTurn(BaseModel):
    """One numbered turn of a transcript (numbers start at 1)."""

    n: int
    speaker: Speaker
    text: str
    label: str | None = None
    """A move label the data carries (MathDial: focus, probing, telling, generic)."""


class Score(BaseModel):
    """(A) One dimension's score with the turns it rests on."""

    code: str
    name: str
    score: int
    scale: int
    evidence: list[int] = Field(default_factory=list)
    reason: str = ""


class Finding(BaseModel):
    """(B) A highlight or a missed opportunity at a turn."""

    kind: Literal["highlight", "missed"]
    turn: int
    quote: str
    reason: str


class Suggestion(BaseModel):
    """(C) An actionable suggestion to elicit student reasoning, tied to a turn and labelled with its move."""

    turn: int
    move: ElicitMove
    suggestion: str
    quote: str = ""


# -- reading a transcript ------------------------------------------------------------------------------------


def _speaker(name: str) -> Speaker | None:
    name = name.strip()
    if _TEACHER.match(name):
        return "teacher"
    if _STUDENT.match(name):
        return "student"
    return None


def _add(turns: list[CoachTurn], speaker: Speaker, text: str, label: str | None = None) -> None:
    text = " ".join(text.split())
    if not text:
        return
    if turns and turns[-1].speaker == speaker and label is None and turns[-1].label is None:
        turns[-1] = turns[-1].model_copy(update={"text": f"{turns[-1].text} {text}"})
        return
    turns.append(CoachTurn(n=len(turns) + 1, speaker=speaker, text=text, label=label))


def _from_lines(text: str) -> list[CoachTurn]:
    turns: list[CoachTurn] = []
    names: dict[str, Speaker] = {}
    unlabelled = 0
    for raw in text.splitlines():
        if not raw.strip():
            continue
        m = _LINE.match(raw)
        who = None
        if m:
            name = m.group(1).strip()
            who = _speaker(name) or names.get(name.lower())
            if who is None and len(name.split()) <= 2 and name[:1].isupper():
                who = names.setdefault(name.lower(), "student")  # a named child (the teacher is labelled)
        if who is None:
            if not turns:
                unlabelled += 1
                continue
            _add(turns, turns[-1].speaker, raw)  # a continuation line
            continue
        body = m.group(2) if m else raw
        label = None
        lm = _MOVE_LABEL.match(body)
        if lm and who == "teacher":
            label, body = lm.group(1).lower(), body[lm.end() :]
        _add(turns, who, body, label)
    if unlabelled and not turns:
        raise DataError("transcript has no speaker labels",
                        hint='write one turn per line as "Teacher: ..." / "Student: ..."')  # fmt: skip
    return turns


def _from_mathdial(conversation: str) -> list[CoachTurn]:
    return _from_lines("\n".join(part.strip() for part in conversation.split("|EOM|")))


def _from_rows(rows: Iterable[Mapping[str, Any]]) -> list[CoachTurn]:
    turns: list[CoachTurn] = []
    for i, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            raise DataError(f"transcript row {i} is not an object with a speaker and a text")
        keys = {str(k).strip().lower(): v for k, v in row.items()}
        name = next((keys[k] for k in ("speaker", "role", "who", "name") if k in keys), None)
        text = next((keys[k] for k in ("text", "utterance", "content", "message", "turn") if k in keys), None)
        if name is None or text is None:
            raise DataError(f"transcript row {i} needs a speaker (or role) and a text (or utterance) column")
        who = _speaker(str(name)) or ("teacher" if str(name).lower() in ("assistant", "ai") else "student")
        body = str(text)
        label = None
        lm = _MOVE_LABEL.match(body)
        if lm and who == "teacher":
            label, body = lm.group(1).lower(), body[lm.end() :]
        _add(turns, who, body, label)
    return turns


def _from_json(text: str) -> list[CoachTurn]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"transcript is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if isinstance(data, Mapping) and isinstance(data.get("conversation"), str):
        return _from_mathdial(data["conversation"])  # a MathDial record
    if isinstance(data, Mapping) and isinstance(data.get("turns"), list):
        data = data["turns"]
    if not isinstance(data, list):
        raise DataError("JSON transcript must be a list of turns, {\"turns\": [...]}, or a MathDial record")
    return _from_rows(data)


def _from_csv(text: str) -> list[CoachTurn]:
    try:
        reader = csv.DictReader(io.StringIO(text))
        rows = list(reader)
    except csv.Error as exc:
        raise DataError(f"transcript is not valid CSV: {exc}") from None
    if not reader.fieldnames:
        raise DataError("CSV transcript has no header row", hint="columns: speaker,text")
    return _from_rows(rows)


def parse_transcript(text: str, fmt: Literal["auto", "text", "csv", "json", "mathdial"] = "auto") -> list[CoachTurn]:
    """Read a transcript into numbered turns.

    Raises:
        DataError: an empty, too long or malformed transcript, or one without a teacher turn (one clear line).
    """
    text = (text or "").replace("\r\n", "\n").strip()
    if not text:
        raise DataError("the transcript is empty", hint="paste or upload a transcript with Teacher:/Student: turns")
    if len(text) > MAX_TRANSCRIPT_CHARS:
        raise DataError(f"the transcript has {len(text):,} characters; the limit is {MAX_TRANSCRIPT_CHARS:,}",
                        hint="split it into lesson segments")  # fmt: skip
    if fmt == "auto":
        fmt = ("json" if text[:1] in "[{" else "mathdial" if "|EOM|" in text
               else "csv" if re.match(r"^[\w ]+,[\w ,]+\n", text) else "text")  # fmt: skip
    reader = {"json": _from_json, "csv": _from_csv, "mathdial": _from_mathdial, "text": _from_lines}.get(fmt)
    if reader is None:
        raise DataError(f"unknown transcript format {fmt!r}", hint="auto, text, csv, json or mathdial")
    turns = reader(text)
    if len(turns) > MAX_TURNS:
        raise DataError(f"the transcript has {len(turns):,} turns; the limit is {MAX_TURNS:,}",
                        hint="split it into lesson segments")  # fmt: skip
    if not any(t.speaker == "teacher" for t in turns):
        raise DataError("the transcript has no teacher turn",
                        hint='label the teacher\'s lines "Teacher:" (or T:, Tutor:)')  # fmt: skip
    return turns


# -- reading turns -------------------------------------------------------------------------------------------


def teacher_moves(text: str) -> set[str]:
    """The elicitation moves a teacher turn makes, plus `praise`, `telling`, `question` and `harsh` markers."""
    norm = normalize_text(text)
    moves = {name for name, pattern in _PATTERNS.items() if pattern.search(norm)}
    if _PRAISE.search(norm):
        moves.add("praise")
    if _TELLING.search(norm):
        moves.add("telling")
    if "?" in text:
        moves.add("question")
    if _HARSH.search(norm):
        moves.add("harsh")
    return moves


def student_reasons(text: str) -> bool:
    """Whether a student turn gives reasoning (a because, the steps taken), not only an answer."""
    norm = normalize_text(text)
    return bool(_REASON.search(norm)) and len(norm.split()) >= 5


def _is_answer(text: str) -> bool:
    return bool(find_numbers(text)) or len(normalize_text(text).split()) <= 6


def _quote(turn: CoachTurn, width: int = 140) -> str:
    return turn.text if len(turn.text) <= width else turn.text[: width - 1].rsplit(" ", 1)[0] + "…"


def _scaled(share: float, top: int) -> int:
    return max(1, min(top, 1 + round(share * (top - 1))))


def score_transcript(turns: Sequence[CoachTurn]) -> list[Score]:
    """(A) Deterministic scores from what the turns do, each with the turns it rests on."""
    teacher = [t for t in turns if t.speaker == "teacher"]
    students = [t for t in turns if t.speaker == "student"]
    moves = {t.n: teacher_moves(t.text) for t in teacher}
    warm = [n for n, m in moves.items() if "praise" in m or "wait_time" in m]
    harsh = [n for n, m in moves.items() if "harsh" in m]
    eliciting = [n for n, m in moves.items() if m & set(ELICIT_MOVES)]
    reasoning = [t.n for t in students if student_reasons(t.text)]
    errors = _after_student_errors(turns)
    remedied = [n for n in errors if moves.get(n, set()) & {"press_reasoning", "revoice", "compare",
                                                             "check_understanding", "wait_time"}]  # fmt: skip
    share = lambda part, whole: len(part) / max(1, len(whole))  # noqa: E731
    climate = share(warm, teacher) * 1.5 - share(harsh, teacher) * 3
    return [
        _score("CLPC", max(0.0, min(1.0, 0.35 + climate)), warm + harsh,
               f"{len(warm)} warm or encouraging teacher turns, {len(harsh)} harsh"),
        _score("CLINSTD", share(eliciting, teacher) * 1.5, eliciting,
               f"{len(eliciting)} of {len(teacher)} teacher turns ask for thinking"),
        _score("REMED", share(remedied, errors) if errors else 0.5, remedied or errors,
               f"{len(remedied)} of {len(errors)} replies to a student's answer probe it rather than correct it"),
        _score("SMQR", share(reasoning, students) * 1.5, reasoning,
               f"{len(reasoning)} of {len(students)} student turns give reasoning"),
    ]  # fmt: skip


def _score(code: str, share: float, evidence: list[int], reason: str) -> Score:
    name, top = DIMENSIONS[code]
    return Score(code=code, name=name, score=_scaled(min(1.0, share), top), scale=top, evidence=evidence[:5],
                 reason=reason)  # fmt: skip


def _after_student_errors(turns: Sequence[CoachTurn]) -> list[int]:
    """Teacher turns that answer a student's answer with a correction (telling or a bare no)."""
    out = []
    for prev, turn in zip(turns, turns[1:], strict=False):
        if prev.speaker == "student" and turn.speaker == "teacher" and _is_answer(prev.text):
            if "telling" in teacher_moves(turn.text):  # the text only: a dataset's gold move label is not read
                out.append(turn.n)
    return out


def find_moments(turns: Sequence[CoachTurn], limit: int = 5) -> list[Finding]:
    """(B) Highlights (the teacher elicits reasoning) and missed opportunities (a student's answer met by telling)."""
    highlights, missed = [], []
    for prev, turn in zip([None, *turns], turns, strict=False):
        if turn.speaker != "teacher":
            continue
        moves = teacher_moves(turn.text)
        found = sorted(moves & set(ELICIT_MOVES))
        if found and len(highlights) < limit:
            what = ", ".join(m.replace("_", " ") for m in found)
            highlights.append(Finding(kind="highlight", turn=turn.n, quote=_quote(turn),
                                      reason=f"elicits student thinking ({what})"))  # fmt: skip
            continue
        answered = prev is not None and prev.speaker == "student" and _is_answer(prev.text)
        if answered and "telling" in moves and len(missed) < limit:  # never the gold label (an eval's answer key)
            missed.append(Finding(kind="missed", turn=turn.n, quote=_quote(turn),
                                  reason=f"the student's answer at turn {prev.n} was corrected or told, not probed"))
    return highlights + missed


def suggest_elicitations(turns: Sequence[CoachTurn], findings: Sequence[Finding], limit: int = 5) -> list[Suggestion]:
    """(C) Deterministic suggestions: at each missed opportunity (else each answer-only student turn), a move to try."""
    by_n = {t.n: t for t in turns}
    out: list[Suggestion] = []
    spots = [f.turn for f in findings if f.kind == "missed"]
    spots += [t.n + 1 for t in turns if t.speaker == "student" and not student_reasons(t.text) and t.n + 1 in by_n]
    order = ("press_reasoning", "revoice", "compare", "check_understanding", "wait_time")
    for i, n in enumerate(dict.fromkeys(spots)):
        if len(out) >= limit:
            break
        turn = by_n.get(n)
        if turn is None or turn.speaker != "teacher":
            continue
        move = order[i % len(order)]
        student = by_n.get(n - 1)
        after = f"after the student's answer at turn {n - 1}" if student is not None and student.speaker == "student" \
            else "here"
        out.append(Suggestion(turn=n, move=move, quote=_quote(turn),
                              suggestion=f"At turn {n}, {after}: {ELICIT_MOVES[move]}."))
    return out


# -- the novelty check ---------------------------------------------------------------------------------------


def _words(text: str) -> set[str]:
    return set(_WORDS.findall(normalize_text(text)))


def novelty_check(turns: Sequence[CoachTurn], suggestions: Sequence[Suggestion], *, window: int = NOVELTY_WINDOW,
                  quote_share: float = 0.7) -> tuple[list[Suggestion], list[dict[str, Any]]]:  # fmt: skip
    """Split suggestions into new ones and those the teacher already carried out (each with why it was dropped).

    Dropped: the teacher makes the suggested move in a teacher turn from the cited turn to `window` turns after
    it, or such a turn already says most of the words the suggestion quotes (`quote_share` of them).
    """
    kept, dropped = [], []
    teacher = [t for t in turns if t.speaker == "teacher"]
    for s in suggestions:
        near = [t for t in teacher if s.turn <= t.n <= s.turn + window]
        done = next((t for t in near if s.move in teacher_moves(t.text)), None)
        if done is not None:
            dropped.append({**s.model_dump(), "reason": "already_done", "done_at": done.n, "evidence": _quote(done),
                            "why": f"the teacher already does this ({s.move.replace('_', ' ')}) at turn {done.n}"})
            continue
        quoted = re.findall(r"[\"“]([^\"”]{12,})[\"”]", s.suggestion)
        said = next((t for q in quoted for t in near if len(_words(q)) >= 3
                     and len(_words(q) & _words(t.text)) >= quote_share * len(_words(q))), None)  # fmt: skip
        if said is not None:
            dropped.append({**s.model_dump(), "reason": "already_said", "done_at": said.n, "evidence": _quote(said),
                            "why": f"the teacher already says this at turn {said.n}"})
            continue
        kept.append(s)
    return kept, dropped


# -- the report ----------------------------------------------------------------------------------------------


def coach_markdown(result: Mapping[str, Any]) -> str:
    """The coach's output as Markdown (scores, highlights, missed opportunities, suggestions, what was dropped)."""
    lines = ["# Coaching report", ""]
    turns = result.get("turns") or []
    lines.append(f"{len(turns)} turns ({sum(1 for t in turns if t.get('speaker') == 'teacher')} by the teacher).")
    lines += ["", "## A. Scores", "", "| dimension | score | evidence turns | why |", "| --- | --- | --- | --- |"]
    for s in result.get("scores") or []:
        ev = ", ".join(str(n) for n in s.get("evidence", [])) or "—"
        lines.append(f"| {s['name']} ({s['code']}) | {s['score']} / {s['scale']} | {ev} | {s.get('reason', '')} |")
    findings = result.get("findings") or []
    for kind, title in (("highlight", "B. Highlights"), ("missed", "B. Missed opportunities")):
        lines += ["", f"## {title}", ""]
        items = [f for f in findings if f["kind"] == kind]
        lines += [f"- **Turn {f['turn']}** — “{f['quote']}”: {f['reason']}" for f in items] or ["- none found"]
    lines += ["", "## C. Suggestions to elicit student reasoning", ""]
    kept = result.get("suggestions") or []
    lines += [f"- **Turn {s['turn']}** ({s['move'].replace('_', ' ')}): {s['suggestion']}" for s in kept] or [
        "- none left after the novelty check"]
    dropped = result.get("dropped") or []
    lines += ["", f"Novelty check: {len(dropped)} of {len(kept) + len(dropped)} suggestions dropped as already done."]
    lines += [f"- dropped (turn {d['turn']}, {d['move'].replace('_', ' ')}): {d['why']} — “{d['evidence']}”"
              for d in dropped]  # fmt: skip
    return "\n".join(lines) + "\n"
