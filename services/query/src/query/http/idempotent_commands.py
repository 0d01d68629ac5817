"""Commands under an `Idempotency-Key`: the HTTP side of `query.commands.idempotency`.

A command without a key is simply performed. With one, the first request claims the key
and performs; a retry with the same request gets the stored answer (`Idempotent-Replayed:
true`), one still in progress a 409, one with another request under the same key a 422.
Only a 2xx answer is kept; anything else gives the key back for a corrected retry.

A kept answer stays small: one that carries the order document (it has an `ETag`) keeps
the order's version, and a replay reads the body back from the cache. Should the order
have changed since (or been erased), the replay is a 202 pointing at the order instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import ValidationException

from query.commands.bearer import BearerTokens, authorization_of
from query.commands.idempotency import (
    Claimed,
    IdempotencyKeys,
    InProgress,
    KeysUnavailable,
    MalformedKey,
    OtherRequest,
    StoredAnswer,
    request_fingerprint,
)
from query.commands.publisher import PublishUnavailable
from query.http.conditional import version_of
from query.http.schemas import BodyProblem, CommandAccepted, ErrorBody, InvalidBody
from query.informer.store import CachedOrder

Perform = Callable[[], Awaitable[Response[bytes]]]

_encoder = msgspec.json.Encoder()


class CommandUnavailable(Exception):
    """Kafka or Redis cannot take the command now: 503, with a message."""


def json_answer(
    status_code: int, content: msgspec.Struct, headers: dict[str, str] | None = None
) -> Response[bytes]:
    return Response(
        _encoder.encode(content),
        status_code=status_code,
        media_type=MediaType.JSON,
        headers=headers or {},
    )


class OrderReader(Protocol):
    async def get_or_read(self, order_uid: str) -> object: ...


class IdempotentCommands:
    def __init__(self, keys: IdempotencyKeys, tokens: BearerTokens, orders: OrderReader) -> None:
        self._keys = keys
        self._tokens = tokens
        self._orders = orders

    async def answer(self, request: Request, body: bytes, perform: Perform) -> Response[bytes]:
        """Perform once per `Idempotency-Key` (and client); a retry gets the first answer."""
        key = request.headers.get("idempotency-key")
        if key is None:
            return await _available(perform)
        client = self._tokens.client_of(authorization_of(request)) or "-"
        fingerprint = request_fingerprint(request.method, request.url.path, body)
        try:
            claim = await self._keys.claim(client, key, fingerprint)
        except MalformedKey as error:
            raise ValidationException(detail=str(error)) from None
        except KeysUnavailable as error:
            raise CommandUnavailable(f"idempotency keys cannot be checked: {error}") from None
        if isinstance(claim, StoredAnswer):
            return await self._replay(claim)
        if isinstance(claim, InProgress):
            return json_answer(
                409,
                ErrorBody(
                    409,
                    "the first request with this Idempotency-Key is still in progress; "
                    "retry after a second to get its answer",
                ),
                {"retry-after": "1"},
            )
        if isinstance(claim, OtherRequest):
            return json_answer(
                422,
                InvalidBody(
                    422,
                    "this Idempotency-Key was used for another request (method, path or body)",
                    [BodyProblem("$", "Idempotency-Key reused with a different request")],
                ),
            )
        return await self._once(claim, perform)

    async def _once(self, claim: Claimed, perform: Perform) -> Response[bytes]:
        try:
            response = await _available(perform)
        except BaseException:
            await self._keys.give_back(claim)
            raise
        if response.status_code >= 300:
            await self._keys.give_back(claim)
        else:
            await self._keys.keep(claim, _small(response))
        return response

    async def _replay(self, answer: StoredAnswer) -> Response[bytes]:
        body = answer.body
        if answer.order_uid is not None:
            entry = await self._orders.get_or_read(answer.order_uid)
            if not isinstance(entry, CachedOrder) or entry.version != answer.order_version:
                location = answer.headers["location"]
                return json_answer(
                    202,
                    CommandAccepted(
                        answer.order_uid,
                        location,
                        "done before under this Idempotency-Key; the order has changed "
                        "since, read it at its location",
                    ),
                    {"location": location, "idempotent-replayed": "true"},
                )
            body = entry.body
        return Response(
            body,
            status_code=answer.status_code,
            media_type=MediaType.JSON,
            headers={**answer.headers, "idempotent-replayed": "true"},
        )


def _small(response: Response[bytes]) -> StoredAnswer:
    """The answer to keep: an order document (the answer has its `ETag`) as its version."""
    headers = {name: response.headers[name] for name in response.headers}
    etag = headers.get("etag")
    if etag is None:
        return StoredAnswer(response.status_code, headers, response.content)
    order_uid = headers["location"].rsplit("/", 1)[-1]
    return StoredAnswer(response.status_code, headers, b"", order_uid, version_of(etag))


async def _available(perform: Perform) -> Response[bytes]:
    try:
        return await perform()
    except PublishUnavailable as error:
        raise CommandUnavailable(str(error)) from None
