"""The prompt-time box (300 ms) while the worker compresses with the default model.

Issue 14 found the UserPromptSubmit lookup missing its 300 ms box in up to 6 of
21 sessions when the worker was busy. This bench reproduces that load and
measures the box, with real parts only:

1. a throwaway ``HOME`` / ``OFFMEM_HOME``; ``offmem pull-models --defaults``;
2. memories to find: ``offmem import-transcripts --rules`` of a few corpus
   sessions (``eval/transcripts``), then ``offmem reindex``;
3. ``offmem worker start`` with the default configuration (llama.cpp with the
   default GGUF, the default embedder), and wait until it is warm (embedder loaded);
4. **idle**: each prompt (the corpus questions of those sessions) through the real
   hook (``python -S offmem/hooks/run.py``, a UserPromptSubmit payload, a new
   session each time), and the same question posted straight to
   ``/api/prompt-context`` without a time box (the worker's own latency);
5. **busy**: a backlog of other corpus sessions is queued
   (``import-transcripts --no-process``); once the worker is compressing it with the
   model, the same prompts again.

For each phase it prints the hook's wall time and the worker's latency (median,
p95, max), how many hook calls came back with memories and how many timed out
(the hook logs "no prompt-time memory (time box ...)"), and how many events the
worker compressed meanwhile, with the load average. ``--runs`` repeats the
prompt list.

    python bench/bench_prompt_time.py [--runs 1] [--keep DIR] [--backlog NAME ...]
    OFFMEM_WORKER_NICE=0 python bench/bench_prompt_time.py   # the worker's processing thread not lowered
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from bench_memory import default_offmem, read_session, run  # noqa: E402

CORPUS = ROOT / "eval" / "transcripts"
FIND = ("obra-streaming-ci", "spotter-live-tail-sync", "pomodoro-timer", "spotter-otel-tracing")
BACKLOG = ("spotter-annotations", "spotter-transcript-renderer", "spotter-unified-transcript", "obra-scenario-agent")
HOOK = [sys.executable, "-S", str(ROOT / "offmem" / "hooks" / "run.py")]
TIMEOUT_NOTE = "no prompt-time memory"


def note(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def describe(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (f"median {statistics.median(values):6.1f} ms   p95 {percentile(values, 0.95):6.1f} ms   "
            f"max {max(values):6.1f} ms")


def token_of(home: Path) -> str:
    try:
        from offmem.worker.token_file import read_token
    except ImportError:  # older layout
        from offmem.web.token_file import read_token
    return read_token(str(home))


def worker_status(offmem: list[str], env: dict) -> dict:
    code, out, _err, _ = run(offmem + ["worker", "status", "--json"], env, timeout=30)
    try:
        return json.loads(out) if code == 0 else {}
    except ValueError:
        return {}


def pending_events(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute("SELECT count(*) FROM events WHERE status = 'pending'").fetchone()[0])
    except sqlite3.Error:
        return -1
    finally:
        conn.close()


def direct(home: Path, port: int, payload: dict) -> float:
    """The worker's latency for one prompt, no time box (ms)."""
    body = json.dumps(payload).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/prompt-context", data=body, method="POST",
                                 headers={"Content-Type": "application/json", "X-Offmem-Token": token_of(home)})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    started = time.perf_counter()
    with opener.open(req, timeout=30) as reply:
        reply.read()
    return (time.perf_counter() - started) * 1000


def phase(name: str, prompts: list[dict], env: dict, home: Path, port: int, runs: int, offmem: list[str]) -> dict:
    log = home / "offmem.log"
    log_before = log.read_text(errors="replace").count(TIMEOUT_NOTE) if log.exists() else 0
    hook_ms, worker_ms, answered = [], [], 0
    db = home / "offmem.db"
    pending_start = pending_events(db)
    processed_start = (worker_status(offmem, env) or {}).get("events_processed")
    phase_started = time.perf_counter()
    for n in range(runs):
        for i, p in enumerate(prompts):
            sid = f"bench-{name}-{n}-{i}-{time.monotonic_ns()}"
            payload = {"session_id": sid, "hook_event_name": "UserPromptSubmit", "cwd": p["project"],
                       "transcript_path": "/nonexistent/t.jsonl", "prompt": p["query"], "prompt_id": sid}
            # the worker's own latency first, so it never queues behind a hook request it is still answering
            worker_ms.append(direct(home, port, {"project": p["project"], "prompt": p["query"],
                                                 "session_id": sid + "-direct"}))
            started = time.perf_counter()
            done = subprocess.run(HOOK, input=json.dumps(payload).encode(), capture_output=True, env=env)
            hook_ms.append((time.perf_counter() - started) * 1000)
            answered += bool(done.stdout.strip())
            time.sleep(0.5)
    timeouts = (log.read_text(errors="replace").count(TIMEOUT_NOTE) if log.exists() else 0) - log_before
    status = worker_status(offmem, env) or {}
    processed_end = status.get("events_processed")
    nices = {}
    try:
        for task in Path(f"/proc/{status.get('pid')}/task").iterdir():
            stat = (task / "stat").read_text()
            nice = int(stat[stat.rindex(")") + 2:].split()[16])
            nices[nice] = nices.get(nice, 0) + 1
    except (OSError, ValueError):
        pass
    return {"phase": name, "prompts": len(hook_ms), "answered": answered, "timeouts": timeouts,
            "events_compressed": (processed_end or 0) - (processed_start or 0), "thread_nices": nices,
            "seconds": round(time.perf_counter() - phase_started, 1),
            "hook_ms": hook_ms, "worker_ms": worker_ms, "pending_start": pending_start,
            "pending_end": pending_events(db), "load": os.getloadavg()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=1, help="times each prompt is asked per phase")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR (kept) instead of a temporary folder")
    ap.add_argument("--backlog", nargs="+", default=list(BACKLOG), metavar="NAME",
                    help="corpus sessions queued for the worker to compress in the busy phase")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    offmem = default_offmem()
    work = Path(args.keep).resolve() if args.keep else Path(tempfile.mkdtemp(prefix="offmem-bench-prompt-"))
    work.mkdir(parents=True, exist_ok=True)
    home = work / "offmem"
    env = dict(os.environ, HOME=str(work / "home"), OFFMEM_HOME=str(home), OFFMEM_WORKER_AUTOSTART="0",
               OFFMEM_WORKER_PORT="0", CLAUDE_CONFIG_DIR=str(work / "home" / ".claude"))
    Path(env["HOME"]).mkdir(parents=True, exist_ok=True)
    os.environ.update(OFFMEM_HOME=str(home), HOME=env["HOME"])
    sessions = CORPUS / "sessions"
    queries = json.loads((CORPUS / "queries.json").read_text(encoding="utf-8"))["queries"]
    cwd = {name: read_session(sessions / f"{name}.jsonl")["cwd"] for name in FIND}
    prompts = [{"query": q["query"], "project": cwd[q["session"]]} for q in queries if q["session"] in cwd]
    report: dict = {}
    try:
        note("pull-models, import, reindex")
        code, _out, err, seconds = run(offmem + ["pull-models", "--defaults"], env)
        assert code == 0, err
        code, _out, err, seconds = run(offmem + ["import-transcripts", *(str(sessions / f"{n}.jsonl") for n in FIND),
                                                 "--rules", "--json"], env)
        assert code == 0, err
        run(offmem + ["reindex"], env)
        note("starting the worker")
        with tempfile.TemporaryFile("w+") as out:  # the worker must not inherit a pipe
            code = subprocess.run(offmem + ["worker", "start", "--json"], env=env, stdout=out,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=120).returncode
            out.seek(0)
            text = out.read()
        assert code == 0, text
        port = int(json.loads(text[text.index("{"):])["port"])
        deadline = time.time() + 180
        # the embedder loads on the first search, or to index a changed memory: both, then wait for it
        direct(home, port, {"project": prompts[0]["project"], "prompt": prompts[0]["query"]})
        conn = sqlite3.connect(home / "offmem.db", timeout=30)
        with conn:
            conn.execute("UPDATE observations SET title = title || ' ' WHERE id = (SELECT max(id) FROM observations)")
        conn.close()
        while time.time() < deadline and not (worker_status(offmem, env).get("embedder") or {}).get("loaded"):
            time.sleep(2)
        report["embedder_loaded"] = bool((worker_status(offmem, env).get("embedder") or {}).get("loaded"))
        note(f"embedder loaded: {report['embedder_loaded']}")
        note("idle phase")
        report["idle"] = phase("idle", prompts, env, home, port, args.runs, offmem)
        code, _out, err, _ = run(offmem + ["import-transcripts", *(str(sessions / f"{n}.jsonl") for n in args.backlog),
                                           "--no-process", "--json"], env)
        assert code == 0, err
        started = time.time()
        first = pending_events(home / "offmem.db")
        while time.time() - started < 600 and pending_events(home / "offmem.db") >= first > 0:
            time.sleep(1)  # the worker took its first batch: the model is loaded and compressing
        note("busy phase")
        report["busy_wait_s"] = round(time.time() - started, 1)
        report["busy"] = phase("busy", prompts, env, home, port, args.runs, offmem)
    finally:
        run(offmem + ["worker", "stop"], env, timeout=60)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; worker embedder loaded: "
          f"{report.get('embedder_loaded')}; {len(prompts)} prompts x {args.runs} per phase; "
          f"busy phase began {report.get('busy_wait_s')} s after queueing {', '.join(args.backlog)}")
    for key in ("idle", "busy"):
        r = report.get(key)
        if not r:
            continue
        load = ", ".join(f"{x:.1f}" for x in r["load"])
        print(f"\n{key}: {r['answered']}/{r['prompts']} hook calls came back with memories, {r['timeouts']} missed "
              f"the time box; the worker compressed {r['events_compressed']} events in {r['seconds']} s meanwhile; "
              f"load average {load}; worker threads by nice value {r['thread_nices']}")
        print(f"  {'UserPromptSubmit hook, whole process':<40}{describe(r['hook_ms'])}")
        print(f"  {'worker /api/prompt-context, no box':<40}{describe(r['worker_ms'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
