"""langgraph.json lists every public graph, and each entry loads as a compiled graph without a checkpointer."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from langgraph.graph.state import CompiledStateGraph

REPO = Path(__file__).resolve().parents[1]
CONFIG = json.loads((REPO / "langgraph.json").read_text())


def test_config_shape():
    assert CONFIG["dependencies"] == ["."]
    assert CONFIG["python_version"] == "3.11"
    assert "tutor" in CONFIG["graphs"]


@pytest.mark.parametrize("name", sorted(CONFIG["graphs"]))
def test_each_graph_entry_loads(name):
    entry = CONFIG["graphs"][name]
    spec_path = entry["path"] if isinstance(entry, dict) else entry
    file_part, attr = spec_path.split(":")
    path = (REPO / file_part).resolve()
    assert path.is_file(), path
    spec = importlib.util.spec_from_file_location(f"lg_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # as the LangGraph server does when it loads a graph file
    spec.loader.exec_module(module)
    graph = getattr(module, attr)
    assert isinstance(graph, CompiledStateGraph)
    assert graph.checkpointer is None  # the server adds its own
    assert graph.name == name
    # Studio and the server's /assistants/{id}/schemas show what every context setting means
    fields = graph.get_context_jsonschema()["properties"]
    assert "learner_id" in fields
    assert not [key for key, spec in fields.items() if not spec.get("description")], "use @documented on Context"
