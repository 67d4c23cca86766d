"""Web UI response times on a large store, over real HTTP from a real worker.

Fills a fresh data directory with N observations (bench_context's generator:
500 sessions over 90 days, summaries), starts ``offmem worker start`` on it
(rules summarizer; keyword search unless ``--semantic``, which installs the
packaged MiniLM and waits for the index), then times each page and the live
stream's first byte from a keep-alive HTTP connection (server time plus
loopback; no browser rendering).

    python bench/bench_web_ui.py [--observations 10000] [--runs 50] [--semantic]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_context import fill, percentile  # noqa: E402

OFFMEM = str(Path(sys.executable).parent / "offmem")
PROJECT = "/home/dev/shop-api"
HEADERS: dict = {}  # the install's token once the worker made it: every route but /api/health needs it


def start_worker(home: Path, semantic: bool) -> tuple[dict, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFMEM_")}
    env.update(OFFMEM_HOME=str(home), OFFMEM_WORKER_AUTOSTART="0", OFFMEM_SUMMARIZER_BACKEND="rules",
               OFFMEM_WORKER_PORT="0", HF_HUB_OFFLINE="1")
    if semantic:
        code = ("from offmem.config import load_settings; from offmem.models import pull_models; "
                "pull_models(load_settings(), ['all-minilm-l6-v2'], kinds=('pypi',))")
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
    else:
        env["OFFMEM_EMBEDDER_BACKEND"] = "none"
    done = subprocess.run([OFFMEM, "worker", "start", "--json"], capture_output=True, text=True, env=env, check=True)
    return env, json.loads(done.stdout)["port"]


def get(conn: http.client.HTTPConnection, path: str) -> tuple[float, int, int]:
    started = time.perf_counter()
    conn.request("GET", path, headers=HEADERS)
    resp = conn.getresponse()
    body = resp.read()
    return (time.perf_counter() - started) * 1000, resp.status, len(body)


def stream_first_byte(port: int) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    started = time.perf_counter()
    conn.request("GET", "/api/ui/stream", headers=HEADERS)
    resp = conn.getresponse()
    resp.fp.readline()
    elapsed = (time.perf_counter() - started) * 1000
    conn.close()
    return elapsed


def wait_indexed(port: int, total: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while True:
        conn.request("GET", "/api/status", headers=HEADERS)
        embedder = json.loads(conn.getresponse().read()).get("embedder") or {}
        if embedder.get("indexed") == total and embedder.get("pending") == 0:
            return
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--observations", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--semantic", action="store_true", help="hybrid search with the packaged MiniLM")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        fill(home / "offmem.db", PROJECT, args.observations, seed=1)
        env, port = start_worker(home, args.semantic)
        HEADERS["X-Offmem-Token"] = (home / "ui-token").read_text().strip()
        try:
            if args.semantic:
                wait_indexed(port, args.observations)
            pages = {
                "live (/)": "/",
                "search: keyword + filters": "/search?q=KeyError+parse_42&project=" + PROJECT + "&type=bugfix",
                "search: words": "/search?q=handles+case+parse",
                "search: no words (browse)": "/search?project=" + PROJECT,
                "memory detail": f"/observations/{args.observations // 2}",
                "session detail": "/sessions/" + PROJECT + f"-session-{args.observations // 40}",
                "context preview": "/context?project=" + PROJECT,
                "settings": "/settings",
                "stats": "/stats",
            }
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            mode = "hybrid (MiniLM)" if args.semantic else "keyword only"
            print(f"{args.observations} observations, {mode}, {args.runs} requests per page, keep-alive HTTP")
            for name, path in pages.items():
                get(conn, path)  # warm
                runs = [get(conn, path) for _ in range(args.runs)]
                times = [t for t, _, _ in runs]
                status, size = runs[-1][1], runs[-1][2]
                print(f"  {name:28s} median {statistics.median(times):6.1f} ms   p95 {percentile(times, 0.95):6.1f} ms"
                      f"   [{status}, {size / 1024:.0f} KB]")
            first = [stream_first_byte(port) for _ in range(10)]
            print(f"  {'live stream, first event':28s} median {statistics.median(first):6.1f} ms")
        finally:
            subprocess.run([OFFMEM, "worker", "stop"], env=env, capture_output=True)


if __name__ == "__main__":
    main()
