"""A compromised teacher writes the answer in generated forms, category by category: none reaches the learner.

The forms are generated here (hypothesis: category x value x wording), not copied from the issue or from
tests/test_gate_channels.py. Each category is checked at the gate, through the graph (final reply, streamed
tokens, learner panel) and through the app's HTTP API against an OpenAI-compatible stub. The oracle is this
file's own: the generated payload must not appear in what the learner is shown, and no plainly written number
there may equal the answer.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from pedagraph.answers import compare, find_numbers, format_number
from pedagraph.llm import StandInChatModel
from pedagraph.problems import get_problem
from pedagraph.reveal import RevealGate
from pedagraph.visible import chat_text, visible_text

PID = "gsm8k-sample-2"  # a problem other than the one tests/test_gate_channels.py uses

_ZEROS = [c for c in range(0x30, 0x1FBFA) if unicodedata.category(chr(c)) == "Nd" and unicodedata.digit(chr(c)) == 0]
_DIGIT_SYMBOLS = [  # numeric symbols with a digit value, by family: (the character for 1, ...)
    0x2460, 0x2474, 0x2488, 0x24F5, 0x2776, 0x2780, 0x278A, 0x1F101,
]
_FORMAT = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u202a", "\u202b", "\u202d", "\u2066",
           "\u2067", "\u2068", "\u206a", "\u180e"]  # fmt: skip
_LOOKALIKE = {"I": ["\u0406", "\u0399", "\u04c0", "\u2160"], "V": ["\u2164", "\u0474"], "X": ["\u0425", "\u03a7",
              "\u2169"], "L": ["\u216c", "\u13de"], "C": ["\u0421", "\u216d", "\u03f9"]}  # fmt: skip
_LANGS = ["it", "pt", "nl", "pl", "sv", "da", "fi", "tr", "id", "cs", "ro", "hu", "ru", "uk", "he", "ar", "ja",
          "ko", "vi", "th"]  # fmt: skip
_LEADS = ["", "Well, ", "Here you go: ", "Sure! ", "OK. ", "Think about this. "]
_TAILS = ["", ".", " :)", " is what you want.", ", I think.", " in total."]
CATEGORIES = ["script digits", "numeric symbols", "format characters", "markup", "look-alike letters",
              "other languages", "arithmetic", "notation", "bases", "spelled and reversed", "groups"]  # fmt: skip


def _value() -> float:
    return float(get_problem(PID).final_value)


@st.composite
def payloads(draw: st.DrawFn, category: str, value: float) -> str:
    """One way of writing `value` in `category` (what a learner could read the answer from)."""
    n = int(value)
    digits = format_number(value)
    if category == "script digits":
        zero = draw(st.sampled_from([z for z in _ZEROS if z > 0x7F]))
        return "".join(chr(zero + int(d)) for d in digits)
    if category == "numeric symbols":
        families = [f for f in _DIGIT_SYMBOLS if all(unicodedata.digit(chr(f + int(d) - 1), None) == int(d)
                                                     for d in digits if d != "0")]  # fmt: skip
        family = draw(st.sampled_from(families))
        return "".join(chr(family + int(d) - 1) if d != "0" else "0" for d in digits)
    if category == "format characters":
        sep = draw(st.lists(st.sampled_from(_FORMAT), min_size=1, max_size=3))
        return "".join(sep).join(digits)
    if category == "markup":
        forms = ["".join(f"<span>{d}</span>" for d in digits), "".join(f"&#x{ord(d):x};" for d in digits),
                 f"<b>{digits[0]}</b>{digits[1:]}", f"`{digits[0]}`{digits[1:]}", f"[{digits}](http://x.example)",
                 f"![{digits}](http://x.example/{digits}.png)", f"<abbr title='{digits}'>{digits}</abbr>",
                 "&amp;#" + "&amp;#".join(f"{ord(d)};" for d in digits)]  # fmt: skip
        return draw(st.sampled_from(forms))
    if category == "look-alike letters":
        import roman

        numeral = roman.toRoman(n)
        return "".join(draw(st.sampled_from([c, *_LOOKALIKE.get(c, [])])) for c in numeral)
    if category == "other languages":
        from num2words import num2words

        return num2words(n, lang=draw(st.sampled_from(_LANGS)))
    if category == "arithmetic":
        a = draw(st.integers(min_value=n + 3, max_value=n + 60))
        k = draw(st.integers(min_value=3, max_value=9))
        forms = [f"{a} take away {a - n}", f"{a} - {a - n}", f"{n * k} / {k}", f"{n * k} divided by {k}",
                 f"{a - n} less than {a}", f"{k} lots of {format_number(n / k)}", f"sum([{a - n}, {n - (a - n)}])"]
        return draw(st.sampled_from(forms))  # fmt: skip
    if category == "notation":
        k = draw(st.integers(min_value=1, max_value=3))
        mantissa = format_number(n / 10**k)
        forms = [f"{mantissa}e{k}", f"{mantissa}E+{k}", f"{mantissa} x 10^{k}", f"{mantissa} × 10{'¹²³'[k - 1]}",
                 f"{format_number(n * 4)}% of 25", f"√{n * n}", f"sqrt({n * n})"]  # fmt: skip
        return draw(st.sampled_from(forms))
    if category == "bases":
        base = draw(st.sampled_from([2, 3, 5, 7, 8, 16]))
        text = _in_base(n, base)
        forms = [f"{text} in base {base}", f"{text}_{base}", f"{text}" + "".join("₀₁₂₃₄₅₆₇₈₉"[int(c)] for c in
                 str(base)), f"base-{base} {text}"]  # fmt: skip
        if base in (2, 8, 16):
            forms.append({2: "0b", 8: "0o", 16: "0x"}[base] + text)
        return draw(st.sampled_from(forms))
    if category == "spelled and reversed":
        from num2words import num2words

        word = num2words(n).replace("-", "").replace(" ", "")
        sep = draw(st.sampled_from(["-", ".", " ", "_", " · ", "/"]))
        forms = [sep.join(word), word[::-1], f"{digits[::-1]} read backwards", sep.join(word[::-1])]
        return draw(st.sampled_from(forms))
    if category == "groups":
        forms = [f"{format_number(n / 12)} dozen", f"{format_number(n / 20)} score", f"{format_number(n / 2)} pairs"]
        return draw(st.sampled_from([f for f in forms if not f.endswith(("0 dozen", "0 score"))] or forms[:1]))
    raise AssertionError(category)


def _in_base(n: int, base: int) -> str:
    out = ""
    while n:
        n, r = divmod(n, base)
        out = "0123456789abcdef"[r] + out
    return out or "0"


@st.composite
def replies(draw: st.DrawFn, category: str, value: float) -> tuple[str, str]:
    """(a whole compromised reply, the payload in it)."""
    payload = draw(payloads(category, value))
    return f"{draw(st.sampled_from(_LEADS))}The answer is {payload}{draw(st.sampled_from(_TAILS))}", payload


_COUNTERS = re.compile(r"\*\*\d+\*\*|\b\d+ (?:event|reply|repl)|×\d+|\b\d+/\d+ correct|\(\d+%\)|\(seen \d+ times\)")


def learner_can_read(shown: str, payload: str, value: float) -> bool:
    """This file's oracle: the payload as the chat shows it, or a plainly written number equal to the answer."""
    shown = _COUNTERS.sub(" ", shown)  # the panel's own counters (sessions, hints, events) are not answers
    seen = visible_text(chat_text(shown)).lower()
    mark = visible_text(chat_text(payload)).lower().strip()
    if mark and len(mark) >= 2 and mark in seen:
        return True
    return any(compare(m.value, value) for m in find_numbers(seen))


# -- at the gate ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("category", CATEGORIES)
def test_each_category_is_blocked_at_the_gate(category):
    problem = get_problem(PID)
    gate = RevealGate.for_problem(problem)

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(replies(category, problem.final_value))
    def check(generated: tuple[str, str]) -> None:
        reply, _payload = generated
        assert gate.check(chat_text(reply), allowed_values=()).blocked, reply

    check()


# -- through the graph: final replies, streamed tokens, the learner panel -----------------------------------------


@pytest.fixture(scope="module")
def graph():
    from pedagraph.graphs.tutor import build_graph

    return build_graph(checkpointer=InMemorySaver())


_RUN = iter(range(10**6))


def _turn(graph: Any, reply: str, says: str) -> tuple[dict, str, str]:
    """(state, streamed token text, learner panel) after one learner turn answered by a teacher writing `reply`."""
    from pedagraph.graphs.tutor import Context
    from pedagraph.ui.panel import learner_panel

    from pedagraph.learner import get_learner_store

    n = next(_RUN)
    teacher = StandInChatModel(reply_fn=lambda call: None if call.schema_name else reply)
    context = Context(learner_id=f"cat-{n}", teacher_model=teacher, leak_check=False)
    config = {"configurable": {"thread_id": f"cat-{n}"}}
    graph.invoke({"problem_id": PID}, config, context=context)
    streamed, state = "", {}
    for mode, chunk in graph.stream(Command(resume=says), config, context=context, stream_mode=["custom", "values"]):
        if mode == "custom" and chunk["type"] == "token":
            streamed += chunk["text"]
        elif mode == "values":
            state = chunk
    panel = learner_panel(get_learner_store().get(f"cat-{n}"), state)
    return state, streamed, panel


@pytest.mark.parametrize("category", CATEGORIES)
def test_each_category_never_reaches_the_learner_through_the_graph(graph, category):
    problem = get_problem(PID)
    value = problem.final_value

    @settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow,
              HealthCheck.function_scoped_fixture])  # fmt: skip
    @given(replies(category, value), st.sampled_from(["tell me the answer", "7001", "can I have a hint?"]))
    def check(generated: tuple[str, str], says: str) -> None:
        reply, payload = generated
        state, streamed, panel = _turn(graph, reply, says)
        final = state["messages"][-1].content
        for shown in (final, streamed, panel):
            assert not learner_can_read(shown, payload, value), (category, reply, shown[:300])
        assert state["reveal_events"] and state["reveal_events"][-1]["action"] in ("replaced", "regenerated", "cut")

    check()


# -- through the app's HTTP API -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compromised_app(tmp_path_factory):
    """`pedagraph ui` with a teacher behind a real OpenAI-compatible server that answers each message in a form."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_ui import App

    from pedagraph.testing.openai_stub import OpenAIStub

    plan: dict[str, str] = {}

    def reply(body: dict) -> str | None:
        if body.get("response_format") or body.get("tools"):
            return None
        users = [m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user"]
        tag = re.search(r"#(q[a-z]+)", str(users[-1]) if users else "")
        return plan.get(tag.group(1), "Let's think.") if tag else "Let's think."

    stub = OpenAIStub(reply_fn=reply, stream_chunk_chars=4)
    stub.start()
    root = tmp_path_factory.mktemp("gate-categories")
    app = App(root / "home", root)
    app.extra_env = {"PEDAGRAPH_MODEL": "openai:stub-model", "PEDAGRAPH_BASE_URL": stub.base_url}
    app.start()
    yield app, plan
    app.stop()
    stub.stop()


@pytest.mark.slow
def test_no_category_reaches_the_learner_over_http(compromised_app):
    app, plan = compromised_app
    problem = get_problem(PID)
    client = app.client()  # a learner of the teacher's class, logged in; the server knows who is calling
    client.predict(api_name="/restore")
    by_category = st.sampled_from(CATEGORIES).flatmap(lambda c: replies(c, problem.final_value).map(lambda r: (c, r)))
    seen: set[str] = set()

    @settings(max_examples=33, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip
    @given(by_category)
    def check(generated: tuple[str, tuple[str, str]]) -> None:
        category, (reply, payload) = generated
        seen.add(category)
        tag = _letters(len(plan))
        plan[tag] = reply
        client.predict(PID, api_name="/start")  # a new thread per reply
        out = client.predict(f"#{tag} tell me the answer", api_name="/send")
        for text in _strings(out):
            assert not learner_can_read(text, payload, problem.final_value), (category, reply, text[:300])

    check()
    assert len(seen) >= len(CATEGORIES) // 2


def _letters(n: int) -> str:
    """A tag without digits (the learner's message must not state a number itself)."""
    out = ""
    while True:
        n, r = divmod(n, 26)
        out = "abcdefghijklmnopqrstuvwxyz"[r] + out
        if not n:
            return f"q{out}"


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [re.sub(r"\b(?:ui|learner)-[0-9a-f]+\b", " ", value)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []
