"""Memory quality on real Claude Code sessions: facts kept, Recall@5/@10, cost per event.

Runs the transcript corpus in ``eval/transcripts`` (16 real sessions, 74 questions
a developer might ask later; see its README) through offmem end to end, the way
``score.py`` of that corpus does, and adds what issue 14 asks to watch:

1. a throwaway ``HOME``, ``OFFMEM_HOME`` and ``CLAUDE_CONFIG_DIR``;
2. ``offmem pull-models --defaults`` (unless ``--skip-pull``);
3. ``offmem import-transcripts <sessions> --json [--rules]``, timed: tool events a
   minute is the backfill's throughput (import, compression and embedding);
4. ``offmem export`` reads every memory back: the memory count by type, and the
   tokens stored per tool event, counted with offmem's own estimate
   (:func:`offmem.retrieval.tokens.count_tokens`) over the fields scored below;
5. each question: ``offmem search QUERY --project <session's main cwd> --json -n 10``.

The data directory's ``transcript_evidence`` table says what the worker's
transcript stage stored (items by kind, and how many a unit of work took).

Scoring is score.py's: a hit is relevant when the memory it names (matched on
project and title in the export, narrowed to the one with the same session and
time when there is one) holds an ``expect_any`` string, case-insensitively, in its
title, subtitle, text, summary fields, facts, concepts or file lists
(``search_text`` does not count; the hit's own title does). **kept** is the share
of questions for which *any* exported memory of the session's project(s) holds
one, whatever search returns. Tool events are read from the data directory's
``events`` table after the import.

The unsupported-claim rate (issue 14: model-written claims not found in the
session) is read from the import's JSON when it reports
``"claims": {"checked": N, "unsupported": M}``; until offmem has that check the
bench prints n/a and ``claims.rate`` is null.

    python bench/bench_memory.py [--rules] [--json] [--sessions NAME ...] [--keep DIR]
                                 [--corpus DIR] [--offmem PATH] [--skip-pull]

Standard library only, apart from offmem's token counter.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from offmem.retrieval.tokens import count_tokens  # noqa: E402

DEFAULT_CORPUS = ROOT / "eval" / "transcripts"
TEXT_FIELDS = ("title", "subtitle", "text", "request", "investigated", "learned", "completed", "next_steps")
LIST_FIELDS = ("facts", "concepts", "files_read", "files_modified")
TOOL_KINDS = ("PostToolUse", "PostToolUseFailure")
KIND_ORDER = ("decision", "error", "identifier", "next", "paraphrase")


def default_offmem() -> list[str]:
    """The offmem next to this interpreter (the project's venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "offmem"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("offmem")
    return [found] if found else [sys.executable, "-m", "offmem"]


def run(cmd: list[str], env: dict, timeout: float = 7200) -> tuple[int, str, str, float]:
    """(exit status, stdout, stderr, seconds); never raises."""
    started = time.perf_counter()
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        return done.returncode, done.stdout, done.stderr, time.perf_counter() - started
    except (OSError, subprocess.TimeoutExpired) as exc:
        return -1, "", str(exc), time.perf_counter() - started


def last_line(text: str) -> str:
    lines = [ln for ln in (text or "").strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


# ------------------------------------------------------------------ corpus


def read_session(path: Path) -> dict:
    """A transcript's session id (first main-thread record that has one), its main cwd and all its cwds."""
    session, cwds = None, collections.Counter()
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if not isinstance(rec, dict) or rec.get("isSidechain"):
                continue
            if session is None and rec.get("sessionId"):
                session = rec["sessionId"]
            if rec.get("type") in ("user", "assistant") and isinstance(rec.get("cwd"), str):
                cwds[rec["cwd"]] += 1
    return {"session_id": session, "cwd": cwds.most_common(1)[0][0] if cwds else None, "cwds": sorted(cwds)}


def load_corpus(corpus: Path, only: list[str] | None) -> tuple[dict[str, Path], list[dict]]:
    sessions_dir = corpus / "sessions"
    files = {p.name[: -len(".jsonl")]: p for p in sorted(sessions_dir.glob("*.jsonl"))}
    queries = json.loads((corpus / "queries.json").read_text(encoding="utf-8"))["queries"]
    if only:
        unknown = sorted(set(only) - set(files))
        if unknown:
            raise SystemExit(f"no session {', '.join(unknown)} in {sessions_dir} (have: {', '.join(files)})")
        files = {name: files[name] for name in only}
        queries = [q for q in queries if q["session"] in files]
    return files, queries


# ------------------------------------------------------------------ memories


def memory_fields(mem: dict) -> list[str]:
    """The scored fields of an exported memory, in order (search_text left out)."""
    parts = [str(mem.get(k) or "") for k in TEXT_FIELDS]
    for k in LIST_FIELDS:
        parts += [str(v) for v in mem.get(k) or []]
    return parts


class MemoryIndex:
    """Exported memories looked up the ways the scoring needs."""

    def __init__(self, memories: list[dict]) -> None:
        self.by_title = collections.defaultdict(list)
        self.by_exact = collections.defaultdict(list)
        self.by_project = collections.defaultdict(list)
        self.projects_of_session = collections.defaultdict(set)
        for mem in memories:
            text = "\n".join(memory_fields(mem)).lower()
            project, title = mem.get("project"), mem.get("title")
            self.by_title[(project, title)].append(text)
            self.by_exact[(project, mem.get("session"), title, mem.get("time"))].append(text)
            self.by_project[project].append(text)
            self.projects_of_session[mem.get("session")].add(project)

    def hit_texts(self, hit: dict) -> list[str]:
        project, title = hit.get("project"), hit.get("title")
        exact = self.by_exact.get((project, hit.get("session_id"), title, hit.get("created_at")))
        return (exact or self.by_title.get((project, title), [])) + [str(title or "").lower()]

    def kept(self, session_id: str | None, expect: list[str]) -> bool:
        return any(holds(self.by_project[p], expect) for p in self.projects_of_session.get(session_id, ()))


def holds(texts: list[str], expect: list[str]) -> bool:
    wanted = [e.lower() for e in expect]
    return any(e in t for t in texts for e in wanted)


def tool_event_counts(db_path: Path) -> dict | None:
    """Events stored by kind, from the data directory's database (read-only); None if unreadable."""
    if not db_path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
        try:
            rows = conn.execute("SELECT kind, count(*) FROM events GROUP BY kind").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return {kind: n for kind, n in rows}


def evidence_counts(db_path: Path) -> dict | None:
    """What the transcript stage stored (offmem.transcript.ingest): items by kind and by status."""
    if not db_path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
        try:
            by_kind = dict(conn.execute("SELECT kind, count(*) FROM transcript_evidence GROUP BY kind").fetchall())
            by_status = dict(conn.execute("SELECT status, count(*) FROM transcript_evidence GROUP BY status").fetchall())
        finally:
            conn.close()
    except sqlite3.Error:  # an offmem without the transcript stage
        return None
    return {"items": sum(by_kind.values()), "by_kind": by_kind, "by_status": by_status}


SEARCHABLE_SQL = ("SELECT count(*) FROM (SELECT session_id FROM summaries UNION"
                  " SELECT session_id FROM observations WHERE origin IS NULL OR origin != 'remember')")


def searchable_sessions(db_path: Path) -> int | None:
    """Sessions with a memory or a summary in SQLite (keyword search finds them); None if unreadable."""
    if not db_path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1)
        try:
            return conn.execute(SEARCHABLE_SQL).fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:  # not created or migrated yet, or busy
        return None


class SearchableWatch:
    """Polls the data directory while the import runs: when the first session, and when every
    session, became searchable (issue 14 item 5: the backfill's *time to searchable*, which the
    import's total time bounds from above: it also includes the vectors)."""

    def __init__(self, db_path: Path, every: float = 0.5) -> None:
        import threading

        self.db_path, self.every = db_path, every
        self.timeline: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._started = time.perf_counter()

    def __enter__(self) -> "SearchableWatch":
        self._started = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sample()  # an import shorter than a poll interval: its end bounds the time from above

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._sample()

    def _sample(self) -> None:
        n = searchable_sessions(self.db_path)
        if n is not None and (not self.timeline or n != self.timeline[-1][1]):
            self.timeline.append((time.perf_counter() - self._started, n))

    def figures(self) -> dict:
        final = searchable_sessions(self.db_path) or 0
        first = next((t for t, n in self.timeline if n > 0), None)
        every = next((t for t, n in self.timeline if n >= final), None) if final else None
        return {"sessions": final, "first_s": round(first, 1) if first is not None else None,
                "all_s": round(every, 1) if every is not None else None}


def claims_of(stats: dict) -> dict:
    """The claim check's figures when the import reports them (issue 14 item 2), else nulls."""
    claims = stats.get("claims") if isinstance(stats.get("claims"), dict) else {}
    checked, unsupported = claims.get("checked"), claims.get("unsupported")
    if isinstance(checked, int) and isinstance(unsupported, int):
        return {"checked": checked, "unsupported": unsupported,
                "rate": round(unsupported / checked, 4) if checked else None, "source": "import-transcripts"}
    return {"checked": None, "unsupported": None, "rate": None, "source": None}


# ------------------------------------------------------------------ scoring


def score_rows(rows: list[dict]) -> dict:
    """Recall@5, Recall@10 and kept per kind and overall."""
    table = {}
    kinds = sorted({r["kind"] for r in rows}, key=lambda k: (KIND_ORDER.index(k) if k in KIND_ORDER else 99, k))
    for kind in [*kinds, "overall"]:
        sel = [r for r in rows if kind in ("overall", r["kind"])]
        if not sel:
            continue
        n = len(sel)
        table[kind] = {
            "n": n,
            "r5": round(sum(1 for r in sel if r["rank"] and r["rank"] <= 5) / n, 4),
            "r10": round(sum(1 for r in sel if r["rank"] and r["rank"] <= 10) / n, 4),
            "kept": round(sum(1 for r in sel if r["kept"]) / n, 4),
        }
    return table


def bench(args) -> dict:
    corpus = Path(args.corpus).resolve()
    files, queries = load_corpus(corpus, args.sessions)
    offmem = [args.offmem] if args.offmem else default_offmem()
    if args.keep:
        work = Path(args.keep).expanduser().resolve()
        if work.exists() and any(work.iterdir()):
            raise SystemExit(f"--keep {work}: the folder is not empty")
        work.mkdir(parents=True, exist_ok=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="offmem-bench-memory-"))
    env = dict(os.environ, HOME=str(work / "home"), OFFMEM_HOME=str(work / "offmem"),
               CLAUDE_CONFIG_DIR=str(work / "home" / ".claude"))
    Path(env["HOME"]).mkdir(parents=True, exist_ok=True)
    report: dict = {
        "corpus": str(corpus), "offmem": " ".join(offmem), "compressor": "rules" if args.rules else "default",
        "sessions": sorted(files), "work_dir": str(work) if args.keep else None,
    }
    try:
        if args.skip_pull:
            report["pull"] = None
        else:
            code, out, err, seconds = run(offmem + ["pull-models", "--defaults"], env)
            report["pull"] = {"exit": code, "seconds": round(seconds, 1),
                              "detail": last_line(err or out) if code else ""}

        all_sessions = args.sessions is None
        targets = [str(corpus / "sessions")] if all_sessions else [str(p) for p in files.values()]
        report["load"] = {"before": round(os.getloadavg()[0], 2)}
        with SearchableWatch(Path(env["OFFMEM_HOME"]) / "offmem.db") as watch:
            code, out, err, seconds = run(offmem + ["import-transcripts", *targets, "--json"]
                                          + (["--rules"] if args.rules else []), env)
        report["load"]["after_import"] = round(os.getloadavg()[0], 2)
        report["searchable"] = watch.figures()
        try:
            stats = json.loads(out)
        except ValueError:
            stats = {}
        counts = tool_event_counts(Path(env["OFFMEM_HOME"]) / "offmem.db") or {}
        tool_events = sum(counts.get(k, 0) for k in TOOL_KINDS) if counts else None
        report["import"] = {
            "exit": code, "seconds": round(seconds, 1),
            "files": stats.get("files"), "imported_files": stats.get("imported_files"),
            "events": stats.get("events"), "tool_events": tool_events,
            "events_by_kind": counts or None,
            "tool_events_per_min": round(tool_events * 60 / seconds, 1) if tool_events and seconds else None,
            "detail": "" if stats else last_line(err or out),
        }
        report["claims"] = claims_of(stats)
        report["evidence"] = evidence_counts(Path(env["OFFMEM_HOME"]) / "offmem.db")

        code, out, err, _ = run(offmem + ["export"], env)
        memories = [json.loads(line) for line in out.splitlines() if line.strip().startswith("{")]
        tokens = sum(count_tokens("\n".join(p for p in memory_fields(m) if p)) for m in memories)
        report["memories"] = {
            "exit": code, "count": len(memories),
            "by_type": dict(sorted(collections.Counter(m.get("type") for m in memories).items())),
            "stored_tokens": tokens,
            "tokens_per_tool_event": round(tokens / tool_events, 1) if tool_events else None,
            "tokens_per_memory": round(tokens / len(memories), 1) if memories else None,
        }
        index = MemoryIndex(memories)

        info = {name: read_session(path) for name, path in files.items()}
        rows, notes = [], collections.Counter()
        started = time.perf_counter()
        for number, q in enumerate(queries, 1):
            session = info[q["session"]]
            code, out, err, _ = run(offmem + ["search", q["query"], "--project", session["cwd"] or "/",
                                              "--json", "-n", "10"], env, timeout=600)
            try:
                data = json.loads(out)
            except ValueError:
                data = {"hits": [], "notes": [f"search failed (exit {code}): {last_line(err or out)[:200]}"]}
            for note in data.get("notes") or []:
                notes[str(note)] += 1
            rank = next((r for r, hit in enumerate(data.get("hits") or [], 1)
                         if holds(index.hit_texts(hit), q["expect_any"])), None)
            rows.append({"id": q["id"], "kind": q["kind"], "rank": rank,
                         "kept": index.kept(session["session_id"], q["expect_any"])})
            if sys.stderr.isatty():
                print(f"\r  searched {number}/{len(queries)}", end="", file=sys.stderr, flush=True)
        if sys.stderr.isatty() and queries:
            print(file=sys.stderr)
        report["search"] = {"queries": len(rows), "seconds": round(time.perf_counter() - started, 1),
                            "notes": dict(notes.most_common(5))}
        report["scores"] = score_rows(rows)
        report["not_kept"] = [r["id"] for r in rows if not r["kept"]]
        report["queries"] = rows
        report["load"]["end"] = round(os.getloadavg()[0], 2)
    finally:
        run(offmem + ["worker", "stop"], env, timeout=60)  # in case anything started one
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return report


# ------------------------------------------------------------------ output


def fmt(value, spec: str = "", none: str = "n/a") -> str:
    return none if value is None else format(value, spec)


def print_report(r: dict) -> None:
    print(f"offmem: {r['offmem']}   compressor: {r['compressor']}")
    print(f"corpus: {r['corpus']} ({len(r['sessions'])} sessions)")
    if r.get("pull"):
        p = r["pull"]
        print(f"pull-models --defaults: exit {p['exit']}, {p['seconds']}s" + (f" ({p['detail']})" if p["detail"] else ""))
    i = r["import"]
    print(f"import-transcripts: exit {i['exit']}, {fmt(i['imported_files'])}/{fmt(i['files'])} files, "
          f"{fmt(i['events'])} events of which {fmt(i['tool_events'])} tool events, {i['seconds']}s"
          + (f" ({i['detail']})" if i["detail"] else ""))
    m = r["memories"]
    types = ", ".join(f"{n} {t}" for t, n in m["by_type"].items())
    print(f"memories: {m['count']} ({types})")
    s = r["search"]
    print(f"searched {s['queries']} queries in {s['seconds']}s")
    for note, n in s["notes"].items():
        print(f"note x{n}: {note}")
    print()
    print(f"{'kind':<12}{'n':>4}{'R@5':>8}{'R@10':>8}{'kept':>8}")
    for kind, row in r["scores"].items():
        print(f"{kind:<12}{row['n']:>4}{row['r5']:>8.2f}{row['r10']:>8.2f}{row['kept']:>8.2f}")
    c = r["claims"]
    if c["rate"] is not None:
        claim = f"{c['rate']:.2%} ({c['unsupported']} of {c['checked']} claims checked)"
    elif c["checked"] == 0 and r.get("compressor") == "rules":
        claim = "n/a (rules only: no model wrote anything)"
    elif c["checked"] == 0:
        claim = "n/a: 0 claims checked, the model wrote no text of its own (it chooses and orders clauses)"
    else:
        claim = "n/a (the import reported no claim check)"
    print()
    w = r.get("searchable") or {}
    print(f"{'time to searchable (keyword)':<34}first session {fmt(w.get('first_s'))} s, all "
          f"{fmt(w.get('sessions'))} sessions {fmt(w.get('all_s'))} s; the import (with vectors) {i['seconds']} s")
    print(f"{'tool events/min (import)':<34}{fmt(i['tool_events_per_min'])}")
    print(f"{'stored tokens per tool event':<34}{fmt(m['tokens_per_tool_event'])}"
          f"   ({m['stored_tokens']} tokens, {fmt(m['tokens_per_memory'])} per memory)")
    print(f"{'memories':<34}{m['count']}")
    e = r.get("evidence")
    if e is not None:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(e["by_kind"].items()))
        status = ", ".join(f"{n} {k}" for k, n in sorted(e["by_status"].items()))
        print(f"{'transcript items stored':<34}{e['items']}   ({kinds}; {status})")
    print(f"{'unsupported-claim rate':<34}{claim}")
    print(f"\nfacts not kept in any memory ({len(r['not_kept'])}): {' '.join(r['not_kept'])}")
    load = r.get("load") or {}
    print(f"load average (1 min) before the import {fmt(load.get('before'))}, after it "
          f"{fmt(load.get('after_import'))}, at the end {fmt(load.get('end'))} (2 cores)")
    if r.get("work_dir"):
        print(f"kept the data directory: {r['work_dir']}/offmem")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rules", action="store_true", help="import with the rule-based compressor (no model)")
    ap.add_argument("--json", action="store_true", help="print the report as one JSON object")
    ap.add_argument("--sessions", nargs="+", metavar="NAME", help="only these sessions (file names without .jsonl)")
    ap.add_argument("--keep", metavar="DIR", help="run in DIR (new or empty) and keep it, instead of a temporary folder")
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
