"""The reconcile use case: look at one order and bring the courier tables to agree with
its status, in one transaction; or, when its status cannot be learnt, queue it for retry.

    ask the gateway ─► status at version ≥ the one the event named? ─► decide ─► apply
          │ 404, 5xx, timeout, stale replica                                  (one transaction,
          └────────────────────────────► retry queue (with backoff)            dispatch lock held)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from opentelemetry.context import Context
from psycopg_pool import AsyncConnectionPool

from courier import dispatch_store, metrics, retry_queue
from courier.decisions import Action, decide
from courier.gateway import OrderGateway, OrderState, Unanswered
from courier.retry_queue import Backoff

log = logging.getLogger(__name__)

Outcome = Literal[
    "assigned", "waiting", "delivered", "released", "closed", "unchanged", "retry_queued"
]


@dataclass(frozen=True, slots=True)
class Look:
    """An order to look at, and the version an event announced for it (0: none). An
    answer older than that comes from a replica that is behind, and is retried."""

    order_id: str
    min_version: int = 0
    trace_context: Context | None = None  # the event's, continued by the status request


@dataclass(frozen=True, slots=True)
class _NoStatus:
    reason: str
    detail: str


class Reconciler:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        gateway: OrderGateway,
        backoff: Backoff,
        *,
        concurrency: int,
    ) -> None:
        self._pool = pool
        self._gateway = gateway
        self._backoff = backoff
        self._concurrency = asyncio.Semaphore(concurrency)

    async def reconcile(self, look: Look) -> Outcome:
        """Look at one order now. Database errors are raised: the order is not done."""
        return await self._settle(look, await self._ask(look))

    async def reconcile_many(self, looks: Sequence[Look]) -> list[Outcome]:
        """Ask for every status at once, then settle the orders oldest first, so that
        orders seen together are served in the order they were created."""
        answers = await asyncio.gather(*(self._ask(look) for look in looks))
        pairs = sorted(zip(looks, answers, strict=True), key=_oldest_first)
        return [await self._settle(look, answer) for look, answer in pairs]

    async def _ask(self, look: Look) -> OrderState | _NoStatus:
        async with self._concurrency:
            answer = await self._gateway.status(look.order_id, look.trace_context)
        if isinstance(answer, Unanswered):
            return _NoStatus(answer.kind, answer.detail)
        if answer.version < look.min_version:
            detail = f"the order service has version {answer.version}, the event {look.min_version}"
            return _NoStatus("stale", detail)
        return answer

    async def _settle(self, look: Look, answer: OrderState | _NoStatus) -> Outcome:
        if isinstance(answer, _NoStatus):
            return await self._queue_retry(look, answer)
        return await self.apply(answer)

    async def apply(self, state: OrderState) -> Outcome:
        """Converge the courier tables toward `state`, in one transaction."""
        async with self._pool.connection() as connection, connection.transaction():
            await dispatch_store.lock_dispatch(connection)
            held = await dispatch_store.read_held(connection, state.order_id)
            action = decide(state.status, held)
            outcome = await _apply(connection, action, state)
            await retry_queue.settle(connection, state.order_id, state.version)
        metrics.RECONCILES.labels(outcome).inc()
        if outcome != "unchanged":
            log.info("order %s is %s: %s", state.order_id, state.status, outcome)
        return outcome

    async def _queue_retry(self, look: Look, no_status: _NoStatus) -> Outcome:
        async with self._pool.connection() as connection:
            await retry_queue.queue(
                connection,
                look.order_id,
                look.min_version,
                f"{no_status.reason}: {no_status.detail}",
                self._backoff,
            )
        metrics.RETRIES_QUEUED.labels(no_status.reason).inc()
        metrics.RECONCILES.labels("retry_queued").inc()
        return "retry_queued"


def _oldest_first(pair: tuple[Look, OrderState | _NoStatus]) -> tuple[int, datetime, str]:
    look, answer = pair
    if isinstance(answer, OrderState):
        return (0, answer.created_at, look.order_id)
    return (1, datetime.min.replace(tzinfo=UTC), look.order_id)


async def _apply(connection, action: Action, state: OrderState) -> Outcome:
    """One use case per status change, each a few statements of `dispatch_store`."""
    match action:
        case Action.ASSIGN:
            courier_id = await dispatch_store.assign_or_queue(
                connection, state.order_id, state.created_at
            )
            return "waiting" if courier_id is None else "assigned"
        case Action.DELIVER:
            await dispatch_store.deliver(connection, state.order_id)
            return "delivered"
        case Action.RELEASE:
            await dispatch_store.release(connection, state.order_id)
            return "released"
        case Action.CLOSE:
            await dispatch_store.close(connection, state.order_id, state.status)
            return "closed"
        case Action.UNCHANGED:
            return "unchanged"
