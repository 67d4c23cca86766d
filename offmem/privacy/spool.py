"""Spool files the database never took: recovered, redacted, expired and forgotten.

When SQLite cannot take an event, the hook writes it to ``$OFFMEM_HOME/spool/``:
``<name>.tmp`` first, fsynced, then renamed ``<name>.json`` (a record) or
``<name>.raw`` (the payload's bytes, :func:`offmem.store.spool.spool_raw`). The
worker stores those in SQLite and deletes them (:func:`offmem.store.spool.ingest_spool_dir`);
a file it cannot store is renamed ``<name>.bad``. Those files hold raw payloads, so
the worker's privacy pass (:func:`tidy`) also deals with the ones left over:

* an **orphaned** ``.tmp`` (older than :data:`ORPHAN_AGE_S`: its hook died between
  writing and renaming) is renamed after its content, ``.json`` or ``.raw``, so the
  ingestion takes it like any other, or ``.bad`` when it is neither;
* a **set-aside** ``.bad`` is rewritten, under the same name, with ``<private>`` spans
  removed and secrets redacted (the database's rules), after a first line
  ``offmem-redacted-spool 1``; the original bytes are overwritten with zeros first;
* a set-aside file older than :data:`BAD_MAX_AGE_S` (14 days, time enough to look at
  it) is overwritten with zeros and deleted.

``offmem forget`` reaches spool files too (:func:`matching_files`, then :func:`shred`): a waiting or
set-aside file of the session or project being forgotten, or (for ``--older-than``)
a set-aside one older than the date, is overwritten with zeros and deleted.

Overwriting before deleting is best effort: on a copy-on-write file system or an SSD
the old blocks can survive until they are reused.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from offmem.store.events import PRIVATE_OPEN, strip_private, strip_private_fields
from offmem.store.spool import RAW_MAGIC

ORPHAN_AGE_S = 600.0  # a hook renames its .tmp within milliseconds; ten minutes means it died
BAD_MAX_AGE_S = 14 * 86400.0
REDACTED_MAGIC = b"offmem-redacted-spool 1\n"
_CLOSE_ESCAPED = "<\\/private>"  # JSON may escape the slash


def spool_dir(home) -> Path:
    return Path(home) / "spool"


def shred(path: Path) -> bool:
    """Overwrite ``path`` with zeros, fsync it, delete it; False when it was already gone."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return False
    try:
        left = os.fstat(fd).st_size
        zeros = b"\0" * min(left, 1 << 20)
        while left > 0:
            left -= os.write(fd, zeros[:left])
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def _write_new(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _age(path: Path, now: float) -> float | None:
    try:
        return now - path.stat().st_mtime
    except FileNotFoundError:
        return None


# ---------------------------------------------------------------------- redaction


def _strip_private_text(text: str) -> str:
    if PRIVATE_OPEN not in text:
        return text
    return strip_private(text.replace(_CLOSE_ESCAPED, "</private>"))


def clean_payload(payload: dict, redactor) -> dict:
    """A payload as the database would keep it: ``<private>`` removed, secrets redacted."""
    return redactor.redact_payload(strip_private_fields(payload))


def clean_blob(blob: bytes, redactor) -> bytes:
    """The text of a set-aside spool file with ``<private>`` spans removed and secrets redacted:
    structure-aware when it parses (a record, or a raw payload after its header line), as
    plain text otherwise. Never raises."""
    head = b""
    body = blob
    if blob.startswith(RAW_MAGIC):
        header, _, body = blob[len(RAW_MAGIC):].partition(b"\n")
        head = RAW_MAGIC + header + b"\n"
    text = body.decode("utf-8", errors="replace")
    try:
        value = json.loads(text)
    except Exception:  # noqa: BLE001 - not JSON, or nested past the recursion limit: plain text
        value = None
    if isinstance(value, dict):
        try:
            if not head and isinstance(value.get("payload"), dict):  # a record the database did not take
                value = {**redactor.redact_value({k: v for k, v in value.items() if k != "payload"}),
                         "payload": clean_payload(value["payload"], redactor)}
            else:
                value = clean_payload(value, redactor)
            return head + json.dumps(value, ensure_ascii=False).encode("utf-8", errors="replace")
        except Exception:  # noqa: BLE001 - too deep or odd: plain text below
            pass
    return head + redactor.redact_text(_strip_private_text(text)).encode("utf-8", errors="replace")


def _redact_bad(path: Path, redactor) -> None:
    blob = path.read_bytes()
    stat = path.stat()
    part = path.with_name(path.name + ".part")
    _write_new(part, REDACTED_MAGIC + clean_blob(blob, redactor))
    os.utime(part, (stat.st_atime, stat.st_mtime))  # its age is the original's (see expire)
    shred(path)
    os.replace(part, path)


def is_redacted(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(len(REDACTED_MAGIC)) == REDACTED_MAGIC
    except FileNotFoundError:
        return True


# ---------------------------------------------------------------------- the worker's pass


def recover_orphans(home, now: float | None = None, log: Callable[[str], None] | None = None) -> int:
    """Rename each orphaned ``.tmp`` after its content (``.json``, ``.raw`` or ``.bad``)."""
    folder = spool_dir(home)
    now = time.time() if now is None else now
    count = 0
    for path in sorted(folder.glob("*.tmp")) if folder.is_dir() else []:
        age = _age(path, now)
        if age is None or age < ORPHAN_AGE_S:
            continue
        try:
            with open(path, "rb") as fh:
                start = fh.read(len(RAW_MAGIC))
        except FileNotFoundError:
            continue
        suffix = ".raw" if start == RAW_MAGIC else ".json" if start.lstrip()[:1] == b"{" else ".bad"
        try:
            path.rename(path.with_suffix(suffix))
        except FileNotFoundError:
            continue
        count += 1
        if log:
            log(f"spool: {path.name} was left by a hook that died while writing it; renamed {path.with_suffix(suffix).name}")
    return count


def redact_set_aside(home, redactor, log: Callable[[str], None] | None = None) -> int:
    """Rewrite every set-aside ``.bad`` file not yet redacted; returns how many."""
    folder = spool_dir(home)
    count = 0
    for path in sorted(folder.glob("*.bad")) if folder.is_dir() else []:
        if is_redacted(path):
            continue
        try:
            _redact_bad(path, redactor)
        except FileNotFoundError:
            continue
        except OSError as exc:
            if log:
                log(f"spool: cannot redact {path.name}: {exc}")
            continue
        count += 1
        if log:
            log(f"spool: {path.name} redacted in place; deleted {BAD_MAX_AGE_S / 86400:g} days after it was set aside")
    return count


def expire(home, now: float | None = None, log: Callable[[str], None] | None = None) -> int:
    """Shred set-aside files older than :data:`BAD_MAX_AGE_S`."""
    folder = spool_dir(home)
    now = time.time() if now is None else now
    count = 0
    for path in sorted(folder.glob("*.bad")) if folder.is_dir() else []:
        age = _age(path, now)
        if age is not None and age >= BAD_MAX_AGE_S and shred(path):
            count += 1
            if log:
                log(f"spool: {path.name} was set aside {age / 86400:.0f} days ago; deleted")
    for path in sorted(folder.glob("*.part")) if folder.is_dir() else []:  # a rewrite a crash interrupted
        age = _age(path, now)
        if age is not None and age >= ORPHAN_AGE_S:
            shred(path)
    return count


def tidy(home, redactor, log: Callable[[str], None] | None = None, ingest: Callable[[], object] | None = None) -> None:
    """The spool part of the worker's privacy pass: orphans renamed, then ``ingest`` (the
    database takes what it can), then what was set aside redacted, and the old expired."""
    recover_orphans(home, log=log)
    if ingest is not None:
        ingest()
    redact_set_aside(home, redactor, log=log)
    expire(home, log=log)


# ---------------------------------------------------------------------- forget


def _describe(path: Path, blob: bytes) -> dict:
    """What a spool file says about itself: session, project, time (any may be missing), and its text."""
    if blob.startswith(REDACTED_MAGIC):
        blob = blob[len(REDACTED_MAGIC):]
    info: dict = {"text": blob.decode("utf-8", errors="replace")}
    try:
        if blob.startswith(RAW_MAGIC):
            header, _, raw = blob[len(RAW_MAGIC):].partition(b"\n")
            meta = json.loads(header)
            payload = json.loads(raw)
            info["time"] = meta.get("received_at")
            if isinstance(payload, dict):
                info["session"] = payload.get("session_id")
                cwd = payload.get("cwd") if isinstance(payload.get("cwd"), str) else meta.get("cwd")
                if isinstance(cwd, str) and cwd and "\x00" not in cwd:
                    from offmem.project import project_root

                    info["project"] = project_root(cwd)
        else:
            record = json.loads(blob)
            if isinstance(record, dict):
                info.update(session=record.get("session_id"), project=record.get("project"), time=record.get("created_at"))
    except Exception:  # noqa: BLE001 - a damaged file: judged by its text
        pass
    if not isinstance(info.get("time"), str):
        try:
            info["time"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(path.stat().st_mtime))
        except FileNotFoundError:
            info["time"] = None
    return info


def _matches(info: dict, query, waiting: bool) -> bool:
    if query.ids:
        return False  # observation ids name memories; a spool file holds none yet
    text = info["text"]
    if query.session:
        session = info.get("session")
        if not (session == query.session if isinstance(session, str) else query.session in text):
            return False
    if query.project:
        project = info.get("project")
        if isinstance(project, str):
            if project != query.project:
                return False
        elif query.project not in text and json.dumps(query.project)[1:-1] not in text:
            return False
    if query.before:
        if waiting and not (query.session or query.project):
            return False  # an age alone never takes events still waiting to be stored (as in the database)
        if not info.get("time") or info["time"] >= query.before:
            return False
    return True


def matching_files(home, query, now: float | None = None) -> list[Path]:
    """The spool files ``query`` (an :class:`offmem.privacy.forget.ForgetQuery`) selects."""
    folder = spool_dir(home)
    if not folder.is_dir() or query.ids:
        return []
    now = time.time() if now is None else now
    found = []
    for path in sorted(folder.iterdir()):
        name = path.name
        if not path.is_file() or not name.endswith((".json", ".raw", ".bad", ".tmp")):
            continue
        if name.endswith(".tmp") and (_age(path, now) or 0) < ORPHAN_AGE_S:
            continue  # a hook may be writing it right now
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            continue
        if _matches(_describe(path, blob), query, waiting=name.endswith((".json", ".raw"))):
            found.append(path)
    return found
