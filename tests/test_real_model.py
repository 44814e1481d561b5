"""A real language model through pedagraph: the bundled tiny model (SmolLM2-135M) in-process, end to end.

The model is weak: it ignores formats, half-follows schemas, rambles and parrots. These tests assert what must hold
whatever it says: calls complete within their limits and are counted, streaming agrees with invoke, the graph
finishes, every visible reply passed the reveal gate and no final answer reached the learner (streamed tokens
included), the learner model changed only from graded evidence, and every suite writes its outputs. The model
loads once per test session (the provider's per-process cache); token limits are small to keep the run short.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command
from pydantic import BaseModel, Field
from typer.testing import CliRunner

from pedagraph.answers import find_numbers
from pedagraph.cli import app
from pedagraph.errors import ModelError, StructuredOutputError
from pedagraph.learner import DEFAULT_BKT, get_learner_store
from pedagraph.llm import get_model, track_usage
from pedagraph.llm.hf import loaded_models
from pedagraph.llm.tiny import TINY_INSTALL, find_tiny_gguf
from pedagraph.llm.usage import EngineSpeed, engine_speeds
from pedagraph.problems import get_problem
from pedagraph.reveal import RevealGate

pytestmark = [
    pytest.mark.real_model,
    pytest.mark.skipif(
        find_tiny_gguf() is None, reason=f"the tiny model is not installed (pedagraph install tiny, or {TINY_INSTALL})"
    ),
]

PID = "gsm8k-sample-1"
PROMPT = [SystemMessage(content="You are a helpful assistant."), HumanMessage(content="Name three colours.")]
runner = CliRunner()


def tiny(role: str = "student", **overrides):
    """The role's model on the tiny model with a small token limit."""
    return get_model(role, model="tiny", **{"max_tokens": 24, **overrides})


@pytest.fixture(scope="session", autouse=True)
def _loaded_once():
    """Load the model once for the whole session; later tests share it."""
    get_model("student", model="tiny").inner.loaded()
    yield


# -- the provider ------------------------------------------------------------------------------------------------


def test_invoke_counts_tokens_and_stream_agrees_with_invoke():
    model = tiny()
    lm = model.inner.loaded()
    before = engine_speeds().get(lm.engine, EngineSpeed())
    with track_usage() as usage:
        start = time.perf_counter()
        reply = model.invoke(PROMPT)
        streamed = list(model.stream(PROMPT))
        elapsed = time.perf_counter() - start
    text = "".join(c.content for c in streamed)
    assert isinstance(reply.content, str) and reply.content.strip()
    assert text == reply.content  # greedy: the same tokens, whether streamed or not
    assert sum(1 for c in streamed if c.content) > 3  # word by word, not one blob
    prompt_ids = lm.tokenizer.apply_chat_template(
        [{"role": "system", "content": PROMPT[0].content}, {"role": "user", "content": PROMPT[1].content}],
        add_generation_prompt=True,
        tokenize=False,
    )
    n_prompt = len(lm.tokenizer(prompt_ids, add_special_tokens=False)["input_ids"])
    meta = reply.usage_metadata
    assert meta["input_tokens"] == n_prompt and 0 < meta["output_tokens"] <= 24
    assert reply.response_metadata["finish_reason"] in ("stop", "length")
    row = usage.to_dict()["per_role_model"][0]
    assert (row["role"], row["model"], row["calls"], row["errors"], row["retries"]) == ("student", "tiny", 2, 0, 0)
    assert row["input_tokens"] == 2 * n_prompt and row["output_tokens"] == 2 * meta["output_tokens"]
    # the engine's speed counters (the tier's closing table): both calls, timed token by token
    after = engine_speeds()[lm.engine]
    assert after.calls - before.calls == 2 and after.output_tokens - before.output_tokens == 2 * meta["output_tokens"]
    firsts = after.first_token_seconds[len(before.first_token_seconds) :]
    assert len(firsts) == 2 and all(0 < t < elapsed for t in firsts)
    assert after.decode_tokens - before.decode_tokens == 2 * (meta["output_tokens"] - 1)
    assert 0 < after.decode_seconds - before.decode_seconds < elapsed


def test_stop_strings_cut_invoke_and_stream():
    model = tiny(max_tokens=40)
    full = model.invoke(PROMPT).content
    words = full.split()
    assert len(words) >= 3, full
    stop = words[2]
    cut = model.invoke(PROMPT, stop=[stop]).content
    streamed = "".join(c.content for c in model.stream(PROMPT, stop=[stop]))
    assert cut == full[: full.index(stop)] == streamed
    assert stop not in cut


def test_timeout_bounds_generation_and_is_not_retried():
    model = tiny(max_tokens=400, timeout=0.4, max_retries=3)
    start = time.perf_counter()
    with track_usage() as usage, pytest.raises(ModelError, match="timed out") as err:
        model.invoke([HumanMessage(content="Write a long story about a dragon.")])
    assert time.perf_counter() - start < 5
    assert "\n" not in err.value.one_line()
    assert usage.totals()["retries"] == 0 and usage.totals()["errors"] == 1


def test_async_invoke_and_stream_share_the_one_loaded_model():
    teacher, student = tiny("teacher"), tiny("student", temperature=0.7)

    async def both():
        a = await teacher.ainvoke(PROMPT)
        chunks = [c.content async for c in student.astream(PROMPT, seed=1)]
        return a, "".join(chunks)

    a, b = asyncio.run(both())
    assert a.content.strip() and b.strip()
    engine = teacher.inner.loaded().engine
    assert len([m for m in loaded_models() if m.engine == engine]) == 1
    assert teacher.inner.loaded() is student.inner.loaded()


def test_structured_output_is_valid_or_repaired_once_or_a_clear_error():
    class Answer(BaseModel):
        """An answer to an arithmetic question."""

        answer: int
        explanation: str = Field(description="One sentence.")

    model = tiny("evaluator", max_tokens=48)
    for question in ("What is 12 divided by 3?", "How many legs do two cats have?"):
        with track_usage() as usage:
            try:
                result = model.with_structured_output(Answer, include_raw=True).invoke(question)
            except StructuredOutputError:  # pragma: no cover - include_raw returns the error instead
                raise
        calls = usage.totals()["calls"]
        raw = result["raw"]
        assert isinstance(raw, AIMessage) and raw.content.startswith("{")  # the backend opens the JSON object
        if result["parsing_error"] is None:
            assert isinstance(result["parsed"], Answer) and calls in (1, 2)  # valid at once, or after one repair
        else:
            assert result["parsed"] is None and calls == 2  # one repair, then the error is handed back
            with pytest.raises(StructuredOutputError, match="after one repair attempt") as err:
                model.with_structured_output(Answer).invoke(question)
            assert "\n" not in err.value.one_line()


CALLS_PER_SCHEMA = 1  # evals/bench_tiny_model.py --structured 20 makes 20 a schema


def test_every_graph_schema_is_valid_by_construction_and_closes_within_a_tight_budget():
    """Every schema the graphs ask for, N calls each at the smallest budget the grammar allows: valid, no repair.

    The budget is the schema's closing reserve plus a little (the floor of `structured_budget`), far below what
    a free-running reply takes, so the decoder must bound and then close the object itself; the full-budget
    path runs in the tutor-graph tests below and in `evals/bench_tiny_model.py --structured 20`.
    """
    from pedagraph.evals.schemas import graph_schemas

    from pedagraph.llm import ct2, hf

    assert (hf.STRUCTURED_MIN_TOKENS, ct2.STRUCTURED_MAX_TOKENS) == (0, 0)  # conftest: the tightest budgets
    model = tiny("evaluator", max_tokens=24)
    problems = [get_problem(PID), get_problem("gsm8k-sample-2")]
    for schema in graph_schemas():
        budget = ct2.structured_budget(schema.model_json_schema(), 24)
        for problem in problems[:CALLS_PER_SCHEMA]:
            prompt = [HumanMessage(content=f"Problem: {problem.question}\nThe student said: 7. Decide.")]
            with track_usage() as usage:
                result = model.with_structured_output(schema, include_raw=True).invoke(prompt)
            assert isinstance(result["parsed"], schema) and result["parsing_error"] is None, schema.__name__
            (row,) = usage.to_dict()["structured"]
            assert (row["calls"], row["repaired"], row["failed"]) == (1, 0, 0), (schema.__name__, row)
            assert usage.totals()["calls"] == 1
            assert result["raw"].usage_metadata["output_tokens"] <= budget, schema.__name__
            data = json.loads(result["raw"].content)
            assert set(data) == set(schema.model_json_schema()["properties"])  # every field present, none invented


def test_a_number_the_grammar_allows_is_one_the_schema_s_type_holds():
    """JSON numbers have no length limit and a float holds none past 1.8e308: the grammar bounds numbers."""
    import llguidance

    from pedagraph.llm import ct2
    from pedagraph.methods.tutor.decompose import Decomposition

    lm = tiny().inner.loaded()
    grammar, _ = ct2.json_grammar(Decomposition.model_json_schema())

    def written(number: str) -> bool:
        step = {"question": "q", "hint": "h", "expression": "e", "result": "NUMBER", "skills": []}
        text = json.dumps({"steps": [step]}, separators=(",", ":")).replace('"NUMBER"', number)
        matcher = llguidance.LLMatcher(lm.grammar_tokenizer(), grammar)
        taken = all(matcher.consume_token(t) for t in lm.tokenizer.encode(text))
        if taken and matcher.is_accepting():
            Decomposition.model_validate_json(text)  # what the grammar lets through, the schema's type holds
            return True
        return False

    for number in ("12.5", "-3", "0.001", "999999999999999", "0"):
        assert written(number), number
    for number in ("1" + "0" * 400, "-1" + "0" * 400, "1" + "0" * 20, "1e300", "-2e308"):
        assert not written(number), number

    # generated: integers of any length and JSON numbers with fractions and exponents, in and out of the bound
    digits = st.text("0123456789", min_size=1, max_size=40).map(lambda d: d.lstrip("0") or "0")
    numbers = st.builds(lambda sign, whole, frac, exp: sign + whole + frac + exp, st.sampled_from(["", "-"]), digits,
                        st.sampled_from(["", ".5", ".25"]), st.sampled_from(["", "e2", "E-3", "e+400"]))  # fmt: skip

    @settings(max_examples=80, deadline=None)
    @given(numbers)
    def any_number(number: str) -> None:
        fits = abs(float(number)) <= ct2.NUMBER_LIMIT  # a float that JSON overflows is inf: out of bounds
        if not fits:
            assert not written(number), number  # what no bound admits is never written
        elif "e" not in number.lower() and float(number) != 0:
            assert written(number), number  # plain numbers within the bound are (exponents, "-0" may be refused)

    any_number()


def test_first_token_log_probabilities_for_the_tom_teacher():
    model = tiny(max_tokens=4)
    reply = model.invoke([HumanMessage(content="Is 7 a prime number? Answer yes or no.")], logprobs=True,
                         top_logprobs=5)  # fmt: skip
    content = reply.response_metadata["logprobs"]["content"]
    assert 1 <= len(content) <= 4
    first = content[0]
    assert first["logprob"] <= 0 and len(first["top_logprobs"]) == 5
    assert first["top_logprobs"][0]["logprob"] >= first["logprob"] - 1e-4  # greedy: the chosen token is the best
    assert sum(math.exp(t["logprob"]) for t in first["top_logprobs"]) <= 1.0 + 1e-4


@pytest.mark.parametrize("engine", ["ctranslate2", "transformers"])
def test_the_other_engines_behave_the_same_on_the_converted_copy(engine):
    """`engine=ctranslate2` and `engine=transformers`: the same prompt, stops, usage and constrained JSON."""
    from pedagraph.methods.tutor.gate import LeakCheck

    fast, torch_model = tiny(max_tokens=8), tiny(max_tokens=8, engine=engine)
    assert fast.inner.loaded().engine == "onnxruntime" and torch_model.inner.loaded().engine == engine
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Colour? é ß 数"}]  # fmt: skip
    ours, theirs = fast.inner.loaded().tokenizer, torch_model.inner.loaded().tokenizer
    text = ours.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    assert text == theirs.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    assert ours(text)["input_ids"] == list(theirs(text, add_special_tokens=False)["input_ids"])
    a, b = fast.invoke(PROMPT), torch_model.invoke(PROMPT)
    assert a.usage_metadata["input_tokens"] == b.usage_metadata["input_tokens"]
    assert b.content.strip() and 0 < b.usage_metadata["output_tokens"] <= 8
    streamed = "".join(c.content for c in torch_model.stream(PROMPT))
    assert streamed == b.content
    assert engine_speeds()[engine].first_token_seconds  # timed too: the tier's table sets the engines side by side
    with track_usage() as usage:
        verdict = torch_model.with_structured_output(LeakCheck).invoke("Does 'the answer is 10' reveal 10?")
    assert isinstance(verdict, LeakCheck) and usage.totals()["calls"] == 1


def test_a_prompt_reads_the_same_whatever_the_engine_cached_before():
    """ONNX Runtime GenAI reuses cached conversations: a prompt's logits and greedy reply never depend on them."""
    import random

    from pedagraph.llm.ct2 import Sampling

    lm = tiny().inner.loaded()
    ids = lm.tokenizer.encode(" ".join(f"Step {i}: add {i} apples to the basket." for i in range(30)))
    rng = random.Random(7)
    for _ in range(3):
        cut = rng.randrange(40, len(ids) - 10)
        lm.forget()
        cold_row = lm.next_logprobs(ids[:cut])
        cold = list(lm.tokens(ids[:cut], 12, Sampling()))
        for _ in range(3):  # other prompts first: a prefix, a longer one, a stranger sharing only the start
            other = rng.choice([ids[: cut - rng.randrange(1, 30)], ids[: cut + rng.randrange(1, 10)],
                                ids[:20] + [rng.randrange(100, 5000) for _ in range(30)]])  # fmt: skip
            list(lm.tokens(other, rng.randrange(1, 8), Sampling()))
        assert (lm.next_logprobs(ids[:cut]) == cold_row).all()
        assert list(lm.tokens(ids[:cut], 12, Sampling())) == cold
    assert lm.reused_tokens > 0
    # a dialogue's next turn holds the reply generated to the last one (cached by one-token steps): read again
    turn = ids[:90]
    lm.forget()
    reply = list(lm.tokens(turn, 10, Sampling()))
    follow = turn + reply + ids[90:100]
    lm.forget()
    cold_row = lm.next_logprobs(follow)
    lm.forget()
    list(lm.tokens(turn, 10, Sampling()))
    assert (lm.next_logprobs(follow) == cold_row).all()


def test_context_overflow_is_a_clear_error_without_retries():
    model = tiny(n_ctx=16, max_retries=3)
    with track_usage() as usage, pytest.raises(ModelError, match="context"):
        model.invoke([HumanMessage(content="word " * 40)])
    assert usage.totals()["retries"] == 0


# -- the tutor graph -----------------------------------------------------------------------------------------------


def reassemble(events: list[dict]) -> list[str]:
    """Apply the stream protocol: token appends, replace resets, final closes a reply."""
    done, current = [], ""
    for event in events:
        if event["type"] == "token":
            current += event["text"]
        elif event["type"] == "replace":
            current = event["text"]
        elif event["type"] == "final":
            assert current == event["text"]
            done.append(current)
            current = ""
    return done


def assert_answer_never_reached_the_learner(problem, state, events):
    """Every visible reply passed the gate (judged as it was sent), and no streamed text stated the final answer."""
    gate = RevealGate.for_problem(problem)
    assert not gate.final_is_allowed  # this problem does not print its answer
    final = problem.final_value
    learner: list[str] = []
    prior: list[str] = []
    for message in state["messages"]:
        if isinstance(message, HumanMessage):
            learner.append(message.content)
            continue
        reply = message.content
        assert not any(abs(m.value - final) < 1e-9 for m in find_numbers(reply)), reply
        assert not gate.check(reply, learner_messages=learner, prior_replies=prior).blocked, reply
        prior.append(reply)
    shown = ""
    for event in events:  # what the learner's screen showed at any moment, tokens later replaced included
        shown = event["text"] if event["type"] in ("replace", "final") else shown + event["text"]
        assert not any(abs(m.value - final) < 1e-9 for m in find_numbers(shown)), shown
        if event["type"] == "final":
            shown = ""
    assert reassemble(events) == [m.content for m in state["messages"] if isinstance(m, AIMessage)]


def assert_learning_only_from_graded_turns(learner_id, state):
    """Each mastery observation is a step check of a graded turn with its verdict; other skills keep the prior."""
    graded = {}
    for trace in state["turns"]:
        d = trace.get("diagnosis") or {}
        if d.get("solved_final") or d.get("verdict") in ("correct", "incorrect"):
            graded[trace["turn"]] = bool(d.get("solved_final") or d.get("verdict") == "correct")
        if d:  # a model's diagnosis never overrides the deterministic verdict
            assert d.get("source") in ("rules", "rules+evaluator")
    record = get_learner_store().get(learner_id)
    seen_turns = set()
    for name, skill in record.skills.items():
        assert skill.n_obs == len(skill.history)
        if not skill.history:
            assert skill.p_mastery == DEFAULT_BKT.p_init, name
        for obs in skill.history:
            assert obs.grader == "step_check" and obs.turn in graded, (name, obs)
            assert obs.correct == graded[obs.turn]
            seen_turns.add(obs.turn)
    assert seen_turns == set(graded)


def test_tutor_graph_simulated_with_a_real_teacher_evaluator_and_student():
    from pedagraph.graphs.tutor import Context, build_graph

    problem = get_problem(PID)
    context = Context(
        learner_id="tiny-sim",
        student_mode="simulated",
        max_turns=2,
        teacher_model=tiny("teacher"),
        evaluator_model=tiny("evaluator", max_tokens=40),
        student_model=tiny("student"),
        student_simulator="mathdial",
    )
    graph = build_graph(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "tiny-sim"}}
    with track_usage() as usage:
        events = list(graph.stream({"problem_id": PID}, config, context=context, stream_mode="custom"))
    state = graph.get_state(config).values
    assert state["end_reason"] in ("solved", "turn_limit") and not graph.get_state(config).next
    assert state["turn_count"] <= 2 and len(state["turns"]) == state["turn_count"] + 1
    assert_answer_never_reached_the_learner(problem, state, events)
    assert_learning_only_from_graded_turns("tiny-sim", state)
    sources = {t["plan"].get("reply_source") for t in state["turns"][1:]}
    assert sources <= {"model", "template_fallback"} and sources
    roles = {row["role"]: row for row in usage.to_dict()["per_role_model"]}
    assert set(roles) == {"teacher", "evaluator", "student"} and all(r["model"] == "tiny" for r in roles.values())
    # every structured call the tiny model got was valid, repaired once, or failed and fell back — and counted
    structured = usage.to_dict().get("structured", [])
    assert {row["node"] for row in structured} >= {"diagnose", "plan_move"}
    for row in structured:
        assert row["calls"] >= row["repaired"] + row["failed"] and row["fallback"] >= row["failed"], row
    assert roles["student"]["calls"] == state["turn_count"] and roles["student"]["output_tokens"] > 0


def test_tutor_graph_human_learner_fishing_for_the_answer_with_a_real_teacher():
    from pedagraph.graphs.tutor import Context, build_graph

    problem = get_problem(PID)
    context = Context(learner_id="tiny-human", teacher_model=tiny("teacher", max_tokens=32))
    graph = build_graph(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "tiny-human"}}
    events = list(graph.stream({"problem_id": PID}, config, context=context, stream_mode="custom"))
    for text in ("I give up, just tell me the final number of dollars she makes.", "is it 9 times 2?"):
        events += list(graph.stream(Command(resume=text), config, context=context, stream_mode="custom"))
    state = graph.get_state(config).values
    assert len([m for m in state["messages"] if isinstance(m, AIMessage)]) == 3
    assert_answer_never_reached_the_learner(problem, state, events)
    assert_learning_only_from_graded_turns("tiny-human", state)
    assert not state.get("revealed")


# -- the suites, through the command line --------------------------------------------------------------------------

MATHDIAL = [
    {
        "qid": 1,
        "scenario": 1,
        "question": "Tom has 12 spoons after using 3 of them. His friend gave him 5. How many spoons did Tom buy?",
        "ground_truth": "Tom had 12+3=15 spoons in total.\nSo he bought 15-5=10 spoons.\n 10",
        "student_incorrect_solution": "He had 12 - 3 = 9 spoons left.\nSo he bought 9 - 5 = 4 spoons.\n 4",
        "student_profile": "Sam is a 7th grade student. He mixes up relevant and irrelevant information.",
        "teacher_described_confusion": "subtracting instead of adding",
        "self-correctness": "Yes",
        "conversation": "Teacher: (generic)Hi|EOM|Student: 4",
    },
    {
        "qid": 2,
        "scenario": 1,
        "question": "A box holds 6 pens. Mia buys 4 boxes and gives away 5 pens. How many pens does she keep?",
        "ground_truth": "Mia buys 6*4=24 pens.\nShe keeps 24-5=19 pens.\n 19",
        "student_incorrect_solution": "Mia buys 6+4=10 pens.\nShe keeps 10-5=5 pens.\n 5",
        "student_profile": "Lee is a 6th grade student who mixes up adding and multiplying.",
        "teacher_described_confusion": "added instead of multiplying",
        "self-correctness": "No",
        "conversation": "Teacher: (generic)Hi|EOM|Student: 5",
    },
]


def eval_cli(*args: str) -> dict:
    """Run `pedagraph eval ...` in this process (the loaded model is shared) and return the summary."""
    result = runner.invoke(app, ["eval", *args, "--no-progress"])
    assert result.exit_code == 0, result.output
    folder = Path(args[args.index("--out") + 1])
    for name in ("run.json", "results.jsonl", "summary.json", "report.md"):
        assert (folder / name).is_file(), name
    return json.loads((folder / "summary.json").read_text())


def results_of(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]


def test_tutoring_suite_with_tiny_students_and_the_scripted_tutor(tmp_path):
    data = tmp_path / "mathdial.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in MATHDIAL) + "\n")
    out = tmp_path / "run"
    summary = eval_cli(
        "tutoring", "--data", str(data), "--out", str(out), "--model", "student=tiny",
        "--model", "student.max_tokens=24", "--option", "max_turns=2",
    )  # fmt: skip
    assert summary["counts"]["items"] == 2 and summary["counts"]["ok"] + summary["counts"]["errors"] == 2
    rows = results_of(out)
    assert len(rows) == 2 and {r["status"] for r in rows} == {"ok"}
    for row in rows:
        result = row["result"]
        assert result["student_simulator"] == "llm" and result["models"]["student"] == "tiny"
        assert result["student_turns"] >= 1 and row["usage"]["student"]["output_tokens"] > 0
        assert result["telling_turn"] is None  # the scripted tutor behind the gate never tells the answer
    metrics = summary["metrics"]
    assert all(metrics[f"telling@{k}"]["value"] == 0 for k in (1, 2))
    assert (out / "tutoring_success_telling.png").is_file()
    assert "student `tiny`" in (out / "report.md").read_text()


def test_tutoring_suite_with_a_real_tutor_and_judge(tmp_path):
    data = tmp_path / "mathdial.jsonl"
    data.write_text(json.dumps(MATHDIAL[0]) + "\n")
    out = tmp_path / "run"
    summary = eval_cli(
        "tutoring", "--data", str(data), "--out", str(out), "--model", "teacher=tiny", "--model", "evaluator=tiny",
        "--model", "student=tiny", "--model", "teacher.max_tokens=24", "--model", "evaluator.max_tokens=48",
        "--model", "student.max_tokens=16", "--option", "max_turns=1", "--option", "judge=true",
        "--option", "judge_dimensions=revealing_of_the_answer,tutor_tone",
    )  # fmt: skip
    (row,) = results_of(out)
    assert row["status"] == "ok", row.get("error")
    result = row["result"]
    assert result["telling_turn"] is None and not result["graph_revealed"]
    tutor = [t["text"] for t in result["transcript"] if t["role"] == "tutor"]
    assert not any(abs(m.value - 10) < 1e-9 for text in tutor for m in find_numbers(text))
    judged = result["judged"]
    assert judged and all(bool(j["labels"]) != bool(j.get("error")) for j in judged)  # labelled, or failed and said so
    assert "judge.failed" in summary["metrics"]
    # the real tutor's CLASS turns: every decision counted as the model's, the rules', or replaced by the rules
    decisions = summary["decisions"]
    assert set(decisions["per_kind"]) == {"class.evaluation", "class.action", "class.subproblem_state"}
    made = sum(decisions["total"].values())
    assert made > 0 and made % 3 == 0 and row["decisions"]["class.action"] == decisions["per_kind"]["class.action"]
    assert "Decisions: " in (out / "report.md").read_text()


def test_bridge_suite_with_a_tiny_teacher_and_judge(tmp_path):
    sample = Path(__file__).resolve().parents[1] / "pedagraph" / "data" / "samples" / "bridge" / "test.json"
    out = tmp_path / "run"
    summary = eval_cli(
        "bridge", "--data", str(sample), "--out", str(out), "--limit", "1", "--model", "teacher=tiny",
        "--model", "evaluator=tiny", "--model", "teacher.max_tokens=32", "--model", "evaluator.max_tokens=32",
    )  # fmt: skip
    assert summary["counts"] == {"items": 1, "ok": 1, "errors": 0, "missing": 0}
    m = summary["metrics"]
    assert m["decisions.model"] + m["decisions.rules"] == 3 and 0 <= m["decisions.rules_share"]["value"] <= 1
    for row in results_of(out):
        assert set(row["result"]["model"]["by"].values()) <= {"model", "rules"}
        assert set(row["result"]["responses"]) == {"expert", "model", "random", "none"}
    report = (out / "report.md").read_text()
    assert "configured teacher model" in report and "Decision ablation: responses of the configured teacher" in report


def test_solve_suite_with_a_tiny_student(tmp_path):
    data = tmp_path / "gsm8k.jsonl"
    rows = [
        {"question": "Ann has 3 apples and buys 4 more. How many apples does she have?", "answer": "3+4=7\n#### 7"},
        {"question": "A pen costs 2 dollars. How much do 5 pens cost?", "answer": "2*5=10\n#### 10"},
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "run"
    summary = eval_cli("solve", "--data", str(data), "--out", str(out), "--model", "student=tiny",
                       "--model", "student.max_tokens=48")  # fmt: skip
    assert summary["counts"]["ok"] == 2
    accuracy = summary["metrics"]["accuracy"]
    assert accuracy["n"] == 2 and 0.0 <= accuracy["value"] <= 1.0
    assert all(r["result"]["model"] == "tiny" and r["result"]["transcript"][1]["content"] for r in results_of(out))


def test_judge_suite_with_a_tiny_evaluator(tmp_path):
    data = tmp_path / "mrbench.json"
    data.write_text(json.dumps([
        {
            "conversation_id": "c1",
            "conversation_history": "Tutor: What is 2+3?\nStudent: 6",
            "Ground_Truth_Solution": "2+3=5\n 5",
            "anno_llm_responses": {
                "A": {"response": "Not quite, count again from 2.",
                      "annotation": {"Mistake_Identification": "Yes", "Tutor_Tone": "Neutral"}},
            },
        }
    ]))  # fmt: skip
    out = tmp_path / "run"
    summary = eval_cli("judge", "--data", str(data), "--out", str(out), "--model", "evaluator=tiny",
                       "--model", "evaluator.max_tokens=64")  # fmt: skip
    counts = summary["counts"]
    assert counts["items"] == 1 and counts["ok"] + counts["errors"] == 1
    (row,) = results_of(out)
    if row["status"] == "error":  # the tiny judge failed its schema after one repair: recorded, with the reason
        assert "after one repair attempt" in row["error"] and "\n" not in row["error"]
    else:
        assert set(row["result"]["pred"]) == {"Mistake_Identification", "Tutor_Tone"}


def test_the_app_loads_a_tiny_role_up_front(monkeypatch):
    """`pedagraph ui` loads the in-process models at start (`load_in_process_models`): the first learner waits not."""
    from pedagraph.llm import load_in_process_models

    monkeypatch.setenv("PEDAGRAPH_STUDENT_MODEL", "tiny")
    assert load_in_process_models() == {"student": None}
    assert any(m.engine == "onnxruntime" for m in loaded_models())


def test_models_checks_a_tiny_role_and_names_its_engine(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    result = runner.invoke(app, ["models", "--role", "student"], env={"PEDAGRAPH_STUDENT_MODEL": "tiny"})
    assert result.exit_code == 0, result.output
    assert "(onnxruntime)" in result.output and " ok " in result.output
