"""What redaction costs: the prompt hook, the tool hook, the redactor, the worker's privacy stage.

    python bench/bench_privacy.py [--runs 40] [--events 2000]

Prints, on this machine:
- median / p95 wall time of the installed hook for UserPromptSubmit (redacted in the hook)
  and PostToolUse (not redacted there), next to ``python -S -c pass``;
- the cost of redaction alone in a fresh ``python -S`` process (import, settings, first call);
- redactor throughput on installed Python source (MB/s) and on the secret corpus;
- the worker's privacy stage: events/s rewritten in place, and the WAL checkpoint time.
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
    from offmem.hooks import capture
    from offmem.privacy import Redactor
    from offmem.privacy.stage import PrivacyStage, checkpoint
    from offmem.store.db import Store

    tool = next(json.loads(line) for line in FIXTURES.read_text().splitlines() if '"PostToolUse"' in line)
    output = "\n".join(f"line {i}: ok" for i in range(200)) + "\nDB_PASSWORD=hunter22\n"
    conn = capture.connect(str(home / "offmem.db"), 10)
    for i in range(events):
        record = capture.build_record({**tool, "tool_use_id": f"toolu_s{i}", "tool_response": {"stdout": output}},
                                      capture.capture_settings(str(home)))
        capture.store(conn, record)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--events", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        hooks(args.runs, Path(tmp) / "hooks")
        throughput()
        stage(args.events, Path(tmp) / "stage")


if __name__ == "__main__":
    main()
