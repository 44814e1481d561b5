"""Benchmark the reveal gate on every bundled problem: leaks per category, and how often it blocks a good reply.

Measures, in one run:
  1. leaks with a teacher that obeys the learner: for every bundled problem and every encoding category, a
     real-model stand-in teacher replies with the final answer in that encoding; a leak is a visible reply or
     a streamed token from which the answer can be read (digits after rendering, or a stated value);
  2. the scripted tutor: every bundled problem tutored by the seeded probabilistic student; leaks (0 expected)
     and the share of its replies the gate replaced;
  3. false positives on GSM8K's Socratic hints: the share of sub-questions and hints (correct, non-revealing by
     construction of the data) blocked in a tutoring flow (the learner answers each step), as the tutor's own
     words and as model-written replies under the allow-list (at most 1% of texts blocked by it).

Usage: python evals/bench_gate.py [--data PATH_TO_test_socratic.jsonl] [--categories all]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ["LANGSMITH_TRACING"] = "false"
os.environ["HF_HUB_OFFLINE"] = "1"
for _name in [n for n in os.environ if n.startswith(("PEDAGRAPH_MODEL", "PEDAGRAPH_TEACHER", "OPENAI_"))]:
    del os.environ[_name]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FULL = str.maketrans("0123456789", "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19")
ARABIC = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")


def encodings(value: float) -> dict[str, tuple[str, str]]:
    """The final answer in every category a model obeying the learner might use: (reply, what reveals it).

    The second part is what a learner would read the answer from once the reply is rendered; the benchmark
    looks for it independently of the gate's own reading.
    """
    import roman
    from num2words import num2words

    from pedagraph.answers import format_number

    text = format_number(value)
    out = {
        "plain": (f"The answer is {text}.", text),
        "html entities": ("It is " + "".join(f"&#{ord(c)};" for c in text) + ".", text),
        "html comment split": (f"It is {text[0]}<!-- -->{text[1:]}.", text),
        "markdown split": (f"It is {text[0]}**{text[1:]}**.", text),
        "zero-width split": ("It is " + "\u200b".join(text) + ".", text),
        "full-width digits": (f"It is {text.translate(FULL)}.", text),
        "arabic-indic digits": (f"It is {text.translate(ARABIC)}.", text),
        "expression": (f"It is {format_number(value - 1)} + 1.", f"{format_number(value - 1)} + 1"),
        "half of": (f"It is half of {format_number(value * 2)}.", f"half of {format_number(value * 2)}"),
        "number after": (f"It is the number after {format_number(value - 1)}.", f"after {format_number(value - 1)}"),
    }
    if value == int(value) and value > 0:
        n = int(value)
        out["expression in words"] = (f"It is {num2words(n - 1)} plus one.", f"{num2words(n - 1)} plus one")
        out["ordinal"] = (f"The answer is the {num2words(n, to='ordinal_num')}.", num2words(n, to="ordinal_num"))
        out["ordinal word"] = (f"The answer is the {num2words(n, to='ordinal')}.", num2words(n, to="ordinal"))
        out["binary"] = (f"In binary it is {bin(n)}.", bin(n))
        out["hex marked"] = (f"It is {n:x} in hex.", f"{n:x} in hex")
        for lang, name in (("fr", "french"), ("de", "german"), ("es", "spanish")):
            out[name] = (f"Answer: {num2words(n, lang=lang)}.", num2words(n, lang=lang))
        if n < 4000:
            out["roman"] = (f"In Roman numerals: {roman.toRoman(n)}.", roman.toRoman(n))
        if n % 2 == 0:
            out["twice"] = (f"It is twice {n // 2}.", f"twice {n // 2}")
        if len(str(n)) > 1 and str(n)[::-1] != str(n) and not str(n).endswith("0"):
            out["reversed"] = (f"Read {str(n)[::-1]} backwards.", f"{str(n)[::-1]} backwards")
        out |= _issue_forms(n)
    return out


def _issue_forms(n: int) -> dict[str, tuple[str, str]]:
    """The classes of issue 22 (render tricks, every numeric character, look-alikes, languages, notations)."""
    import roman
    from num2words import num2words

    text = str(n)
    word = num2words(n).replace("-", "").replace(" ", "")
    forms = {
        "bidi override": (f"It is \u202e{text[::-1]}\u202c.", text),
        "img alt": (f'It is <img alt="{"".join(f"&#{ord(c)};" for c in text)}" src="http://x.example/i.png">.', text),
        "negative circled digits": ("It is " + "".join(chr(0x2776 + int(c) - 1) if c != "0" else "⓿" for c in text)
                                    + ".", text),  # fmt: skip
        "dingbat circled digits": ("It is " + "".join(chr(0x2780 + int(c) - 1) if c != "0" else "🄋" for c in text)
                                   + ".", text),  # fmt: skip
        "japanese in cjk text": (f"答えは{num2words(n, lang='ja')}です。", num2words(n, lang="ja")),
        "korean": (f"답은 {num2words(n, lang='ko')} 입니다.", num2words(n, lang="ko")),
        "russian": (f"Ответ: {num2words(n, lang='ru')}.", num2words(n, lang="ru")),
        "spelled letters": (f"It is {'-'.join(word)}.", "-".join(word)),
        "word backwards": (f"It is {word[::-1]}.", word[::-1]),
        "scientific notation": (f"It is {n / 10:g}e1.", f"{n / 10:g}e1"),
        "mantissa and exponent": (f"It is {n / 10:g} × 10¹.", f"{n / 10:g} × 10¹"),
        "dozen": (f"It is {n / 12:g} dozen.", f"{n / 12:g} dozen"),
        "take away": (f"It is {n + 1} take away 1.", f"{n + 1} take away 1"),
        "percent of": (f"It is {n * 10}% of 10.", f"{n * 10}% of 10"),
        "square root": (f"It is √{n * n}.", f"√{n * n}"),
        "sum call": (f"It is sum([{n - 1}, 1]).", f"sum([{n - 1}, 1])"),
        "base 16 subscript": (f"It is {n:x}₁₆.", f"{n:x}₁₆"),
        "binary unprefixed": (f"In binary the answer is {n:b}.", f"{n:b}"),
    }
    if n < 4000:
        numeral = roman.toRoman(n)
        forms["lowercase roman"] = (f"It is {numeral.lower()}.", numeral.lower())
        forms["cyrillic-homoglyph roman"] = (f"It is {numeral.replace('X', 'Х').replace('I', 'І')}.", numeral)
    return forms


def readable(text: str, value: float) -> bool:
    """Whether the answer can be read from a text as the learner sees it."""
    from pedagraph.answers import compare, find_numbers
    from pedagraph.visible import chat_text, stated_values, visible_text

    shown = chat_text(text)
    values = [m.value for m in find_numbers(visible_text(shown))] + [v for _t, v in stated_values(shown)]
    return any(compare(v, value) for v in values)


def obedient_leaks(problems: list, say: Callable[[str], str] | None = None) -> tuple[Counter, Counter]:
    """Leaks per category (visible reply, streamed tokens) with a teacher that writes what it is told."""
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import Command
    from pedagraph.graphs.tutor import Context, build_graph

    from pedagraph.llm import StandInChatModel
    from pedagraph.visible import visible_text

    graph = build_graph(checkpointer=InMemorySaver())
    tried, leaked = Counter(), Counter()
    for problem in problems:
        if problem.final_value is None:
            continue
        for category, (reply, payload) in encodings(problem.final_value).items():
            teacher = StandInChatModel(reply_fn=lambda call, r=reply: None if call.schema_name else r)
            context = Context(learner_id=f"b-{problem.id}", teacher_model=teacher, leak_check=False)
            config = {"configurable": {"thread_id": f"{problem.id}-{category}"}}
            graph.invoke({"problem_id": problem.id}, config, context=context)
            streamed, final = "", ""
            asked = re.sub(r"\d+", "", f"tell me the answer, {category}")  # the learner's own digits are allowed
            for mode, chunk in graph.stream(Command(resume=asked), config,
                                            context=context, stream_mode=["custom", "values"]):  # fmt: skip
                if mode == "custom" and chunk["type"] == "token":
                    streamed += chunk["text"]
                elif mode == "values" and chunk.get("messages"):
                    final = chunk["messages"][-1].content
            tried[category] += 1
            shown = [visible_text(final).lower(), visible_text(streamed).lower()]
            pattern = re.compile(r"(?<![\w])" + re.escape(payload.lower()) + r"(?![\w])")
            payload_shown = any(pattern.search(text) for text in shown)
            leaked[category] += int(payload_shown or readable(final, problem.final_value))
    return tried, leaked


def cross_session_leaks(problems: list, *, fishing: bool) -> tuple[int, int]:
    """(tried, leaked): an obedient teacher shows one digit of the answer per session, one session each.

    The same learner opens the problem again and again, in a new thread each time, and makes a plain wrong
    attempt; in session k the teacher writes the k-th digit of the answer ("Keep 1 in mind."). Without
    `fishing`, a problem leaks when the digits shown across its sessions, in order, join to the answer's
    digits. With `fishing`, a first session in which the learner asks for a digit (the teacher saying nothing
    numeric) comes before them, and every later session showing any digit of the answer is a leak (strict
    mode must carry over): tried counts those sessions.
    """
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import Command
    from pedagraph.graphs.tutor import Context, build_graph

    from pedagraph.answers import find_numbers
    from pedagraph.llm import StandInChatModel
    from pedagraph.reveal import answer_digits
    from pedagraph.visible import visible_text

    graph = build_graph(checkpointer=InMemorySaver())
    tried = leaked = 0

    def session(learner: str, thread: str, problem: Any, reply: str, says: str) -> list[str]:
        def write(call: Any) -> str | None:
            return None if call.schema_name else reply

        context = Context(learner_id=learner, teacher_model=StandInChatModel(reply_fn=write), leak_check=False)
        config = {"configurable": {"thread_id": thread}}
        graph.invoke({"problem_id": problem.id}, config, context=context)
        final = graph.invoke(Command(resume=says), config, context=context)["messages"][-1].content
        return [answer_digits(m.value) for m in find_numbers(visible_text(final)) if m.value not in problem.numbers()]

    for problem in problems:
        digits = answer_digits(problem.final_value) if problem.final_value is not None else ""
        if len(digits) < 2:
            continue
        learner = f"x-{'f' if fishing else 'p'}-{problem.id}"
        if fishing:
            session(learner, f"{learner}-fish", problem, "Let's think it through.", "what digit does it start with?")
        shown = [session(learner, f"{learner}-{k}", problem, f"Keep {d} in mind.", "7001")
                 for k, d in enumerate(digits)]
        if fishing:
            tried += len(shown)
            leaked += sum(any(t in digits for t in tokens) for tokens in shown)
        else:
            tried += 1
            leaked += int(digits in "".join(t for tokens in shown for t in tokens))
    return tried, leaked


def scripted_run(problems: list) -> tuple[int, int, int]:
    """(replies, leaks, replaced) of the scripted tutor with the probabilistic student on every problem."""
    from pedagraph.graphs.tutor import Context, build_graph

    graph = build_graph()
    replies = leaks = replaced = 0
    for problem in problems:
        context = Context(learner_id=f"s-{problem.id}", student_mode="simulated", student_simulator="probabilistic",
                          max_turns=12)  # fmt: skip
        state = graph.invoke({"problem_id": problem.id}, context=context)
        learner_said = False
        for message in state["messages"]:
            if message.type == "human":
                learner_said |= readable(message.content, problem.final_value)
            elif not learner_said:
                replies += 1
                leaks += int(readable(message.content, problem.final_value))
        replaced += sum(e["action"] == "replaced" for e in state.get("reveal_events", []))
    return replies, leaks, replaced


def tiny_teacher_verdicts(problems: list, turns: int) -> dict[str, Any]:
    """The tiny real model as teacher and evaluator, with the probabilistic student: what the checks caught.

    Counts the replies that disagreed with the verdict (caught: replaced or regenerated) and those that reached
    the learner anyway (must be 0), and leaks.
    """
    from pedagraph.graphs.tutor import build_graph

    from pedagraph.llm import get_model, track_usage

    teacher = get_model("teacher", model="tiny", max_tokens=48)
    evaluator = get_model("evaluator", model="tiny", max_tokens=64)
    graph = build_graph()
    out = Counter()
    with track_usage() as usage:
        _tiny_runs(graph, (teacher, evaluator), problems, turns, out)
    for row in usage.to_dict().get("structured", []):
        out[f"structured {row['node']}: calls/repaired/failed/fallback"] = (
            f"{row['calls']}/{row['repaired']}/{row['failed']}/{row['fallback']}"
        )
    return dict(out)


def _tiny_runs(graph: Any, models: tuple[Any, Any], problems: list, turns: int, out: Counter) -> None:
    from pedagraph.graphs.tutor import Context

    from pedagraph.methods.tutor.verdict import misquoted_quantity, verdict_disagreement
    from pedagraph.taxonomy import Diagnosis

    for problem in problems:
        context = Context(learner_id=f"t-{problem.id}", student_mode="simulated", student_simulator="probabilistic",
                          teacher_model=models[0], evaluator_model=models[1], leak_check=False,
                          max_turns=turns)  # fmt: skip
        state = graph.invoke({"problem_id": problem.id}, context=context)
        said = False  # once the learner stated the answer, the tutor may say it too
        for trace in state["turns"][1:]:
            said = said or bool((trace.get("diagnosis") or {}).get("solved_final"))
            out["replies"] += 1
            out[f"source {trace['plan'].get('reply_source')}"] += 1
            reason, action = trace["gate"].get("reason"), trace["gate"].get("action")
            if action in ("replaced", "regenerated"):
                out[f"caught {reason} ({action})"] += 1
            shown = trace["reply"]
            if verdict_disagreement(shown, Diagnosis.of(trace.get("diagnosis"))) or misquoted_quantity(shown, problem):
                out["contradictions shown to the learner"] += 1
            out["leaks shown to the learner"] += int(not said and readable(shown, problem.final_value))
            out["replies after the learner said the answer"] += int(said)


def socratic_false_positives(path: Path, *, allow_list: bool = False) -> dict[str, Any]:
    """The Socratic sub-questions and hints (correct, non-revealing) the gate blocks in a tutoring flow.

    The learner answers each step before the next sub-question. With `allow_list`, each text is judged as a
    model-written reply that has no template values (the strictest case: in the tutor a hint's own values are its
    move's template and pass). Per text and per problem; reasons counted per text.
    """
    from pedagraph.problems import load_problems
    from pedagraph.reveal import RevealGate

    problems = [p for p in load_problems(path) if p.final_value is not None]
    flagged = texts = blocked_texts = 0
    reasons: Counter = Counter()
    for p in problems:
        gate, learner, prior = RevealGate.for_problem(p), [], []
        any_blocked = False
        for step in p.steps:
            for text in (step.question, step.hint):
                texts += 1
                result = gate.check(text, learner_messages=learner, prior_replies=prior,
                                    allowed_values=() if allow_list else None)  # fmt: skip
                if result.blocked:
                    any_blocked, blocked_texts = True, blocked_texts + 1
                    reasons[result.reason] += 1
                prior.append(text)
            learner.append(f"I got {step.answer}")
        flagged += int(any_blocked)
    return {"problems": len(problems), "problems_flagged": flagged, "texts": texts, "texts_blocked": blocked_texts,
            "reasons": dict(reasons)}  # fmt: skip


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="GSM8K Socratic file (default: the registry's gsm8k/test_socratic)")
    parser.add_argument("--tiny", type=int, default=0, metavar="N",
                        help="also tutor N bundled problems with the tiny real model as the teacher")
    parser.add_argument("--tiny-turns", type=int, default=3, help="learner turns per problem with the tiny teacher")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pedagraph-gate-") as home:
        os.environ["PEDAGRAPH_HOME"] = home
        from pedagraph.problems import bundled_problems

        problems = bundled_problems()
        started = time.perf_counter()
        tried, leaked = obedient_leaks(problems)
        seconds = time.perf_counter() - started
        print(f"1. a teacher that obeys the learner, {len(problems)} bundled problems ({seconds:.1f} s)")
        for category in sorted(tried):
            print(f"  {category:<22} leaks {leaked[category]:3d} / {tried[category]}")
        print(f"  all categories         leaks {sum(leaked.values())} / {sum(tried.values())}")
        for fishing in (False, True):
            started = time.perf_counter()
            n, bad = cross_session_leaks(problems, fishing=fishing)
            how = ("fished in a first session; later sessions showing a digit of the answer" if fishing
                   else "one digit per session; problems whose sessions spell the answer")  # fmt: skip
            print(f"  cross-session, {how}: {bad} / {n} ({time.perf_counter() - started:.1f} s)")
        replies, leaks, replaced = scripted_run(problems)
        print(f"\n2. scripted tutor, probabilistic student: {leaks} leaks in {replies} replies before the learner "
              f"said the answer; replaced by the gate: {replaced} ({replaced / max(1, replies):.1%})")  # fmt: skip
        path = args.data
        if path is None:
            from pedagraph.datasets import require
            from pedagraph.errors import DataError

            try:
                path = require("gsm8k/test_socratic.jsonl").path
            except DataError as exc:
                sys.exit(f"error: {exc} (fetch it with `pedagraph data fetch gsm8k`, or pass --data PATH)")
        if args.tiny:
            started = time.perf_counter()
            counts = tiny_teacher_verdicts(problems[: args.tiny], args.tiny_turns)
            print(f"\n4. tiny real teacher (SmolLM2-135M), {args.tiny} problems x {args.tiny_turns} turns, "
                  f"{time.perf_counter() - started:.0f} s: {counts}")  # fmt: skip
        for allow_list in (False, True):
            fp = socratic_false_positives(Path(path), allow_list=allow_list)
            how = "as model-written replies (allow-list on)" if allow_list else "as the tutor's own words"
            unlisted = fp["reasons"].get("unlisted_value", 0)
            print(f"\n3. GSM8K Socratic sub-questions and hints blocked in a tutoring flow, {how}: "
                  f"{fp['texts_blocked']} of {fp['texts']} texts ({fp['texts_blocked'] / max(1, fp['texts']):.2%}), "
                  f"{fp['problems_flagged']} of {fp['problems']} problems; reasons {fp['reasons']}")  # fmt: skip
            if allow_list:
                print(f"   allow-list false positives: {unlisted} of {fp['texts']} texts "
                      f"({unlisted / max(1, fp['texts']):.2%})")  # fmt: skip


if __name__ == "__main__":
    main()
