"""Refuse oversize request bodies before any parsing or authentication work.

A pure ASGI middleware: a declared ``Content-Length`` above the limit is answered 413 at once,
before the route (and its sign-in check) runs; a body sent without a length (chunked) is
counted as it arrives and cut off with 413 as soon as it passes the limit, so no more than the
limit is ever buffered.
"""

from __future__ import annotations

import json

from rescity.api.errors import body as error_body


class BodyTooLarge(Exception):
    """Raised inside ``receive`` when a streamed body passes the limit."""


class BodyLimit:
    """ASGI middleware limiting request bodies to ``max_bytes`` bytes."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app, self.max_bytes = app, int(max_bytes)

    async def _refuse(self, send, declared: int | None) -> None:
        msg = f"the request body is larger than this server accepts ({self.max_bytes} bytes)"
        payload = json.dumps(error_body(413, msg, field="body", value=declared)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = None
        for k, v in scope.get("headers") or ():
            if k == b"content-length":
                try:
                    declared = int(v)
                except ValueError:
                    declared = self.max_bytes + 1
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send, declared)
            return
        seen = 0
        started = refused = False

        async def limited_receive():
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes and not refused:
                    refused = True
                    if not started:
                        await self._refuse(send, None)
                    raise BodyTooLarge()
            return message

        async def tracking_send(message):
            nonlocal started
            if refused:
                return  # the 413 went out already; drop what the app answers to the cut-off body
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            pass
