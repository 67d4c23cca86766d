"""Retrieval evaluation: Recall@5, Recall@10 and MRR of FTS-only, vector-only and hybrid.

The corpus (``eval/corpus/<project>.jsonl``: coding memories from several
projects and sessions) and the queries (``eval/queries.jsonl``: paraphrased
questions, identifiers, error strings and "what did we decide" questions, each
with the keys of its relevant memories and a ``dev`` / ``test`` split) are data
in the repository. The evaluation builds a real store in a temporary directory
through the normal write path (SQLite insert, outbox, Indexer, Chroma) and asks
each query through the library API, scoped to the query's project.

``--tune`` grid-searches the fusion parameters on the dev split only and reports
the chosen ones on the test split, so the reported test figures are held out.

    python -m offmem.search.evaluate [--split all|dev|test] [--json] [--tune]
"""

from __future__ import annotations

import itertools
import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from offmem.search.filters import parse_created
from offmem.search.hybrid import (
    DEFAULT_PARAMS,
    FusionParams,
    fts_search,
    fuse,
    hybrid_search,
    query_intent,
    vector_search,
)

MODES = ("fts", "vector", "hybrid")
KINDS = ("paraphrase", "identifier", "error", "decision")
PROJECT_ROOT = "/home/dev"


def default_eval_dir() -> Path:
    """``eval/`` at the root of a source checkout."""
    return Path(__file__).resolve().parents[2] / "eval"


# ---------------------------------------------------------------------- data


def load_corpus(eval_dir: Path) -> list[dict]:
    corpus_dir = Path(eval_dir) / "corpus"
    files = sorted(corpus_dir.glob("*.jsonl"))
    if not files:
        raise FileNotFoundError(f"no corpus in {corpus_dir}; run from a source checkout or pass --eval-dir")
    records = []
    for path in files:
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if line.strip():
                record = json.loads(line)
                record.setdefault("project", f"{PROJECT_ROOT}/{path.stem}")
                record["_where"] = f"{path.name}:{n}"
                records.append(record)
    return records


def load_queries(eval_dir: Path, split: str = "all") -> list[dict]:
    lines = (Path(eval_dir) / "queries.jsonl").read_text("utf-8").splitlines()
    queries = [json.loads(line) for line in lines if line.strip()]
    return [q for q in queries if split == "all" or q["split"] == split]


def created_at(stamp: str) -> str:
    """``2025-03-03T09:14`` → the storage format ``2025-03-03T09:14:00.000Z``."""
    return stamp + ":00.000Z" if len(stamp) == 16 else stamp


# ---------------------------------------------------------------------- building


@dataclass
class EvalIndex:
    store: object
    embedder: object
    chroma: object
    key_of: dict  # observation id -> corpus key
    now: float
    workdir: Path

    def close(self) -> None:
        self.store.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def build_index(corpus: list[dict], embedder, workdir: Path | None = None) -> EvalIndex:
    """A fresh SQLite + embedded Chroma store holding ``corpus``, fully indexed."""
    from offmem.config import Settings
    from offmem.records import Observation
    from offmem.search.chroma import ChromaIndex
    from offmem.search.indexer import Indexer
    from offmem.store.db import Store, transaction

    workdir = Path(workdir or tempfile.mkdtemp(prefix="offmem-eval-"))
    settings = Settings(home=workdir)  # a scratch store of its own: defaults, nothing of the user's config
    store = Store.open(settings.db_path)
    key_of: dict[int, str] = {}
    with transaction(store.conn):
        for rec in corpus:
            obs = Observation(
                type=rec["type"], title=rec["title"], subtitle=rec.get("subtitle", ""),
                narrative=rec.get("narrative", ""), facts=rec.get("facts", []), concepts=rec.get("concepts", []),
                files_read=rec.get("files_read", []), files_modified=rec.get("files_modified", []),
            )
            oid = store.insert_observation(obs, session_id=rec["session"], project=rec["project"],
                                           created_at=created_at(rec["t"]))
            if oid is None:
                raise ValueError(f"duplicate corpus record {rec['key']} ({rec['_where']})")
            key_of[oid] = rec["key"]
    chroma = ChromaIndex.from_settings(settings)
    Indexer(settings, embedder, chroma).index_pending()
    now = max(parse_created(created_at(r["t"])) for r in corpus) + 86400.0
    return EvalIndex(store, embedder, chroma, key_of, now, workdir)


# ---------------------------------------------------------------------- metrics


def query_metrics(ranked: list[str], relevant: list[str]) -> dict:
    wanted = set(relevant)
    first = next((i for i, key in enumerate(ranked, 1) if key in wanted), None)
    return {
        "recall@5": len(wanted & set(ranked[:5])) / len(wanted),
        "recall@10": len(wanted & set(ranked[:10])) / len(wanted),
        "mrr": 1.0 / first if first else 0.0,
    }


def mean_metrics(rows: list[dict]) -> dict:
    if not rows:
        return {"recall@5": 0.0, "recall@10": 0.0, "mrr": 0.0, "n": 0}
    return {**{m: round(sum(r[m] for r in rows) / len(rows), 4) for m in ("recall@5", "recall@10", "mrr")}, "n": len(rows)}


def ranked_keys(index: EvalIndex, query: dict, mode: str, params: FusionParams = DEFAULT_PARAMS, limit: int = 10) -> list[str]:
    common = {"project": query.get("project"), "limit": limit}
    if mode == "fts":
        hits = fts_search(index.store, query["query"], **common, weights=params.fts_weights)
    elif mode == "vector":
        hits = vector_search(index.store, query["query"], **common, embedder=index.embedder, chroma=index.chroma)
    else:
        hits = hybrid_search(index.store, query["query"], **common, embedder=index.embedder, chroma=index.chroma,
                             params=params, now=index.now)
    return [index.key_of[h["id"]] for h in hits]


def evaluate(index: EvalIndex, queries: list[dict], params: FusionParams = DEFAULT_PARAMS) -> dict:
    """Per-mode metrics overall and per query kind, plus each query's ranks."""
    per_query = []
    for q in queries:
        row = {"id": q["id"], "kind": q["kind"], "split": q["split"], "query": q["query"]}
        for mode in MODES:
            row[mode] = query_metrics(ranked_keys(index, q, mode, params), q["relevant"])
        per_query.append(row)
    report = {"queries": len(queries), "params": _params_dict(params), "overall": {}, "by_kind": {}, "per_query": per_query}
    for mode in MODES:
        report["overall"][mode] = mean_metrics([r[mode] for r in per_query])
        report["by_kind"][mode] = {k: mean_metrics([r[mode] for r in per_query if r["kind"] == k]) for k in KINDS}
    return report


def _params_dict(params: FusionParams) -> dict:
    data = asdict(params)
    data["fts_weights"] = asdict(params.fts_weights)
    return data


def hybrid_holds(report: dict, metric: str = "recall@5") -> bool:
    """The acceptance condition: hybrid >= max(FTS-only, vector-only)."""
    overall = report["overall"]
    return overall["hybrid"][metric] >= max(overall["fts"][metric], overall["vector"][metric])


# ---------------------------------------------------------------------- tuning


GRID = {
    "k": (10.0, 30.0, 60.0, 100.0),
    "vector_weight": (0.5, 0.75, 1.0, 1.5, 2.0),
    "recency_weight": (0.0, 0.01, 0.05),
    "intent_weight": (0.0, 0.1, 0.25, 0.5),
}


def _candidates(index: EvalIndex, queries: list[dict], depth: int) -> list[tuple[dict, list[int], list[int], dict]]:
    """Each query's FTS and vector rankings (depth ``depth``), computed once for the grid."""
    out = []
    for q in queries:
        fts = [h["id"] for h in fts_search(index.store, q["query"], project=q.get("project"), limit=depth)]
        vec = [h["id"] for h in vector_search(index.store, q["query"], project=q.get("project"), limit=depth,
                                              embedder=index.embedder, chroma=index.chroma)]
        rows = index.store.get_observations(list(dict.fromkeys(fts + vec)))
        created = {r["id"]: parse_created(r["created_at"]) for r in rows}
        boosted = {r["id"] for r in rows if r["type"] in query_intent(q["query"])}
        out.append((q, fts, vec, created, boosted))
    return out


def _score(index: EvalIndex, cands, params: FusionParams) -> dict:
    rows = []
    for q, fts, vec, created, boosted in cands:
        ranked = [index.key_of[oid] for oid, _ in fuse(fts, vec, created, params, index.now, boosted)[:10]]
        rows.append(query_metrics(ranked, q["relevant"]))
    return mean_metrics(rows)


def tune(index: EvalIndex, dev: list[dict], base: FusionParams = DEFAULT_PARAMS) -> tuple[FusionParams, dict]:
    """The grid point with the best dev Recall@5 (then MRR); ties keep the default."""
    cands = _candidates(index, dev, base.depth)
    best, best_score = base, _score(index, cands, base)
    for k, vw, rw, iw in itertools.product(*GRID.values()):
        params = replace(base, k=k, vector_weight=vw, recency_weight=rw, intent_weight=iw)
        score = _score(index, cands, params)
        if (score["recall@5"], score["mrr"]) > (best_score["recall@5"], best_score["mrr"]):
            best, best_score = params, score
    return best, best_score


# ---------------------------------------------------------------------- output


def format_report(report: dict, title: str = "") -> str:
    lines = [title or f"{report['queries']} queries"]
    lines.append(f"{'mode':<8} {'Recall@5':>9} {'Recall@10':>10} {'MRR':>7}")
    for mode in MODES:
        m = report["overall"][mode]
        lines.append(f"{mode:<8} {m['recall@5']:>9.3f} {m['recall@10']:>10.3f} {m['mrr']:>7.3f}")
    lines.append("Recall@5 by query kind:")
    lines.append(f"{'kind':<11}" + "".join(f"{mode:>9}" for mode in MODES))
    for kind in KINDS:
        n = report["by_kind"]["fts"][kind]["n"]
        lines.append(f"{kind + f' ({n})':<11}" + "".join(f"{report['by_kind'][mode][kind]['recall@5']:>9.3f}" for mode in MODES))
    verdict = "holds" if hybrid_holds(report) else "FAILS"
    lines.append(f"hybrid Recall@5 >= max(fts, vector): {verdict}")
    return "\n".join(lines)


def run(eval_dir: Path | None = None, *, embedder=None, settings=None, split: str = "all",
        params: FusionParams = DEFAULT_PARAMS, do_tune: bool = False) -> dict:
    """Build the index, evaluate, optionally tune on dev; returns {"report", "tuned"?, ...}."""
    eval_dir = Path(eval_dir or default_eval_dir())
    if embedder is None:
        from offmem.embed import get_embedder

        if settings is None:
            raise ValueError("the evaluation needs an embedder or the settings to build one")
        embedder = get_embedder(settings)
        if embedder is None:
            raise ValueError("the evaluation needs an embedder; embedder.backend is `none`")
    index = build_index(load_corpus(eval_dir), embedder)
    try:
        result: dict = {"corpus": len(index.key_of), "model": embedder.model_id}
        if do_tune:
            tuned, dev_score = tune(index, load_queries(eval_dir, "dev"), params)
            result["tuned_params"] = _params_dict(tuned)
            result["tuned_dev"] = dev_score
            result["report_dev"] = evaluate(index, load_queries(eval_dir, "dev"), tuned)
            result["report_test"] = evaluate(index, load_queries(eval_dir, "test"), tuned)
        result["report"] = evaluate(index, load_queries(eval_dir, split), params)
        return result
    finally:
        index.close()


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m offmem.search.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("all", "dev", "test"), default="all")
    parser.add_argument("--eval-dir", type=Path, default=None)
    parser.add_argument("--model-path", type=Path, default=None, help="a sentence-transformers folder (else the configured embedder)")
    parser.add_argument("--tune", action="store_true", help="grid-search fusion parameters on dev, report on test")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    embedder = None
    if args.model_path:
        from offmem.embed import embedder_for_folder

        embedder = embedder_for_folder(args.model_path, model_id=args.model_path.name)
    result = run(args.eval_dir, embedder=embedder, split=args.split, do_tune=args.tune)
    print(json.dumps(result, indent=2) if args.json else render(result, args.split))
    return 0 if hybrid_holds(result["report"]) else 1


def render(result: dict, split: str) -> str:
    text = [f"corpus: {result['corpus']} memories; embedder: {result['model']}", ""]
    text.append(format_report(result["report"], f"split {split}: {result['report']['queries']} queries (default parameters)"))
    if "tuned_params" in result:
        p = result["tuned_params"]
        text += ["", "tuned on dev: " + " ".join(f"{key}={p[key]}" for key in GRID)]
        text.append(format_report(result["report_dev"], f"dev: {result['report_dev']['queries']} queries (tuned)"))
        text.append("")
        text.append(format_report(result["report_test"], f"test (held out): {result['report_test']['queries']} queries (tuned)"))
    return "\n".join(text)


if __name__ == "__main__":
    raise SystemExit(main())
