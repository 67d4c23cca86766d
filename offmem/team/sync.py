"""The worker's team loop: publish what the outbox holds, pull the team's memories into the mirror.

Runs on its own thread in the worker (:func:`start`), never in a hook. Each
round opens one connection; when the team store is unreachable the outbox keeps
everything (nothing is lost, nothing is written twice: publishing is an upsert by
content id, and an entry leaves the outbox only in the SQLite transaction that
records its link), and the next round tries again, backing off to a minute.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid

from offmem.store import team as local
from offmem.store.db import Store, transaction
from offmem.team.server import TeamError, TeamServer, display_name, enabled

BATCH = 200
MACHINE_META = "team.machine_id"
MAX_BACKOFF_S = 60.0


def machine_id(store: Store) -> str:
    """This data directory's origin id on the team store (a random id, made once)."""
    value = store.get_meta(MACHINE_META)
    if value:
        return value
    with transaction(store.conn):
        value = store.get_meta(MACHINE_META) or uuid.uuid4().hex
        store.set_meta(MACHINE_META, value)
    return value


def content_id(machine: str, kind: str, identity: str) -> str:
    """A memory's id on the team store: the same local memory always gets the same one."""
    return hashlib.sha256(f"{machine}\x1f{kind}\x1f{identity}".encode()).hexdigest()[:40]


def _words(*texts) -> str:
    """Alphanumeric words of ``texts`` (paths and identifiers split), for the team's full-text index."""
    from offmem.search_text import expand_identifiers

    joined = " ".join(str(t) for t in texts if t)
    plain = "".join(ch if ch.isalnum() else " " for ch in joined)
    return f"{plain} {expand_identifiers(joined)}"


def embedding_text(memory: dict) -> str:
    files = " ".join(str(f).rsplit("/", 1)[-1] for f in memory.get("files") or [])
    return " ".join(p for p in (memory["title"], memory.get("body", ""), files) if p).strip()


class TeamSync:
    """Publishing and pulling for one data directory (``settings``)."""

    def __init__(self, settings, *, embedder=None, log=None) -> None:
        self.settings = settings
        self.team = settings.team
        self.embedder = embedder  # a callable giving the loaded embedder, or None
        self.log = log or (lambda message: None)
        self.last_error: str | None = None
        self.last_ok_at: float | None = None
        self.published = 0
        self.pulled = 0
        from offmem.privacy import default_redactor

        self.redactor = default_redactor(settings)

    # ------------------------------------------------------------------ one round

    def run_once(self) -> dict:
        """Publish and pull once; ``{published, forgotten, refused, pulled, unmirrored}``. TeamError
        when the team store cannot be reached (the outbox keeps the work)."""
        result = {"published": 0, "forgotten": 0, "refused": 0, "pulled": 0, "unmirrored": 0}
        with Store.open(self.settings.db_path) as store:
            projects = local.joined(store.conn)
            if not projects and not local.outbox_count(store.conn):
                return result
            machine = machine_id(store)
            try:
                with TeamServer(self.team) as server:
                    vectors = self._vectors()
                    while True:
                        done = self.publish_batch(store, server, vectors, machine, result)
                        if done < BATCH:
                            break
                    for project in local.joined(store.conn):
                        self.pull_project(store, server, project, machine, result)
            except TeamError as exc:
                self.last_error = str(exc)
                raise
        self.last_error = None
        self.last_ok_at = time.time()
        self.published += result["published"]
        self.pulled += result["pulled"]
        return result

    def _vectors(self):
        if not self.team.chroma_url:
            return None
        from offmem.team.vectors import TeamVectors

        return TeamVectors(self.team)

    # ------------------------------------------------------------------ publish

    def _memory(self, store: Store, entry: dict, machine: str) -> dict | None:
        conn, redact = store.conn, self.redactor.redact_text
        author = display_name(self.team)
        if entry["kind"] == "observation":
            row = local.observation_to_publish(conn, entry["ref_id"])
            if row is None:
                return None
            facts = [redact(str(f)) for f in row["facts"]]
            files = [str(f) for f in row["files_modified"] + row["files_read"]]
            title, body = redact(row["title"]), redact(row["narrative"])
            return {
                "content_id": content_id(machine, "observation", f"{row['id']}\x1f{row['created_at']}"),
                "project_key": row["team_key"], "kind": "observation", "type": row["type"], "title": title,
                "body": body, "facts": facts, "files": files, "fields": {"origin": row["origin"]},
                "search_text": _words(title, body, *facts, *files), "author": author, "machine_id": machine,
                "created_at": row["created_at"], "ref_id": row["id"],
            }
        row = local.summary_to_publish(conn, entry["ref_id"])
        if row is None:
            return None
        fields = {k: redact(str(row[k] or "")) for k in ("request", "investigated", "learned", "completed", "next_steps")}
        fields["files_read"], fields["files_modified"] = row["files_read"], row["files_modified"]
        return {
            "content_id": content_id(machine, "summary", row["session_id"]), "project_key": row["team_key"],
            "kind": "summary", "type": "summary", "title": fields["request"][:300],
            "body": " ".join(fields[k] for k in ("learned", "completed", "next_steps") if fields[k]),
            "facts": [], "files": row["files_modified"], "fields": fields,
            "search_text": _words(*(fields[k] for k in ("request", "investigated", "learned", "completed", "next_steps"))),
            "author": author, "machine_id": machine, "created_at": row["created_at"], "ref_id": row["id"],
        }

    def publish_batch(self, store: Store, server: TeamServer, vectors, machine: str, result: dict) -> int:
        """Publish up to BATCH outbox entries; how many entries were taken."""
        conn = store.conn
        entries = local.outbox_batch(conn, BATCH)
        if not entries:
            return 0
        seqs = [e["seq"] for e in entries]
        upserts: dict[str, dict] = {}
        deletes: list[str] = []
        for entry in entries:
            if entry["op"] == "delete":
                if entry["content_id"]:
                    deletes.append(entry["content_id"])
                continue
            memory = self._memory(store, entry, machine)
            if memory is not None:
                upserts[memory["content_id"]] = memory  # the latest state of a row queued twice
        try:
            server.publish(list(upserts.values()))
            if vectors is not None:
                self._publish_vectors(vectors, [m for m in upserts.values() if m["kind"] == "observation"])
            outcome = server.forget(deletes)
            if vectors is not None:
                vectors.delete(outcome["deleted_keys"])
        except TeamError as exc:
            with transaction(conn):
                local.outbox_failed(conn, seqs, str(exc))
            raise
        with transaction(conn):
            for memory in upserts.values():
                if local.row_exists(conn, memory["kind"], memory["ref_id"]):
                    local.link(conn, memory["kind"], memory["ref_id"], memory["content_id"], mirrored=False,
                               author=memory["author"], project_key=memory["project_key"])
                else:  # forgotten while it was being published: forget it there too, next batch
                    local.queue_delete(conn, memory["kind"], memory["ref_id"], memory["content_id"])
            local.outbox_done(conn, seqs)
        if outcome["refused"]:
            self.log(f"team: {len(outcome['refused'])} forgotten memories stay on the team store "
                     "(another member's; only they or a maintainer of the project can remove them)")
        result["published"] += len(upserts)
        result["forgotten"] += len(outcome["deleted"])
        result["refused"] += len(outcome["refused"])
        return len(entries)

    def _publish_vectors(self, vectors, memories: list[dict]) -> None:
        embedder = self.embedder() if self.embedder is not None else None
        if embedder is None or not memories:
            return
        embeddings = embedder.embed_batch([embedding_text(m) for m in memories])
        vectors.upsert([m["content_id"] for m in memories], embeddings, [m["project_key"] for m in memories])

    # ------------------------------------------------------------------ pull

    def pull_project(self, store: Store, server: TeamServer, project: dict, machine: str, result: dict) -> None:
        answer = server.pull(project["team_key"], project["pulled_txid"], exclude_machine=machine,
                             initial_limit=max(0, int(self.team.mirror_limit)))
        conn = store.conn
        with transaction(conn):
            for memory in answer["memories"]:
                if local.mirror_memory(conn, project["project"], memory) is not None:
                    result["pulled"] += 1
            for cid in answer["forgotten"]:
                result["unmirrored"] += int(local.unmirror(conn, cid))
            local.set_pulled(conn, project["project"], answer["cursor"])
            local.prune_mirror(conn, project["project"], int(self.team.mirror_limit))


# ---------------------------------------------------------------------- in the worker


class TeamLoop:
    """The worker's team thread and what ``offmem worker status`` shows of it."""

    def __init__(self, worker) -> None:
        self.worker = worker
        self.sync = TeamSync(worker.settings, embedder=self._embedder, log=worker.log)
        self.wake = threading.Event()
        self.failures = 0

    def _embedder(self):
        indexer = getattr(self.worker, "indexer", None)
        return getattr(indexer, "embedder", None)

    def status(self) -> dict:
        return {"last_error": self.sync.last_error, "last_ok_at": self.sync.last_ok_at,
                "published": self.sync.published, "pulled": self.sync.pulled}

    def run(self) -> None:
        worker = self.worker
        ready = getattr(worker, "backends_loaded", None)
        if ready is not None:  # vectors need the embedder: wait for it (or for its failure)
            ready.wait(300)
        interval = max(0.2, float(worker.settings.team.sync_interval_s))
        while not worker.stop_event.is_set():
            delay = interval
            try:
                outcome = self.sync.run_once()
                if self.failures:
                    worker.log("team store reachable again")
                self.failures = 0
                if any(outcome.values()):
                    worker.log(f"team: {outcome}")
            except TeamError as exc:
                self.failures += 1
                if self.failures == 1:
                    worker.log(f"team sync deferred (the outbox keeps the work): {exc}")
                delay = min(MAX_BACKOFF_S, interval * 2 ** min(self.failures, 3))
            except Exception as exc:  # noqa: BLE001 - never take the worker down
                self.failures += 1
                worker.log(f"team sync failed: {type(exc).__name__}: {exc}")
                delay = min(MAX_BACKOFF_S, interval * 2 ** min(self.failures, 3))
            self.wake.wait(delay)
            self.wake.clear()


def start(worker) -> TeamLoop | None:
    """Start the team thread when ``[team]`` is configured; None otherwise."""
    if not enabled(worker.settings.team):
        return None
    loop = TeamLoop(worker)
    threading.Thread(target=loop.run, name="offmem-team", daemon=True).start()
    return loop


__all__ = ["TeamLoop", "TeamSync", "content_id", "machine_id", "start"]
