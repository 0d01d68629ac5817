"""The gateway client's answers for each kind of reply, and the event's trace carried in
the status request. The order service is replaced here by httpx's transport seam; the
integration tests ask a real query replica."""

from __future__ import annotations

import httpx
import pytest

from courier.gateway import ErasedState, OrderGateway, OrderState, Unanswered
from order_shared.telemetry import context_from_headers

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
STATUS = b'{"order_id": "o-1", "status": "completed", "created_at": "2026-11-21T10:00:00Z"}'


def gateway(handler) -> OrderGateway:
    return OrderGateway(
        httpx.AsyncClient(base_url="http://gateway.test", transport=httpx.MockTransport(handler))
    )


async def test_a_status_answer_gives_the_status_and_the_version_of_its_etag() -> None:
    answer = await gateway(
        lambda request: httpx.Response(200, content=STATUS, headers={"etag": '"3"'})
    ).status("o-1")

    assert isinstance(answer, OrderState)
    assert (answer.order_id, answer.status, answer.version) == ("o-1", "completed", 3)


async def test_gone_says_the_order_was_erased_at_the_version_of_its_etag() -> None:
    reply = httpx.Response(
        410, json={"status_code": 410, "detail": "order o-1 was erased"}, headers={"etag": '"4"'}
    )
    answer = await gateway(lambda request: reply).status("o-1")

    assert answer == ErasedState("o-1", 4)


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        (httpx.Response(404, json={"status_code": 404, "detail": "no order"}), "not_found"),
        (httpx.Response(503, json={"status_code": 503, "detail": "down"}), "server_error"),
        (httpx.Response(200, content=STATUS), "bad_answer"),  # no ETag: no version
        (httpx.Response(200, content=b"{}", headers={"etag": '"1"'}), "bad_answer"),
        (
            httpx.Response(200, content=STATUS.replace(b"o-1", b"o-2"), headers={"etag": '"1"'}),
            "bad_answer",
        ),
        (httpx.Response(400, json={"status_code": 400, "detail": "malformed"}), "bad_answer"),
        (httpx.Response(410, json={"status_code": 410, "detail": "erased"}), "bad_answer"),
    ],
)
async def test_every_unusable_reply_is_an_answer_of_its_kind(reply, kind: str) -> None:
    answer = await gateway(lambda request: reply).status("o-1")

    assert isinstance(answer, Unanswered) and answer.kind == kind


@pytest.mark.parametrize(
    ("error", "kind"),
    [(httpx.ReadTimeout("slow"), "timeout"), (httpx.ConnectError("refused"), "unreachable")],
)
async def test_a_timeout_or_a_refused_connection_is_an_answer_too(error, kind: str) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    answer = await gateway(fail).status("o-1")

    assert isinstance(answer, Unanswered) and answer.kind == kind


async def test_the_status_request_continues_the_events_trace() -> None:
    seen: list[httpx.Request] = []

    def reply(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=STATUS, headers={"etag": '"1"'})

    event_trace = context_from_headers([("traceparent", TRACEPARENT.encode())])
    await gateway(reply).status("o-1", event_trace)

    (request,) = seen
    assert request.headers["traceparent"].split("-")[1] == TRACE_ID
