"""The response of a stream: `text/event-stream`, written as the subscription fills, with
a heart-beat comment whenever nothing else was sent for a while (proxies close quiet
connections), until the client goes, the subscription ends, or the replica stops.

Two tasks per stream: the writer, which may wait on a client that does not read (the
server's send blocks while the socket is full: that is what keeps a stuck client's
memory small), and a watch for the client's disconnect. Neither ever blocks the feed,
which only appends to the subscription's bounded buffer. When the subscription ends
(overflow, relist, shutdown), the writer has `DRAIN_SECONDS` to send what is left (the
`reload`, or nothing) and close the stream cleanly; a writer still stuck then is
cancelled and the connection dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from litestar.types import Receive, Scope, Send

from query.http.ready_response import NO_CACHE
from query.streams.frames import HEARTBEAT, STREAM_OPENING
from query.streams.subscription import StreamEnded, Subscription

DRAIN_SECONDS = 1.0
EVENT_STREAM_HEADERS = (
    (b"content-type", b"text/event-stream; charset=utf-8"),
    NO_CACHE,
    # nginx (and the ingress-nginx controller) pass this response on unbuffered.
    (b"x-accel-buffering", b"no"),
)


class EventStreamResponse:
    def __init__(
        self,
        subscription: Subscription,
        heartbeat_seconds: float,
        on_close: Callable[[], None],
    ) -> None:
        self._subscription = subscription
        self._heartbeat_seconds = heartbeat_seconds
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._stream(receive, send)
        finally:
            self._on_close()

    async def _stream(self, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": list(EVENT_STREAM_HEADERS)}
        )
        writer = asyncio.ensure_future(self._write(send))
        gone = asyncio.ensure_future(_disconnected(receive))
        ended = asyncio.ensure_future(self._subscription.ended_event.wait())
        try:
            done, _ = await asyncio.wait({writer, gone, ended}, return_when=asyncio.FIRST_COMPLETED)
            if gone not in done and writer not in done:  # ended: let the writer finish
                await asyncio.wait({writer, gone}, timeout=DRAIN_SECONDS)
            finished = writer.done() and not writer.cancelled() and writer.exception() is None
            client_gone = gone.done()
        finally:
            for task in (writer, gone, ended):
                task.cancel()
            for task in (writer, gone, ended):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if finished and not client_gone:
            # The end of the body waits on the client like any write, no longer than this.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    send({"type": "http.response.body", "body": b"", "more_body": False}),
                    DRAIN_SECONDS,
                )
        # Otherwise the stream is dropped: the server closes the connection.

    async def _write(self, send: Send) -> None:
        """Send what the subscription brings until it ends."""
        subscription = self._subscription
        chunk = STREAM_OPENING
        while True:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            try:
                chunk = await subscription.take(self._heartbeat_seconds) or HEARTBEAT
            except StreamEnded:
                return


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
