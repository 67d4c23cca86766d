"""The library has one face and the worker one client (issue 13): read from offmem's source.

* Settings are read only at the roots (a CLI command, the MCP server, the worker's entry point,
  the web pages that edit config.toml); library code receives them.
* One module speaks HTTP to the worker (offmem/worker/client.py): nothing else imports an HTTP
  client or opens a socket to it, and only the library face and worker control call it (the hook
  through its time-boxed post_json), so "ask the worker, else compute here" lives in offmem.api.
* The import-linter contracts of pyproject.toml hold (faces through offmem.api, no cycle, ...).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import offmem

PACKAGE = Path(offmem.__file__).resolve().parent
ROOT = PACKAGE.parent

# Where settings may be read: the entry points, and the UI pages that edit and show config.toml.
SETTINGS_ROOTS = {"offmem/config.py", "offmem/mcp/server.py", "offmem/worker/main.py", "offmem/web/pages.py",
                  "offmem/web/settings_form.py"}
SETTINGS_ROOT_PACKAGES = ("offmem/cli/",)
# Still reading them below a root, named: the Pipeline's default privacy stage when a
# caller gives none (the worker and offmem process give theirs, offmem.worker.processing).
SETTINGS_PENDING = {"offmem/worker/pipeline.py"}

# The worker's HTTP client, and the server that binds the worker's socket (and reads peers' uids).
HTTP_CLIENT = "offmem/worker/client.py"
SOCKET_USERS = {HTTP_CLIENT, "offmem/worker/http/server.py", "offmem/worker/http/security.py"}
CLIENT_CALLERS = {"offmem/api.py", "offmem/worker/control.py", "offmem/retrieval/hook.py", HTTP_CLIENT}


def sources() -> dict[str, ast.AST]:
    return {path.relative_to(ROOT).as_posix(): ast.parse(path.read_text("utf-8"))
            for path in sorted(PACKAGE.rglob("*.py"))}


def imported_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def calls_to(tree: ast.AST, name: str) -> int:
    return sum(1 for node in ast.walk(tree) if isinstance(node, ast.Call)
               and getattr(node.func, "id", getattr(node.func, "attr", None)) == name)


def test_settings_are_read_only_at_the_roots():
    readers = {rel for rel, tree in sources().items() if calls_to(tree, "load_settings")}
    library = {rel for rel in readers - SETTINGS_ROOTS - SETTINGS_PENDING if not rel.startswith(SETTINGS_ROOT_PACKAGES)}
    assert library == set(), f"library code reads the settings itself; pass them from the root: {sorted(library)}"


def test_one_module_speaks_http_to_the_worker():
    found = {}
    for rel, tree in sources().items():
        names = imported_names(tree)
        clients = sorted(n for n in names if n.split(".")[:2] in (["urllib", "request"], ["http", "client"])
                         or n == "_socket" or (n == "socket" and rel not in SOCKET_USERS))
        if clients and rel != HTTP_CLIENT:
            found[rel] = clients
    assert found == {}, f"HTTP clients besides {HTTP_CLIENT}: {found}"


def test_only_the_library_face_asks_the_worker():
    """The rule 'ask the running worker, else compute here' is written once (offmem.api.Memory._ask)."""
    names = ("request_json", "call", "post_json", "exchange")
    callers = {rel for rel, tree in sources().items()
               if any(f"offmem.worker.client.{n}" in imported_names(tree) for n in names)}
    assert callers <= CLIENT_CALLERS, f"modules that call the worker themselves: {sorted(callers - CLIENT_CALLERS)}"
    assert "offmem/api.py" in callers


def test_the_import_contracts_hold():
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
