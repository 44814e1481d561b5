import re
from pathlib import Path

import pytest
from pedagraph.prompts import load_prompt, placeholders, render

import pedagraph
from pedagraph.errors import PedagraphError

REPO = Path(__file__).resolve().parents[1]


def test_render_fills_placeholders_and_leaves_json_braces():
    text = render("llm/json_mode_instructions", schema_name="X", schema='{"type": "object"}')
    assert "`X`" in text and '{"type": "object"}' in text
    assert placeholders("llm/structured_repair") == {"schema_name", "error"}


def test_missing_value_and_unknown_prompt_are_errors():
    with pytest.raises(PedagraphError, match="needs values"):
        render("llm/structured_repair", schema_name="X")
    with pytest.raises(PedagraphError, match="not found"):
        load_prompt("llm/does_not_exist")
    with pytest.raises(PedagraphError, match="invalid"):
        load_prompt("../secrets")


def test_no_long_prompt_strings_in_python():
    """Prompts live in prompts/ as files: no Python string literal in the package reads like a prompt."""
    suspicious = re.compile(r"(?i)\b(you are an? |reply with\b|respond with\b|your task is)")
    offenders = []
    for folder in ("pedagraph", "agents", "graphs", "evals", "ui"):
        for path in (REPO / folder).rglob("*.py"):
            for lineno, line in enumerate(path.read_text().splitlines(), 1):
                if suspicious.search(line) and not line.strip().startswith("#"):
                    offenders.append(f"{path.relative_to(REPO)}:{lineno}")
    assert not offenders, offenders


def test_version_is_exposed():
    assert re.match(r"\d+\.\d+\.\d+", pedagraph.__version__)
