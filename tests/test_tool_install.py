"""offmem installs like a tool (issue 16): the standard build front-end makes a wheel and an sdist
from this checkout; `uv tool install` of the wheel alone, then `offmem setup` in a throwaway HOME,
gives a working offmem whose hook launcher, templates and static files come from the installed
package. No package index is reached: wheels come from the offline wheelhouse, under the guard.
"""

from __future__ import annotations

import json
import shlex
import sqlite3
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from conftest import fixture_payloads
from tests.support.distribution import REPO, offline_bundle, offline_env, offline_wheelhouse, run  # noqa: F401
from tests.support.network import netguard_shim, network_guard  # noqa: F401 - fixtures

UV = Path(sys.executable).parent / "uv"


def test_wheel_and_sdist_build_and_uv_tool_install_then_setup_works_from_the_wheel_alone(
        offline_bundle, network_guard, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = offline_env(network_guard.env, home, home / ".offmem", UV_TOOL_DIR=str(tmp_path / "tools"),
                      UV_TOOL_BIN_DIR=str(tmp_path / "bin"), UV_CACHE_DIR=str(tmp_path / "uv-cache"),
                      UV_PYTHON_DOWNLOADS="never", UV_NO_CONFIG="1")

    # 1. the standard build front-end, isolated build environment from the wheelhouse
    run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", tmp_path / "dist", REPO], env, cwd=tmp_path)
    wheel = next((tmp_path / "dist").glob("offmem-*.whl"))
    sdist = next((tmp_path / "dist").glob("offmem-*.tar.gz"))
    members = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("offmem/hooks/run.py", "offmem/data/models.toml", "offmem/web/templates/base.html",
                   "offmem/web/static/app.js", "offmem/distribution/install.sh"):
        assert needed in members, needed
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {"pyproject.toml", "README.md", "offmem/distribution/install.sh", "offmem/web/static/app.js"} <= names

    # 2. uv tool install of the wheel alone; nothing of the checkout on any path
    run([UV, "tool", "install", "--offline", "--no-index", "--find-links", offline_wheelhouse(),
         "--python", sys.executable, wheel], env, cwd=tmp_path)
    offmem = tmp_path / "bin" / "offmem"
    tool_python = next((tmp_path / "tools").glob("offmem/bin/python"))
    located = run([tool_python, "-c", "import offmem, offmem.web; print(offmem.__file__); print(offmem.web.__file__)"],
                  env, cwd=tmp_path).stdout.split()
    assert all(str(tmp_path / "tools") in p and str(REPO) not in p for p in located), located
    web = Path(located[1]).parent
    assert (web / "templates" / "base.html").is_file() and (web / "static" / "app.js").is_file()

    # 3. offmem setup, models from the offline bundle's model archive
    with tarfile.open(offline_bundle["archive"]) as tar:
        (tmp_path / "models.tar").write_bytes(tar.extractfile("models.tar").read())
    done = run([offmem, "setup", "--json", "--no-worker", "--bundle", tmp_path / "models.tar"], env, cwd=tmp_path)
    result = json.loads(done.stdout)
    assert result["ok"], result

    # 4. the installed hook command runs the tool's own interpreter and launcher, and stores events
    settings = json.loads((home / ".claude" / "settings.json").read_text())
    command = settings["hooks"]["PostToolUse"][0]["hooks"][0]["command"]
    words = shlex.split(command, comments=True)
    python, launcher = words[1], words[-1]  # after OFFMEM_HOME=...: the interpreter and the hook launcher
    assert python.startswith(str(tmp_path / "tools")) and launcher.startswith(str(tmp_path / "tools")), command
    assert str(REPO) not in command and Path(launcher).is_file()
    payloads = [p for p in fixture_payloads() if p["hook_event_name"] == "PostToolUse"][:3]
    for payload in payloads:
        ran = subprocess.run(command, shell=True, input=json.dumps(payload), capture_output=True, text=True, env=env,
                             cwd=tmp_path, timeout=60)
        assert ran.returncode == 0, ran.stderr
    with sqlite3.connect(home / ".offmem" / "offmem.db") as db:
        assert db.execute("SELECT count(*) FROM events").fetchone()[0] == len(payloads)

    # 5. no PyTorch in the default install; the doctor names the extra that brings the other runtime
    assert subprocess.run([tool_python, "-c", "import torch"], capture_output=True).returncode != 0
    asked = subprocess.run([offmem, "doctor", "--json"], capture_output=True, text=True, cwd=tmp_path,
                           env={**env, "OFFMEM_EMBEDDER_BACKEND": "sentence-transformers"}, timeout=300)
    packages = next(c for c in json.loads(asked.stdout)["checks"] if c["name"] == "python packages")
    assert packages["status"] == "fail" and "offmem[sentence-transformers]" in packages["fix"], packages
    assert network_guard.attempts() == [], network_guard.attempts()
