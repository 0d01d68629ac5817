"""Fetched batches that cannot be decoded, as every consumer of ours meets them.

aiokafka decodes snappy, lz4 and zstd with cramjam (aiokafka's extras) and gzip itself;
a batch that still cannot be decoded (a codec library missing, corrupt bytes) raises
inside `getmany()`, after records of other partitions that the same call took may already
be past. It must neither crash the service (its supervisor would restart it onto the same
batch, for ever) nor be skipped (its records would be lost). `BatchConsumer` sends every
partition back to the first record it has not handed out and tries again after a growing
pause; `UndecodableBatches` counts each failure and keeps the last one's reason for
readiness until a fetch returns records again.
"""

from __future__ import annotations

import logging
import struct
import zlib

import cramjam
from aiokafka.errors import CorruptRecordException, UnsupportedCodecError
from prometheus_client import Counter

log = logging.getLogger(__name__)

# What decoding a fetched batch raises when its bytes cannot be read.
UNDECODABLE = (
    UnsupportedCodecError,
    CorruptRecordException,
    cramjam.DecompressionError,
    zlib.error,
    EOFError,
    struct.error,
)


class UndecodableBatches:
    """A consumer's fetches that could not be decoded: counted in `counter`, the last one
    reported by `reason` (None once a fetch returns records again)."""

    def __init__(
        self, counter: Counter, *, first_pause_seconds: float = 0.5, max_pause_seconds: float = 30
    ) -> None:
        self._counter = counter
        self._first_pause = first_pause_seconds
        self._max_pause = max_pause_seconds
        self._pause = first_pause_seconds
        self.reason: str | None = None

    def failed(self, error: Exception) -> float:
        """Note a failed fetch; the seconds to wait before the next one (growing)."""
        self._counter.inc()
        self.reason = f"a fetched batch cannot be decoded: {type(error).__name__}: {error}"
        pause, self._pause = self._pause, min(self._pause * 2, self._max_pause)
        log.error(
            "%s; back to the first record not handed out, trying again in %g s",
            self.reason,
            pause,
        )
        return pause

    def fetched(self) -> None:
        """A fetch returned records: whatever failed before is behind us."""
        self.reason = None
        self._pause = self._first_pause
