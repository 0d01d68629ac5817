"""What the OpenAPI document says of the commands that their signatures cannot: the
bodies (read as bytes by the handlers, so that every problem is reported, not
Litestar's first), the optional headers, and the error answers."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.enums import ParamType
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
)
from litestar.openapi.spec import (
    Parameter as OpenAPIParameter,
)

from order_shared.model import Delivery, Item, Order, Payment, whole_string
from query.http.schemas import CommandAccepted, ConflictBody, ErrorBody, InvalidBody

SECURITY = [{"bearer": []}]

_COMMAND_HEADERS = [
    OpenAPIParameter(
        name="Prefer",
        param_in=ParamType.HEADER,
        required=False,
        schema=Schema(type=OpenAPIType.STRING, examples=["wait=10"]),
        description=(
            "`wait=N`: answer once this replica serves the change (at most N seconds, "
            "0 to COMMAND_WAIT_MAX_SECONDS); other preferences are ignored."
        ),
    ),
    OpenAPIParameter(
        name="Idempotency-Key",
        param_in=ParamType.HEADER,
        required=False,
        # The pattern `IdempotencyKeys.claim` checks: printable ASCII without spaces.
        schema=Schema(type=OpenAPIType.STRING, pattern=whole_string(r"[!-~]{1,255}")),
        description="A retry with the same key and request publishes nothing and gets the "
        "first answer again.",
    ),
]


@dataclass
class CommandOperation(Operation):
    """The OpenAPI operation of a command: its optional headers, read by the handlers
    themselves (a request may repeat `Prefer`)."""

    def __post_init__(self) -> None:
        self.parameters = [*(self.parameters or []), *_COMMAND_HEADERS]


@dataclass
class OrderBodyOperation(CommandOperation):
    """A command whose body is an order document."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.request_body = RequestBody(
            content={
                "application/json": OpenAPIMediaType(schema=Reference("#/components/schemas/Order"))
            },
            required=True,
            description="A whole order document, as on Kafka `orders`.",
        )


@dataclass
class StatusBodyOperation(CommandOperation):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.request_body = RequestBody(
            content={
                "application/json": OpenAPIMediaType(
                    schema=Schema(
                        type=OpenAPIType.OBJECT,
                        required=["status"],
                        properties={
                            "status": Schema(
                                type=OpenAPIType.STRING, enum=["cancelled", "completed"]
                            )
                        },
                        additional_properties=False,
                    )
                )
            },
            required=True,
            description="The final status to give the order.",
        )


COMMON_ERRORS = {
    400: ResponseSpec(
        ErrorBody,
        description="Malformed id, body, `Prefer` or `Idempotency-Key`",
        generate_examples=False,
    ),
    401: ResponseSpec(
        ErrorBody,
        description="No valid bearer token (`WWW-Authenticate: Bearer` says why)",
        generate_examples=False,
    ),
    409: ResponseSpec(
        ConflictBody,
        description="Conflicts with the order (see `detail`; a status command gives "
        "`current_status`), or the first request with this `Idempotency-Key` is still in "
        "progress (`Retry-After`)",
        generate_examples=False,
    ),
    422: ResponseSpec(
        InvalidBody,
        description="The body is JSON but invalid (up to 100 problems, each with its path, "
        "and how many more), or the `Idempotency-Key` was used for another request",
        generate_examples=False,
    ),
    429: ResponseSpec(
        ErrorBody,
        description="Too many commands; `Retry-After` says when to retry",
        generate_examples=False,
    ),
    503: ResponseSpec(
        ErrorBody, description="Kafka or Redis cannot take the command now", generate_examples=False
    ),
}
ACCEPTED = ResponseSpec(
    CommandAccepted,
    description="Published; not yet visible here (no `Prefer: wait`, or it ran out)",
    generate_examples=False,
)


def stored_order(description: str) -> ResponseSpec:
    """An answer carrying the stored order document. Without generated examples: Litestar's
    example generator leaves a `$ref` to the items' schema that the document never defines
    (tests/unit/test_query_openapi.py checks every reference)."""
    return ResponseSpec(Order, description=description, generate_examples=False)


# What the two commands with an order body (POST and PUT) answer.
ORDER_BODY_ANSWERS = {
    201: stored_order("Stored and served here (with `Prefer: wait`)"),
    200: stored_order("Replaced an order; stored and served here"),
    202: ACCEPTED,
    413: ResponseSpec(
        ErrorBody, description="Larger than MAX_MESSAGE_BYTES", generate_examples=False
    ),
    **COMMON_ERRORS,
}


def close_order_schemas(document: OpenAPI) -> None:
    """State in `document` that the order's objects take no other fields: the decoder
    refuses them (`forbid_unknown_fields`), which Litestar does not document."""
    schemas = (document.components.schemas or {}) if document.components else {}
    for struct in (Order, Delivery, Payment, Item):
        assert struct.__struct_config__.forbid_unknown_fields, struct
        schemas[struct.__name__].additional_properties = False
