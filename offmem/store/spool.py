"""The file spool: events the database could not take, kept as files until it can.

When SQLite cannot take an event (locked past the busy timeout, corrupt, unreadable)
the hook writes it to ``<home>/spool/`` instead: ``<name>.json`` holds a record
(:func:`spool_record`), ``<name>.raw`` the bytes of a payload the hook could not build
a record from, after one header line (:func:`spool_raw`). Each file is written,
fsynced and renamed into place, then the folder is fsynced, so an accepted event is
never lost. :func:`ingest_spool_dir` (the worker, ``offmem process``) stores them and
removes the files, exactly once.

Standard library only: the hook imports this when it has to spool.
"""

import os
import time

from offmem.lean import fastjson, log, now_iso
from offmem.store.events import NotAPayload, build_record, headroom, parse, store_event

SPOOL_DIR = "spool"
RAW_MAGIC = b"offmem-raw-payload 1\n"
SPOOL_NAMES_KEPT_S = 7 * 86400  # how long the name of an ingested spool file is remembered


# --------------------------------------------------------------------------- writing


def _spool_bytes(home: str, data: bytes, suffix: str) -> str:
    """``data`` as one new spool file: written, fsynced, renamed into place, folder fsynced."""
    spool = os.path.join(home, SPOOL_DIR)
    os.makedirs(spool, mode=0o700, exist_ok=True)
    name = f"{time.time_ns():020d}-{os.getpid()}"
    tmp = os.path.join(spool, name + ".tmp")
    final = os.path.join(spool, name + suffix)
    view = memoryview(data)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        while view:  # a nearly full disk takes part of a write: never keep half a record
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, final)
    folder = os.open(spool, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
    return final


def spool_record(home: str, record: dict) -> str:
    """Fallback when SQLite cannot take the event: one fsynced JSON file; returns its path."""
    return _spool_bytes(home, fastjson.dumps(record).encode("ascii"), ".json")


def spool_raw(home: str, raw: bytes) -> str:
    """The last resort for a payload the hook could not turn into a stored record: its bytes as
    they came, after one header line (the hook's working directory and the time), in
    ``spool/<name>.raw`` for the worker (:func:`record_from_raw`)."""
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = None
    header = fastjson.dumps({"cwd": cwd, "received_at": now_iso()}).encode("ascii")
    return _spool_bytes(home, RAW_MAGIC + header + b"\n" + raw, ".raw")


# --------------------------------------------------------------------------- ingesting


def record_from_raw(blob: bytes, settings: dict) -> dict | None:
    """The record of a raw spool file; None when its payload is not captured. Raises when it
    cannot be built (the worker then sets the file aside as ``.bad``)."""
    if not blob.startswith(RAW_MAGIC):
        raise NotAPayload("not a raw spool file (unknown header)")
    header, _, raw = blob[len(RAW_MAGIC):].partition(b"\n")
    meta = fastjson.loads(header.decode("ascii"))
    meta = meta if isinstance(meta, dict) else {}
    with headroom():
        record = build_record(parse(raw), settings, fallback_cwd=meta.get("cwd") or "")
    if record is not None and isinstance(meta.get("received_at"), str):
        record["created_at"] = meta["received_at"]
    return record


def ingest_spool_dir(conn, home) -> int:
    """Move the spooled events of ``home`` into SQLite over ``conn``; returns how many were
    stored. Each file's name is recorded with its event (table ``spool_ingested``), so a file
    whose removal a crash prevented is removed on the next pass, not stored again.

    ``*.json`` files hold a record; ``*.raw`` files are built here, with the hook's settings
    (:func:`offmem.lean.settings.capture_settings`). A file that cannot be stored is renamed
    ``*.bad`` and logged; it never stops the others. A database that is locked or full
    (``OperationalError``) stops the pass and keeps the file for the next one.
    """
    import json
    import sqlite3

    home = str(home)
    spool = os.path.join(home, SPOOL_DIR)
    try:
        names = sorted(n for n in os.listdir(spool) if n.endswith((".json", ".raw")))
    except (FileNotFoundError, NotADirectoryError):
        return 0
    settings = None
    if any(n.endswith(".raw") for n in names):
        from offmem.lean.settings import capture_settings

        settings = capture_settings(home)
    count = 0
    for name in names:
        path = os.path.join(spool, name)
        try:
            with open(path, "rb") as fh:
                blob = fh.read()
            record = record_from_raw(blob, settings) if name.endswith(".raw") else json.loads(blob.decode("utf-8"))
        except FileNotFoundError:
            continue  # removed meanwhile
        except Exception as exc:  # noqa: BLE001 - unreadable, or no record can be built from it
            _set_aside(home, path, f"cannot be read as an event ({type(exc).__name__}: {str(exc)[:300]})")
            continue
        try:
            stored = record is not None and store_event(conn, record, spool_name=name)
        except sqlite3.OperationalError:
            raise  # locked or full: keep the file for the next pass
        except (sqlite3.Error, KeyError, TypeError, ValueError, AttributeError, RecursionError) as exc:
            _set_aside(home, path, f"cannot be stored ({type(exc).__name__}: {str(exc)[:300]})")
            continue
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        count += stored
    if names:  # names matter only while their file may still exist: forget old ones
        forget_ingested_names(conn, now_iso(time.time() - SPOOL_NAMES_KEPT_S))
    return count


def forget_ingested_names(conn, before: str) -> None:
    """Drop the names of spool files ingested before ``before`` (an ISO time)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DELETE FROM spool_ingested WHERE ingested_at < ?", (before,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _set_aside(home: str, path: str, why: str) -> None:
    """One bad spool file must not block the spool: keep it as ``.bad`` and say so."""
    base = os.path.splitext(path)[0]
    try:
        os.rename(path, base + ".bad")
    except FileNotFoundError:
        return
    log(home, f"spool file {os.path.basename(path)} {why}; kept as {os.path.basename(base)}.bad", who="store")
