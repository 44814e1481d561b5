"""The app's Strategies tab through gradio_client: browse, approve, edit, delete, try retrieval (approval gates)."""

from __future__ import annotations

import pytest

from pedagraph.methods.distill.library import Strategy, StrategyLibrary
from pedagraph.methods.distill.scenarios import situation_text

pytestmark = pytest.mark.slow

SUBTRACTED = situation_text("I subtracted the two amounts instead of adding them.", "incorrect")
TOOK_AWAY = "I took away instead of adding, so I subtracted them."
STOPPED = situation_text("I did the first step and then I stopped.", "incorrect")


@pytest.fixture
def app():
    import gradio as gr
    from gradio_client import Client
    from pedagraph.ui.strategies_tab import build_strategies_tab

    from pedagraph.testing.apps import launch_with_login, teacher_login

    with gr.Blocks() as demo:
        build_strategies_tab()
    url = launch_with_login(demo)
    try:
        yield Client(url, auth=teacher_login(), verbose=False)
    finally:
        demo.close()


def _rows(table) -> list[list]:
    if isinstance(table, dict):
        table = table.get("value", table)
    return table["data"] if isinstance(table, dict) else table


def test_audit_a_library_through_the_tab(app):
    from pedagraph.memory import get_memory

    lib = StrategyLibrary(get_memory(), "audit")
    ids = lib.add([
        Strategy(strategy="Ask which operation the story needs.", situation=SUBTRACTED, kind="operations",
                 skill="Providing_Guidance", gain=0.4, provenance={"coach": "openai:big", "round": 1}),
        Strategy(strategy="Ask what comes after the first step.", situation=STOPPED, kind="procedure", gain=0.2),
    ])  # fmt: skip
    table, choices, status = app.predict("audit", False, api_name="/strategies_list")
    rows = _rows(table)
    assert [r[5] for r in rows] == ["Ask which operation the story needs.", "Ask what comes after the first step."]
    assert "2 strategies (0 approved)" in status and "openai:big" in rows[0][7]
    details, text = app.predict("audit", ids[0], api_name="/strategies_show")
    assert "+0.400" in details and "openai:big" in details and "subtracted" in details
    assert text == "Ask which operation the story needs."

    found = app.predict("audit", TOOK_AWAY, True, api_name="/strategies_try")
    assert found == "No strategy would be used here."  # approval on, nothing approved yet
    _, _, status = app.predict("audit", False, ids[0], api_name="/strategies_approve")
    assert "Approved" in status and "(1 approved)" in status
    found = app.predict("audit", TOOK_AWAY, True, api_name="/strategies_try")
    assert found.startswith("1. Ask which operation the story needs.") and "approved" in found

    edited = "Ask which operation fits the story."
    _, _, status = app.predict("audit", False, ids[0], edited, api_name="/strategies_edit")
    assert "Saved" in status and lib.get(ids[0]).strategy == "Ask which operation fits the story."
    assert lib.get(ids[0]).edited and not lib.get(ids[0]).approved  # an edit withdraws the approval
    app.predict("audit", False, ids[0], api_name="/strategies_approve")
    _, _, status = app.predict("audit", False, ids[0], "   ", api_name="/strategies_edit")
    assert status.startswith("Error:")  # one clear line, nothing lost
    assert lib.get(ids[0]).strategy == "Ask which operation fits the story."

    table, _, status = app.predict("audit", True, api_name="/strategies_list")
    assert len(_rows(table)) == 1 and "1 strategies (1 approved)" in status
    app.predict("audit", False, api_name="/strategies_list")  # the entry choices are the listed ones
    _, _, status = app.predict("audit", False, ids[1], api_name="/strategies_delete")
    assert "Deleted" in status and lib.count() == 1


def test_the_app_tutor_reads_only_approved_strategies_of_the_library(tmp_path, monkeypatch):
    from pedagraph.ui.service import TutorService

    from pedagraph.methods.distill.library import DEFAULT_LIBRARY
    from pedagraph.settings import load_settings

    monkeypatch.setenv("PEDAGRAPH_HOME", str(tmp_path))
    service = TutorService(load_settings())
    try:
        ctx = service._context({"thread_id": "t", "learner_id": "ana"})
    finally:
        service.close()
    assert ctx.strategies == DEFAULT_LIBRARY and ctx.strategy_approved_only
