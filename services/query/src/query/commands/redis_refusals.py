"""Redis refusing the command side's writes: counted, and noted by readiness for a while.

Redis runs with `maxmemory` and `noeviction` (see the README's "Redis memory"): nothing
that must stay (a live claim, a rate-limit window) is ever evicted, and when memory is
full Redis refuses writes with an OOM error instead. Commands with an Idempotency-Key
then get 503 and the rate limit is not enforced, so it must be seen: each refusal is
counted in `query_redis_write_refusals_total{what}` and `/readyz` carries a note for a
minute after the last one (a note only: reads are served from memory all the same).
"""

from __future__ import annotations

import time

from prometheus_client import Counter
from redis.exceptions import OutOfMemoryError

REFUSALS = Counter(
    "query_redis_write_refusals_total",
    "Writes Redis refused because its maxmemory is reached (OOM), by what was written "
    "(idempotency, rate_limit)",
    ["what"],
)

# How long readiness mentions the last refusal.
NOTE_SECONDS = 60.0


class RedisRefusals:
    def __init__(self) -> None:
        # When (monotonic), what and why the last refusal was.
        self._last: tuple[float, str, str] | None = None

    def note(self, what: str, error: BaseException) -> None:
        """Count `error` if it is Redis refusing a write for want of memory."""
        if isinstance(error, OutOfMemoryError):
            REFUSALS.labels(what).inc()
            self._last = (time.monotonic(), what, str(error))

    def readiness_note(self) -> str | None:
        if self._last is None or time.monotonic() - self._last[0] > NOTE_SECONDS:
            return None
        at, what, error = self._last
        return (
            f"Redis refused a write ({what}) {time.monotonic() - at:.0f} s ago: {error}; "
            "commands with an Idempotency-Key get 503 and the rate limit is not enforced "
            "until it has memory again"
        )
