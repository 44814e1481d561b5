"""LangGraph graphs, one module per capability; each exposes `build_graph(...)` and a compiled `graph`."""
