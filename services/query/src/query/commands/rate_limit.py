"""Commands per client per minute, counted in Redis so that every replica shares the
count: a client is its token's fingerprint, or its address while it presents no valid
token (so guessing tokens is limited too). Over the limit: 429 with `Retry-After`.

One fixed window per client and minute, counted with INCR and given its expiry in the
same transaction (atomic however many replicas count). Litestar's RateLimitMiddleware
was the first choice; its read-modify-write of a history list is locked per process
only, so concurrent replicas lose counts, and it sends no `Retry-After`. If Redis cannot
be reached the limit is not enforced (logged): commands still reach Kafka.
"""

from __future__ import annotations

import logging

import msgspec
from litestar.connection import ASGIConnection
from litestar.types import ASGIApp, Receive, Scope, Send
from redis.asyncio import Redis
from redis.exceptions import RedisError

from query.commands.bearer import BearerTokens, authorization_of
from query.commands.redis_refusals import RedisRefusals

log = logging.getLogger(__name__)

_WINDOW_SECONDS = 60
_encoder = msgspec.json.Encoder()


class CommandRateLimit:
    """What the middleware needs: the shared counter and the tokens that name clients."""

    def __init__(
        self, redis: Redis, tokens: BearerTokens, per_minute: int, refusals: RedisRefusals
    ) -> None:
        self._redis = redis
        self._tokens = tokens
        self.per_minute = per_minute
        self._refusals = refusals

    def client(self, scope: Scope) -> str:
        client = self._tokens.client_of(authorization_of(ASGIConnection(scope)))
        if client is not None:
            return f"token:{client}"
        address = scope.get("client")
        return f"address:{address[0] if address else 'unknown'}"

    async def seconds_to_wait(self, client: str) -> int:
        """0 if this command is within the limit; else how long until the window ends."""
        key = f"commands:rate:{client}"
        try:
            async with self._redis.pipeline(transaction=True) as pipeline:
                pipeline.incr(key)
                pipeline.expire(key, _WINDOW_SECONDS, nx=True)
                pipeline.ttl(key)
                count, _, ttl = await pipeline.execute()
        except (RedisError, OSError) as error:
            self._refusals.note("rate_limit", error)
            log.warning("command rate limit not checked, Redis unavailable: %s", error)
            return 0
        return 0 if count <= self.per_minute else max(int(ttl), 1)


class RateLimitMiddleware:
    """ASGI middleware of the command routes (before the bearer guard runs)."""

    def __init__(self, app: ASGIApp, limit: CommandRateLimit) -> None:
        self._app = app
        self._limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            wait = await self._limit.seconds_to_wait(self._limit.client(scope))
            if wait:
                await _too_many(send, wait, self._limit.per_minute)
                return
        await self._app(scope, receive, send)


async def _too_many(send: Send, wait: int, per_minute: int) -> None:
    body = _encoder.encode(
        {
            "status_code": 429,
            "detail": f"more than {per_minute} commands a minute; retry in {wait} s",
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 429,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
                (b"retry-after", b"%d" % wait),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
