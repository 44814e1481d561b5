"""Dialogue acts: what a learner's message does, read before anything is graded.

A message is an answer attempt, an answer with working, a set-up without its result, a method in words, a
question about the problem or about the course, a request for the answer, a hint request, "I don't know", a
request to go back, guessing (alternatives, comparisons), off-topic talk, a greeting, a question about the
session (meta) or unclear. Only attempts (with or without working) are graded.

Questions that contain numbers are the hard case: "What does an increase of 150% mean?" asks about the
problem, "is it 18?" offers an answer. A question is read as an attempt when it offers a number as the result
("is it 18?", "18?", "do I get 9 eggs?", "would it be $18?", "is 9 right?", "what about 18?") or checks a
calculation ("is 16 - 3 - 4 = 9?"); it is a question when it asks what something means or why ("what does
150% mean?", "why do we subtract 3?"), when a number is its subject ("does 150% mean 1.5?"), or when its
numbers all come from the problem or the tutor's words and no result is offered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pedagraph.answers import NumberMatch, check_answer, compare, find_numbers, normalize_text
from pedagraph.methods.tutor.working import Working, mentioned_operations, read_working
from pedagraph.problems import Problem, Step
from pedagraph.reveal import is_extraction_attempt
from pedagraph.taxonomy import DialogueAct, MetaRequest

HINT_RE = re.compile(r"\b(?:hints?|clues?|help(?! me understand)|stuck|nudge|tip)\b")
SOLUTION_RE = re.compile(
    r"\b(?:solutions?|(?:tell|give|show)\s+(?:me\s+)?(?:the\s+)?(?:answer|result)|solve\s+it|reveal|what(?:'s|\s+is)\s+"
    r"the\s+(?:final\s+)?(?:answer|result))\b"
)
GO_BACK_RE = re.compile(
    r"\b(?:go(?:ing)?\s+back|back\s+up|previous\s+(?:step|question|part)|last\s+step|earlier\s+step|undo|step\s+back)\b"
)
DONT_KNOW_RE = re.compile(
    r"\b(?:(?:i\s+)?(?:don'?t|do\s+not|dont)\s+(?:know|get\s+it|understand)|no\s+idea|not\s+sure|idk|confused|"
    r"i\s+give\s+up|no\s+clue|lost)\b"
)
_GREETING_RE = re.compile(
    r"^(?:(?:hi|hello|hey|hiya|good (?:morning|afternoon|evening)|thanks?(?: you)?(?: so much| a lot)?|thx|ty|"
    r"ok(?:ay)?|k|cool|great|nice|got it|i see|sure|yes|yeah|yep|alright|all right|bye|goodbye|see you)"
    r"[\s,.!:)]*)+$"
)
_META: list[tuple[MetaRequest, re.Pattern[str]]] = [
    ("next_problem", re.compile(r"\b(?:next|another|new|different|harder|easier)\s+(?:one|problem|question|exercise)"
                                r"|\bsomething else to (?:practi[cs]e|solve)\b|\bwhat (?:should i do|now) next\b"
                                r"|\bwhat'?s next\b|^(?:next|next one|another|another one)\W*$")),
    ("review_solution", re.compile(r"\b(?:review|go over|walk me through|show me|see)\s+(?:the\s+)?(?:whole\s+)?"
                                   r"(?:worked\s+)?(?:solution|working|steps)\b|\bhow (?:was|is) it solved\b")),
    ("about_tutor", re.compile(r"\b(?:who|what) are you\b|\bare you (?:a |an )?(?:bot|robot|ai|human|real)\b"
                               r"|\bhow does this (?:app |tutor )?work\b|\bwhat can you do\b")),
]  # fmt: skip
_WH_RE = re.compile(r"^(?:so\s+|and\s+|but\s+|ok\s+|okay\s+)?(?:what|why|how|when|where|which|who|whose)\b")
_ABOUT_RE = re.compile(r"^(?:so\s+|ok\s+|okay\s+)?(?:what|how)\s+about\b")
_YES_NO_RE = re.compile(
    r"^(?:so\s+|and\s+|but\s+|ok\s+|okay\s+|um+\s+|hmm+\s+)?(?:is|are|was|were|does|do|did|can|could|would|should|"
    r"will|may|isn't|aren't|doesn't|don't)\b"
)
_TENTATIVE_RE = re.compile(
    r"^(?:so\s+|and\s+|then\s+|ok\s+|okay\s+|um+\s+|hmm+\s+|well\s+)?(?:"
    r"(?:is|was|would|could|will|should|might|must)\s+(?:it|that|this|the\s+(?:answer|result|total|number))"
    r"(?:\s+be)?(?:\s+(?:about|around|exactly|just))?\s+[$#]?\d"
    r"|(?:do|did|would|will|does|should|shall)\s+(?:i|we|you|she|he|they|it)\s+(?:get|have|end up with|make|need|"
    r"sell|pay|earn|run|spend)\s+(?:about\s+|around\s+|exactly\s+)?[$#]?\d"
    r"|is\s+[$#]?\d\S*\s+(?:\w+\s+)?(?:right|correct|ok|okay|the answer|it)\b"
    r")"
)
_CONCEPT_RE = re.compile(r"\bmeans?\b|\bmeaning\b|\bsame as\b|\bdifference between\b|\bwhat if\b|\bwhy\b|\bhow come\b")
_CUE_RE = re.compile(r"\b(?:answer|result|total|i get|i got|equals?)\b|=")
_QUESTION_START_RE = re.compile(
    r"^\s*(?:what|why|how|when|where|which|who|can|could|would|should|is|are|do|does|did|may)\b"
)
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+|\n+")
MATH_WORDS = frozenset(
    "fraction fractions numerator denominator percent percentage percentages decimal decimals multiply "
    "multiplication divide division add addition subtract subtraction sum difference product quotient remainder "
    "average mean ratio rate proportion equation variable profit interest discount tax area perimeter half "
    "quarter third twice double triple dozen unit units per percent increase decrease total left "
    "altogether each every".split()
)
"""Words that make a question about the subject (a course question) rather than small talk."""
_STOPWORDS = frozenset(
    "the and for you your are was were what how why who when where which that this with have has had does did "
    "can could would should will about from into then than them they she her his him its it's i'm just like "
    "know think want get got okay yes not but all any some there here out one many much these those please "
    "really very also mean means tell explain".split()
)


@dataclass(frozen=True)
class ActReading:
    """The act of a message, the number it offers (as written), its working and, for meta, what it asks."""

    act: DialogueAct
    value: float | None = None
    value_text: str | None = None
    working: Working | None = None
    meta: MetaRequest | None = None


def content_words(text: str) -> set[str]:
    """The message's content words (no stopwords), stemmed."""
    words = re.findall(r"[a-z][a-z']{2,}", normalize_text(text))
    return {stem(w) for w in words if w not in _STOPWORDS}


def stem(word: str) -> str:
    """A crude stem: "increased", "increases", "increase" -> "increas"."""
    return re.sub(r"(?:'s|ing|ed|es|e|s)$", "", word)


def is_question(text: str) -> bool:
    """Whether a message asks something (a question mark, or it starts like a question)."""
    norm = normalize_text(text)
    return "?" in norm or bool(_QUESTION_START_RE.match(norm))


def meta_request(text: str) -> MetaRequest | None:
    """What a message asks about the session itself (the next problem, the worked solution, the tutor)."""
    norm = normalize_text(text)
    return next((kind for kind, pattern in _META if pattern.search(norm)), None)


def learner_form(text: str, value: float) -> str | None:
    """The last number in `text` equal to `value`, as the learner wrote it ("5/8", "$18.00", "nine")."""
    norm = normalize_text(text)
    for m in reversed(find_numbers(text)):
        if any(compare(v, value) for v in m.values):
            return text[m.start : m.end] if len(norm) == len(text) else m.text
    return None


def _known_numbers(problem: Problem, step: Step, context: Iterable[str]) -> set[float]:
    """Numbers the learner may quote without offering them as an answer: the problem's, the step's, the tutor's."""
    known = problem.numbers() | {m.value for m in find_numbers(step.question)}
    for text in context:
        known |= {m.value for m in find_numbers(text)}
    return known


_FILLER_RE = re.compile(
    r"^(?:so|and|then|ok|okay|um+|hmm+|uh+|well|maybe|perhaps|probably|i think|i guess|i believe|i'd say|is it just)"
    r"\b[\s,]*"
)
_BARE_RE = re.compile(
    r"[$\s]*[\d.,/%$]+(?:\s*(?:[-+*/x×÷]|times|plus|minus)\s*[$]?[\d.,/%$]+)*\s*(?:[a-z']+\s*){0,3}[?.!]*"
)
_OFFER_CUE_RE = re.compile(
    r"\b(?:answer|result|total|i get|i got|i have|it's|it is|that's|that is|that makes|makes|gives|comes to|equals?)"
    r"\s+(?:is\s+|be\s+|of\s+)?(?:about\s+|around\s+|exactly\s+)?[$#]?\d"
)


def _bare(sentence: str) -> str:
    """A sentence without the fillers that soften an answer ("so maybe 18?" -> "18?")."""
    s = sentence.strip()
    while (m := _FILLER_RE.match(s)) and m.end():
        s = s[m.end() :]
    return s


def _offers_number(sentence: str, numbers: list[NumberMatch], known: set[float]) -> bool:
    """Whether a question sentence with numbers offers one as the result ("is it 18?") rather than asking.

    A number is offered only in the forms of an answer: tentatively ("is it 18?", "would it be 18 eggs?", "do I
    get 18?", "what about 18?"), bare ("18?", "maybe 9 x 2", "I think 18?"), as a calculation checked to its end
    ("is 16 - 3 - 4 = 9?") or after a result cue ("so the total is 18?"). Any other question is asked, never
    graded, whatever numbers it holds ("do I need all 3 numbers?", "is 7 x 8 = 56 something to know by heart?").
    """
    s = sentence.strip()
    if _TENTATIVE_RE.match(s) or _ABOUT_RE.match(s) or _BARE_RE.fullmatch(_bare(s)):
        return True
    if _WH_RE.match(_bare(s)) or _CONCEPT_RE.search(s):
        return False
    tail = s[numbers[-1].end :] if numbers else s
    if read_working(s).shown and len(re.findall(r"[a-z']+", tail)) <= 2 and re.search(r"=|\bequals?\b", s):
        return True  # "is 16 - 3 - 4 = 9?" checks a calculation
    return bool(_OFFER_CUE_RE.search(s))


def question_kind(text: str, problem: Problem, step: Step) -> DialogueAct:
    """A question (or chatter) without an answer in it: about the problem, about the course, or off-topic."""
    if any(any(compare(v, k) for v in m.values for k in problem.numbers()) for m in find_numbers(text)):
        return "problem_question"  # it quotes the problem's numbers
    words = content_words(text)
    topic = content_words(f"{problem.question}\n{step.question}\n{step.solution_text}")
    shared = len(words & topic) / max(1, len(words))
    about_course = bool(set(re.findall(r"[a-z]+", normalize_text(text))) & MATH_WORDS)
    if shared > 0.25:
        return "problem_question"
    if about_course:
        return "course_question"
    if len(words) >= 2:
        return "off_topic"
    return "problem_question" if is_question(text) else "unclear"


def _without_numbers(text: str, norm: str, problem: Problem, step: Step) -> ActReading:
    """The act of a message with no number in it."""
    meta = meta_request(norm)
    if meta is not None:
        return ActReading("meta", meta=meta)
    if HINT_RE.search(norm):
        return ActReading("hint_request")
    if DONT_KNOW_RE.search(norm):
        return ActReading("dont_know")
    if _GREETING_RE.fullmatch(norm.strip()):
        return ActReading("greeting")
    if is_question(text):
        return ActReading(question_kind(text, problem, step))
    if mentioned_operations(text):
        return ActReading("method", working=Working(operations=mentioned_operations(text)))
    kind = question_kind(text, problem, step)
    return ActReading(kind if kind == "off_topic" else "unclear")


def _with_numbers(text: str, problem: Problem, step: Step, context: Iterable[str]) -> ActReading:
    """The act of a message with numbers: an attempt (with working), a set-up, guessing, or a question."""
    expected = step.answer_value if step.answer_value is not None else problem.final_value
    check = check_answer(text, expected if expected is not None else float("nan"))
    working = read_working(text)
    sentences = [s for s in _SENTENCE_END.split(normalize_text(text)) if s.strip()]
    known = _known_numbers(problem, step, context)
    statements = [s for s in sentences if not is_question(s) and find_numbers(s)]
    offered = statements or [s for s in sentences if find_numbers(s) and _offers_number(s, find_numbers(s), known)]
    if not offered:
        return ActReading(question_kind(text, problem, step), working=working)
    if check.verdict == "ambiguous":
        return ActReading("guess", value=check.value, working=working)
    if check.verdict == "no_answer" or check.value is None:
        return ActReading("setup" if working.shown else "unclear", working=working)
    act: DialogueAct = "working" if working.shown else "attempt"
    return ActReading(act, value=check.value, value_text=learner_form(text, check.value), working=working)


_CODE_RE = re.compile(
    r"```|\bprint\s*\(|\bconsole\.log\b|\beval\s*\(|\bexec\s*\(|\bdef\s+\w+\s*\(|\breturn\s+\w|\blambda\b"
    r"|\b(?:var|let|const|int|float)\s+\w+\s*=|[{}]|\w+\s*=\s*[^=;]+;\s*\w+"
)


def looks_like_code(text: str) -> bool:
    """Whether a message is (or contains) program code rather than a learner's own words."""
    return bool(_CODE_RE.search(text))


def offered_outside_request(text: str) -> bool:
    """Whether a message states a number in a clause of its own, apart from a request ("18, next one please").

    A number inside the request itself ("give it to me in base 18") is the learner's wording of the request,
    not an answer they give.
    """
    for clause in re.split(r"[,;.!?\n]+", text):
        norm = normalize_text(clause)
        if find_numbers(clause) and not is_extraction_attempt(clause) and not SOLUTION_RE.search(norm):
            return True
    return False


def read_act(text: str, problem: Problem, step: Step, context: Iterable[str] = ()) -> ActReading:
    """What a learner's message does (deterministic); `context` is the tutor's recent replies it may quote."""
    norm = normalize_text(text).strip()
    if not norm:
        return ActReading("unclear")
    if looks_like_code(text):  # code to run is not an answer the learner gives, whatever it prints
        return ActReading("answer_request")
    if is_extraction_attempt(text) or SOLUTION_RE.search(norm):
        comparison = re.search(r"\b(?:more|less|greater|bigger|smaller|higher|lower|larger|over|under|above|below|"
                               r"between|close to|near|around|even|odd)\b", norm)  # fmt: skip
        return ActReading("guess" if comparison and find_numbers(text) else "answer_request")
    if GO_BACK_RE.search(norm):
        return ActReading("go_back")
    if not find_numbers(text):
        return _without_numbers(text, norm, problem, step)
    reading = _with_numbers(text, problem, step, context)
    if reading.act in ("unclear", "problem_question") and meta_request(norm):
        return ActReading("meta", meta=meta_request(norm))
    return reading


def act_as(act: DialogueAct, text: str, problem: Problem, step: Step) -> ActReading:
    """The reading of a message as `act` (an evaluator model's reading): attempts keep the number the check finds."""
    if act not in ("attempt", "working"):
        return ActReading(act, working=read_working(text), meta=meta_request(text) if act == "meta" else None)
    expected = step.answer_value if step.answer_value is not None else problem.final_value
    check = check_answer(text, expected if expected is not None else float("nan"))
    if check.value is None or check.verdict in ("no_answer", "ambiguous"):
        return ActReading("unclear", working=read_working(text))
    working = read_working(text)
    return ActReading("working" if working.shown else "attempt", check.value, learner_form(text, check.value), working)
