"""What redaction costs: the prompt hook, the tool hook, the redactor, the worker's privacy stage.

    python bench/bench_privacy.py [--runs 40] [--events 2000] [--window]

Prints, on this machine:
- median / p95 wall time of the installed hook for UserPromptSubmit (redacted in the hook)
  and PostToolUse (not redacted there), next to ``python -S -c pass``;
- the cost of redaction alone in a fresh ``python -S`` process (import, settings, first call);
- redactor throughput on installed Python source (MB/s) and on the secret corpus;
- the worker's privacy stage: events/s rewritten in place, and the WAL checkpoint time;
- the window a raw tool event waits on disk before it is redacted, with the real worker
  (``--window``; default models, installed into ``--models-dir`` on first use):
  from the worker's start for a backlog the hook wrote while no worker ran, and from the
  hook's commit for events that arrive while the worker loads its models and compresses;
  next to the models' load time, which the previous design waited for before redacting.

    python bench/bench_privacy.py --window [--backlog 200] [--live 40] [--summarizer llamacpp|rules]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOOK = [sys.executable, "-S", str(REPO / "offmem" / "hooks" / "run.py")]
FIXTURES = REPO / "tests" / "fixtures" / "hook-payloads.jsonl"


def percentiles(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return f"median {statistics.median(ordered):6.1f} ms   p95 {p95:6.1f} ms"


def wall(argv: list[str], inputs: list[bytes], env: dict) -> list[float]:
    times = []
    for data in inputs:
        start = time.perf_counter()
        subprocess.run(argv, input=data, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=True)
        times.append((time.perf_counter() - start) * 1000)
    return times


def hooks(runs: int, home: Path) -> None:
    env = {**os.environ, "OFFMEM_HOME": str(home), "OFFMEM_WORKER_AUTOSTART": "0"}
    payloads = [json.loads(line) for line in FIXTURES.read_text().splitlines()]
    start, prompt = payloads[0], payloads[1]
    tool = next(p for p in payloads if p["hook_event_name"] == "PostToolUse")
    wall(HOOK, [json.dumps(start).encode()], env)
    prompts = [json.dumps({**prompt, "prompt": f"deploy step {i}: DB_PASSWORD=s3cret{i} and key AKIAQ7W3E4R5T6Y7U8I{i % 10}",
                           "prompt_id": f"p{i}"}).encode() for i in range(runs)]
    tools = [json.dumps({**tool, "tool_use_id": f"toolu_b{i}"}).encode() for i in range(runs)]
    print(f"python -S -c pass            {percentiles(wall([sys.executable, '-S', '-c', 'pass'], [b''] * runs, env))}")
    print(f"hook UserPromptSubmit        {percentiles(wall(HOOK, prompts, env))}   (redacts in the hook)")
    print(f"hook PostToolUse             {percentiles(wall(HOOK, tools, env))}   (redaction left to the worker)")
    probe = ("import sys, time; sys.path.insert(0, %r); t = time.perf_counter(); "
             "from offmem.privacy import redact_hook_payload; "
             "redact_hook_payload({'prompt': 'use DB_PASSWORD=s3cret1 now'}); "
             "print((time.perf_counter() - t) * 1000)") % str(REPO)
    costs = [float(subprocess.run([sys.executable, "-S", "-c", probe], capture_output=True, text=True, env=env,
                                  check=True).stdout) for _ in range(runs)]
    print(f"redaction alone, fresh process  {percentiles(costs)}   (import re + rules, settings, first call)")


def throughput() -> None:
    from offmem.privacy import Redactor

    redactor = Redactor()
    import glob

    site = Path(json.__file__).parent.parent
    files = sorted(glob.glob(str(site / "**" / "*.py"), recursive=True))[:400]
    text = "\n".join(Path(f).read_text(errors="replace") for f in files)
    start = time.perf_counter()
    found = len(redactor.find(text))
    seconds = time.perf_counter() - start
    print(f"redactor on {len(text) / 1e6:.1f} MB of stdlib source   {len(text) / 1e6 / seconds:6.2f} MB/s   ({found} findings)")
    sys.path.insert(0, str(REPO / "tests"))
    from secret_corpus.generate import Generator, load_formats

    gen = Generator(1)
    lines = [gen.sample(fmt).line for fmt in load_formats() for _ in range(20)]
    start = time.perf_counter()
    for line in lines:
        redactor.redact_text(line)
    per_line = (time.perf_counter() - start) / len(lines) * 1e6
    print(f"redactor on {len(lines)} corpus lines            {per_line:6.1f} µs per line")
    sys.stdout.flush()


def stage(events: int, home: Path) -> None:
    os.environ["OFFMEM_HOME"] = str(home)
    home.mkdir(parents=True, exist_ok=True)
    from offmem.lean.settings import capture_settings
    from offmem.privacy import Redactor
    from offmem.privacy.stage import PrivacyStage, checkpoint
    from offmem.store.db import Store
    from offmem.store.events import build_record, connect_durable, store_event

    tool = next(json.loads(line) for line in FIXTURES.read_text().splitlines() if '"PostToolUse"' in line)
    output = "\n".join(f"line {i}: ok" for i in range(200)) + "\nDB_PASSWORD=hunter22\n"
    conn = connect_durable(str(home / "offmem.db"), 10)
    for i in range(events):
        record = build_record({**tool, "tool_use_id": f"toolu_s{i}", "tool_response": {"stdout": output}},
                              capture_settings(str(home)))
        store_event(conn, record)
    conn.close()
    with Store.open(home / "offmem.db") as store:
        privacy = PrivacyStage(Redactor())
        start = time.perf_counter()
        result = privacy.run(store)
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        checkpoint(store.conn)
        ckpt = (time.perf_counter() - start) * 1000
    print(f"privacy stage: {result.redacted} events of {len(output) / 1024:.1f} KB in {seconds:.2f} s "
          f"= {result.redacted / seconds:,.0f} events/s ({result.changed} held a secret); idle checkpoint {ckpt:.1f} ms")


# ---------------------------------------------------------------------- the window


def _redacted(db: Path, tool_use_id: str | None = None) -> int | bool:
    """Unredacted events left (or, with an id, whether that event is redacted)."""
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        if tool_use_id is None:
            return conn.execute("SELECT count(*) FROM events WHERE redacted = 0").fetchone()[0]
        row = conn.execute("SELECT redacted FROM events WHERE tool_use_id = ?", (tool_use_id,)).fetchone()
        return bool(row and row[0])
    finally:
        conn.close()


def _observations(db: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute("SELECT count(*) FROM observations").fetchone()[0]
    finally:
        conn.close()


def _with_secret(payload: dict, n: int) -> dict:
    payload = json.loads(json.dumps(payload))
    response = payload.get("tool_response")
    line = f"\nDB_PASSWORD=Wx7{n:05d}-trellis\n"
    if isinstance(response, dict) and isinstance(response.get("stdout"), str):
        response["stdout"] += line
    else:
        payload["tool_response"] = {"stdout": line, "stderr": ""}
    return payload


def _load_seconds(env: dict) -> float:
    """What loading the models takes in a fresh process (the old design redacted only after it)."""
    probe = "\n".join([
        "import time",
        "t = time.perf_counter()",
        "from offmem.config import load_settings",
        "from offmem.search.indexer import get_indexer",
        "from offmem.summarize.registry import get_summarizer",
        "s = load_settings()",
        "m = get_summarizer(s)",
        "m is not None and m.load()",
        "i = get_indexer(s)",
        "i is not None and (i.embedder.load(), i.vectors.collection())",
        "print(time.perf_counter() - t)",
    ])
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def window(home: Path, models_dir: str, summarizer: str, backlog: int, live: int, spacing: float) -> None:
    sys.path.insert(0, str(REPO / "bench"))
    from sessions import session_payloads

    env = {**os.environ, "OFFMEM_HOME": str(home), "OFFMEM_MODELS_DIR": models_dir, "OFFMEM_WORKER_PORT": "0",
           "OFFMEM_WORKER_AUTOSTART": "0", "OFFMEM_SUMMARIZER_BACKEND": summarizer}
    offmem = str(Path(sys.executable).parent / "offmem")
    subprocess.run([offmem, "pull-models", "--defaults"], env=env, check=True, capture_output=True)
    db = home / "offmem.db"
    tools = [p for p in session_payloads("bench-window-a", events=backlog + live, seed=7)
             if p["hook_event_name"].startswith("PostToolUse")]
    first = session_payloads("bench-window-a", events=1, seed=7)[:2]  # SessionStart, the prompt
    wall(HOOK, [json.dumps(p).encode() for p in first], env)
    wall(HOOK, [json.dumps(_with_secret(p, n)).encode() for n, p in enumerate(tools[:backlog])], env)
    assert _redacted(db) >= backlog

    worker = subprocess.Popen([sys.executable, "-m", "offmem.worker", "run"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    spawned = time.perf_counter()
    clean_at = first_obs_at = None
    try:
        while clean_at is None:
            if _redacted(db) == 0:
                clean_at = time.perf_counter() - spawned
            time.sleep(0.01)
        waits = []
        for n, payload in enumerate(tools[backlog:backlog + live], start=backlog):
            payload = _with_secret(payload, n)
            subprocess.run(HOOK, input=json.dumps(payload).encode(), env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            committed = time.perf_counter()  # the hook returned: the raw event is on disk
            while not _redacted(db, payload["tool_use_id"]):
                time.sleep(0.005)
            waits.append((time.perf_counter() - committed) * 1000)
            if first_obs_at is None and _observations(db):
                first_obs_at = time.perf_counter() - spawned
            time.sleep(spacing)
        while first_obs_at is None and time.perf_counter() - spawned < 900:
            if _observations(db):
                first_obs_at = time.perf_counter() - spawned
            time.sleep(0.1)
        busy = _redacted(db) == 0 and _observations(db) < len(tools[:backlog + live]) // 20  # still compressing?
    finally:
        worker.terminate()
        worker.wait(60)
    loads = _load_seconds(env)
    print(f"window, {summarizer} summarizer, {backlog} raw tool events waiting when the worker starts:")
    print(f"  worker start -> all {backlog} redacted        {clean_at:6.2f} s")
    print(f"  worker start -> first observation (models loaded, first batch compressed) "
          f"{first_obs_at if first_obs_at is not None else float('nan'):6.1f} s")
    print(f"  models alone load in a fresh process     {loads:6.2f} s   (the previous design redacted only after this)")
    print(f"{live} events arriving {spacing:g} s apart while the worker loads and compresses"
          f"{' (still compressing at the end)' if busy else ''}:")
    print(f"  hook commit -> redacted                  {percentiles(waits)}   max {max(waits):6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--window", action="store_true", help="measure the window with the real worker (minutes)")
    parser.add_argument("--backlog", type=int, default=200)
    parser.add_argument("--live", type=int, default=40)
    parser.add_argument("--spacing", type=float, default=0.5, help="seconds between live events")
    parser.add_argument("--summarizer", default="llamacpp", choices=["llamacpp", "rules"])
    parser.add_argument("--models-dir", default=str(REPO / ".cache" / "bench-models"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.window:
            window(Path(tmp) / "window", args.models_dir, args.summarizer, args.backlog, args.live, args.spacing)
            return
        hooks(args.runs, Path(tmp) / "hooks")
        throughput()
        stage(args.events, Path(tmp) / "stage")


if __name__ == "__main__":
    main()
