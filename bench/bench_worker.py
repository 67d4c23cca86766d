"""Compression throughput of the real worker with the default local model.

Spools realistic sessions (bench/sessions.py) into a fresh data directory, starts
the real worker process (``python -m offmem.worker run``: llama.cpp summarizer and
MiniLM embedder, as a user's machine runs it), and prints:

- model load time (from the worker's status),
- sustained throughput in tool events per minute (first batch to empty queue),
- the worker's peak RSS (VmHWM from /proc), taken once the queue is empty and
  every observation is embedded, and which embedder backend ran (and whether
  PyTorch was ever mapped into the worker),
- the compression ratio: tokens of raw tool input and output per token of stored
  observation, both counted with the summarizer model's own tokenizer,
- how many batches the model compressed and how many fell back to rules.

    python bench/bench_worker.py [--sessions 6] [--events 40] [--models-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from sessions import session_payloads  # noqa: E402

ROOT = HERE.parent


def status(home: Path) -> dict | None:
    try:
        state = json.loads((home / "worker.json").read_text())
        if not state.get("port"):
            return None
        token = (home / "ui-token").read_text().strip()  # the worker answers only with the install's token
        request = urllib.request.Request(f"http://127.0.0.1:{state['port']}/api/status", headers={"X-Offmem-Token": token})
        with urllib.request.urlopen(request, timeout=5) as resp:
            return json.loads(resp.read())
    except (OSError, ValueError, KeyError):
        return None


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def torch_mapped(pid: int) -> bool:
    """Whether libtorch was ever loaded into the process (shared libraries stay mapped)."""
    return "libtorch" in Path(f"/proc/{pid}/maps").read_text()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=6)
    parser.add_argument("--events", type=int, default=40, help="tool events per session")
    parser.add_argument("--models-dir", default=str(ROOT / ".cache" / "bench-models"))
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        env = {**os.environ, "OFFMEM_HOME": str(home), "OFFMEM_MODELS_DIR": args.models_dir,
               "OFFMEM_WORKER_PORT": "0", "OFFMEM_WORKER_AUTOSTART": "0"}
        os.environ.update(env)
        offmem = str(Path(sys.executable).parent / "offmem")
        subprocess.run([offmem, "pull-models", "--defaults"], env=env, check=True, capture_output=True)

        from offmem.lean.settings import capture_settings
        from offmem.store.events import build_record, connect_durable as connect, store_event as store

        settings = capture_settings(str(home))
        home.mkdir(parents=True, exist_ok=True)
        conn = connect(str(home / "offmem.db"), 5)
        raw_events = []
        for s in range(args.sessions):
            for payload in session_payloads(f"bench{s:04d}-session", events=args.events, seed=s):
                record = build_record(payload, settings)
                if record and store(conn, record) and record["kind"].startswith("PostToolUse"):
                    raw_events.append(record["payload"])
        conn.close()

        worker = subprocess.Popen([sys.executable, "-m", "offmem.worker", "run"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started = time.time()
        loaded_at = None
        load_seconds = None
        done_at = None
        try:
            while time.time() - started < args.timeout:
                st = status(home)
                if st:
                    if loaded_at is None and st.get("model_loaded"):
                        loaded_at = time.time()
                        load_seconds = (st.get("summarizer") or {}).get("load_seconds")
                    if done_at is None and st.get("queue_depth") == 0 and st.get("events_processed", 0) > 0:
                        done_at = time.time()
                    embedder = st.get("embedder") or {}
                    if done_at is not None and (not embedder or (embedder.get("pending") == 0 and embedder.get("indexed"))):
                        final = st
                        break
                    if worker.poll() is not None:
                        raise SystemExit(f"worker exited with {worker.returncode}; see {home / 'offmem.log'}")
                time.sleep(0.5)
            else:
                raise SystemExit("timed out")
            rss = peak_rss_mib(worker.pid)
            torch_loaded = torch_mapped(worker.pid)
        finally:
            worker.terminate()
            worker.wait(30)

        import sqlite3

        db = sqlite3.connect(home / "offmem.db")
        rows = db.execute("SELECT title, subtitle, narrative, facts, concepts, files_read, files_modified, backend FROM observations").fetchall()
        obs_texts = [" ".join(str(c) for c in r[:7]) for r in rows]
        by_backend: dict[str, int] = {}
        for r in rows:
            by_backend[r[7]] = by_backend.get(r[7], 0) + 1

        from offmem.models import resolve_model_path
        from offmem.config import load_settings
        from llama_cpp import Llama

        vocab = Llama(model_path=str(resolve_model_path(load_settings(), "summarizer")), vocab_only=True, verbose=False)
        count = lambda text: len(vocab.tokenize(text.encode("utf-8", "replace"), add_bos=False))  # noqa: E731
        raw_tokens = sum(count(json.dumps(p.get("tool_input")) + json.dumps(p.get("tool_response", p.get("error")))) for p in raw_events)
        obs_tokens = sum(count(t) for t in obs_texts)
        log_lines = (home / "offmem.log").read_text().count("fell back to rules") if (home / "offmem.log").exists() else 0

    span = max(1e-9, done_at - (loaded_at or started))
    print(f"events: {len(raw_events)} tool events in {args.sessions} sessions; observations: {len(rows)} {by_backend}")
    print(f"model load: {load_seconds if load_seconds is not None else 'n/a'} s (worker up to model loaded: "
          f"{(loaded_at - started) if loaded_at else float('nan'):.1f} s)")
    print(f"throughput: {len(raw_events) / span * 60:.1f} tool events/min sustained ({span:.0f} s from model loaded to empty queue)")
    embedder = final.get("embedder") or {}
    print(f"worker peak RSS: {rss:.0f} MiB (embedder: {embedder.get('backend', 'none')} {embedder.get('model', '')}, "
          f"{embedder.get('indexed', 0)} vectors; PyTorch loaded: {'yes' if torch_loaded else 'no'})")
    print(f"compression ratio: {raw_tokens / max(1, obs_tokens):.1f} raw tokens per stored token "
          f"({raw_tokens} raw, {obs_tokens} stored; Qwen2.5 tokenizer)")
    print(f"batches fallen back to rules: {log_lines}; worker last error: {final.get('last_error')}")
    print(f"targets: >= 20 events/min -> {'MET' if len(raw_events) / span * 60 >= 20 else 'MISSED'}; "
          f"RSS <= 1024 MiB -> {'MET' if rss <= 1024 else 'MISSED'}; ratio >= 10 -> "
          f"{'MET' if raw_tokens / max(1, obs_tokens) >= 10 else 'MISSED'}")


if __name__ == "__main__":
    main()
