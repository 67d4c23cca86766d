"""The team's vectors on a Chroma server (``chroma run``): one collection, ids are content ids.

Only vectors and the project key are stored there, never the memory's text: the
Chroma server has no per-row access control, so what a member may *read* stays
decided by PostgreSQL's row-level security (a vector hit is shown only once the
member's own query has fetched its row).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from offmem.team.server import TeamError


class TeamVectors:
    def __init__(self, team, embedder_id: str = "") -> None:
        self.team = team
        self.embedder_id = embedder_id
        self._collection = None

    def _open(self):
        if self._collection is not None:
            return self._collection
        try:
            import chromadb
        except ImportError as exc:
            raise TeamError(f"team vectors need chromadb ({exc})") from None
        url = urlsplit(self.team.chroma_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise TeamError(f"team.chroma_url {self.team.chroma_url!r}: expected http(s)://host:port")
        headers = {}
        if self.team.chroma_token_env and os.environ.get(self.team.chroma_token_env):
            headers["Authorization"] = "Bearer " + os.environ[self.team.chroma_token_env]
        try:
            client = chromadb.HttpClient(host=url.hostname, port=url.port or (443 if url.scheme == "https" else 8000),
                                         ssl=url.scheme == "https", headers=headers or None,
                                         settings=chromadb.Settings(anonymized_telemetry=False))
            self._collection = client.get_or_create_collection(
                self.team.chroma_collection, embedding_function=None,
                metadata={"hnsw:space": "cosine", "offmem_embedder": self.embedder_id or "unknown"})
        except Exception as exc:  # noqa: BLE001 - chromadb raises many kinds; all mean "unreachable"
            raise TeamError(f"cannot reach the team's Chroma server {self.team.chroma_url}: "
                            f"{type(exc).__name__}: {exc}") from None
        return self._collection

    def _call(self, what: str, fn):
        try:
            return fn(self._open())
        except TeamError:
            raise
        except Exception as exc:  # noqa: BLE001
            self._collection = None
            raise TeamError(f"team vectors ({what}): {type(exc).__name__}: {exc}") from None

    def upsert(self, ids: list[str], embeddings, keys: list[str]) -> None:
        if not ids:
            return
        metadatas = [{"project_key": k} for k in keys]
        self._call("upsert", lambda c: c.upsert(ids=list(ids), embeddings=[list(map(float, e)) for e in embeddings],
                                                metadatas=metadatas))

    def delete(self, ids: list[str]) -> None:
        if ids:
            self._call("delete", lambda c: c.delete(ids=list(ids)))

    def query(self, embedding, keys: list[str], limit: int) -> list[tuple[str, float]]:
        """``(content_id, distance)`` nearest first, among the vectors of ``keys``."""
        if not keys:
            return []
        where = {"project_key": keys[0]} if len(keys) == 1 else {"project_key": {"$in": list(keys)}}
        found = self._call("query", lambda c: c.query(query_embeddings=[list(map(float, embedding))],
                                                      n_results=int(limit), where=where, include=["distances"]))
        ids = (found.get("ids") or [[]])[0]
        distances = (found.get("distances") or [[]])[0]
        return list(zip(ids, [float(d) for d in distances]))

    def count(self) -> int:
        return int(self._call("count", lambda c: c.count()))
