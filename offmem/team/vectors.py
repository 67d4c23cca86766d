"""The team's vectors on a Chroma server (``chroma run``): one collection per project key,
ids are content ids.

One collection per project: a search never needs a ``where`` filter (Chroma's filtered
queries cost time in proportion to the vectors they match, which for a team working on
one repository would be all of them). Only vectors are stored there, never the memory's
text nor its project key in clear (the collection's name is a hash of it): the Chroma
server has no per-row access control, so what a member may *read* stays decided by
PostgreSQL's row-level security (a vector hit is shown only once the member's own query
has fetched its row).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import urlsplit

from offmem.team.server import TeamError


def collection_name(prefix: str, key: str) -> str:
    """The collection of project ``key`` (Chroma names: 3-512 of ``[A-Za-z0-9._-]``)."""
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in (prefix or "offmem_team"))[:60]
    return f"{safe}-{hashlib.sha256(key.encode()).hexdigest()[:24]}"


def exempt_from_proxies(host: str) -> None:
    """Add ``host`` to ``NO_PROXY``/``no_proxy`` of this process: team vectors go to the configured
    server and nowhere else, whatever ``HTTP(S)_PROXY``/``ALL_PROXY`` say (docs/security.md)."""
    for name in ("NO_PROXY", "no_proxy"):
        present = [h.strip() for h in os.environ.get(name, "").split(",") if h.strip()]
        if host not in present:
            os.environ[name] = ",".join([*present, host])


def _direct_session(client, timeout_s: float, verify) -> None:
    """Give the Chroma client an HTTP session that ignores proxy variables and does not wait forever
    (chromadb's own has no timeout: a hung server would stall publishing)."""
    server = getattr(client, "_server", None)
    old = getattr(server, "_session", None)
    if old is None:
        return
    import httpx

    kwargs = {"verify": verify} if verify is not None else {}
    server._session = httpx.Client(timeout=httpx.Timeout(max(1.0, timeout_s * 6), connect=max(1.0, timeout_s)),
                                   limits=getattr(server, "http_limits", httpx.Limits()), trust_env=False, **kwargs)
    old.close()


class TeamVectors:
    def __init__(self, team, embedder_id: str = "") -> None:
        self.team = team
        self.embedder_id = embedder_id
        self._client = None
        self._collections: dict = {}

    def _open(self):
        if self._client is not None:
            return self._client
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
        exempt_from_proxies(url.hostname)  # the client's first calls happen while it is built
        verify = str(Path(self.team.sslrootcert).expanduser()) if self.team.sslrootcert else None
        try:
            client = chromadb.HttpClient(
                host=url.hostname, port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https", headers=headers or None,
                settings=chromadb.Settings(anonymized_telemetry=False, chroma_server_ssl_verify=verify))
        except Exception as exc:  # noqa: BLE001 - chromadb raises many kinds; all mean "unreachable"
            raise TeamError(f"cannot reach the team's Chroma server {self.team.chroma_url}: "
                            f"{type(exc).__name__}: {exc}") from None
        _direct_session(client, float(self.team.timeout_s), verify)
        self._client = client
        return client

    def _collection(self, key: str):
        if key not in self._collections:
            client = self._open()
            self._collections[key] = client.get_or_create_collection(
                collection_name(self.team.chroma_collection, key), embedding_function=None,
                metadata={"hnsw:space": "cosine", "offmem_embedder": self.embedder_id or "unknown"})
        return self._collections[key]

    def _call(self, what: str, fn):
        try:
            return fn()
        except TeamError:
            raise
        except Exception as exc:  # noqa: BLE001
            self._client, self._collections = None, {}
            raise TeamError(f"team vectors ({what}): {type(exc).__name__}: {exc}") from None

    def upsert(self, ids: list[str], embeddings, keys: list[str]) -> None:
        groups: dict[str, tuple[list, list]] = {}
        for cid, vector, key in zip(ids, embeddings, keys):
            group = groups.setdefault(key, ([], []))
            group[0].append(cid)
            group[1].append([float(x) for x in vector])
        for key, (cids, vectors) in groups.items():
            self._call("upsert", lambda: self._collection(key).upsert(ids=cids, embeddings=vectors))

    def delete(self, pairs) -> None:
        """Remove the vectors of ``(content_id, project_key)`` pairs."""
        groups: dict[str, list] = {}
        for cid, key in pairs:
            groups.setdefault(key, []).append(cid)
        for key, cids in groups.items():
            self._call("delete", lambda: self._collection(key).delete(ids=cids))

    def query(self, embedding, key: str, limit: int) -> list[tuple[str, float]]:
        """``(content_id, distance)`` of project ``key``'s vectors, nearest first."""
        vector = [float(x) for x in embedding]
        found = self._call("query", lambda: self._collection(key).query(
            query_embeddings=[vector], n_results=int(limit), include=["distances"]))
        ids = (found.get("ids") or [[]])[0]
        distances = (found.get("distances") or [[]])[0]
        return list(zip(ids, [float(d) for d in distances]))

    def heartbeat(self) -> int:
        return int(self._call("heartbeat", lambda: self._open().heartbeat()))
