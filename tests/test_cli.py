import subprocess
import sys

from typer.testing import CliRunner

from pedagraph.cli import app

runner = CliRunner()


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("pedagraph ")


def test_models_scripted_default_checks_every_role():
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.stdout
    for role in ("teacher", "student", "evaluator", "coach", "planner"):
        assert role in result.stdout
    assert result.stdout.count("ok") >= 5
    assert "scripted" in result.stdout
    assert "PEDAGRAPH_MODEL" in result.stdout


def test_models_masks_keys(monkeypatch):
    secret = "sk-test-abcdefghijklmnopqrstuvwxyz"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("PEDAGRAPH_TEACHER_MODEL", "openai:gpt-4o-mini")
    result = runner.invoke(app, ["models", "--role", "teacher", "--no-check"])
    assert result.exit_code == 0
    assert secret not in result.stdout
    assert "abcdefghij" not in result.stdout
    assert "wxyz" in result.stdout  # last four only


def _run(*args, env=None):
    import os

    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "pedagraph.cli", *args], capture_output=True, text=True, env=full_env, timeout=60
    )


def test_missing_key_is_one_line_no_traceback():
    proc = _run("models", "--role", "teacher", env={"PEDAGRAPH_TEACHER_MODEL": "openai:gpt-4o-mini"})
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "OPENAI_API_KEY" in proc.stdout


def test_bad_config_file_is_one_line_no_traceback(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[models]\ntemperature = 'hot'\n")
    proc = _run("--config", str(bad), "models")
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "temperature" in proc.stderr
    missing = _run("--config", str(tmp_path / "nope.toml"), "models")
    assert missing.returncode == 1 and "not found" in missing.stderr and "Traceback" not in missing.stderr


def test_unreachable_server_is_one_line(tmp_path):
    proc = _run(
        "models",
        "--role",
        "student",
        env={"PEDAGRAPH_STUDENT_MODEL": "openai:m", "PEDAGRAPH_STUDENT_BASE_URL": "http://127.0.0.1:9/v1"},
    )
    assert proc.returncode == 1
    assert "cannot connect" in proc.stdout.replace("\n", " ")
    assert "Traceback" not in proc.stdout + proc.stderr


def test_dotenv_is_read_by_cli_not_at_import(tmp_path):
    (tmp_path / ".env").write_text("PEDAGRAPH_COACH_MODEL=scripted:from-dotenv\n")
    code = "import os, pedagraph, pedagraph.llm, pedagraph.settings; print(os.environ.get('PEDAGRAPH_COACH_MODEL'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.strip() == "None"
    proc = subprocess.run(
        [sys.executable, "-m", "pedagraph.cli", "models", "--role", "coach", "--no-check"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 0
    assert "from-dotenv" in proc.stdout


def test_import_is_light_and_offline():
    code = (
        "import sys, pedagraph.cli, pedagraph.llm;"
        "heavy=[m for m in ('sentence_transformers','torch','chromadb','gradio') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.strip() == ""
