"""The command routes: create, replace, finish and erase orders by publishing Kafka
records for the ingestor, which stays the only writer of the database.

Each command is checked first with what the ingestor itself checks (the shared
validator), so a 202 means the record will be stored, then published keyed by the order
id with the request's trace context. It is answered `202 Accepted` at once, or, with
`Prefer: wait=N`, with what the writer did with the published record (its outcome on
`orders:outcomes`, named by the record's topic, partition and offset): 201 when it created
the order, 200 when it replaced it or changed nothing, 204 for an erasure, 409 or 410 when
a status change could not apply; or 202 when N seconds were not enough. The ingestor
tells the outcome after announcing the change, so this replica's cache shows it by then.
No read is taken before publishing: only the writer knows what a record will do.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec
from aiokafka.structs import RecordMetadata
from litestar import MediaType, Request, Response, delete, post, put
from litestar.exceptions import ClientException, ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ASGIApp
from opentelemetry import context, propagate

from order_shared.model import ORDER_UID_PATTERN, StatusChange
from order_shared.outcomes import RecordOutcome
from order_shared.topics import ORDER_STATUS, ORDERS
from order_shared.validation import (
    MAX_COUNTED_PROBLEMS,
    WALK_MAX_BYTES,
    Invalid,
    ValidOrder,
    validate_order,
)
from query.commands.bearer import BearerTokens
from query.commands.idempotency import IdempotencyKeys
from query.commands.publisher import CommandPublisher
from query.commands.rate_limit import CommandRateLimit, RateLimitMiddleware
from query.http.command_openapi import (
    ACCEPTED,
    COMMON_ERRORS,
    ORDER_BODY_ANSWERS,
    SECURITY,
    CommandOperation,
    OrderBodyOperation,
    StatusBodyOperation,
    stored_order,
)
from query.http.conditional import entity_tag
from query.http.idempotent_commands import IdempotentCommands, json_answer
from query.http.routes import ORDER_UID_PARAMETER
from query.http.schemas import (
    BodyProblem,
    CommandAccepted,
    ConflictBody,
    ErrorBody,
    InvalidBody,
    StatusCommand,
)
from query.informer.change_waiters import ChangeWaiter, holds_change, outcome_of
from query.informer.informer import OrderInformer
from query.informer.order_reader import UnreadableOrder
from query.informer.store import CachedOrder, ErasedOrder

_ORDER_UID = re.compile(ORDER_UID_PATTERN)
_MALFORMED_ID = "malformed order id: use 1 to 64 letters, digits, '_' or '-'"
_PREFER_WAIT = re.compile(r"^\s*wait\s*=\s*\"?(?P<seconds>[0-9]{1,6})\"?\s*$", re.IGNORECASE)
_NOT_JSON_CLASSES = ("EmptyMessage", "MalformedJson", "InvalidEncoding")

_encoder = msgspec.json.Encoder()
_status_command = msgspec.json.Decoder(StatusCommand)


@dataclass(frozen=True)
class Commands:
    """What the command routes need, built once by the app."""

    informer: OrderInformer
    publisher: CommandPublisher
    keys: IdempotencyKeys
    tokens: BearerTokens
    rate_limit: CommandRateLimit
    max_body_bytes: int
    max_wait_seconds: int
    # When a status command says the change happened (`changed_at`).
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def _location(order_uid: str) -> str:
    return f"/api/v1/orders/{order_uid}"


def _accepted(order_uid: str, detail: str) -> Response[bytes]:
    location = _location(order_uid)
    return json_answer(202, CommandAccepted(order_uid, location, detail), {"location": location})


def _stored(entry: CachedOrder, status_code: int, order_uid: str, wait: int) -> Response[bytes]:
    return Response(
        entry.body,
        status_code=status_code,
        media_type=MediaType.JSON,
        headers={
            "location": _location(order_uid),
            "etag": entity_tag(entry.version).decode(),
            "preference-applied": f"wait={wait}",
        },
    )


def _document(
    body: bytes, version: int, status_code: int, order_uid: str, wait: int
) -> Response[bytes]:
    return Response(
        body,
        status_code=status_code,
        media_type=MediaType.JSON,
        headers={
            "location": _location(order_uid),
            "etag": entity_tag(version).decode(),
            "preference-applied": f"wait={wait}",
        },
    )


def _not_applied(order_uid: str, outcome: RecordOutcome) -> Response[bytes]:
    """202 for a record that changed nothing and says nothing else a client can act on."""
    if outcome.outcome == "stale":
        detail = "a later record of this order was written already; this one changed nothing"
    elif outcome.outcome == "pending":
        detail = "the order is not stored yet; the change waits for it"
    else:
        detail = f"the ingestor did not write it: {outcome.reason or outcome.outcome}"
    return _accepted(order_uid, detail)


def _check_id(order_uid: str) -> None:
    if len(order_uid) > 64 or not _ORDER_UID.fullmatch(order_uid):
        raise ValidationException(detail=_MALFORMED_ID)


def _reject(invalid: Invalid, what: str) -> Response[bytes]:
    if invalid.error_class in _NOT_JSON_CLASSES:
        raise ValidationException(detail=f"the body is not JSON: {invalid.reason}")
    if invalid.error_class == "MessageTooLarge":
        raise ClientException(status_code=413, detail=invalid.reason)
    problems = [BodyProblem(problem.path, problem.reason) for problem in invalid.problems]
    detail = f"{what} is not valid: {len(problems)} problem(s) listed"
    if invalid.unlisted:
        detail += f", {invalid.unlisted} more not listed"
    if not invalid.complete:
        detail += (
            f"; there may be more: the check stops at {MAX_COUNTED_PROBLEMS} problems, and "
            f"a body over {WALK_MAX_BYTES // 1024} KiB is not searched past the first"
        )
    return json_answer(422, InvalidBody(422, detail, problems, invalid.unlisted, invalid.complete))


def prefer_wait(request: Request, max_seconds: int) -> int | None:
    """The seconds of `Prefer: wait=N`, or None; 400 beyond the bound or malformed."""
    for value in request.headers.getall("prefer", []):
        for preference in value.split(","):
            if preference.partition("=")[0].strip().lower() != "wait":
                continue
            match = _PREFER_WAIT.match(preference)
            if match is None or int(match["seconds"]) > max_seconds:
                raise ValidationException(
                    detail=f"Prefer: wait must be a whole number of seconds from 0 to {max_seconds}"
                )
            return int(match["seconds"])
    return None


def command_routes(commands: Commands) -> list[HTTPRouteHandler]:
    """Commands under `/api/v1/orders` (the read routes' router mounts them): bearer
    token, rate limit, idempotency keys."""
    informer = commands.informer
    once = IdempotentCommands(commands.keys, commands.tokens, informer).answer

    def rate_limited(app: ASGIApp) -> ASGIApp:
        return RateLimitMiddleware(app, commands.rate_limit)

    # What every command handler takes besides its own.
    guarded = {
        "security": SECURITY,
        "guards": [commands.tokens.guard],
        "middleware": [rate_limited],
        "tags": ["commands"],
    }

    async def publish_order(request: Request, valid: ValidOrder) -> Response[bytes]:
        wait = prefer_wait(request, commands.max_wait_seconds)
        body = await request.body()

        async def perform() -> Response[bytes]:
            uid = valid.order.order_uid
            with informer.waiters.register(uid) as waiter:
                record = await commands.publisher.send(
                    ORDERS,
                    uid,
                    valid.document,
                    _trace_context(request),
                    want_outcome=wait is not None,
                )
                if wait is None:
                    return _accepted(uid, "published to orders")
                heard = await _outcome(waiter, record, wait)
            if not isinstance(heard, RecordOutcome):
                return _accepted(uid, f"published to orders; no outcome heard within {wait} s")
            # What the writer did with this record: no order stood under the id (new, or
            # sent again after its erasure), or one stood (replaced, or the same content).
            if heard.outcome == "created":
                return _document(valid.document, heard.version, 201, uid, wait)
            if heard.outcome in ("replaced", "unchanged"):
                return _document(valid.document, heard.version, 200, uid, wait)
            return _not_applied(uid, heard)

        return await once(request, body, perform)

    async def _outcome(
        waiter: ChangeWaiter, record: RecordMetadata, wait: int
    ) -> RecordOutcome | None:
        """The writer's outcome of `record`, once this replica holds the change it speaks
        of; None if not heard within `wait` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        heard = await waiter.wait_for(
            outcome_of(record.topic, record.partition, record.offset), wait
        )
        if not isinstance(heard, RecordOutcome):
            return None
        if heard.seq > informer.last_seq:
            # Its announcement was not heard here: the catch-up it asked for brings it.
            await waiter.wait_for(
                holds_change(lambda: informer.last_seq, heard.seq),
                max(0.0, deadline - loop.time()),
            )
        return heard

    async def _entry(order_uid: str) -> CachedOrder | None:
        read = await informer.get_or_read(order_uid)
        return read if isinstance(read, CachedOrder) else None

    async def _stored_order(order_uid: str) -> CachedOrder | UnreadableOrder:
        """The order as stored (404 unknown, 410 erased), decodable or not."""
        _check_id(order_uid)
        read = await informer.get_or_read(order_uid)
        if read is None:
            raise ClientException(status_code=404, detail=f"no order with id {order_uid}")
        if isinstance(read, ErasedOrder):
            raise ClientException(status_code=410, detail=f"order {order_uid} was erased")
        return read

    async def _known(order_uid: str) -> CachedOrder:
        read = await _stored_order(order_uid)
        if isinstance(read, UnreadableOrder):
            raise ClientException(
                status_code=422,
                detail=f"order {order_uid} is stored but cannot be read: {read.reason}",
            )
        return read

    def _valid_order(body: bytes) -> ValidOrder | Response[bytes]:
        valid = validate_order(body, commands.max_body_bytes)
        return _reject(valid, "the order") if isinstance(valid, Invalid) else valid

    @post(
        "/",
        summary="Create an order",
        description=(
            "Publishes the order document to Kafka `orders`, keyed by its `order_uid`, once "
            "it passes exactly the ingestor's checks. `202` at once, with `Location`; with "
            "`Prefer: wait=N` (0 to COMMAND_WAIT_MAX_SECONDS) the answer waits until this "
            "replica serves the order: `201` (new) or `200` (it replaced one) with the "
            "stored document and `Preference-Applied`, or `202` if N seconds were not "
            "enough. An `Idempotency-Key` makes a retry publish nothing and get the first "
            "answer again."
        ),
        operation_class=OrderBodyOperation,
        **guarded,
        responses=ORDER_BODY_ANSWERS,
        status_code=202,
        request_max_body_size=commands.max_body_bytes,
    )
    async def create_order(request: Request) -> Response[bytes]:
        valid = _valid_order(await request.body())
        if isinstance(valid, Response):
            return valid
        return await publish_order(request, valid)

    @put(
        "/{order_uid:str}",
        summary="Create or replace an order",
        description=(
            "As `POST /api/v1/orders`, with the id in the path: `409` if the body's "
            "`order_uid` is another."
        ),
        operation_class=OrderBodyOperation,
        **guarded,
        responses=ORDER_BODY_ANSWERS,
        status_code=202,
        request_max_body_size=commands.max_body_bytes,
    )
    async def replace_order(
        request: Request, order_uid: str = ORDER_UID_PARAMETER
    ) -> Response[bytes]:
        _check_id(order_uid)
        valid = _valid_order(await request.body())
        if isinstance(valid, Response):
            return valid
        if valid.order.order_uid != order_uid:
            return json_answer(
                409,
                ConflictBody(
                    409,
                    f"the path names order {order_uid} but the body is order "
                    f"{valid.order.order_uid}",
                ),
            )
        return await publish_order(request, valid)

    @post(
        "/{order_uid:str}/status",
        summary="Cancel or complete an order",
        description=(
            'Publishes `{"order_uid", "status", "changed_at"}` to Kafka `order-status`. '
            "`409` with `current_status` when the order is already cancelled or completed. "
            "`Prefer: wait=N` and `Idempotency-Key` as for `POST /api/v1/orders`."
        ),
        operation_class=StatusBodyOperation,
        **guarded,
        responses={
            200: stored_order("The status is served here (with `Prefer: wait`)"),
            202: ACCEPTED,
            404: ResponseSpec(ErrorBody, description="No such order", generate_examples=False),
            410: ResponseSpec(
                ErrorBody, description="The order was erased", generate_examples=False
            ),
            **COMMON_ERRORS,
        },
        status_code=202,
        request_max_body_size=4096,
    )
    async def change_status(
        request: Request, order_uid: str = ORDER_UID_PARAMETER
    ) -> Response[bytes]:
        _check_id(order_uid)
        body = await request.body()
        try:
            command = _status_command.decode(body)
        except msgspec.ValidationError as error:
            problem = str(error)
            return json_answer(
                422,
                InvalidBody(422, "the status command is not valid", [_body_problem(problem)]),
            )
        except msgspec.DecodeError as error:
            raise ValidationException(detail=f"the body is not JSON: {error}") from None
        wait = prefer_wait(request, commands.max_wait_seconds)

        async def perform() -> Response[bytes]:
            held = await _known(order_uid)
            if held.status != "created":
                return _already(order_uid, held.status)
            change = StatusChange(order_uid, command.status, commands.now())
            with informer.waiters.register(order_uid) as waiter:
                record = await commands.publisher.send(
                    ORDER_STATUS,
                    order_uid,
                    _encoder.encode(change),
                    _trace_context(request),
                    want_outcome=wait is not None,
                )
                if wait is None:
                    return _accepted(order_uid, "published to order-status")
                heard = await _outcome(waiter, record, wait)
            if not isinstance(heard, RecordOutcome):
                return _accepted(order_uid, f"published; no outcome heard within {wait} s")
            if heard.outcome == "conflict" and heard.status is not None:
                return _already(order_uid, heard.status)
            if heard.outcome == "order_erased":
                raise ClientException(status_code=410, detail=f"order {order_uid} was erased")
            entry = await _entry(order_uid)
            if heard.outcome not in ("applied", "repeated") or entry is None:
                return _not_applied(order_uid, heard)
            return _stored(entry, 200, order_uid, wait)

        return await once(request, body, perform)

    @delete(
        "/{order_uid:str}",
        summary="Erase an order",
        description=(
            "Publishes a tombstone (the key, no value) to Kafka `orders`: the order is "
            "erased everywhere once ingested. `202` with `Location` at once; with "
            "`Prefer: wait=N` the answer waits until this replica has dropped the order: "
            "`204` with `Preference-Applied`, or `202` if N seconds were not enough. "
            "`Idempotency-Key` as for `POST /api/v1/orders`."
        ),
        **guarded,
        responses={
            204: ResponseSpec(
                None, description="Erased here (with `Prefer: wait`)", generate_examples=False
            ),
            202: ACCEPTED,
            404: ResponseSpec(ErrorBody, description="No such order", generate_examples=False),
            410: ResponseSpec(
                ErrorBody, description="The order was erased", generate_examples=False
            ),
            **COMMON_ERRORS,
        },
        status_code=202,
        operation_class=CommandOperation,
    )
    async def erase_order(
        request: Request, order_uid: str = ORDER_UID_PARAMETER
    ) -> Response[bytes]:
        _check_id(order_uid)

        wait = prefer_wait(request, commands.max_wait_seconds)

        async def perform() -> Response[bytes]:
            # An order this service cannot decode can still be erased.
            await _stored_order(order_uid)
            with informer.waiters.register(order_uid) as waiter:
                record = await commands.publisher.send(
                    ORDERS, order_uid, None, _trace_context(request), want_outcome=wait is not None
                )
                if wait is None:
                    return _accepted(order_uid, "erasure published to orders")
                heard = await _outcome(waiter, record, wait)
            if not isinstance(heard, RecordOutcome):
                return _accepted(
                    order_uid, f"erasure published to orders; no outcome heard within {wait} s"
                )
            # 204 only for this tombstone's own erasure.
            if heard.outcome == "erased":
                return Response(
                    b"", status_code=204, headers={"preference-applied": f"wait={wait}"}
                )
            if heard.outcome == "gone":
                raise ClientException(status_code=410, detail=f"order {order_uid} was erased")
            if heard.outcome == "not_found":
                raise ClientException(status_code=404, detail=f"no order with id {order_uid}")
            return _not_applied(order_uid, heard)

        return await once(request, b"", perform)

    return [create_order, replace_order, change_status, erase_order]


def _already(order_uid: str, status: str) -> Response[bytes]:
    return json_answer(
        409,
        ConflictBody(409, f"order {order_uid} is already {status}", current_status=status),  # type: ignore[arg-type]
    )


def _body_problem(message: str) -> BodyProblem:
    reason, _, path = message.rpartition(" - at `")
    return BodyProblem(path.rstrip("`"), reason) if reason else BodyProblem("$", message)


def _trace_context(request: Request) -> context.Context:
    """The caller's W3C trace context (`traceparent`), for the record's headers."""
    return propagate.extract(dict(request.headers))
