"""Fault-injection hooks for the services the test harness starts.

The harness puts this folder on the PYTHONPATH of every service process, so Python imports
this module at start-up; it changes nothing unless a `FAILPOINT_*` variable asks for it.
The product carries no trace of it.

`FAILPOINT_PAUSE_BEFORE_OFFSET_COMMIT=<seconds>`: the ingestor (or the courier service)
holds each batch that long between its database commit and its offset commit, so a test
can kill it right there.

`FAILPOINT_WITHOUT_CODECS=1`: the service cannot decode snappy, lz4 or zstd batches, as
before their codec library was installed (aiokafka's pure-Python records, told that
cramjam is missing): what a batch that cannot be decoded does to a consumer.

`FAILPOINT_FREEZE_HOLDING_DISPATCH_LOCK=1`: the courier service stops itself (SIGSTOP) the
first time it has taken the dispatch lock, a holder frozen mid-transaction.
"""

from __future__ import annotations

import os

_pause = float(os.environ.get("FAILPOINT_PAUSE_BEFORE_OFFSET_COMMIT") or 0)

if os.environ.get("FAILPOINT_WITHOUT_CODECS"):
    # Before aiokafka is imported: its compiled records would not look the codecs up.
    os.environ["AIOKAFKA_NO_EXTENSIONS"] = "1"
    import aiokafka.codec

    aiokafka.codec.has_snappy = aiokafka.codec.has_lz4 = aiokafka.codec.has_zstd = (  # type: ignore[method-assign]
        lambda: False
    )

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

if os.environ.get("FAILPOINT_FREEZE_HOLDING_DISPATCH_LOCK"):
    import signal

    from courier import dispatch_store

    _lock_dispatch = dispatch_store.lock_dispatch

    async def _lock_and_freeze(connection: object) -> None:
        await _lock_dispatch(connection)
        os.kill(os.getpid(), signal.SIGSTOP)  # a holder that stops answering

    dispatch_store.lock_dispatch = _lock_and_freeze  # type: ignore[assignment]
