"""Redis clients that notice a silent peer: TCP keepalives probe an idle connection, and
every command gives up after a bounded time instead of waiting for TCP to give up (hours)."""

from __future__ import annotations

import socket

from redis.asyncio import Redis

# Idle 10 s, then a probe every 5 s, dead after 3 misses (Linux's names for them).
_KEEPALIVE_OPTIONS = {
    option: value
    for name, value in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3))
    if (option := getattr(socket, name, None)) is not None
}


def create_redis(url: str, *, command_timeout_seconds: float = 5.0) -> Redis:
    """A client for `url`; a subscription's reads wait with timeouts of their own."""
    return Redis.from_url(
        url,
        socket_timeout=command_timeout_seconds,
        socket_connect_timeout=command_timeout_seconds,
        socket_keepalive=True,
        socket_keepalive_options=_KEEPALIVE_OPTIONS,
    )
