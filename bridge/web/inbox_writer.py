"""Group commit for webhook intake.

Each verified webhook must be durable before we answer 200. One transaction per request means
one fsync per request, and SQLite has a single writer: under a burst, requests queue behind
each other's commits. Here one thread drains everything that arrived meanwhile and commits it
in ONE transaction; each request awaits its own result, so "answered 200" still implies
"stored". A failed batch fails every request in it (they get 500 and the platform retries).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from dataclasses import dataclass

from bridge.store import Store, WebhookIn

MAX_BATCH = 500


@dataclass
class _Pending:
    event: WebhookIn
    future: asyncio.Future[int | None]
    loop: asyncio.AbstractEventLoop


class InboxWriter:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="inbox-writer", daemon=True)
        self._thread.start()

    async def record(self, event: WebhookIn) -> int | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int | None] = loop.create_future()
        self._queue.put(_Pending(event, future, loop))
        return await future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                batch.append(item)
            try:
                ids = self._store.record_webhooks([p.event for p in batch])
            except Exception as exc:
                for pending in batch:
                    pending.loop.call_soon_threadsafe(_fail, pending.future, exc)
                continue
            for pending, event_id in zip(batch, ids, strict=True):
                pending.loop.call_soon_threadsafe(_succeed, pending.future, event_id)


def _succeed(future: asyncio.Future[int | None], value: int | None) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future[int | None], exc: Exception) -> None:
    if not future.done():
        future.set_exception(exc)
