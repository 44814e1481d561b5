import pytest

from pedagraph.errors import ConfigError
from pedagraph.settings import ROLES, load_settings, resolve_model_settings, split_model_string


def write(tmp_path, text, name="pedagraph.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_default_is_scripted_for_every_role():
    settings = load_settings()
    assert set(settings.models) == set(ROLES)
    assert all(m.model == "scripted" for m in settings.models.values())


def test_precedence_argument_over_config_over_env_over_default(tmp_path, monkeypatch):
    cfg = write(tmp_path, '[models]\nmodel = "openai:from-config"\ntimeout = 11\n', "c.toml")
    monkeypatch.setenv("PEDAGRAPH_MODEL", "openai:from-env")
    monkeypatch.setenv("PEDAGRAPH_TIMEOUT", "22")
    monkeypatch.setenv("PEDAGRAPH_MAX_RETRIES", "7")
    # env alone
    assert load_settings().model_for("teacher").model == "openai:from-env"
    # config beats env, field by field; env still fills what config leaves out
    s = load_settings(cfg).model_for("teacher")
    assert s.model == "openai:from-config"
    assert s.timeout == 11
    assert s.max_retries == 7
    # an explicit argument beats both
    s = load_settings(cfg, model="openai:from-arg").model_for("teacher")
    assert s.model == "openai:from-arg"
    assert s.timeout == 11
    # and the default is used where nothing is set
    assert s.concurrency == 8


def test_role_specific_beats_all_roles_within_a_source(tmp_path, monkeypatch):
    monkeypatch.setenv("PEDAGRAPH_MODEL", "openai:all")
    monkeypatch.setenv("PEDAGRAPH_STUDENT_MODEL", "ollama:small")
    s = load_settings()
    assert s.model_for("student").model == "ollama:small"
    assert s.model_for("teacher").model == "openai:all"
    cfg = write(tmp_path, '[models]\nmodel = "openai:big"\n[models.student]\nmodel = "ollama:tiny"\n')
    s = load_settings(cfg)
    assert s.model_for("student").model == "ollama:tiny"
    assert s.model_for("teacher").model == "openai:big"


def test_config_from_env_var_and_cwd(tmp_path, monkeypatch):
    cfg = write(tmp_path, '[models.coach]\nmodel = "openai:coachy"\n', "elsewhere.toml")
    monkeypatch.setenv("PEDAGRAPH_CONFIG", str(cfg))
    assert load_settings().model_for("coach").model == "openai:coachy"
    monkeypatch.delenv("PEDAGRAPH_CONFIG")
    write(tmp_path, '[models.coach]\nmodel = "openai:cwd"\n')  # tests run in tmp_path
    assert load_settings().model_for("coach").model == "openai:cwd"


def test_home_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("PEDAGRAPH_HOME", str(tmp_path / "h1"))
    assert load_settings().home == tmp_path / "h1"
    cfg = write(tmp_path, f'home = "{tmp_path / "h2"}"\n', "c.toml")
    assert load_settings(cfg).home == tmp_path / "h2"
    assert load_settings(cfg).chroma_dir == tmp_path / "h2" / "chroma"


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("models = [", "invalid TOML"),
        ("colour = 1\n", "unknown key"),
        ("[models.wizard]\nmodel = 'x'\n", "not a role"),
        ("[models]\ntemprature = 0.1\n", "unknown key"),
        ("[models.teacher]\nnonsense = 1\n", "unknown key"),
        ("[models]\ntemperature = 'hot'\n", "temperature"),
        ("[models]\ntemperature = 9\n", "temperature"),
        ("[models]\nmodel = ''\n", "model"),
        ("[ui]\nport = 99999\n", "port"),
    ],
)
def test_bad_config_gives_one_clear_error(tmp_path, text, fragment):
    cfg = write(tmp_path, text, "bad.toml")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    msg = info.value.one_line()
    assert fragment in msg
    assert "\n" not in msg


def test_missing_config_file(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")
    monkeypatch.setenv("PEDAGRAPH_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="PEDAGRAPH_CONFIG"):
        load_settings()


def test_bad_env_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("PEDAGRAPH_STUDENT_CONCURRENCY", "zero")
    with pytest.raises(ConfigError, match="PEDAGRAPH_STUDENT_CONCURRENCY"):
        load_settings()


def test_unknown_role():
    with pytest.raises(ConfigError, match="unknown role"):
        resolve_model_settings("wizard")


def test_api_key_is_secret(monkeypatch):
    monkeypatch.setenv("PEDAGRAPH_TEACHER_API_KEY", "sk-supersecretvalue123456")
    s = load_settings().model_for("teacher")
    assert "supersecret" not in repr(s)
    assert "supersecret" not in s.model_dump_json()
    assert s.api_key.get_secret_value() == "sk-supersecretvalue123456"


@pytest.mark.parametrize(
    "spec,expected",
    [
        ("scripted", ("scripted", "default")),
        ("openai:gpt-4o-mini", ("openai", "gpt-4o-mini")),
        ("ollama:qwen2.5:7b", ("ollama", "qwen2.5:7b")),
        ("llamacpp:/models/x.gguf", ("llamacpp", "/models/x.gguf")),
        ("gpt-4o", ("openai", "gpt-4o")),
    ],
)
def test_split_model_string(spec, expected):
    assert split_model_string(spec) == expected
