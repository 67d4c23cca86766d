"""Realistic Claude Code sessions as hook payloads, for benchmarks.

The shapes follow the payloads captured from Claude Code 2.1.197
(tests/fixtures/hook-payloads.jsonl): Read returns the file, Edit carries old and
new strings and a structured patch, Bash returns stdout/stderr, a failing command
arrives as PostToolUseFailure with ``error`` starting ``Exit code N``. Sizes are
those of everyday work: 40-200 line files, pytest logs, grep output, tracebacks.
"""

from __future__ import annotations

import random

MODULES = ["billing", "cart", "auth", "orders", "search", "notify", "inventory", "reports"]
FUNCS = ["compute_total", "apply_discount", "parse_token", "refresh_session", "find_orders", "render_invoice",
         "reserve_stock", "send_email", "build_index", "normalize_query", "vat_for", "round_money"]
ERRORS = [
    ("KeyError", "'UK'"), ("AssertionError", "expected 19.0, got 20.0"), ("TypeError", "unsupported operand type(s) for +: 'int' and 'NoneType'"),
    ("ValueError", "invalid literal for int() with base 10: ''"), ("AttributeError", "'NoneType' object has no attribute 'items'"),
    ("ZeroDivisionError", "division by zero"), ("ImportError", "cannot import name 'RATES' from 'cart.vat'"),
]


def _file_body(rng: random.Random, module: str, lines: int) -> str:
    out = [f'"""{module.title()} helpers."""', "", "from __future__ import annotations", "", "import decimal", ""]
    while len(out) < lines:
        fn = rng.choice(FUNCS)
        out += [f"def {fn}_{len(out)}(items, rate=None):", f'    """Return the {fn.replace("_", " ")} of items."""',
                "    total = decimal.Decimal(0)", "    for item in items:", "        total += item.price * item.qty",
                "    if rate is not None:", "        total *= 1 + rate", "    return round(total, 2)", ""]
    return "\n".join(out[:lines]) + "\n"


def _pytest_log(rng: random.Random, module: str, failing: tuple[str, str] | None) -> str:
    tests = [f"tests/test_{module}.py::test_{f}" for f in rng.sample(FUNCS, 6)]
    lines = ["============================= test session starts ==============================",
             "platform linux -- Python 3.11.7, pytest-8.3.2, pluggy-1.5.0", f"rootdir: /home/dev/shop-api", f"collected {len(tests) * 3} items", ""]
    lines += [f"{t} PASSED" for t in tests[:-1]]
    if failing:
        name, msg = failing
        lines += [f"{tests[-1]} FAILED", "", "=================================== FAILURES ===================================",
                  f"___________________________ {tests[-1].split('::')[1]} ___________________________", "",
                  "    def test_case():", f">       assert {module}.{rng.choice(FUNCS)}(ITEMS) == EXPECTED",
                  f"E       {name}: {msg}", "", f"{module}/core.py:{rng.randint(10, 90)}: {name}",
                  "=========================== short test summary info ============================",
                  f"FAILED {tests[-1]} - {name}: {msg}", f"========================= 1 failed, {len(tests) * 3 - 1} passed in 0.84s ========================="]
    else:
        lines += [f"{tests[-1]} PASSED", f"============================== {len(tests) * 3} passed in 0.79s =============================="]
    return "\n".join(lines)


def session_payloads(session_id: str, cwd: str = "/home/dev/shop-api", events: int = 40, seed: int = 0) -> list[dict]:
    """One session of about ``events`` tool events, as the hook would receive them."""
    rng = random.Random(seed)
    base = {"session_id": session_id, "transcript_path": f"/home/dev/.claude/projects/x/{session_id}.jsonl",
            "cwd": cwd, "permission_mode": "default"}
    out: list[dict] = [{**base, "hook_event_name": "SessionStart", "source": "startup"}]
    module = rng.choice(MODULES)
    out.append({**base, "hook_event_name": "UserPromptSubmit",
                "prompt": f"The {module} tests fail since yesterday's refactor; find out why and fix it."})
    n = 0
    while n < events:
        n += 1
        tid = f"toolu_{session_id[:8]}_{n:04d}"
        kind = rng.random()
        path = f"{cwd}/{module}/{rng.choice(['core', 'models', 'api', 'utils'])}.py"
        if kind < 0.35:
            body = _file_body(rng, module, rng.randint(40, 200))
            out.append({**base, "hook_event_name": "PostToolUse", "tool_name": "Read", "tool_use_id": tid,
                        "tool_input": {"file_path": path},
                        "tool_response": {"type": "text", "file": {"filePath": path, "content": body,
                                          "numLines": body.count("\n"), "startLine": 1, "totalLines": body.count("\n")}}})
        elif kind < 0.55:
            fn = rng.choice(FUNCS)
            old, new = f"    return round(total, 2)  # {fn}", f"    return round_money(total)  # {fn}"
            out.append({**base, "hook_event_name": "PostToolUse", "tool_name": "Edit", "tool_use_id": tid,
                        "tool_input": {"file_path": path, "old_string": old, "new_string": new, "replace_all": False},
                        "tool_response": {"filePath": path, "oldString": old, "newString": new,
                                          "originalFile": _file_body(rng, module, 60),
                                          "structuredPatch": [{"oldStart": 12, "oldLines": 3, "newStart": 12, "newLines": 3,
                                                               "lines": ["     total = 0", f"-{old}", f"+{new}", " "]}],
                                          "userModified": False, "replaceAll": False}})
        elif kind < 0.80:
            failing = rng.choice(ERRORS) if rng.random() < 0.4 else None
            cmd = f"pytest -q tests/test_{module}.py"
            log = _pytest_log(rng, module, failing)
            if failing:
                out.append({**base, "hook_event_name": "PostToolUseFailure", "tool_name": "Bash", "tool_use_id": tid,
                            "tool_input": {"command": cmd, "description": "Run the tests"},
                            "error": "Exit code 1\n" + log, "is_interrupt": False})
            else:
                out.append({**base, "hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_use_id": tid,
                            "tool_input": {"command": cmd, "description": "Run the tests"},
                            "tool_response": {"stdout": log, "stderr": "", "interrupted": False, "isImage": False}})
        else:
            term = rng.choice(FUNCS)
            hits = "\n".join(f"{module}/{rng.choice(['core', 'api'])}.py:{rng.randint(1, 300)}:    total = {term}(items)"
                             for _ in range(rng.randint(3, 25)))
            out.append({**base, "hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_use_id": tid,
                        "tool_input": {"command": f"grep -rn {term} {module}", "description": f"Find {term}"},
                        "tool_response": {"stdout": hits, "stderr": "", "interrupted": False, "isImage": False}})
    out.append({**base, "hook_event_name": "Stop", "stop_hook_active": False,
                "last_assistant_message": f"The {module} tests pass again: round_money() replaces round() in {module}/core.py."})
    out.append({**base, "hook_event_name": "SessionEnd", "reason": "other"})
    return out
