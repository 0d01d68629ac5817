"""Property-based fuzzing of every HTTP operation the query and courier services document,
from their own OpenAPI documents (schemathesis), against the session's real servers.

Every generated request, valid or not, must get an answer the document describes: never a
5xx, a documented status code and content type, headers and a body matching the schema
documented for that status, a 4xx for what the document calls invalid and no 4xx for what
it calls valid. Orders of seeds 9901-9903 are stored first, so reads find real documents
(whose schema is checked too) as well as misses.

schemathesis's pytest integration (`schemathesis.pytest.from_fixture`) does not run on
pytest 9.2 (it sets `node._nodeid`, which is gone), so each operation's cases come from
`operation.as_strategy()` under Hypothesis's own `@given`, which is what that integration
builds too.
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Iterator

import httpx
import jsonschema
import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup

from devstack.services import STREAMS_PATH
from order_shared.model import decode_order, encode_order
from order_shared.rules import rule_violations
from order_shared.topics import ORDERS
from producer.generator import generate_order
from tests.courier_io import CourierUnderTest, isolated_courier
from tests.harness import Servers, ServiceProcess, eventually, start_query
from tests.kafka_io import Message, publish

# Requests per operation and kind (valid, invalid) in Hypothesis's generation phase. Each
# is a real round trip through the stack: 8 operations of the courier and 5 of the query
# service, twice, at 40 each is about a thousand requests, under a minute on a loaded
# 2-core machine, and enough to reach each parameter's boundaries and odd characters.
MAX_EXAMPLES = 40
FUZZ_TOKEN = "fuzz-" + secrets.token_urlsafe(24)

FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,  # latency is the benchmarks' business, not a correctness property
    derandomize=True,  # the same requests every run: a failure here reproduces
    suppress_health_check=list(HealthCheck),
)

# Two rules of `GET /api/v1/orders` no JSON Schema can state: a cursor is valid only if
# this service handed it out (for the same filters), and `created_from` must be before
# `created_to`. Its document says both under 400, so a schema-valid request may get that
# 400, but only for these reasons (`list_rejects_only_what_no_schema_states`); every other
# check stays as strict for it as for any operation.
# Likewise, an order document can break the business rules of `order_shared.rules` (sums,
# ISO 4217 codes, the items' track numbers, unique rids) without breaking its schema: its
# commands document that 422, and `orders_reject_only_for_business_rules` holds them to it.
ORDER_BODY_COMMANDS = ("POST /api/v1/orders", "PUT /api/v1/orders/{order_uid}")
QUERY_CONFIG = schemathesis.Config.from_dict(
    {
        "operations": [
            {
                "include-name": "GET /api/v1/orders",
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ["2xx", "3xx", 400, 404]}
                },
            },
            *(
                {
                    "include-name": label,
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": ["2xx", "3xx", 401, 404, 409, 422, 429]
                        }
                    },
                }
                for label in ORDER_BODY_COMMANDS
            ),
        ]
    }
)
UNSTATABLE_REJECTIONS = (
    "malformed cursor:",
    "this cursor belongs to a search with other filters",
    "created_from must be earlier than created_to",
)


def list_rejects_only_what_no_schema_states(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """A schema-valid list request answered 400 names one of UNSTATABLE_REJECTIONS."""
    if (
        case.operation.label == "GET /api/v1/orders"
        and response.status_code == 400
        and case.meta is not None
        and case.meta.generation.mode.is_positive
    ):
        detail = response.json()["detail"]
        assert detail.startswith(UNSTATABLE_REJECTIONS), f"schema-valid list rejected: {detail}"


def orders_reject_only_for_business_rules(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """A schema-valid order answered 422 breaks business rules, and the answer lists
    exactly the rules it breaks."""
    if (
        case.operation.label in ORDER_BODY_COMMANDS
        and response.status_code == 422
        and case.meta is not None
        and case.meta.generation.mode.is_positive
    ):
        document = case.operation.schema.raw_schema
        order_schema = jsonschema.Draft202012Validator(
            {**document, "$ref": "#/components/schemas/Order"}
        )
        if not order_schema.is_valid(case.body):
            # Hypothesis could not honour every pattern of the document (the email's, for
            # one) and generated a body that breaks it: a 422 is the documented answer.
            return
        listed = {(problem["path"], problem["reason"]) for problem in response.json()["problems"]}
        try:
            order = decode_order(json.dumps(case.body).encode())
        except msgspec.ValidationError as error:
            # JSON Schema's `integer` includes 2.0 and 1e16; the order contract (msgspec,
            # for the ingestor as here) takes integers written without a fraction or
            # exponent. The answer must name that field.
            reason, _, path = str(error).partition(" - at ")
            assert reason == "Expected `int`, got `float`", str(error)
            assert (path.strip("`"), reason) in listed, f"{error} not in {response.text}"
            return
        broken = {tuple(violation.split(": ", 1)) for violation in rule_violations(order)}
        assert broken and listed == broken, f"schema-valid order rejected: {response.text}"


@pytest.fixture(scope="module")
def stored_orders(servers: Servers, query_replicas: list[ServiceProcess]) -> list[str]:
    orders = [generate_order(random.Random(seed)) for seed in (9901, 9902, 9903)]
    publish(
        servers.kafka_bootstrap,
        ORDERS,
        [Message(order.order_uid.encode(), encode_order(order)) for order in orders],
    )
    for order in orders:
        url = f"{query_replicas[0].base_url}/api/v1/orders/{order.order_uid}"
        eventually(lambda url=url: httpx.get(url, timeout=10).is_success, timeout=60)
    return [order.order_uid for order in orders]


@pytest.fixture(scope="module")
def module_courier(
    servers: Servers, query_replicas: list[ServiceProcess]
) -> Iterator[CourierUnderTest]:
    with isolated_courier(servers, query_replicas[0], "courier-fuzzing") as running:
        yield running


@pytest.fixture(scope="module")
def command_replica(servers: Servers, ingestor: ServiceProcess) -> Iterator[ServiceProcess]:
    """A query replica of this module's own that takes commands with FUZZ_TOKEN, so the
    commands are fuzzed past authentication, and with a rate no fuzzing run reaches."""
    replica = start_query(
        servers, "query-fuzzing", API_TOKENS=FUZZ_TOKEN, COMMAND_RATE_PER_MINUTE="10000000"
    )
    yield replica
    replica.stop()


@pytest.fixture
def request_headers() -> dict[str, str]:
    """Headers every fuzzed request carries: the commands' bearer token (reads ignore it;
    the missing and wrong token answers are tested in test_query_commands)."""
    return {"authorization": f"Bearer {FUZZ_TOKEN}"}


def fuzz(
    schema: schemathesis.BaseSchema,
    headers: dict[str, str],
    additional_checks: list[schemathesis.CheckFunction] | None = None,
) -> list[str]:
    """Fuzz every operation of `schema` with valid and with invalid requests; return the
    failures (each operation's first, shrunk by Hypothesis) as text."""
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith(STREAMS_PATH):
            # The live streams are not fuzzed: one answered 200 never ends, so no request
            # of it completes a round trip to validate. Their refusals (400, 503 with
            # Retry-After) are tested in test_query_streams, their documents in
            # tests/unit/test_query_openapi.py.
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(mode))
            @FUZZ_SETTINGS
            def answers_as_documented(case: schemathesis.Case) -> None:
                case.call_and_validate(
                    headers=headers, additional_checks=additional_checks, timeout=30
                )

            try:
                answers_as_documented()
            except Unsatisfiable:
                # No invalid request exists for an operation without inputs (`/healthz`).
                assert mode is GenerationMode.NEGATIVE
                assert not list(operation.iter_parameters()) and not operation.body
            except (Exception, FailureGroup) as failure:  # fuzz every operation, then fail
                failures.append(f"{operation.label} ({mode} data):\n{failure}")
    return failures


def test_every_query_answer_is_documented(
    command_replica: ServiceProcess, stored_orders: list[str], request_headers: dict[str, str]
) -> None:
    replica = command_replica
    schema = schemathesis.openapi.from_url(
        f"{replica.base_url}/schema/openapi.json", config=QUERY_CONFIG
    )

    failures = fuzz(
        schema,
        request_headers,
        [list_rejects_only_what_no_schema_states, orders_reject_only_for_business_rules],
    )

    assert not failures, "\n\n".join(failures)


def test_every_courier_answer_is_documented(
    module_courier: CourierUnderTest, request_headers: dict[str, str]
) -> None:
    base_url = module_courier.service.base_url
    schema = schemathesis.openapi.from_url(
        f"{base_url}/schema/openapi.json", config=schemathesis.Config()
    )

    failures = fuzz(schema, request_headers)

    assert not failures, "\n\n".join(failures)
