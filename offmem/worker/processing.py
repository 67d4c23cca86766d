"""Where a :class:`~offmem.worker.pipeline.Pipeline` is assembled: the one place.

The worker's processing loop (:mod:`offmem.worker.runner`), ``offmem process`` and
``offmem import-transcripts`` (through :mod:`offmem.api`) all build theirs here, from
the settings they were given: the batch policy, the privacy stage and the summarizer
(or rules, when it cannot be used).
"""

from __future__ import annotations

from collections.abc import Callable

from offmem.config import Settings
from offmem.worker.pipeline import BatchPolicy, Pipeline, RunStats
from offmem.privacy.stage import PrivacyStage
from offmem.store.db import Store


def load_summarizer(settings: Settings, *, load: bool = False, on_error: Callable[[Exception], None] | None = None):
    """The configured summarizer (its model loaded when ``load``), or None for the rule-based
    compressor; a summarizer that cannot be built or loaded is reported to ``on_error``."""
    try:
        from offmem.summarize.registry import get_summarizer

        summarizer = get_summarizer(settings)
        if load and summarizer is not None:
            summarizer.load()
        return summarizer
    except Exception as exc:  # noqa: BLE001 - rules take over
        if on_error is not None:
            on_error(exc)
        return None


def build_pipeline(store: Store, settings: Settings, *, summarizer=None, log: Callable[[str], None] | None = None,
                   on_commit: Callable[[list[int]], None] | None = None,
                   on_progress: Callable[[int, int], None] | None = None) -> Pipeline:
    """A pipeline over ``store`` with the configured batch policy and privacy stage."""
    return Pipeline(
        store,
        summarizer=summarizer,
        policy=BatchPolicy.from_settings(settings),
        log=log,
        on_commit=on_commit,
        privacy=PrivacyStage.from_settings(settings, log=log),
        on_progress=on_progress,
    )


def process_pending(settings: Settings, summarizer=None, *, force: bool = True) -> RunStats:
    """Spool files in, then every pending event processed now (the caller holds the worker's lock)."""
    with Store.open(settings.db_path) as store:
        store.ingest_spool_dir(settings.home)
        return build_pipeline(store, settings, summarizer=summarizer).run_once(force=force)
