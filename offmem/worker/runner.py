"""The worker: the one warm process. It drains the spool and holds the models.

One per data directory, enforced by an exclusive ``flock`` on ``worker.lock``
held for the process's whole life (the kernel drops it when the process dies, so
a SIGKILL leaves nothing stale). The HTTP side (status, search, UI) is served on
127.0.0.1 by the server the entry point hands in (:mod:`offmem.worker.main` gives
:func:`offmem.worker.http.server.serve`); the processing loop runs in a thread, and
the privacy pass (spool files in, raw tool events redacted) in another, from the
start and independent of models and batches.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import threading
import time
from collections import deque
from pathlib import Path

from offmem.config import Settings
from offmem.errors import WorkerError
from offmem.lean import now_iso
from offmem.privacy import spool as private_spool
from offmem.privacy.stage import PrivacyStage
from offmem.store.db import Store
from offmem.worker.launch import LOCK_NAME, STATE_NAME
from offmem.worker.processing import build_pipeline, load_summarizer

# How long the worker waits for its first privacy pass before it serves and loads models
# (a pass over a backlog of 2,000 tool events takes about a second; see bench_privacy.py).
FIRST_PRIVACY_PASS_WAIT_S = 15.0
# How often the privacy pass looks for raw events (or worker.poll_interval_s when shorter): an idle
# pass is a few SQLite reads and a directory listing: an idle worker uses 0.45% of a core with it
# at this rate, 0.25% without (measured on 2 shared cores).
PRIVACY_INTERVAL_S = 0.25


class AlreadyRunning(RuntimeError):
    pass


def check_loopback(host: str) -> None:
    """Refuse to serve on anything but an IPv4 loopback address: the API and UI have no login."""
    import ipaddress

    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback and ":" not in host
    except ValueError:
        loopback = False
    if not loopback:
        raise WorkerError(
            f"worker.host is {host!r}, but the worker only serves on a loopback address; "
            f"run `offmem config set worker.host 127.0.0.1` (and unset OFFMEM_WORKER_HOST)"
        )


def memory_mib() -> dict:
    """This process's resident memory now and at its peak (VmRSS, VmHWM), in MiB; None off Linux."""
    found = {"rss_mib": None, "peak_rss_mib": None}
    keys = {"VmRSS": "rss_mib", "VmHWM": "peak_rss_mib"}
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                key = keys.get(line.partition(":")[0])
                if key:
                    found[key] = round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return found


class WorkerLock:
    def __init__(self, home: Path) -> None:
        self.path = Path(home) / LOCK_NAME
        self.fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise AlreadyRunning(f"a worker already runs for {self.path.parent}") from None
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


class Worker:
    def __init__(self, settings: Settings, *, serve_http: bool = True, serve=None) -> None:
        self.settings = settings
        self.home = self.settings.home
        self.serve_http = serve_http
        self.serve = serve  # (worker, processing thread) -> serves HTTP until stopped (offmem.worker.main gives it)
        self.stop_event = threading.Event()
        self.lock = WorkerLock(self.home)
        self.started_at = time.time()
        self.summarizer = None
        self.summarizer_error: str | None = None
        self.indexer = None
        self.last_error: str | None = None
        self.processed: deque[tuple[float, int]] = deque(maxlen=4096)
        self.total_events = 0
        self.total_observations = 0
        self.port: int | None = None
        self.wake = threading.Event()
        self.outbox_retry_at = 0.0
        # the privacy pass (see privacy_loop): its first run gates model loading
        self.privacy_ready = threading.Event()
        self.privacy_passes = 0
        self.privacy_redacted = 0
        self.privacy_last_at: float | None = None
        self.backends_loaded = threading.Event()  # set once load_backends is done (the team thread waits for it)
        self.team = None  # offmem.team.sync.TeamLoop when [team] is configured

    # ------------------------------------------------------------------ logging & state

    def log(self, message: str) -> None:
        try:
            with open(self.home / "offmem.log", "a", encoding="utf-8") as fh:
                fh.write(f"{now_iso()} worker[{os.getpid()}] {message}\n")
        except OSError:
            pass

    def events_per_minute(self) -> float:
        cutoff = time.time() - 300
        recent = [n for t, n in self.processed if t >= cutoff]
        if not recent:
            return 0.0
        span = max(60.0, time.time() - min(t for t, _ in self.processed if t >= cutoff))
        return round(sum(recent) * 60.0 / span, 2)

    def status(self) -> dict:
        with Store.open(self.settings.db_path) as store:
            depth = store.queue_depth()
        summarizer = self.summarizer.status() if self.summarizer is not None else None
        return {
            "running": True,
            "pid": os.getpid(),
            "home": str(self.home),
            "host": self.settings.worker.host,
            "port": self.port,
            "started_at": now_iso(self.started_at),
            "uptime_s": round(time.time() - self.started_at, 1),
            "queue_depth": depth,
            "events_processed": self.total_events,
            "observations_written": self.total_observations,
            "events_per_min": self.events_per_minute(),
            "last_error": self.last_error,
            "summarizer_backend": self.settings.summarizer.backend,
            "model_loaded": bool(summarizer and summarizer.get("loaded")),
            "summarizer": summarizer,
            "claims": (summarizer or {}).get("claims") or {"checked": 0, "unsupported": 0, "rate": None},
            "summarizer_error": self.summarizer_error,
            "embedder": self.indexer.status() if self.indexer is not None else None,
            "privacy": {"passes": self.privacy_passes, "events_redacted": self.privacy_redacted,
                        "last_pass_at": now_iso(self.privacy_last_at) if self.privacy_last_at else None},
            "team": self.team.status() if self.team is not None else None,
            **memory_mib(),
        }

    def write_state(self) -> None:
        state = {"pid": os.getpid(), "port": self.port, "host": self.settings.worker.host,
                 "started_at": now_iso(self.started_at)}
        path = self.home / STATE_NAME
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps(state), "utf-8")
            os.replace(tmp, path)
        except OSError as exc:  # a full or read-only disk: keep processing; `offmem worker status` says less
            self.log(f"cannot write {path}: {exc}")

    # ------------------------------------------------------------------ models

    def load_backends(self) -> None:
        """Load the summarizer and the embedder; a failure leaves rules / FTS in charge."""
        def rules_instead(exc: Exception) -> None:
            self.summarizer_error = f"{type(exc).__name__}: {exc}"
            self.log(f"summarizer unavailable, using rules: {self.summarizer_error}")

        self.summarizer = load_summarizer(self.settings, load=True, on_error=rules_instead)
        try:
            from offmem.search.indexer import get_indexer

            self.indexer = get_indexer(self.settings)
        except Exception as exc:  # noqa: BLE001 - keyword search still works
            self.log(f"semantic index unavailable: {type(exc).__name__}: {exc}")
        self.backends_loaded.set()

    # ------------------------------------------------------------------ loop

    def on_commit(self, observation_ids: list[int]) -> None:
        if self.indexer is not None:
            try:
                self.indexer.index_pending()
            except Exception as exc:  # noqa: BLE001 - the outbox retries later
                self.log(f"indexing deferred: {type(exc).__name__}: {exc}")

    def drain_outbox(self, store: Store) -> None:
        """Index what `offmem import` / `offmem forget` queued (pipeline commits index their own)."""
        if self.indexer is None or time.time() < self.outbox_retry_at:
            return
        if not store.outbox_pending():
            return
        try:
            self.indexer.index_pending()
        except Exception as exc:  # noqa: BLE001 - the outbox keeps the work; try again later
            self.outbox_retry_at = time.time() + 30
            self.log(f"indexing deferred: {type(exc).__name__}: {exc}")

    def count_progress(self, events: int, observations: int) -> None:
        """Called by the pipeline after each commit, so status moves batch by batch."""
        if events:
            self.processed.append((time.time(), events))
        self.total_events += events
        self.total_observations += observations

    # ------------------------------------------------------------------ privacy

    def privacy_pass(self, store: Store, stage: PrivacyStage) -> None:
        """The fast stage, no model involved: spool files into SQLite (orphaned ones recovered,
        set-aside ones redacted or expired), then every raw tool event redacted in place."""
        private_spool.tidy(self.home, stage.redactor, log=self.log, ingest=lambda: store.ingest_spool_dir(self.home))
        result = stage.run(store)
        self.privacy_passes += 1
        self.privacy_redacted += result.redacted
        self.privacy_last_at = time.time()

    def privacy_loop(self) -> None:
        """Runs from the worker's start, before any model loads, and every poll interval after,
        on its own thread and connection: raw events never wait for a model to load, for a
        batch to compress, or for a semantic index that hangs (offmem.privacy)."""
        interval = min(PRIVACY_INTERVAL_S, max(0.05, float(self.settings.worker.poll_interval_s)))
        store = stage = None
        failure = None
        try:
            while not self.stop_event.is_set():
                try:
                    if stage is None:
                        stage = PrivacyStage.from_settings(self.settings, log=self.log)
                    if store is None:
                        store = Store.open(self.settings.db_path)
                    self.privacy_pass(store, stage)
                    failure = None
                except Exception as exc:  # noqa: BLE001 - try again on the next interval
                    if f"{type(exc).__name__}: {exc}" != failure:  # say it once, not every second
                        failure = f"{type(exc).__name__}: {exc}"
                        self.last_error = f"privacy: {failure}"
                        self.log(f"privacy pass failed (retrying every {interval:g} s): {failure}")
                finally:
                    self.privacy_ready.set()
                self.stop_event.wait(interval)
        finally:
            if store is not None:
                store.close()

    # ------------------------------------------------------------------ processing

    def process_loop(self) -> None:
        from offmem.worker.priority import lower_this_thread

        self.privacy_ready.wait(FIRST_PRIVACY_PASS_WAIT_S)  # models load after the first redaction pass
        self.load_backends()
        store = Store.open(self.settings.db_path)
        pipeline = build_pipeline(store, self.settings, summarizer=self.summarizer, log=self.log,
                                  on_commit=self.on_commit, on_progress=self.count_progress)
        if self.indexer is not None:
            self.on_commit([])  # heal: index what a crash left unindexed
        lower_this_thread()  # compression and indexing give way to prompt-time requests and hooks
        interval = self.settings.worker.poll_interval_s
        try:
            while not self.stop_event.is_set():
                if not self.home.exists():
                    self.log("data directory removed; exiting")
                    self.stop_event.set()
                    break
                try:
                    store.ingest_spool_dir(self.home)
                    pipeline.run_once()
                except Exception as exc:  # noqa: BLE001
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    self.log(f"processing error: {self.last_error}")
                else:
                    if pipeline.last_error:
                        self.last_error = pipeline.last_error
                self.drain_outbox(store)
                self.wake.wait(interval)
                self.wake.clear()
        finally:
            store.close()

    def run(self) -> None:
        """Run until SIGTERM/SIGINT. Raises AlreadyRunning if another worker holds the lock."""
        # llama.cpp's OpenMP threads must wait passively (set before torch or llama_cpp
        # load their shared libgomp), or on busy cores they starve each other.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        from offmem.filemodes import repair_tree, restrict_umask

        restrict_umask()  # what the worker, SQLite and Chroma create is private to the user
        self.lock.acquire()
        repair_tree(self.home)  # 0700/0600 for a data directory an older offmem left open
        try:
            self.log(f"started (home {self.home})")
            self.write_state()
            threading.Thread(target=self.privacy_loop, name="offmem-privacy", daemon=True).start()
            self.privacy_ready.wait(FIRST_PRIVACY_PASS_WAIT_S)  # even if serving fails below, this pass ran
            thread = threading.Thread(target=self.process_loop, name="offmem-process", daemon=True)
            thread.start()
            self._start_team()
            if self.serve_http:
                self._serve(thread)
            else:
                self._wait_for_signal(thread)
            self.stop_event.set()
            self.wake.set()
            thread.join(timeout=5)
            self.log("stopped")
        finally:
            for name in (STATE_NAME,):
                try:
                    (self.home / name).unlink()
                except OSError:
                    pass
            self.lock.release()

    def _start_team(self) -> None:
        """The team thread (offmem.team.sync), when [team] is configured; never stops the worker."""
        try:
            from offmem.team.sync import start

            self.team = start(self)
        except Exception as exc:  # noqa: BLE001 - local memory works without the team
            self.log(f"team memory unavailable: {type(exc).__name__}: {exc}")

    def _wait_for_signal(self, thread: threading.Thread) -> None:
        def stop(signum, frame):
            self.stop_event.set()
            self.wake.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while thread.is_alive() and not self.stop_event.is_set():
            self.stop_event.wait(0.5)

    def _serve(self, thread: threading.Thread) -> None:
        check_loopback(self.settings.worker.host)
        if self.serve is None:
            raise WorkerError("no HTTP application to serve (start the worker with `offmem worker start`)")
        self.serve(self, thread)
