"""`offmem setup`: the first run after installing the package, as one idempotent sequence (issue 16)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

OFFMEM = [sys.executable, "-m", "offmem"]
STEPS = ["models", "runtime", "hooks", "worker", "doctor"]


def setup(*args, cwd=None) -> tuple[int, dict, str]:
    done = subprocess.run([*OFFMEM, "setup", "--json", *args], capture_output=True, text=True, cwd=cwd,
                          env=os.environ.copy(), timeout=600)
    return done.returncode, json.loads(done.stdout), done.stderr


def steps(result: dict) -> dict:
    assert [s["name"] for s in result["steps"]] == STEPS
    return {s["name"]: s for s in result["steps"]}


def test_setup_installs_models_hooks_and_mcp_then_doctor_passes_and_a_second_run_changes_nothing(offmem_home, tmp_path):
    home = Path(os.environ["HOME"])
    code, first, err = setup("--no-worker", cwd=tmp_path)
    assert code == 0 and first["ok"], (first, err)
    by_name = steps(first)
    assert {m["name"] for m in by_name["models"]["data"]["models"]} == {"all-minilm-l6-v2", "qwen2.5-coder-0.5b"}
    for model in by_name["models"]["data"]["models"]:
        assert (offmem_home / "models" / model["name"]).is_dir()
    settings = home / ".claude" / "settings.json"
    hooks = json.loads(settings.read_text())["hooks"]
    assert {"SessionStart", "PostToolUse", "Stop", "SessionEnd"} <= set(hooks)
    assert "offmem" in json.loads((home / ".claude.json").read_text())["mcpServers"]
    assert by_name["worker"]["skipped"]
    assert by_name["doctor"]["ok"] and not [c for c in by_name["doctor"]["data"]["checks"] if c["status"] == "fail"]
    assert all(s["seconds"] >= 0 for s in first["steps"])

    before = {p: p.read_bytes() for p in (settings, home / ".claude.json")}
    code, second, err = setup("--no-worker", cwd=tmp_path)
    assert code == 0 and second["ok"], (second, err)
    assert {m["status"] for m in steps(second)["models"]["data"]["models"]} == {"present"}
    assert {p: p.read_bytes() for p in before} == before  # same content, no new backup
    assert not list((home / ".claude").glob("settings.json.offmem-backup-*"))


def test_a_failed_step_is_reported_the_others_still_run_and_the_exit_status_is_1(offmem_home, tmp_path):
    home = Path(os.environ["HOME"])
    settings = home / ".claude" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text("[not json")
    code, result, err = setup("--no-worker", "--no-models", cwd=tmp_path)
    assert code == 1 and not result["ok"], (result, err)
    by_name = steps(result)
    assert not by_name["hooks"]["ok"] and str(settings) in by_name["hooks"]["detail"]
    assert by_name["models"]["skipped"] and by_name["doctor"]["data"]["checks"]  # the doctor still ran
    assert settings.read_text() == "[not json"  # a file offmem cannot read is left as it was


def test_setup_progress_names_each_step_on_stderr(offmem_home, tmp_path):
    done = subprocess.run([*OFFMEM, "setup", "--no-worker", "--no-models", "--no-mcp"], capture_output=True, text=True,
                          cwd=tmp_path, env=os.environ.copy(), timeout=600)
    for index, title in enumerate(["installing the default models", "recording the interpreter",
                                   "registering the hooks", "starting the worker", "checking the install"], 1):
        assert f"==> [{index}/5] {title}" in done.stderr, done.stderr


def test_with_the_plugin_enabled_setup_writes_no_hooks_and_records_what_the_plugin_runs(offmem_home, tmp_path):
    home = Path(os.environ["HOME"])
    settings = home / ".claude" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"enabledPlugins": {"offmem@offmem": True}}))
    code, result, err = setup("--no-worker", "--no-models", "--no-mcp", cwd=tmp_path)
    by_name = steps(result)
    assert by_name["runtime"]["ok"] and by_name["runtime"]["data"]["python"] == sys.executable
    runtime = (offmem_home / "runtime").read_text()
    assert f"python={sys.executable}\n" in runtime
    assert by_name["hooks"]["ok"] and "offmem@offmem in " + str(settings) in by_name["hooks"]["detail"]
    assert "hooks" not in json.loads(settings.read_text())
