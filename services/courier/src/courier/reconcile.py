"""The reconcile use case: look at orders and bring the courier tables to agree with their
statuses, in one transaction; or, when a status cannot be learnt, queue the order for
retry.

    ask the gateway ─► status at version ≥ the one the event named? ─► decide ─► apply
          │ 404, 5xx, timeout, stale replica                            (one transaction,
          └──────────────────────────► retry queue (with backoff)        dispatch lock held)

Under the lock each answer is compared with the version the tables last applied for the
order: an older one is outdated and changes nothing. An erased order (410 from the
gateway, or an `erased` event) is an answer too: its courier is freed. An erasure an
event announced is applied before the gateway's answer, since once the id is sent again
the gateway can only tell the new order.

A courier that becomes free takes the oldest waiting order only once that order's status
was confirmed in the same transaction; otherwise the waiting orders are asked about first
(`serve_waiting`), so an order cancelled meanwhile never ties a courier up.

Every round of status requests has a deadline: what is not answered by then is queued for
retry, so a slow gateway cannot hold a batch past the consumer's poll interval.
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
from courier.decisions import (
    Action,
    HeldOrder,
    decide,
    decide_erased,
    is_outdated,
    is_sent_again,
)
from courier.gateway import ErasedState, OrderGateway, OrderState, Unanswered
from courier.retry_queue import RetryPolicy

log = logging.getLogger(__name__)

Outcome = Literal[
    "assigned",
    "waiting",
    "delivered",
    "released",
    "closed",
    "erased",
    "unchanged",
    "outdated",
    "retry_queued",
]
State = OrderState | ErasedState


@dataclass(frozen=True, slots=True)
class Look:
    """An order to look at, and the version an event announced for it (0: none). An
    answer older than that comes from a replica that is behind, and is retried.

    `erased_version`: the newest erasure an event announced (None: none). It is applied
    as it is, and the gateway is asked only if a newer version was announced too."""

    order_id: str
    min_version: int = 0
    trace_context: Context | None = None  # the event's, continued by the status request
    erased_version: int | None = None
    # From an event, rather than from a retry or a resync: a parked order starts afresh.
    from_event: bool = False

    @property
    def needs_answer(self) -> bool:
        return self.erased_version is None or self.min_version > self.erased_version


@dataclass(frozen=True, slots=True)
class _NoStatus:
    kind: str
    detail: str


# Orders settled per transaction: one commit for many, while the dispatch lock is never
# held for long (a resync of thousands of orders leaves room for new events in between).
_CHUNK = 200
# Waiting orders asked about at once before free couriers take them.
_CONFIRM_AT_ONCE = 50


class Reconciler:
    def __init__(
        self,
        pool: AsyncConnectionPool,
        gateway: OrderGateway,
        retries: RetryPolicy,
        *,
        concurrency: int,
        round_seconds: float,
    ) -> None:
        """`round_seconds` bounds the status requests of one round (a batch, a retry
        round, a resync page)."""
        self._pool = pool
        self._gateway = gateway
        self._retries = retries
        self._concurrency = asyncio.Semaphore(concurrency)
        self.round_seconds = round_seconds

    async def reconcile(self, look: Look) -> Outcome:
        """Look at one order now. Database errors are raised: the order is not done."""
        (outcome,) = await self.reconcile_many([look])
        return outcome

    async def reconcile_many(
        self, looks: Sequence[Look], *, deadline: float | None = None
    ) -> list[Outcome]:
        """Look at many orders, a chunk at a time: ask for the chunk's statuses at once,
        then settle its orders oldest first (so that orders seen together are served in
        the order they were created) in one transaction, and queue the unanswered for
        retry. Returns one outcome per look, in no particular order. Database errors are
        raised: the orders of that chunk are not done (chunks before it are).

        Status requests end at `deadline` (the event loop's clock; by default
        `round_seconds` from now): those not answered by then are queued for retry."""
        if deadline is None:
            deadline = asyncio.get_running_loop().time() + self.round_seconds
        outcomes: list[Outcome] = []
        unconfirmed_head = False
        for start in range(0, len(looks), _CHUNK):
            chunk_outcomes, blocked = await self._reconcile_chunk(
                looks[start : start + _CHUNK], deadline
            )
            outcomes += chunk_outcomes
            unconfirmed_head |= blocked
        if unconfirmed_head:
            await self.serve_waiting(deadline)
        return outcomes

    async def serve_waiting(self, deadline: float | None = None) -> None:
        """Give the free couriers the oldest waiting orders, each asked about again first:
        one that ended meanwhile leaves the queue, one whose status cannot be learnt goes
        to the retry queue and is skipped until it is. Each round settles, assigns or
        queues at least one order, so this ends; and at `deadline` in any case."""
        loop = asyncio.get_running_loop()
        if deadline is None:
            deadline = loop.time() + self.round_seconds
        while loop.time() < deadline:
            async with self._pool.connection() as connection:
                waiting = await dispatch_store.waiting_to_confirm(connection, _CONFIRM_AT_ONCE)
            if not waiting:
                return
            # The version applied last is the least a usable answer may have.
            looks = [Look(order_id, applied) for order_id, applied in waiting]
            _, unconfirmed_head = await self._reconcile_chunk(looks, deadline)
            if not unconfirmed_head:
                return

    async def _reconcile_chunk(
        self, looks: Sequence[Look], deadline: float
    ) -> tuple[list[Outcome], bool]:
        asked = [look for look in looks if look.needs_answer]
        answers = await asyncio.gather(*(self._ask(look, deadline) for look in asked))
        erasures: list[State] = [
            ErasedState(look.order_id, look.erased_version)
            for look in looks
            if look.erased_version is not None
        ]
        # Erasures first: the couriers they free then serve the oldest waiting orders.
        states = (
            erasures
            + [answer for answer in answers if isinstance(answer, ErasedState)]
            + sorted(
                (answer for answer in answers if isinstance(answer, OrderState)),
                key=lambda state: (state.created_at, state.order_id),
            )
        )
        unanswered = [
            (look, answer)
            for look, answer in zip(asked, answers, strict=True)
            if isinstance(answer, _NoStatus)
        ]
        outcomes, unconfirmed_head = await self.apply(states) if states else ([], False)
        if unanswered:
            outcomes += await self._queue_retries(unanswered)
        return outcomes, unconfirmed_head

    async def _ask(self, look: Look, deadline: float) -> State | _NoStatus:
        try:
            async with asyncio.timeout_at(deadline), self._concurrency:
                answer = await self._gateway.status(look.order_id, look.trace_context)
        except TimeoutError:
            return _NoStatus("timeout", "the round's time for status requests ran out")
        if isinstance(answer, Unanswered):
            return _NoStatus(answer.kind, answer.detail)
        if answer.version < look.min_version:
            detail = f"the order service has version {answer.version}, the event {look.min_version}"
            return _NoStatus("stale", detail)
        return answer

    async def apply(self, states: Sequence[State]) -> tuple[list[Outcome], bool]:
        """Converge the courier tables toward each state, in order, in one transaction
        (each order's change is whole, and a chunk of orders costs one commit); then let
        free couriers take the waiting orders confirmed `created` here. Returns the
        outcomes, and whether a free courier is left with an unconfirmed order at the
        head of the queue."""
        outcomes: list[Outcome] = []
        async with self._pool.connection() as connection, connection.transaction():
            await dispatch_store.lock_dispatch(connection)
            confirmed: set[str] = set()
            for state in states:
                outcome, applied = await _settle(connection, state)
                outcomes.append(outcome)
                if isinstance(state, OrderState) and state.status == "created":
                    if outcome != "outdated":
                        confirmed.add(state.order_id)
                await retry_queue.settle(connection, state.order_id, applied)
            served = await dispatch_store.serve_queue(connection, confirmed)
        for state, outcome in zip(states, outcomes, strict=True):
            metrics.RECONCILES.labels(outcome).inc()
            if outcome not in ("unchanged", "outdated"):
                status = state.status if isinstance(state, OrderState) else "erased"
                log.info("order %s is %s: %s", state.order_id, status, outcome)
        for order_id, courier_id in served.assigned:
            metrics.RECONCILES.labels("assigned").inc()
            log.info("waiting order %s is assigned to courier %d", order_id, courier_id)
        return outcomes, served.unconfirmed_head

    async def _queue_retries(self, unanswered: Sequence[tuple[Look, _NoStatus]]) -> list[Outcome]:
        parked: list[tuple[Look, _NoStatus]] = []
        async with self._pool.connection() as connection, connection.transaction():
            for look, no_status in unanswered:
                if await retry_queue.queue(
                    connection,
                    look.order_id,
                    look.min_version,
                    no_status.kind,
                    f"{no_status.kind}: {no_status.detail}",
                    self._retries,
                    from_event=look.from_event,
                ):
                    parked.append((look, no_status))
        for _, no_status in unanswered:
            metrics.RETRIES_QUEUED.labels(no_status.kind).inc()
            metrics.RECONCILES.labels("retry_queued").inc()
        for look, no_status in parked:
            metrics.RETRIES_PARKED.labels(no_status.kind).inc()
            log.warning(
                "order %s parked: no usable status after %d tries; last: %s: %s",
                look.order_id,
                self._retries.max_unusable,
                no_status.kind,
                no_status.detail,
            )
        return ["retry_queued"] * len(unanswered)


async def _settle(connection: AsyncConnection, state: State) -> tuple[Outcome, int]:
    """Read what the tables hold of the order, decide, apply. Returns the outcome and the
    version the tables now agree with."""
    held = await dispatch_store.read_held(connection, state.order_id)
    if is_outdated(state.version, held):
        return "outdated", held.applied_version or state.version
    if isinstance(state, ErasedState):
        outcome = await _apply(connection, decide_erased(state.version, held), state)
    else:
        if is_sent_again(state.version, held):
            await dispatch_store.forget_erasure(connection, state.order_id)
            held = HeldOrder(applied_version=held.applied_version)
        outcome = await _apply(connection, decide(state.status, held), state)
    await dispatch_store.record_applied_version(connection, state.order_id, state.version)
    return outcome, state.version


async def _apply(connection: AsyncConnection, action: Action, state: State) -> Outcome:
    """One use case per status change, each a few statements of `dispatch_store`."""
    match action:
        case Action.ASSIGN:
            assert isinstance(state, OrderState)
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
            assert isinstance(state, OrderState)
            await dispatch_store.close(connection, state.order_id, state.status)
            return "closed"
        case Action.ERASE:
            await dispatch_store.erase(connection, state.order_id, state.version)
            return "erased"
        case Action.UNCHANGED:
            return "unchanged"
