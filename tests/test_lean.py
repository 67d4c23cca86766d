"""The hook path's one settings reader (offmem.lean.settings), through the real hook."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import fields

import pytest

from conftest import fixture_payloads, run_hook
from offmem.config import CaptureSettings, ContextSettings, PrivacySettings, WorkerSettings
from offmem.lean.settings import DEFAULTS

GITHUB = "ghp_" + "Lq3Wz8Rt5Yu1Io7Pa2Sd9Fg4Hj6Kl0Zx3Cv8Bn"


def test_hook_defaults_are_the_settings_defaults():
    sections = {"capture": CaptureSettings, "worker": WorkerSettings, "context": ContextSettings,
                "privacy": PrivacySettings}
    for name, cls in sections.items():
        defaults = {f.name: (f.default_factory() if callable(f.default_factory) else f.default) for f in fields(cls)}
        for key, value in DEFAULTS[name].items():
            assert defaults[key] == value and type(defaults[key]) is type(value), (name, key)


def stored_prompts(home) -> list[str]:
    conn = sqlite3.connect(home / "offmem.db")
    try:
        return [row[0] for row in conn.execute("SELECT text FROM prompts")]
    finally:
        conn.close()


@pytest.mark.parametrize("where", ["environment", "config.toml"])
def test_a_privacy_value_of_the_wrong_type_never_turns_prompt_redaction_off(offmem_home, where):
    """``redact = "maybe"`` is not a bool: the hook keeps the default (redaction on) and says so in the log.

    The hook used to read it as false, from the environment at once and from config.toml as soon
    as the parsed-config cache held it (from the second hook on)."""
    offmem_home.mkdir(parents=True)
    env = {"OFFMEM_WORKER_AUTOSTART": "0"}
    if where == "environment":
        env["OFFMEM_PRIVACY_REDACT"] = "maybe"
    else:
        (offmem_home / "config.toml").write_text('[privacy]\nredact = "maybe"\n')
    start, prompt = fixture_payloads()[:2]
    assert run_hook(start, env=env).returncode == 0  # parses config.toml and caches it
    for n in range(2):
        done = run_hook({**prompt, "prompt": f"deploy {n} with token {GITHUB} please"}, env=env)
        assert done.returncode == 0, done.stderr
    texts = stored_prompts(offmem_home)
    assert len(texts) == 2 and all(GITHUB not in t and "[REDACTED:" in t for t in texts), texts
    assert "'maybe' (expected bool)" in (offmem_home / "offmem.log").read_text()


def test_a_broken_config_file_is_logged_once_per_hook_and_capture_goes_on(offmem_home):
    offmem_home.mkdir(parents=True)
    (offmem_home / "config.toml").write_text("[capture\nmax_field_chars = 300\n")
    start, prompt = fixture_payloads()[:2]
    env = {"OFFMEM_WORKER_AUTOSTART": "0"}
    run_hook(start, env=env)
    done = run_hook({**prompt, "prompt": f"a prompt about the {GITHUB} token"}, env=env)
    assert done.returncode == 0, done.stderr
    log = (offmem_home / "offmem.log").read_text().splitlines()
    assert len([line for line in log if "config.toml" in line]) == 2, log  # one per hook process
    texts = stored_prompts(offmem_home)
    assert len(texts) == 1 and GITHUB not in texts[0]


PROBE = """
import importlib.util, sys
sys.path.insert(0, {src!r})
from offmem.hooks.capture import main
main()
missing = [name for name in sorted(sys.modules) if name.split(".")[0] == "offmem"
           and getattr(sys.modules[name], "__file__", None)
           and not __import__("os").path.exists(importlib.util.cache_from_source(sys.modules[name].__file__))]
sys.stderr.write("\\nMISSING " + " ".join(missing))
"""


def test_install_precompiles_every_module_the_hook_loads(tmp_path, offmem_home):
    """With PYTHONDONTWRITEBYTECODE (containers, CI) nothing but ``offmem install``'s precompile
    writes bytecode: every offmem module a hook loads must be in it, or each hook compiles it."""
    import os
    import shutil
    import subprocess
    import sys

    import offmem

    src = tmp_path / "src"
    shutil.copytree(os.path.dirname(offmem.__file__), src / "offmem", ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "OFFMEM_WORKER_AUTOSTART": "0"}
    subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(src)!r})\n"
                    "from offmem.install import precompile; precompile()"], env=env, check=True)
    payloads = fixture_payloads()
    kinds = {}
    for payload in payloads:
        kinds.setdefault(payload["hook_event_name"], payload)
    assert {"SessionStart", "UserPromptSubmit", "PostToolUse", "Stop"} <= set(kinds)
    for kind in ("PostToolUse", "SessionStart", "UserPromptSubmit", "Stop", "SessionStart"):
        done = subprocess.run([sys.executable, "-S", "-c", PROBE.format(src=str(src))],
                              input=json.dumps(kinds[kind]).encode(), env=env, capture_output=True)
        assert done.returncode == 0, done.stderr
        missing = done.stderr.decode().split("MISSING ")[-1].split()
        assert missing == [], f"{kind}: no bytecode for {missing}"
