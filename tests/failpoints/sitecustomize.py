"""Fault-injection hooks for the services the test harness starts.

The harness puts this folder on the PYTHONPATH of every service process, so Python imports
this module at start-up; it changes nothing unless a `FAILPOINT_*` variable asks for it.
The product carries no trace of it.

`FAILPOINT_PAUSE_BEFORE_OFFSET_COMMIT=<seconds>`: the ingestor (or the courier service)
holds each batch that long between its database commit and its offset commit, so a test
can kill it right there.
"""

from __future__ import annotations

import os

_pause = float(os.environ.get("FAILPOINT_PAUSE_BEFORE_OFFSET_COMMIT") or 0)

if _pause:
    import asyncio
    from collections.abc import Awaitable, Callable

    def _pausing(commit: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        async def commit_after_a_pause(self: object, batch: object) -> None:
            await asyncio.sleep(_pause)
            await commit(self, batch)

        return commit_after_a_pause

    # Both services consume through the shared consumer.
    from order_shared.batch_consumer import BatchConsumer

    BatchConsumer._commit = _pausing(BatchConsumer._commit)  # type: ignore[method-assign]
