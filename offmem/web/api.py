"""The UI's JSON endpoints: the live stream (server-sent events) and the actions.

Every action (save settings, forget) requires the install's token header
(:func:`offmem.worker.http.security.token_checker`), not only the signed-in browser's
cookie; the app factory's guards (Host/Origin, token or cookie) already stand in
front of all of them, the stream included.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import ExitStack

from fastapi import APIRouter, Body, Depends, Header, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.sse import EventSourceResponse, ServerSentEvent

from offmem.api import Cursor, ForgetQuery
from offmem.web import settings_form
from offmem.web.base import WebUI
from offmem.worker.http.security import token_checker

POLL_S = 1.0


class StreamPoller:
    """One live-stream client: its own connection, its cursor, the last status it sent."""

    def __init__(self, ui: WebUI, project: str | None, cursor: Cursor | None) -> None:
        self.ui = ui
        self.project = project
        self._open = ExitStack()
        self.reader = self._open.enter_context(ui.memory.browse())
        self.cursor = cursor or self.reader.cursor(project)
        self.last_status: dict | None = None

    def poll(self) -> list[ServerSentEvent]:
        items, _ = self.reader.changes_since(self.cursor, self.project)
        events = [self._item_event(item) for item in items]
        status = {"queue_depth": self.reader.queue_depth(), "events_per_min": self.ui.memory.events_per_minute()}
        if status != self.last_status:
            self.last_status = status
            events.append(ServerSentEvent(event="status", data=status))
        return events

    def _item_event(self, item: dict) -> ServerSentEvent:
        if item["kind"] == "observation":
            self.cursor = Cursor(max(self.cursor.observation_id, item["id"]), self.cursor.summary_updated_at)
            key = str(item["id"])
        else:
            self.cursor = Cursor(self.cursor.observation_id, max(self.cursor.summary_updated_at, item["updated_at"]))
            key = item["session_id"]
        data = {"kind": item["kind"], "key": key, "html": self.ui.fragment("feed_item", item)}
        return ServerSentEvent(event=item["kind"], id=self.cursor.encode(), data=data)

    def close(self) -> None:
        self._open.close()


def router(ui: WebUI) -> APIRouter:
    r = APIRouter(prefix="/api/ui", include_in_schema=False)
    needs_token = [Depends(token_checker(ui.token))]

    @r.get("/stream", response_class=EventSourceResponse)
    async def stream(project: str = "", after: str = "",
                     last_event_id: str | None = Header(default=None)) -> AsyncIterator[ServerSentEvent]:
        cursor = Cursor.decode(last_event_id) or Cursor.decode(after)
        poller = await run_in_threadpool(StreamPoller, ui, project or None, cursor)
        try:
            yield ServerSentEvent(retry=3000, comment="offmem live stream")
            while True:
                for event in await run_in_threadpool(poller.poll):
                    yield event
                if ui.memory.stopping():  # end the stream so the worker can stop
                    break
                await asyncio.sleep(POLL_S)
        finally:
            poller.close()

    @r.post("/settings", dependencies=needs_token)
    def save_settings(body: dict = Body(...)) -> dict:
        try:
            result = settings_form.save(ui.home, body)
        except settings_form.SettingsInputError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        result["note"] = "Saved. Hooks use it from their next event; restart the worker to apply summarizer changes."
        return result

    @r.delete("/observations/{observation_id}", dependencies=needs_token)
    def forget_memory(observation_id: int) -> dict:
        result = ui.memory.forget(ForgetQuery(ids=[int(observation_id)]))
        if not result["observations"]:
            raise HTTPException(status_code=404, detail=f"memory #{observation_id} does not exist (already forgotten?)")
        result["note"] = ui.memory.sync_vectors()  # the worker's warm indexer drops the vectors now
        return result

    @r.delete("/sessions/{session_id:path}", dependencies=needs_token)
    def forget_whole_session(session_id: str) -> dict:
        result = ui.memory.forget(ForgetQuery(session=session_id))
        if not any(result.values()):
            raise HTTPException(status_code=404, detail=f"session {session_id} does not exist (already forgotten?)")
        result["note"] = ui.memory.sync_vectors()
        return result

    return r
