"""One client's stream: a small bounded buffer of frames between the feed, which fills it
as changes are applied, and the client's writer, which empties it as fast as the client
reads. The feed never waits for a client: when the buffer is full, the client has fallen
too far behind, and it gets one `reload` and is dropped."""

from __future__ import annotations

import asyncio
from collections import deque

from query.streams.frames import reload_event

# Without an id: the client's Last-Event-ID stays that of the last event it was sent.
OVERFLOW = reload_event(None, "overflow")


class StreamEnded(Exception):
    """Nothing more will come on this subscription: it overflowed or the replica stops."""


class Subscription:
    def __init__(self, capacity: int) -> None:
        self._frames: deque[bytes] = deque()
        self._capacity = capacity
        self._ready = asyncio.Event()
        # Why the stream ends ("overflow", "shutdown", "relisted"), once it does.
        self.ended: str | None = None
        self.ended_event = asyncio.Event()

    def push(self, frame: bytes) -> None:
        """Queue `frame`; if the buffer is full, replace what waits by OVERFLOW and end."""
        if self.ended is not None:
            return
        if len(self._frames) >= self._capacity:
            self.end("overflow", OVERFLOW)
            return
        self._frames.append(frame)
        self._ready.set()

    def end(self, reason: str, last: bytes | None = None) -> None:
        """No more frames after `last` (what waits is dropped when `last` is given)."""
        if self.ended is not None:
            return
        if last is not None:
            self._frames.clear()
            self._frames.append(last)
        self.ended = reason
        self.ended_event.set()
        self._ready.set()

    async def take(self, within: float) -> bytes:
        """What waits, as one chunk; b"" if nothing came within `within` seconds.
        Raises StreamEnded once the stream has ended and everything was taken."""
        if not self._frames:
            if self.ended is not None:
                raise StreamEnded(self.ended)
            self._ready.clear()
            try:
                # asyncio.timeout, not wait_for: no task of its own for every wait.
                async with asyncio.timeout(within):
                    await self._ready.wait()
            except TimeoutError:
                return b""
            if not self._frames:
                raise StreamEnded(self.ended or "ended")
        frames = b"".join(self._frames)
        self._frames.clear()
        return frames

    def __len__(self) -> int:
        return len(self._frames)
