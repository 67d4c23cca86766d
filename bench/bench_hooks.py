"""Hook latency as Claude Code sees it: whole-process wall time.

Runs the installed ``offmem-hook`` entry point N times per event (payload on
stdin, as Claude Code does) next to ``python -c pass`` on the same interpreter,
and prints median and p95 of each and their ratio. SessionStart runs against a
store holding 10,000 observations of the project.

    python bench/bench_hooks.py [--runs 100] [--observations 10000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "hook-payloads.jsonl"
PROJECT = "/home/dev/shop-api"


CPU: dict[int, list[float]] = {}


def timed_runs(argv: list[str], payloads: list[bytes], env: dict) -> list[float]:
    """Wall times in ms; the child's CPU time (user+sys) goes to CPU[id(result)]."""
    import resource

    times, cpu = [], []
    for data in payloads:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, input=data, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
        times.append((time.perf_counter() - start) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1000)
    CPU[id(times)] = cpu
    return times


def cpu_median(times: list[float]) -> float:
    return statistics.median(CPU[id(times)])


def describe(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def fill_store(home: Path, count: int) -> None:
    """``count`` observations of PROJECT over 500 sessions, plus summaries."""
    from offmem.records import Observation, SessionSummary
    from offmem.store.db import Store, transaction

    rng = random.Random(7)
    files = [f"src/module_{i}/file_{j}.py" for i in range(40) for j in range(10)]
    kinds = ["bugfix", "feature", "refactor", "change", "discovery", "decision"]
    verbs = ["Fixed", "Added", "Refactored", "Changed", "Found", "Decided"]
    with Store.open(home / "offmem.db") as store, transaction(store.conn):
        for n in range(count):
            session = f"bench-session-{n // 20}"
            kind = rng.randrange(6)
            path = rng.choice(files)
            obs = Observation(
                type=kinds[kind],
                title=f"{verbs[kind]} {path}: handle case {n} in parse_{n % 97}()",
                facts=[f"Modified {path}", f"exit status {rng.choice([0, 1])}"],
                narrative="",
                files_modified=[path],
                event_ids=[n],
            )
            ts = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - (count - n) * 60))
            store.insert_observation(obs, session_id=session, project=PROJECT, created_at=ts)
            if n % 20 == 0:
                store.conn.execute(
                    "INSERT OR IGNORE INTO sessions (id, project, started_at, last_activity_at) VALUES (?, ?, ?, ?)",
                    (session, PROJECT, ts, ts),
                )
                store.upsert_summary(session, PROJECT, SessionSummary(
                    request=f"Work on {path}", completed=f"Changed {path}", next_steps="Run the tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--observations", type=int, default=10_000)
    args = parser.parse_args()

    payloads = [json.loads(line) for line in FIXTURES.read_text().splitlines() if line.strip()]
    post = next(p for p in payloads if p["hook_event_name"] == "PostToolUse" and p["tool_name"] == "Read")
    start = next(p for p in payloads if p["hook_event_name"] == "SessionStart")

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        env = {**os.environ, "OFFMEM_HOME": str(home), "OFFMEM_WORKER_AUTOSTART": "0"}
        os.environ.update(OFFMEM_HOME=str(home))
        import offmem.hooks
        from offmem.install import precompile

        precompile()  # what `offmem install` does: the hook never compiles its modules at run time
        # the installed form (see offmem.install.hook_command) and the console script
        hook = [sys.executable, "-S", str(Path(offmem.hooks.__file__).resolve().parent / "run.py")]
        script = [str(BIN / "offmem-hook")]
        # create the database once so every timed run measures the steady state
        subprocess.run(hook, input=json.dumps(start).encode(), env=env, check=True)

        warm = [b""] * 5
        timed_runs([sys.executable, "-c", "pass"], warm, env)
        bare = timed_runs([sys.executable, "-c", "pass"], [b""] * args.runs, env)
        post_payloads = [
            json.dumps({**post, "tool_use_id": f"toolu_bench_{i}"}).encode() for i in range(args.runs)
        ]
        tool = timed_runs(hook, post_payloads, env)
        tool_script = timed_runs(script, [p.replace(b"toolu_bench", b"toolu_script") for p in post_payloads], env)
        # the Claude Code plugin's route: sh launcher -> the recorded interpreter (offmem.install.record_runtime)
        from offmem.install import record_runtime

        record_runtime()
        plugin_root = Path(__file__).resolve().parent.parent / "plugins" / "offmem"
        (Path(tmp) / "user").mkdir()
        plugin_env = {**env, "HOME": str(Path(tmp) / "user"), "CLAUDE_PLUGIN_ROOT": str(plugin_root),
                      "CLAUDE_PROJECT_DIR": tmp}
        tool_plugin = timed_runs(["sh", str(plugin_root / "scripts" / "launch"), "hook", "PostToolUse"],
                                 [p.replace(b"toolu_bench", b"toolu_plugin") for p in post_payloads], plugin_env)
        bare_s = timed_runs([sys.executable, "-S", "-c", "pass"], [b""] * args.runs, env)

        fill_start = time.perf_counter()
        fill_store(home, args.observations)
        fill_s = time.perf_counter() - fill_start
        start_payloads = [json.dumps({**start, "session_id": f"bench-start-{i}"}).encode() for i in range(args.runs)]
        timed_runs(hook, start_payloads[:3], env)
        session_start = timed_runs(hook, start_payloads, env)
        sample = subprocess.run(hook, input=start_payloads[0], env=env, capture_output=True, check=True).stdout
        context = json.loads(sample)["hookSpecificOutput"]["additionalContext"] if sample else ""
        # after a compaction: the block again, plus the memories 8 prompts were given (offmem.retrieval.hook)
        from offmem.retrieval.hook import record_injected

        compact_payloads = []
        for i in range(args.runs):
            record_injected(str(home), f"bench-start-{i}", list(range(1, 200, 25)))
            compact_payloads.append(json.dumps({**start, "session_id": f"bench-start-{i}", "source": "compact"}).encode())
        compacted = timed_runs(hook, compact_payloads, env)
        # a subagent's start with no worker running: the task is read from the transcript, no lookup
        transcript = Path(tmp) / "transcript.jsonl"
        lines = (FIXTURES.parent / "claude-code-2.1.332" / "transcript-session.jsonl").read_text().splitlines(True)
        transcript.write_text("".join(lines[:max(n for n, line in enumerate(lines) if '"name":"Agent"' in line) + 1]))
        sub = next(p for p in (json.loads(line) for line in (FIXTURES.parent / "claude-code-2.1.332"
                   / "hook-payloads.jsonl").read_text().splitlines()) if p["hook_event_name"] == "SubagentStart")
        subagent = timed_runs(hook, [json.dumps({**sub, "transcript_path": str(transcript)}).encode()] * args.runs, env)

    b_med, b_p95 = describe(bare)
    t_med, t_p95 = describe(tool)
    c_med, c_p95 = describe(tool_script)
    bs_med, bs_p95 = describe(bare_s)
    s_med, s_p95 = describe(session_start)
    from offmem.retrieval import count_tokens as estimate_tokens

    print(f"python: {sys.version.split()[0]} ({sys.executable}), {os.cpu_count()} CPUs, runs per case: {args.runs}")
    print(f"{'case':<44}{'median ms':>10}{'p95 ms':>10}{'x bare (median)':>17}{'CPU ms (median)':>17}")
    rows = [("python -c pass", bare), ("python -S -c pass", bare_s),
            ("PostToolUse hook, installed form (-S)", tool), ("PostToolUse hook, offmem-hook script", tool_script),
            ("PostToolUse hook, plugin launcher", tool_plugin),
            (f"SessionStart hook ({args.observations:,} observations)", session_start),
            ("SessionStart hook, after a compaction", compacted),
            ("SubagentStart hook, no worker", subagent)]
    for label, times in rows:
        med, p95 = describe(times)
        print(f"{label:<44}{med:>10.1f}{p95:>10.1f}{med / b_med:>17.2f}{cpu_median(times):>17.1f}")
    print(f"(store filled in {fill_s:.1f} s; injected context {estimate_tokens(context)} estimated tokens, "
          f"{len(context)} chars)")
    p_med = describe(tool_plugin)[0]
    print(f"plugin launcher: {p_med / b_med:.2f}x bare, {p_med - t_med:+.1f} ms against the installed form")
    print(f"targets: PostToolUse median <= 1.5x bare -> {'MET' if t_med <= 1.5 * b_med else 'MISSED'}; "
          f"SessionStart p95 <= 100 ms -> {'MET' if s_p95 <= 100 else 'MISSED'}")


if __name__ == "__main__":
    main()
