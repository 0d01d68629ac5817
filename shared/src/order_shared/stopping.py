"""Stopping on time: SIGTERM sets a service's stop event, and the work in hand (a batch
waiting for a server, a round of status requests) gives way to it at once, so that a pod
ends within its grace period."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class StopRequested(Exception):
    """The service is stopping; the work in hand is abandoned (it is done again later)."""


async def unless_stopped(work: Awaitable[T], stop: asyncio.Event) -> T:
    """`work`'s result, or StopRequested as soon as `stop` is set (the work is then
    cancelled and awaited)."""
    if stop.is_set():
        if asyncio.iscoroutine(work):
            work.close()
        raise StopRequested
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.cancelled():
        raise StopRequested
    return task.result()


async def sleep_unless_stopped(seconds: float, stop: asyncio.Event) -> None:
    """Sleep `seconds`, or less if `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
