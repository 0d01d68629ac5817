"""The reconcile use case: look at one order and bring the courier tables to agree with
its status, in one transaction; or, when its status cannot be learnt, queue it for retry.

    ask the gateway ─► status at version ≥ the one the event named? ─► decide ─► apply
          │ 404, 5xx, timeout, stale replica                                  (one transaction,
          └────────────────────────────► retry queue (with backoff)            dispatch lock held)

An erased order (410 from the gateway) is an answer too: its courier is freed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from opentelemetry.context import Context
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from courier import dispatch_store, metrics, retry_queue
from courier.decisions import Action, HeldOrder, decide, decide_erased, is_sent_again
from courier.gateway import ErasedState, OrderGateway, OrderState, Unanswered
from courier.retry_queue import Backoff

log = logging.getLogger(__name__)

Outcome = Literal[
    "assigned", "waiting", "delivered", "released", "closed", "erased", "unchanged", "retry_queued"
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


# Orders settled per transaction: one commit for many, while the dispatch lock is never
# held for long (a resync of thousands of orders leaves room for new events in between).
_CHUNK = 200


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
        (outcome,) = await self.reconcile_many([look])
        return outcome

    async def reconcile_many(self, looks: Sequence[Look]) -> list[Outcome]:
        """Look at many orders, a chunk at a time: ask for the chunk's statuses at once,
        then settle its orders oldest first (so that orders seen together are served in
        the order they were created) in one transaction, and queue the unanswered for
        retry. Returns one outcome per look, in no particular order. Database errors are
        raised: the orders of that chunk are not done (chunks before it are)."""
        outcomes: list[Outcome] = []
        for start in range(0, len(looks), _CHUNK):
            outcomes += await self._reconcile_chunk(looks[start : start + _CHUNK])
        return outcomes

    async def _reconcile_chunk(self, looks: Sequence[Look]) -> list[Outcome]:
        answers = await asyncio.gather(*(self._ask(look) for look in looks))
        # Erasures first: the couriers they free then serve the oldest waiting orders.
        states = [answer for answer in answers if isinstance(answer, ErasedState)] + sorted(
            (answer for answer in answers if isinstance(answer, OrderState)),
            key=lambda state: (state.created_at, state.order_id),
        )
        unanswered = [
            (look, answer)
            for look, answer in zip(looks, answers, strict=True)
            if isinstance(answer, _NoStatus)
        ]
        outcomes = await self.apply(states) if states else []
        if unanswered:
            outcomes += await self._queue_retries(unanswered)
        return outcomes

    async def _ask(self, look: Look) -> OrderState | ErasedState | _NoStatus:
        async with self._concurrency:
            answer = await self._gateway.status(look.order_id, look.trace_context)
        if isinstance(answer, Unanswered):
            return _NoStatus(answer.kind, answer.detail)
        if answer.version < look.min_version:
            detail = f"the order service has version {answer.version}, the event {look.min_version}"
            return _NoStatus("stale", detail)
        return answer

    async def apply(self, states: Sequence[OrderState | ErasedState]) -> list[Outcome]:
        """Converge the courier tables toward each state, in order, in one transaction:
        each order's change is whole, and a chunk of orders costs one commit."""
        outcomes: list[Outcome] = []
        async with self._pool.connection() as connection, connection.transaction():
            await dispatch_store.lock_dispatch(connection)
            for state in states:
                outcomes.append(await _settle(connection, state))
                await retry_queue.settle(connection, state.order_id, state.version)
        for state, outcome in zip(states, outcomes, strict=True):
            metrics.RECONCILES.labels(outcome).inc()
            if outcome != "unchanged":
                status = state.status if isinstance(state, OrderState) else "erased"
                log.info("order %s is %s: %s", state.order_id, status, outcome)
        return outcomes

    async def _queue_retries(self, unanswered: Sequence[tuple[Look, _NoStatus]]) -> list[Outcome]:
        async with self._pool.connection() as connection, connection.transaction():
            for look, no_status in unanswered:
                await retry_queue.queue(
                    connection,
                    look.order_id,
                    look.min_version,
                    f"{no_status.reason}: {no_status.detail}",
                    self._backoff,
                )
        for _, no_status in unanswered:
            metrics.RETRIES_QUEUED.labels(no_status.reason).inc()
            metrics.RECONCILES.labels("retry_queued").inc()
        return ["retry_queued"] * len(unanswered)


async def _settle(connection: AsyncConnection, state: OrderState | ErasedState) -> Outcome:
    """Read what the tables hold of the order, decide, apply."""
    held = await dispatch_store.read_held(connection, state.order_id)
    if isinstance(state, ErasedState):
        return await _apply(connection, decide_erased(state.version, held), state)
    if is_sent_again(state.version, held):
        await dispatch_store.forget_erasure(connection, state.order_id)
        held = HeldOrder()
    return await _apply(connection, decide(state.status, held), state)


async def _apply(
    connection: AsyncConnection, action: Action, state: OrderState | ErasedState
) -> Outcome:
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
        case Action.ERASE:
            await dispatch_store.erase(connection, state.order_id, state.version)
            return "erased"
        case Action.UNCHANGED:
            return "unchanged"
