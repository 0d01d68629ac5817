"""Idempotency keys (the `Idempotency-Key` header): a command retried with the same key
and the same request publishes nothing more and gets the first answer again.

Keys live in Redis, so every replica sees them, scoped to the client (its token's
fingerprint) so that clients cannot collide or read each other's answers. The first
request claims its key with SET NX before publishing: of concurrent duplicates exactly
one publishes; the others are told it is in progress (409) until the answer is stored,
and get that answer after.

A claim is a lease of a few seconds (longer than the longest a command may take), not
the answer's day: a replica killed mid-command frees its keys when the lease ends. Each
claim holds a random token, and giving the key back (a failed command) or keeping the
answer is a compare-and-delete or compare-and-set on that token in one Lua script, so a
request whose lease ran out can release or overwrite no one else's claim.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from query.commands.redis_refusals import RedisRefusals

log = logging.getLogger(__name__)

# Printable ASCII without spaces, as the IETF draft's examples; bounded for Redis keys.
_KEY = re.compile(r"[\x21-\x7e]{1,255}")

# KEYS[1] the key; ARGV[1] the claim as written. Deletes only this very claim.
_GIVE_BACK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""
# ARGV[2] the answer's entry, ARGV[3] its time to live: replaces only this very claim.
_KEEP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
    return 1
end
return 0
"""


class MalformedKey(Exception):
    pass


class KeysUnavailable(Exception):
    """Redis could not be asked; the command must not be published unprotected."""


class StoredAnswer(msgspec.Struct, frozen=True):
    """A kept answer, small whatever the command: an answer carrying the order document
    keeps only the order's id and version (`order_version`), and its body is read back
    from the cache on replay."""

    status_code: int
    headers: dict[str, str]
    body: bytes = b""
    order_uid: str | None = None
    order_version: int | None = None


class _Entry(msgspec.Struct, frozen=True, omit_defaults=True):
    fingerprint: str
    # A claim's own random token; an answer has none.
    token: str | None = None
    answer: StoredAnswer | None = None


class Claimed(msgspec.Struct, frozen=True):
    """This request holds the key: publish, then `keep` the answer (or `give_back`)."""

    redis_key: str
    fingerprint: str
    # The claim exactly as written: what `keep` and `give_back` compare with.
    claim: bytes


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
    def __init__(
        self,
        redis: Redis,
        *,
        ttl_seconds: int,
        lease_seconds: int,
        refusals: RedisRefusals,
    ) -> None:
        self._redis = redis
        self._ttl = ttl_seconds
        self._lease = lease_seconds
        self._refusals = refusals
        self._give_back = redis.register_script(_GIVE_BACK)
        self._keep = redis.register_script(_KEEP)

    async def claim(self, client: str, key: str, fingerprint: str) -> Claim:
        if not _KEY.fullmatch(key):
            raise MalformedKey("Idempotency-Key must be 1 to 255 printable ASCII characters")
        redis_key = f"commands:idempotency:{client}:{hashlib.sha256(key.encode()).hexdigest()}"
        claim = _encoder.encode(_Entry(fingerprint, token=secrets.token_hex(16)))
        try:
            if await self._redis.set(redis_key, claim, nx=True, ex=self._lease):
                return Claimed(redis_key, fingerprint, claim)
            raw = await self._redis.get(redis_key)
        except (RedisError, OSError) as error:
            self._refusals.note("idempotency", error)
            raise KeysUnavailable(str(error)) from None
        if raw is None:  # expired between the two commands: claim it anew
            return await self.claim(client, key, fingerprint)
        entry = _decoder.decode(raw)
        if entry.fingerprint != fingerprint:
            return OtherRequest()
        return entry.answer if entry.answer is not None else InProgress()

    async def keep(self, claimed: Claimed, answer: StoredAnswer) -> None:
        """Store the answer for retries, if the claim is still this request's. If Redis
        cannot take it, the key is given back (best effort): a retry then publishes
        again, which the ingestor takes as a repeat, rather than being told "in
        progress" until the lease ends."""
        entry = _encoder.encode(_Entry(claimed.fingerprint, answer=answer))
        try:
            kept = await self._keep(
                keys=[claimed.redis_key], args=[claimed.claim, entry, self._ttl]
            )
        except (RedisError, OSError) as error:
            self._refusals.note("idempotency", error)
            log.warning("could not keep an idempotent answer: %s; giving the key back", error)
            await self.give_back(claimed)
            return
        if not kept:
            log.warning(
                "an idempotent answer was not kept: its claim's lease of %d s ran out first",
                self._lease,
            )

    async def give_back(self, claimed: Claimed) -> None:
        try:
            await self._give_back(keys=[claimed.redis_key], args=[claimed.claim])
        except (RedisError, OSError) as error:
            self._refusals.note("idempotency", error)
