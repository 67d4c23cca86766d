"""Where the answers live: tool events versus what the transcript reader yields.

For each question of the transcript corpus (``eval/transcripts/queries.json``) this
checks whether at least one of its ``expect_any`` strings (case-insensitive) is
present, in that question's session, in:

``tool``
    the tool events offmem stores today: the PostToolUse / PostToolUseFailure
    payloads ``offmem import-transcripts`` makes of the main thread
    (:func:`offmem.portability.transcripts.transcript_events`), passed through the
    hook's own :func:`offmem.store.events.build_record` (skip-list, field clipping
    at ``capture.max_field_chars``) and redacted like the worker's privacy stage;
``stored``
    everything offmem stores today: those tool events plus the typed prompts and
    the Stop events' last assistant message;
``evidence``
    every item :func:`offmem.transcript.read_transcript` yields for the session
    (its subagent files included), redacted the same way; the columns after it
    say which kinds of evidence carry the answer;
``union``
    tool events or evidence.

These are ceilings for "kept" (bench_memory.py): a fact absent from a source cannot
survive compression of that source. It also prints, per evidence kind, how many
items and estimated tokens (offmem's :func:`~offmem.retrieval.tokens.count_tokens`)
the corpus holds, which is what a compressor would have to read.

    python bench/bench_evidence.py [--json] [--corpus DIR] [--sessions NAME ...]

No models, no data directory (a temporary OFFMEM_HOME keeps settings defaults).
"""

from __future__ import annotations

import argparse
import atexit
import collections
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["OFFMEM_HOME"] = tempfile.mkdtemp(prefix="offmem-bench-evidence-")  # defaults, not the user's config
atexit.register(shutil.rmtree, os.environ["OFFMEM_HOME"], True)

from offmem.lean.settings import capture_settings  # noqa: E402
from offmem.portability.transcripts import transcript_events  # noqa: E402
from offmem.privacy.redact import Redactor  # noqa: E402
from offmem.retrieval.tokens import count_tokens  # noqa: E402
from offmem.store.events import build_record  # noqa: E402
from offmem.transcript import EVIDENCE_KINDS, read_transcript  # noqa: E402

DEFAULT_CORPUS = ROOT / "eval" / "transcripts"
TOOL_KINDS = ("PostToolUse", "PostToolUseFailure")
KIND_ORDER = ("decision", "error", "identifier", "next", "paraphrase")
SOURCES = ("tool", "stored", "evidence", "union")


def strings(value) -> list[str]:
    """Every string inside a JSON value (keys left out)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def stored_today(path: Path, settings: dict, redactor: Redactor) -> tuple[str, str]:
    """(tool event text, prompt + Stop message text) as offmem stores them from this transcript."""
    _, events = transcript_events(path)
    tools, others = [], []
    for ev in events:
        record = build_record(dict(ev.payload), settings)
        if record is None:
            continue
        payload = record["payload"]
        if record["kind"] in TOOL_KINDS:
            payload = redactor.redact_payload(payload)  # the worker's privacy stage
            tools += strings({k: payload.get(k) for k in ("tool_input", "tool_response", "error")})
        elif record["kind"] == "UserPromptSubmit":
            others.append(str(payload.get("prompt") or ""))
        elif record["kind"] == "Stop":
            others.append(str(payload.get("last_assistant_message") or ""))
    return "\n".join(tools).lower(), "\n".join(others).lower()


def has(text: str, expect: list[str]) -> bool:
    return any(e.lower() in text for e in expect)


def measure(corpus: Path, only: list[str] | None) -> dict:
    sessions_dir = corpus / "sessions"
    queries = json.loads((corpus / "queries.json").read_text(encoding="utf-8"))["queries"]
    if only:
        queries = [q for q in queries if q["session"] in only]
    redactor = Redactor()
    settings = capture_settings(os.environ["OFFMEM_HOME"])
    texts: dict[str, dict] = {}
    volume = collections.defaultdict(lambda: {"items": 0, "tokens": 0})
    started = time.perf_counter()
    names = only or [p.name[: -len(".jsonl")] for p in sessions_dir.glob("*.jsonl")]
    for name in sorted(set(names) | {q["session"] for q in queries}):
        path = sessions_dir / f"{name}.jsonl"
        tool, other = stored_today(path, settings, redactor)
        result = read_transcript(path, redact=redactor.redact_text, final=True)
        by_kind = collections.defaultdict(list)
        for item in result.items:
            by_kind[item.kind].append(item.text.lower())
            volume[item.kind]["items"] += 1
            volume[item.kind]["tokens"] += count_tokens(item.text)
        volume["tool events (stored payload text)"]["tokens"] += count_tokens(tool)
        texts[name] = {"tool": tool, "stored": tool + "\n" + other,
                       "evidence": {k: "\n".join(v) for k, v in by_kind.items()}}
    seconds = time.perf_counter() - started

    rows = []
    for q in queries:
        t = texts[q["session"]]
        kinds_found = sorted(k for k, v in t["evidence"].items() if has(v, q["expect_any"]))
        row = {"id": q["id"], "kind": q["kind"], "tool": has(t["tool"], q["expect_any"]),
               "stored": has(t["stored"], q["expect_any"]), "evidence": bool(kinds_found),
               "evidence_kinds": kinds_found}
        row["union"] = row["tool"] or row["evidence"]
        rows.append(row)

    table = {}
    kinds = sorted({r["kind"] for r in rows}, key=lambda k: (KIND_ORDER.index(k) if k in KIND_ORDER else 99, k))
    for kind in [*kinds, "overall"]:
        sel = [r for r in rows if kind in ("overall", r["kind"])]
        if not sel:
            continue
        entry = {"n": len(sel)}
        entry.update({s: round(sum(r[s] for r in sel) / len(sel), 4) for s in SOURCES})
        entry["by_evidence_kind"] = {k: round(sum(k in r["evidence_kinds"] for r in sel) / len(sel), 4)
                                     for k in EVIDENCE_KINDS if any(k in r["evidence_kinds"] for r in rows)}
        entry["only_in_evidence"] = sum(1 for r in sel if r["evidence"] and not r["tool"])
        table[kind] = entry
    return {"corpus": str(corpus), "sessions": sorted(texts), "seconds": round(seconds, 2), "scores": table,
            "volume": dict(volume), "missing_everywhere": [r["id"] for r in rows if not r["union"]],
            "only_in_evidence": [r["id"] for r in rows if r["evidence"] and not r["tool"]], "queries": rows}


def print_report(r: dict) -> None:
    print(f"corpus: {r['corpus']} ({len(r['sessions'])} sessions), read in {r['seconds']}s")
    print("share of questions whose answer string is present in each source (a ceiling for 'kept'):\n")
    extra = list(next(iter(r["scores"].values()))["by_evidence_kind"])
    short = {"assistant_text": "asst", "user_prompt": "prompt", "user_correction": "corr", "compact_summary": "compact",
             "compact_boundary": "bound", "subagent_result": "sub-res", "subagent_text": "sub-txt",
             "task_notification": "notif", "summary": "summ"}
    head = f"{'kind':<12}{'n':>4}{'tool':>8}{'stored':>8}{'evid.':>8}{'union':>8}  |" + "".join(
        f"{short.get(k, k):>9}" for k in extra) + f"{'only evid.':>12}"
    print(head)
    for kind, e in r["scores"].items():
        print(f"{kind:<12}{e['n']:>4}" + "".join(f"{e[s]:>8.2f}" for s in SOURCES) + "  |"
              + "".join(f"{e['by_evidence_kind'][k]:>9.2f}" for k in extra) + f"{e['only_in_evidence']:>12}")
    print("\ntool = tool events as stored; stored = + prompts and Stop messages; evid. = transcript reader;"
          "\nunion = tool or evid.; right of | : which evidence kind holds it; only evid. = questions not in tool events")
    print("\nvolume (whole selection):")
    for kind, v in sorted(r["volume"].items(), key=lambda kv: -kv[1]["tokens"]):
        items = f"{v['items']:>6} items" if v["items"] else " " * 12
        print(f"  {kind:<36}{items}{v['tokens']:>10} tokens")
    print(f"\nin no source ({len(r['missing_everywhere'])}): {' '.join(r['missing_everywhere'])}")
    print(f"only in the evidence ({len(r['only_in_evidence'])}): {' '.join(r['only_in_evidence'])}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", action="store_true", help="print the report as one JSON object")
    ap.add_argument("--corpus", default=str(DEFAULT_CORPUS), help="folder with sessions/ and queries.json")
    ap.add_argument("--sessions", nargs="+", metavar="NAME", help="only these sessions")
    args = ap.parse_args(argv)
    report = measure(Path(args.corpus).resolve(), args.sessions)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
