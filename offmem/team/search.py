"""Team search: the team store's full text (PostgreSQL) and vectors (Chroma server), fused with
the local results of the same query.

Used by :class:`offmem.api.Memory` for ``offmem search``, the MCP ``search`` tool and the UI's
search, for joined projects only, within ``team.search_timeout_ms`` (past it, or while the
team store is unreachable, the local results come alone, with a note). A team hit that is
not in the local mirror yet is pulled into it first, so it has a local id the other tools
(timeline, details) understand, and carries its author in its title.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

from offmem.store import team as local
from offmem.team.server import TeamError, TeamServer, enabled

RRF_K = 60
DEPTH = 30  # team candidates per half
_DOWN: dict = {}  # dsn -> when the team store last failed (skip it for RETRY_S)
RETRY_S = 30.0


def team_ranked(server, vectors, query: str, key: str, embedder=None, depth: int = DEPTH) -> list[tuple[str, float]]:
    """``(content_id, score)`` of project ``key``'s team memories for ``query``, best first: full text
    (PostgreSQL) and, with an embedder and a Chroma server, vectors, fused by reciprocal rank."""
    ranked: dict[str, float] = {}
    for rank, (cid, _) in enumerate(server.keyword_search(query, [key], depth), 1):
        ranked[cid] = ranked.get(cid, 0.0) + 1.0 / (RRF_K + rank)
    if embedder is not None and vectors is not None:
        for rank, (cid, _) in enumerate(vectors.query(embedder.embed_query(query), key, depth), 1):
            ranked[cid] = ranked.get(cid, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(ranked.items(), key=lambda kv: -kv[1])


_OPEN: dict = {}  # (dsn, password) -> (lock, TeamServer): one kept-open connection per process
_OPEN_LOCK = threading.Lock()


@contextmanager
def _connection(team):
    """The process's open connection to the team store (opened on first use; a failed one is
    dropped): a search does not pay the connection and authentication (~25 ms) each time."""
    from offmem.team.server import read_secret

    slot_key = (team.dsn, read_secret(team), team.sslmode)
    with _OPEN_LOCK:
        slot = _OPEN.setdefault(slot_key, [threading.Lock(), None])
    with slot[0]:
        if slot[1] is None:
            server = TeamServer(team)
            server.open()
            slot[1] = server
        try:
            yield slot[1]
        except BaseException:
            slot[1].close()
            slot[1] = None
            raise


def _team_ids(settings, conn, query: str, project: dict, embedder) -> list[tuple[int, float]]:
    """Local ids (mirrored now if needed) of the team's best matches, with their team score."""
    team = settings.team
    vectors = None
    if team.chroma_url and embedder is not None:
        from offmem.team.vectors import TeamVectors

        vectors = TeamVectors(team)
    with _connection(team) as server:
        found = team_ranked(server, vectors, query, project["team_key"], embedder)
        ranked = dict(found)
        order = [cid for cid, _ in found]
        ids = local.mirrored_ids(conn, order)
        missing = [cid for cid in order if cid not in ids]
        fetched = server.fetch(missing) if missing else []  # row-level security decides what comes back
    if fetched:
        from offmem.store.db import transaction

        with transaction(conn):
            for memory in fetched:
                if memory["kind"] == "observation":
                    ref = local.mirror_memory(conn, project["project"], memory)
                    if ref is not None:
                        ids[memory["content_id"]] = ref
    return [(ids[cid], ranked[cid]) for cid in order if cid in ids]


def fuse(settings, store, data: dict, query: str, project: str | None, limit: int, *, embedder=None,
         types=None) -> dict:
    """``data`` (``{mode, notes, hits}`` of a local search) with the team's hits of ``project`` fused
    in by reciprocal rank; unchanged when ``project`` is not joined or team memory is off."""
    team = settings.team
    if not enabled(team) or not project or not query.strip():
        return data
    conn = store.conn
    joined = local.joined_project(conn, project)
    if joined is None:
        return data
    down_at = _DOWN.get(team.dsn)
    if down_at is not None and time.monotonic() - down_at < RETRY_S:
        data.setdefault("notes", []).append("team store unreachable a moment ago: local results only")
        return data
    box: dict = {}

    def work() -> None:
        from offmem.store.db import Store

        try:
            with Store.open(settings.db_path) as own:  # its own connection: this thread may outlive the call
                try:
                    box["ids"] = _team_ids(settings, own.conn, query, joined, embedder)
                except TeamError:  # the kept connection may have died with a server restart: once more
                    box["ids"] = _team_ids(settings, own.conn, query, joined, embedder)
        except TeamError as exc:
            box["error"] = str(exc)
        except Exception as exc:  # noqa: BLE001 - a team failure never fails a local search
            box["error"] = f"{type(exc).__name__}: {exc}"

    thread = threading.Thread(target=work, name="offmem-team-search", daemon=True)
    thread.start()
    thread.join(max(0.05, team.search_timeout_ms / 1000.0))
    notes = data.setdefault("notes", [])
    if thread.is_alive():
        notes.append(f"team store did not answer within {team.search_timeout_ms} ms: local results only")
        _DOWN[team.dsn] = time.monotonic()
        return data
    if "error" in box:
        notes.append(f"team search unavailable: {box['error']}")
        _DOWN[team.dsn] = time.monotonic()
        return data
    _DOWN.pop(team.dsn, None)
    team_ranked = box.get("ids") or []
    if not team_ranked:
        return data
    hits = list(data.get("hits") or [])
    scores: dict[int, float] = {}
    for rank, hit in enumerate(hits, 1):
        scores[int(hit["id"])] = 1.0 / (RRF_K + rank)
    team_rank = {}
    for rank, (oid, _) in enumerate(team_ranked, 1):
        team_rank[oid] = rank
        scores[oid] = scores.get(oid, 0.0) + 1.0 / (RRF_K + rank)
    by_id = {int(h["id"]): h for h in hits}
    extra = [oid for oid in team_rank if oid not in by_id]
    if extra:
        from offmem.store import observations

        allowed = set(types or [])
        for row in observations.get_observations(conn, extra):
            if row.get("project") != project or (allowed and row.get("type") not in allowed):
                continue
            by_id[int(row["id"])] = {k: row.get(k) for k in ("id", "type", "title", "subtitle", "project",
                                                               "session_id", "created_at")}
            by_id[int(row["id"])]["ranks"] = {"fts": None, "vector": None}
    fused = []
    for oid in sorted(by_id, key=lambda i: -scores.get(i, 0.0)):
        hit = dict(by_id[oid])
        hit["ranks"] = {**(hit.get("ranks") or {}), "team": team_rank.get(oid)}
        if oid in team_rank and oid not in {int(h["id"]) for h in hits}:
            hit["score"] = round(scores[oid], 6)
        fused.append(hit)
    data["hits"] = fused[:limit]
    if data.get("mode") and "+team" not in data["mode"]:
        data["mode"] = f"{data['mode']}+team"
    return data
