"""Fault-injection hooks for the services the test harness starts.

The harness puts this folder on the PYTHONPATH of every service process, so Python imports
this module at start-up; it changes nothing unless a `FAILPOINT_*` variable asks for it.
The product carries no trace of it.

`FAILPOINT_PAUSE_BEFORE_OFFSET_COMMIT=<seconds>`: the ingestor holds each written batch that
long between its database commit and its offset commit, so a test can kill it right there.
"""

from __future__ import annotations

import os

_pause = float(os.environ.get("FAILPOINT_PAUSE_BEFORE_OFFSET_COMMIT") or 0)

if _pause:
    import asyncio

    from ingestor.consumer import OrderIngestor

    _commit = OrderIngestor._commit

    async def _commit_after_a_pause(self: OrderIngestor, batch: object) -> None:
        await asyncio.sleep(_pause)
        await _commit(self, batch)

    OrderIngestor._commit = _commit_after_a_pause  # type: ignore[method-assign]
