"""The live alerts feed: new and changed alerts, polled from the store and fanned out.

Alerts reach the store from any process (the API, the sensing ingest, a script); the feed finds
them by polling the ``alerts`` table every :data:`POLL_S` seconds for rows with an id above the
last one seen (new alerts) or an ``updated_at`` after the last one seen (acknowledged, closed;
watched among the :data:`UPDATE_WINDOW` newest alerts, so that a poll reads a bounded key range).
One poller per server process (:class:`AlertHub`) serves every open stream, so the store sees two
small indexed reads per interval however many dashboards are open.

Server-sent events (SSE, WHATWG HTML Living Standard §9.2) carry them to the browser: ``event:
alert`` (new) or ``alert-update`` (status changed) with the alert as JSON ``data`` and its id as the
event ``id``, a comment line as heartbeat every :data:`HEARTBEAT_S` seconds, and ``retry`` telling
the browser to reconnect after 2 s; a reconnecting client sends ``Last-Event-ID`` (or ``after``)
and gets what it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

#: Seconds between two polls of the alerts table.
POLL_S = 0.5
#: Seconds between heartbeats on an idle stream (proxies close silent connections).
HEARTBEAT_S = 15.0
#: Client reconnection delay sent with ``retry``, milliseconds.
RETRY_MS = 2000
#: Status changes are watched among this many newest alerts (older ones show on a reload).
UPDATE_WINDOW = 5000

_COLS = (
    "id, twin, level, kind, title, message, asset_id, unit_id, source, status, created_at, created_by, "
    "department, updated_at, updated_by"
)


def alerts_after(store, after_id: int, *, twin: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """Alerts with an id above ``after_id``, oldest first (alerts of ``twin`` and of no twin)."""
    sql = f"SELECT {_COLS} FROM alerts WHERE id > ?"
    params: list[Any] = [int(after_id)]
    if twin is not None:
        sql += " AND (twin = ? OR twin IS NULL)"
        params.append(twin)
    with store.read() as q:
        return q.dicts(sql + " ORDER BY id LIMIT ?", [*params, int(limit)])


def alerts_updated_since(
    store, since: str, *, newest_id: int | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Alerts whose status changed after ``since`` (ISO text, as the store writes it), oldest
    first; only among the :data:`UPDATE_WINDOW` newest alerts when ``newest_id`` is given (a range
    of the primary key, so a poll costs the same however long the table grows)."""
    sql = f"SELECT {_COLS} FROM alerts WHERE updated_at > ?"
    params: list[Any] = [since]
    if newest_id is not None:
        sql += " AND id > ?"
        params.append(int(newest_id) - UPDATE_WINDOW)
    with store.read() as q:
        return q.dicts(sql + " ORDER BY updated_at, id LIMIT ?", [*params, int(limit)])


def watermark(store) -> tuple[int, str]:
    """``(largest alert id, latest updated_at)`` now: where a new poller starts."""
    with store.read() as q:
        row = q.one("SELECT MAX(id), MAX(updated_at) FROM alerts")
    return int(row[0] or 0), str(row[1] or "")


def sse(event: str, data: Any, id_: int | None = None) -> str:
    """One server-sent event as text."""
    head = f"id: {id_}\n" if id_ is not None else ""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"{head}event: {event}\ndata: {body}\n\n"


class AlertHub:
    """Polls the store for new and changed alerts and hands them to every subscriber.

    Parameters
    ----------
    store:
        The store to poll.
    poll_s:
        Seconds between polls.

    The poller runs while at least one subscriber is registered (started by :meth:`subscribe`
    on the running event loop); store reads run in worker threads.
    """

    def __init__(self, store, poll_s: float = POLL_S) -> None:
        self.store = store
        self.poll_s = poll_s
        self._subs: set[asyncio.Queue] = set()
        self._task: asyncio.Task | None = None
        self.last_id: int | None = None
        self.last_update = ""
        self._lock: asyncio.Lock | None = None

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def subscribe(self) -> asyncio.Queue:
        """A queue receiving ``(event, alert row)`` for every new or changed alert from now on."""
        q: asyncio.Queue = asyncio.Queue(maxsize=1000)
        self._subs.add(q)
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._lock = None  # a new event loop (the app served again): start afresh there
            self._task = loop.create_task(self._run())
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self._subs.discard(q)

    async def ready(self) -> None:
        """Read the starting watermark once (events after it reach the subscribers)."""
        import anyio.to_thread

        if self.last_id is not None:
            return
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self.last_id is None:
                self.last_update = ""
                last_id, last_update = await anyio.to_thread.run_sync(watermark, self.store)
                self.last_id, self.last_update = last_id, last_update

    async def _run(self) -> None:
        await self.ready()
        while self._subs:
            with contextlib.suppress(Exception):  # a store hiccup: try again at the next poll
                await self.poll_once()
            await asyncio.sleep(self.poll_s)
        self._task = None
        self.last_id = None  # the next subscriber starts from a fresh watermark

    async def poll_once(self) -> int:
        """One poll; returns the number of events handed out."""
        import anyio.to_thread

        new = await anyio.to_thread.run_sync(lambda: alerts_after(self.store, self.last_id or 0))
        changed = await anyio.to_thread.run_sync(
            lambda: alerts_updated_since(self.store, self.last_update, newest_id=self.last_id)
        )
        events = [("alert", r) for r in new] + [("alert-update", r) for r in changed]
        if new:
            self.last_id = max(int(r["id"]) for r in new)
        if changed:
            self.last_update = max(str(r["updated_at"]) for r in changed)
        for ev in events:
            for q in list(self._subs):
                with contextlib.suppress(asyncio.QueueFull):  # a stalled client drops events
                    q.put_nowait(ev)
        return len(events)


async def stream(
    hub: AlertHub,
    after: int,
    *,
    twin: str | None,
    enrich: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
    still_allowed: Callable[[], bool],
    max_s: float,
    heartbeat_s: float = HEARTBEAT_S,
    auth_every_s: float = HEARTBEAT_S,
):
    """The SSE text of one client's feed: the alerts after ``after``, then live events.

    ``enrich`` adds the plain-language text to rows (runs in a worker thread); ``still_allowed``
    re-checks the client's token and permission every ``auth_every_s`` seconds (a revoked token or
    a disabled account ends the stream with an ``end`` event). The stream ends after ``max_s``
    seconds with an ``end`` event; browsers reconnect by themselves.
    """
    import anyio.to_thread

    loop = asyncio.get_running_loop()
    q = hub.subscribe()
    try:
        yield f"retry: {RETRY_MS}\n\n"
        await hub.ready()  # events after the watermark come from the hub, the rest from the backlog
        sent = int(after)
        backlog = await anyio.to_thread.run_sync(lambda: enrich(alerts_after(hub.store, sent, twin=twin)))
        for r in backlog:
            sent = max(sent, int(r["id"]))
            yield sse("alert", r, r["id"])
        end = loop.time() + max_s
        next_auth = loop.time() + auth_every_s
        while True:
            now = loop.time()
            if now >= end:
                yield sse("end", {"reason": "time limit; reconnect"})
                return
            if now >= next_auth:
                next_auth = now + auth_every_s
                if not await anyio.to_thread.run_sync(still_allowed):
                    yield sse("end", {"reason": "sign in again"})
                    return
            try:
                ev, row = await asyncio.wait_for(q.get(), timeout=min(heartbeat_s, end - now))
            except TimeoutError:
                yield ": keep-alive\n\n"
                continue
            if twin is not None and row.get("twin") not in (None, twin):
                continue
            if ev == "alert" and int(row["id"]) <= sent:
                continue
            (row,) = await anyio.to_thread.run_sync(lambda r=row: enrich([r]))
            if ev == "alert":
                sent = int(row["id"])
            yield sse(ev, row, row["id"] if ev == "alert" else None)
    finally:
        hub.unsubscribe(q)
