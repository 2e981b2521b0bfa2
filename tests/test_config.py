"""Settings precedence: default < environment < config file < explicit argument."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolkit.config import Settings, default_home, load_settings
from toolkit.errors import ConfigError

KNOWN = (
    "base_url, chunk_overlap, chunk_size, chunking, completion, context_window, embed, ingest_file_memory_mib, "
    "ingest_file_timeout_s, llm, max_file_mb, max_output_tokens, prices, seed, temperature, top_k"
)


def write_config(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults(toolkit_home):
    s = load_settings()
    assert s.model_dump() == {
        "home": toolkit_home,
        "llm": "local",
        "embed": "local",
        "base_url": None,
        "completion": False,
        "top_k": 3,
        "chunk_size": 128,
        "chunk_overlap": 16,
        "chunking": "sentence",
        "context_window": 2048,
        "max_output_tokens": 64,
        "prices": None,
        "temperature": 0.0,
        "seed": 0,
        "max_file_mb": 10.0,
        "ingest_file_timeout_s": 30.0,
        "ingest_file_memory_mib": 1024,
    }
    assert s.index_root == toolkit_home / "indexes"


def test_environment_beats_default(monkeypatch):
    monkeypatch.setenv("TOOLKIT_LLM", "ollama:llama3.2")
    monkeypatch.setenv("TOOLKIT_EMBED", "ollama:nomic-embed-text")
    monkeypatch.setenv("TOOLKIT_BASE_URL", "http://10.0.0.5:11434")
    s = load_settings()
    assert (s.llm, s.embed, s.base_url) == ("ollama:llama3.2", "ollama:nomic-embed-text", "http://10.0.0.5:11434")


def test_empty_environment_variable_is_ignored(monkeypatch):
    monkeypatch.setenv("TOOLKIT_LLM", "")
    assert load_settings().llm == "local"


def test_config_file_in_home_beats_environment(toolkit_home, monkeypatch):
    write_config(toolkit_home / "config.toml", 'llm = "openai:gpt-4o-mini"\ntop_k = 5\n')
    monkeypatch.setenv("TOOLKIT_LLM", "ollama:llama3.2")
    monkeypatch.setenv("TOOLKIT_EMBED", "ollama:nomic-embed-text")
    s = load_settings()
    assert s.llm == "openai:gpt-4o-mini"  # file beats environment
    assert s.embed == "ollama:nomic-embed-text"  # environment still fills what the file leaves out
    assert s.top_k == 5


def test_argument_beats_config_file_and_none_is_ignored(toolkit_home, monkeypatch):
    write_config(toolkit_home / "config.toml", 'llm = "openai:gpt-4o-mini"\ntop_k = 5\n')
    monkeypatch.setenv("TOOLKIT_LLM", "ollama:llama3.2")
    s = load_settings(llm=None, top_k=7, embed=None, max_file_mb=None)
    assert (s.llm, s.top_k, s.embed, s.max_file_mb) == ("openai:gpt-4o-mini", 7, "local", 10.0)
    assert load_settings(llm="local").llm == "local"


def test_toolkit_config_beats_the_home_config(toolkit_home, tmp_path, monkeypatch):
    write_config(toolkit_home / "config.toml", "top_k = 5\n")
    elsewhere = write_config(tmp_path / "other" / "team.toml", "top_k = 9\n")
    monkeypatch.setenv("TOOLKIT_CONFIG", str(elsewhere))
    assert load_settings().top_k == 9
    # and an explicit config_file argument beats TOOLKIT_CONFIG
    third = write_config(tmp_path / "third.toml", "top_k = 11\n")
    assert load_settings(config_file=third).top_k == 11


def test_missing_toolkit_config_is_an_error(tmp_path, monkeypatch):
    missing = tmp_path / "nope.toml"
    monkeypatch.setenv("TOOLKIT_CONFIG", str(missing))
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value) == f"config file {missing} does not exist; create it or unset TOOLKIT_CONFIG"


def test_missing_explicit_config_file_is_an_error(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config_file=missing)


def test_missing_home_config_is_fine(toolkit_home):
    assert not (toolkit_home / "config.toml").exists()
    assert load_settings().top_k == 3


def test_unknown_key_names_key_and_file(toolkit_home):
    path = write_config(toolkit_home / "config.toml", 'llm = "local"\ntop_kk = 4\n')
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value) == f"config file {path}: unknown setting 'top_kk'; known settings: {KNOWN}"


def test_home_cannot_be_set_in_the_config_file(toolkit_home):
    path = write_config(toolkit_home / "config.toml", 'home = "/elsewhere"\n')
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value) == f"config file {path}: 'home' cannot be set here; set TOOLKIT_HOME instead"


def test_invalid_toml_names_the_file(toolkit_home):
    path = write_config(toolkit_home / "config.toml", "top_k = 3\ntop_k = 4\n")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value) == (
        f"config file {path} is not valid TOML (Cannot overwrite a value (at line 2, column 10)); fix or delete it"
    )


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"top_k": 0}, "setting 'top_k': Input should be greater than or equal to 1 (got 0)"),
        (
            {"top_k": "abc"},
            "setting 'top_k': Input should be a valid integer, unable to parse string as an integer (got 'abc')",
        ),
        ({"chunk_size": 8}, "setting 'chunk_size': Input should be greater than or equal to 32 (got 8)"),
        ({"max_file_mb": 0}, "setting 'max_file_mb': Input should be greater than 0 (got 0)"),
        ({"ingest_file_timeout_s": 0}, "setting 'ingest_file_timeout_s': Input should be greater than 0 (got 0)"),
        (
            {"ingest_file_memory_mib": 8},
            "setting 'ingest_file_memory_mib': Input should be greater than or equal to 16 (got 8)",
        ),
        ({"colour": "red"}, "setting 'colour': Extra inputs are not permitted (got 'red')"),
    ],
)
def test_validation_errors_name_the_setting(arguments, message):
    with pytest.raises(ConfigError) as info:
        load_settings(**arguments)
    assert str(info.value) == message


def test_validation_error_from_the_config_file_names_the_setting(toolkit_home):
    write_config(toolkit_home / "config.toml", "context_window = 100\n")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value) == "setting 'context_window': Input should be greater than or equal to 512 (got 100)"


def test_toolkit_home_moves_the_home(tmp_path, monkeypatch):
    moved = tmp_path / "moved"
    monkeypatch.setenv("TOOLKIT_HOME", str(moved))
    assert default_home() == moved
    s = load_settings()
    assert s.home == moved
    assert s.index_root == moved / "indexes"
    # the config file is looked up in the moved home
    write_config(moved / "config.toml", "seed = 42\n")
    assert load_settings().seed == 42


def test_toolkit_home_expands_the_user(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TOOLKIT_HOME", "~/th")
    assert default_home() == tmp_path / "th"


def test_default_home_without_toolkit_home(tmp_path, monkeypatch):
    monkeypatch.delenv("TOOLKIT_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_home() == tmp_path / ".local" / "share" / "llm-pipeline-toolkit"


def test_explicit_home_argument(tmp_path):
    assert load_settings(home=tmp_path / "h").home == tmp_path / "h"


def test_settings_are_frozen(toolkit_home):
    from pydantic import ValidationError

    s = Settings(home=toolkit_home)
    with pytest.raises(ValidationError):
        s.top_k = 9


def test_chunk_overlap_must_be_smaller_than_chunk_size(toolkit_home):
    # Otherwise ingestion dies later inside LlamaIndex's SentenceSplitter with a bare ValueError
    # (a traceback from the CLI) instead of a ConfigError that names the setting.
    write_config(toolkit_home / "config.toml", "chunk_overlap = 200\n")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value) == ("setting 'chunk_overlap': Value error, must be smaller than chunk_size (128) (got 200)")
    with pytest.raises(ConfigError, match=r"must be smaller than chunk_size \(64\) \(got 64\)$"):
        load_settings(chunk_size=64, chunk_overlap=64)
    assert load_settings(chunk_size=64, chunk_overlap=63).chunk_overlap == 63
