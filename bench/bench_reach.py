"""What reaches the agent: corpus facts found in the SessionStart block or the prompt-time block.

``bench_memory.py`` measures whether a fact is *stored* (kept) and whether search
*ranks* it (Recall@k). What the agent actually sees is less: the SessionStart
block (1,500 tokens by default) and, per prompt, the prompt-time block (300
tokens, at most 3 memories). This bench measures that, end to end, on the
transcript corpus in ``eval/transcripts`` (16 real sessions, 74 questions):

1. a throwaway ``HOME`` / ``OFFMEM_HOME``; ``offmem pull-models --defaults``;
   ``offmem import-transcripts <sessions> --json [--rules]``; ``offmem reindex``
   (vectors for the prompt-time search, as a warm worker would have them);
2. for each question, a new session of the question's project (its session's
   main cwd): the SessionStart block exactly as the hook builds it
   (:func:`offmem.retrieval.session.session_start_block`, which also records what
   the session was given), then the question as the session's first prompt,
   answered the way the worker's ``/api/prompt-context`` route answers it
   (:func:`offmem.retrieval.prompt.prompt_memories` with the loaded embedder and
   Chroma, excluding what SessionStart recorded);
3. the same question is also asked in another project of the corpus (the next
   one in name order), where nothing is relevant: prompt-time memories offered
   there are noise (``wrong_project``);
4. a question *reaches* the agent when one of its ``expect_any`` strings appears,
   case-insensitively, in the SessionStart block (``start``), the prompt-time
   block (``prompt``) or either (``either``). ``kept`` (any memory of the project
   holds it, as ``bench_memory.py`` counts it) is the ceiling.

The prompt-time block is computed in process: this bench measures *what* is
delivered, not the hook's time box (``bench_prompt_time.py`` does that).

    python bench/bench_reach.py [--rules] [--json] [--keep DIR | --reuse DIR] [--sessions NAME ...]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from bench_memory import KIND_ORDER, MemoryIndex, default_offmem, last_line, load_corpus, read_session, run  # noqa: E402

DEFAULT_CORPUS = ROOT / "eval" / "transcripts"


def prepare(args, offmem: list[str], env: dict, files: dict[str, Path], corpus: Path) -> dict:
    """Pull the models, import the corpus and index it; returns what the import said."""
    info: dict = {}
    if not args.skip_pull:
        code, out, err, seconds = run(offmem + ["pull-models", "--defaults"], env)
        info["pull"] = {"exit": code, "seconds": round(seconds, 1), "detail": last_line(err or out) if code else ""}
    targets = [str(corpus / "sessions")] if args.sessions is None else [str(p) for p in files.values()]
    code, out, err, seconds = run(offmem + ["import-transcripts", *targets, "--json"]
                                  + (["--rules"] if args.rules else []), env)
    info["import"] = {"exit": code, "seconds": round(seconds, 1), "detail": "" if code == 0 else last_line(err or out)}
    code, out, err, seconds = run(offmem + ["reindex"], env)
    info["reindex"] = {"exit": code, "seconds": round(seconds, 1), "detail": last_line(out or err)}
    return info


def memories_of(offmem: list[str], env: dict) -> list[dict]:
    _code, out, _err, _ = run(offmem + ["export"], env)
    return [json.loads(line) for line in out.splitlines() if line.strip().startswith("{")]


def found_in(text: str, expect: list[str]) -> bool:
    low = (text or "").lower()
    return any(e.lower() in low for e in expect)


def measure(home: Path, queries: list[dict], info: dict[str, dict], index: MemoryIndex) -> tuple[list[dict], dict]:
    """One row per question: where (if anywhere) its fact reached the agent."""
    os.environ["OFFMEM_HOME"] = str(home)
    from offmem.config import load_settings
    from offmem.retrieval.prompt import prompt_memories
    from offmem.retrieval.session import session_start_block
    from offmem.search.indexer import get_indexer
    from offmem.store.db import Store

    settings = load_settings()
    embedder = chroma = None
    notes = []
    try:
        indexer = get_indexer(settings)
        if indexer is not None:
            indexer.embedder.load()
            embedder, chroma = indexer.embedder, indexer.vectors
    except Exception as exc:  # noqa: BLE001 - keyword-only, and said so
        notes.append(f"no embedder: {type(exc).__name__}: {exc}")
    rows = []
    start_tokens, prompt_tokens, prompt_ms = [], [], []
    from offmem.retrieval.tokens import count_tokens

    projects = sorted({i["cwd"] or "/" for i in info.values()})
    with Store.open(settings.db_path) as store:
        for q in queries:
            session = info[q["session"]]
            project = session["cwd"] or "/"
            sid = f"reach-{q['id']}-{time.monotonic_ns()}"
            start = session_start_block(str(home), project, sid)
            started = time.perf_counter()
            prompt = prompt_memories(store, project, q["query"], settings, session_id=sid, embedder=embedder,
                                     chroma=chroma)
            prompt_ms.append((time.perf_counter() - started) * 1000)
            start_tokens.append(count_tokens(start))
            prompt_tokens.append(prompt["tokens"])
            in_start, in_prompt = found_in(start, q["expect_any"]), found_in(prompt["text"], q["expect_any"])
            other = projects[(projects.index(project) + 1) % len(projects)]
            wrong_sid = sid + "-wrong"
            session_start_block(str(home), other, wrong_sid)
            wrong = prompt_memories(store, other, q["query"], settings, session_id=wrong_sid, embedder=embedder,
                                    chroma=chroma)
            rows.append({"id": q["id"], "kind": q["kind"], "start": in_start, "prompt": in_prompt,
                         "either": in_start or in_prompt, "kept": index.kept(session["session_id"], q["expect_any"]),
                         "prompt_ids": prompt["observation_ids"], "prompt_summaries": prompt.get("summary_ids", []),
                         "mode": prompt["mode"],
                         "wrong_project": len(wrong["observation_ids"]) + len(wrong.get("summary_ids", []))})
    stats = {
        "notes": notes,
        "start_tokens_max": max(start_tokens, default=0),
        "prompt_tokens_max": max(prompt_tokens, default=0),
        "prompt_blocks": sum(1 for t in prompt_tokens if t),
        "wrong_project_answered": sum(1 for r in rows if r["wrong_project"]),
        "wrong_project_memories": sum(r["wrong_project"] for r in rows),
        "prompt_ms_median": round(sorted(prompt_ms)[len(prompt_ms) // 2], 1) if prompt_ms else None,
        "budget": settings.context.budget_tokens,
        "prompt_budget": settings.context.prompt_budget_tokens,
    }
    return rows, stats


def score(rows: list[dict]) -> dict:
    kinds = sorted({r["kind"] for r in rows}, key=lambda k: (KIND_ORDER.index(k) if k in KIND_ORDER else 99, k))
    table = {}
    for kind in [*kinds, "overall"]:
        sel = [r for r in rows if kind in ("overall", r["kind"])]
        n = len(sel)
        table[kind] = {"n": n, **{key: round(sum(1 for r in sel if r[key]) / n, 4)
                                  for key in ("start", "prompt", "either", "kept")}}
    return table


def bench(args) -> dict:
    corpus = Path(args.corpus).resolve()
    files, queries = load_corpus(corpus, args.sessions)
    offmem = [args.offmem] if args.offmem else default_offmem()
    if args.reuse:
        work = Path(args.reuse).expanduser().resolve()
    elif args.keep:
        work = Path(args.keep).expanduser().resolve()
        if work.exists() and any(work.iterdir()):
            raise SystemExit(f"--keep {work}: the folder is not empty")
        work.mkdir(parents=True, exist_ok=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="offmem-bench-reach-"))
    env = dict(os.environ, HOME=str(work / "home"), OFFMEM_HOME=str(work / "offmem"),
               CLAUDE_CONFIG_DIR=str(work / "home" / ".claude"), OFFMEM_WORKER_AUTOSTART="0")
    Path(env["HOME"]).mkdir(parents=True, exist_ok=True)
    os.environ["HOME"] = env["HOME"]
    report: dict = {"corpus": str(corpus), "compressor": "rules" if args.rules else "default",
                    "work_dir": str(work) if (args.keep or args.reuse) else None}
    try:
        report["prepare"] = None if args.reuse else prepare(args, offmem, env, files, corpus)
        memories = memories_of(offmem, env)
        report["memories"] = len(memories)
        info = {name: read_session(path) for name, path in files.items()}
        rows, stats = measure(Path(env["OFFMEM_HOME"]), queries, info, MemoryIndex(memories))
        report["stats"] = stats
        report["scores"] = score(rows)
        report["missed"] = [r["id"] for r in rows if r["kept"] and not r["either"]]
        report["queries"] = rows
    finally:
        if not (args.keep or args.reuse):
            shutil.rmtree(work, ignore_errors=True)
    return report


def print_report(r: dict) -> None:
    print(f"compressor: {r['compressor']}   memories: {r['memories']}   corpus: {r['corpus']}")
    if r.get("prepare"):
        for step, p in r["prepare"].items():
            print(f"{step}: exit {p['exit']}, {p['seconds']}s" + (f" ({p['detail']})" if p["detail"] else ""))
    s = r["stats"]
    for note in s["notes"]:
        print(f"note: {note}")
    print(f"SessionStart block: at most {s['start_tokens_max']} of {s['budget']} tokens; prompt-time block: "
          f"{s['prompt_blocks']} prompts got one, at most {s['prompt_tokens_max']} of {s['prompt_budget']} tokens, "
          f"median {s['prompt_ms_median']} ms in process")
    print(f"asked in another project (nothing there is relevant): {s['wrong_project_answered']} of "
          f"{len(r['queries'])} prompts got memories ({s['wrong_project_memories']} memories)")
    print()
    print(f"{'kind':<12}{'n':>4}{'start':>8}{'prompt':>8}{'either':>8}{'kept':>8}")
    for kind, row in r["scores"].items():
        print(f"{kind:<12}{row['n']:>4}{row['start']:>8.2f}{row['prompt']:>8.2f}{row['either']:>8.2f}{row['kept']:>8.2f}")
    print(f"\nkept but not reaching the agent ({len(r['missed'])}): {' '.join(r['missed'])}")
    if r.get("work_dir"):
        print(f"data directory: {r['work_dir']}/offmem")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rules", action="store_true", help="import with the rule-based compressor (no model)")
    ap.add_argument("--json", action="store_true", help="print the report as one JSON object")
    ap.add_argument("--sessions", nargs="+", metavar="NAME", help="only these sessions (file names without .jsonl)")
    ap.add_argument("--keep", metavar="DIR", help="run in DIR (new or empty) and keep it")
    ap.add_argument("--reuse", metavar="DIR", help="measure a DIR kept by an earlier --keep run (no import)")
    ap.add_argument("--corpus", default=str(DEFAULT_CORPUS), help="folder with sessions/ and queries.json")
    ap.add_argument("--offmem", help="the offmem executable (default: the one beside this Python, else on PATH)")
    ap.add_argument("--skip-pull", action="store_true", help="do not run `offmem pull-models --defaults`")
    args = ap.parse_args(argv)
    report = bench(args)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
