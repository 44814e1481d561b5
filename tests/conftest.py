"""Keep every test offline, isolated and deterministic."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

# Set before gradio, huggingface_hub, transformers or chromadb are imported anywhere.
for _name, _value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "ANONYMIZED_TELEMETRY": "False",
    "TOKENIZERS_PARALLELISM": "false",
    "LANGSMITH_TRACING": "false",
    "LANGCHAIN_TRACING_V2": "false",
}.items():
    os.environ[_name] = _value

import pytest  # noqa: E402

if TYPE_CHECKING:
    from pedagraph.datasets import Located

_MODEL_ENV_PREFIXES = ("PEDAGRAPH_", "OPENAI_", "OLLAMA_")
# Converted in-process models (pedagraph.llm.convert) are kept across tests and runs: the cache the tests were
# started with, else the one of the PEDAGRAPH_HOME they were started with (each test's own home is a fresh one).
MODEL_CACHE = os.environ.get("PEDAGRAPH_MODEL_CACHE") or str(
    Path(os.environ.get("PEDAGRAPH_HOME") or "~/.pedagraph").expanduser() / "models"
)
# The datasets: the registry's local copy (`--from` / PEDAGRAPH_DATA_DIR) is the PEDAGRAPH_DATA_DIR the tests were
# started with, else ../shared/data beside the repository (as CI has it), else none: every test then runs on the
# samples bundled in the package. `PEDAGRAPH_DATA_DIR= pytest` (set, empty) runs as on a bare clone. Nothing is
# downloaded.
_SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
_ENV_DATA = os.environ.get("PEDAGRAPH_DATA_DIR")
SHARED_DATA: Path | None = (
    (Path(_ENV_DATA) if _ENV_DATA.strip() else None) if _ENV_DATA is not None
    else _SHARED_DATA if _SHARED_DATA.is_dir() else None
)  # fmt: skip
_NO_FETCHED = Path(__file__).resolve().parent / ".no-fetched-data"  # never exists: tests see no fetched copy


def data_file(key: str) -> Located:
    """A registry file as the tests use it: the full copy (SHARED_DATA) when it holds it, else the bundled sample."""
    from pedagraph.datasets import locate

    found = locate(key, local=SHARED_DATA, home=_NO_FETCHED, use_env=False)
    assert found is not None, f"{key} has neither a full copy nor a bundled sample"
    return found


@pytest.fixture(scope="session", name="data_file")
def data_file_fixture():
    """`data_file(key)`: the full copy of a registry file, else its bundled sample (`.origin == "sample"`)."""
    return data_file


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    """Each test gets its own PEDAGRAPH_HOME, no model configuration from the outside, fresh model cache.

    PEDAGRAPH_DATA_DIR points the dataset registry at the shared data (when present), as CI does.
    """
    for name in list(os.environ):
        if name.startswith(_MODEL_ENV_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "pedagraph-home"
    monkeypatch.setenv("PEDAGRAPH_HOME", str(home))
    monkeypatch.setenv("PEDAGRAPH_MODEL_CACHE", MODEL_CACHE)
    if SHARED_DATA is not None:
        monkeypatch.setenv("PEDAGRAPH_DATA_DIR", str(SHARED_DATA))
    monkeypatch.chdir(tmp_path)
    from pedagraph.llm import reset_models
    from pedagraph.llm.usage import global_usage

    reset_models()
    global_usage().reset()
    yield
    reset_models()


@pytest.fixture(autouse=True)
def _tight_structured_budgets(request, monkeypatch):
    """Real-model tests: constrained replies get the tightest budget the grammar allows (its closing reserve).

    The grammar makes them valid at any budget (see `pedagraph.llm.ct2.fitted_schema`); what these tests prove
    (the graph finishes, decisions are counted, nothing leaks) does not depend on how long a decision's strings
    are, and a small model fills every string to its bound. The default budgets run in `bench_tiny_model.py`.
    """
    if request.node.get_closest_marker("real_model") is None:
        yield
        return
    from pedagraph.llm import ct2, hf

    monkeypatch.setattr(hf, "STRUCTURED_MIN_TOKENS", 0)
    monkeypatch.setattr(ct2, "STRUCTURED_MAX_TOKENS", 0)
    yield


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """After real-model tests: each in-process engine's model load, time to first token and decode rate."""
    import sys

    if "pedagraph.llm.usage" not in sys.modules:
        return
    from pedagraph.llm.hf import loaded_models
    from pedagraph.llm.usage import engine_speeds

    speeds = engine_speeds()
    if not speeds:
        return
    loads: dict[str, list[float]] = {}
    for model in loaded_models():
        loads.setdefault(model.engine, []).append(model.load_seconds)
    base = speeds.get("transformers")
    base_rate = base.decode_tokens_per_second if base else None
    terminalreporter.section("in-process engines (this run)")
    terminalreporter.write_line("engine        model load  calls  tokens in/out    first token (median)  "
                                "decode after the first token")  # fmt: skip
    for name, speed in sorted(speeds.items()):
        load = ", ".join(f"{s:.2f} s" for s in loads.get(name, [])) or "-"
        ttft = speed.median_first_token_seconds
        rate = speed.decode_tokens_per_second
        ratio = f" (x{rate / base_rate:.2f} transformers)" if rate and base_rate and name != "transformers" else ""
        terminalreporter.write_line(
            f"{name:<13} {load:<11} {speed.calls:>5}  {speed.input_tokens:>7}/{speed.output_tokens:<7}  "
            f"{'-' if ttft is None else f'{ttft * 1000:.0f} ms':<21} "
            f"{'-' if rate is None else f'{rate:.1f} tok/s'}{ratio}"
        )


@pytest.fixture
def home(tmp_path):
    """The PEDAGRAPH_HOME of this test."""
    return tmp_path / "pedagraph-home"
