"""Idempotency keys (the `Idempotency-Key` header): a command retried with the same key
and the same request publishes nothing more and gets the first answer again.

Keys live in Redis, so every replica sees them, for IDEMPOTENCY_TTL_SECONDS, scoped to
the client (its token's fingerprint) so that clients cannot collide or read each other's
answers. The first request claims its key with SET NX before publishing: of concurrent
duplicates exactly one publishes; the others are told it is in progress (409) until the
answer is stored, and get that answer after. A request that fails (503) gives its key
back, so that a retry can publish.
"""

from __future__ import annotations

import hashlib
import logging
import re

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# Printable ASCII without spaces, as the IETF draft's examples; bounded for Redis keys.
_KEY = re.compile(r"[\x21-\x7e]{1,255}")


class MalformedKey(Exception):
    pass


class KeysUnavailable(Exception):
    """Redis could not be asked; the command must not be published unprotected."""


class StoredAnswer(msgspec.Struct, frozen=True):
    status_code: int
    headers: dict[str, str]
    body: bytes


class _Entry(msgspec.Struct, frozen=True):
    fingerprint: str
    answer: StoredAnswer | None = None


class Claimed(msgspec.Struct, frozen=True):
    """This request holds the key: publish, then `keep` the answer (or `give_back`)."""

    redis_key: str
    fingerprint: str


class InProgress(msgspec.Struct, frozen=True):
    pass


class OtherRequest(msgspec.Struct, frozen=True):
    """The key was used for a request with another method, path or body."""


Claim = Claimed | StoredAnswer | InProgress | OtherRequest

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_Entry)


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), body):
        digest.update(b"%d:" % len(part))
        digest.update(part)
    return digest.hexdigest()


class IdempotencyKeys:
    def __init__(self, redis: Redis, ttl_seconds: int) -> None:
        self._redis = redis
        self._ttl = ttl_seconds

    async def claim(self, client: str, key: str, fingerprint: str) -> Claim:
        if not _KEY.fullmatch(key):
            raise MalformedKey("Idempotency-Key must be 1 to 255 printable ASCII characters")
        redis_key = f"commands:idempotency:{client}:{hashlib.sha256(key.encode()).hexdigest()}"
        try:
            if await self._redis.set(
                redis_key, _encoder.encode(_Entry(fingerprint)), nx=True, ex=self._ttl
            ):
                return Claimed(redis_key, fingerprint)
            raw = await self._redis.get(redis_key)
        except (RedisError, OSError) as error:
            raise KeysUnavailable(str(error)) from None
        if raw is None:  # expired between the two commands: claim it anew
            return await self.claim(client, key, fingerprint)
        entry = _decoder.decode(raw)
        if entry.fingerprint != fingerprint:
            return OtherRequest()
        return entry.answer if entry.answer is not None else InProgress()

    async def keep(self, claimed: Claimed, answer: StoredAnswer) -> None:
        """Store the answer for retries. If Redis cannot take it, the key is given back
        (best effort): a retry then publishes again, which the ingestor takes as a repeat,
        rather than being told "in progress" until the key expires."""
        try:
            await self._redis.set(
                claimed.redis_key,
                _encoder.encode(_Entry(claimed.fingerprint, answer)),
                xx=True,
                ex=self._ttl,
            )
        except (RedisError, OSError) as error:
            log.warning("could not keep an idempotent answer: %s; giving the key back", error)
            await self.give_back(claimed)

    async def give_back(self, claimed: Claimed) -> None:
        try:
            await self._redis.delete(claimed.redis_key)
        except (RedisError, OSError):
            pass
