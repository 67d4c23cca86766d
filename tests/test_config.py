"""Settings: defaults, config.toml, environment overrides, the hook's cached view."""

from __future__ import annotations

import os
import time

import pytest

from offmem.config import ConfigError, load_settings, save_settings


def test_defaults_and_data_dir(offmem_home):
    s = load_settings()
    assert s.home == offmem_home
    assert s.context.budget_tokens == 1500
    assert s.summarizer.backend == "llamacpp"
    assert s.db_path == offmem_home / "offmem.db"


def test_home_defaults_to_dot_offmem(monkeypatch, tmp_path):
    monkeypatch.delenv("OFFMEM_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert load_settings().home == tmp_path / ".offmem"


def test_toml_then_environment(offmem_home, monkeypatch):
    offmem_home.mkdir()
    (offmem_home / "config.toml").write_text('[context]\nbudget_tokens = 900\n[capture]\nskip_tools = ["A", "B"]\n')
    assert load_settings().context.budget_tokens == 900
    assert load_settings().capture.skip_tools == ["A", "B"]
    monkeypatch.setenv("OFFMEM_CONTEXT_BUDGET_TOKENS", "700")
    monkeypatch.setenv("OFFMEM_CAPTURE_SKIP_TOOLS", "X, Y")
    s = load_settings()
    assert s.context.budget_tokens == 700 and s.capture.skip_tools == ["X", "Y"]
    assert load_settings(env=False).context.budget_tokens == 900


def test_bad_values_are_clear_errors(offmem_home, monkeypatch):
    monkeypatch.setenv("OFFMEM_CONTEXT_BUDGET_TOKENS", "lots")
    with pytest.raises(ConfigError, match="budget_tokens"):
        load_settings()
    monkeypatch.delenv("OFFMEM_CONTEXT_BUDGET_TOKENS")
    offmem_home.mkdir()
    (offmem_home / "config.toml").write_text("[context\n")
    with pytest.raises(ConfigError, match="config.toml"):
        load_settings()


def test_save_writes_only_changes_and_round_trips(offmem_home):
    s = load_settings()
    save_settings(s, {"context": {"budget_tokens": "1200"}, "capture": {"skip_tools": ["TaskCreate"]}})
    text = (offmem_home / "config.toml").read_text()
    assert "budget_tokens = 1200" in text and "backend" not in text
    again = load_settings()
    assert again.context.budget_tokens == 1200 and again.capture.skip_tools == ["TaskCreate"]


def test_hook_sees_config_changes_through_the_cache(offmem_home):
    from offmem.lean.settings import capture_settings

    offmem_home.mkdir()
    config = offmem_home / "config.toml"
    config.write_text("[capture]\nmax_field_chars = 5000\n")
    assert capture_settings(str(offmem_home))["max_field_chars"] == 5000
    assert (offmem_home / ".config-cache.json").exists()
    time.sleep(0.01)
    config.write_text("[capture]\nmax_field_chars = 7000\n")
    os.utime(config, ns=(time.time_ns(), time.time_ns()))
    assert capture_settings(str(offmem_home))["max_field_chars"] == 7000
