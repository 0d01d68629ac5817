"""An order's history, property-tested (Hypothesis) against the real writer: random
sequences of create/replace, status and erase commands for one id, delivered with random
delays between the two topics and cut into random batches, written by the ingestor's own
`write_batch` into the real PostgreSQL and announced on the real Redis. Afterwards the
stored order, both query replicas' caches, the outcomes the waiters hear and the courier
service's tables agree with a small model of the rules (README, "Erasing an order"):

* within a batch, `orders` records apply before statuses, each in its own order;
* an erasure is a boundary: a status whose `changed_at` is not after the id's last
  erasure never applies; one waiting when the order is erased is dropped;
* every erasure is announced, also when the same batch creates the order again.

The writer runs in this process (the test decides the batches); the session's ingestor
relays the outbox to the courier as usual. Run time: a few seconds for the examples, and
up to a minute for the courier to settle at the end.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import msgspec
import pytest
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from ingestor.announcer import ChangeAnnouncer
from ingestor.batch_writer import create_staging_tables, write_batch
from ingestor.records import AcceptedErasure, AcceptedOrder, AcceptedStatus
from ingestor.validation import validate_record
from order_shared.database import create_pool
from order_shared.model import Order, encode_order
from order_shared.outcomes import OUTCOME_WANTED
from order_shared.topics import ORDER_STATUS, ORDERS
from producer.generator import generate_order
from tests.courier_io import CourierUnderTest
from tests.harness import Servers, ServiceProcess, eventually
from tests.store_io import (
    ChangeListener,
    OutcomeListener,
    listening_to_changes,
    listening_to_outcomes,
    query,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_BYTES = 1_048_576


# --- the commands and how they are delivered --------------------------------------------

Command = tuple[str, ...]  # ("put", variant) | ("status", status) | ("erase",)

commands = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.sampled_from(["0", "1", "2"])),
        st.tuples(st.just("status"), st.sampled_from(["cancelled", "completed"])),
        st.tuples(st.just("erase")),
    ),
    min_size=1,
    max_size=8,
)


@dataclass
class Delivery:
    """The records of one history, in the batches the writer gets them in."""

    batches: list[tuple[list[int], list[int]]]  # (orders-topic, status) command indexes


def deliver(history: list[Command], data: st.DataObject) -> Delivery:
    """Each topic keeps its own order; a status may arrive up to two `orders` records
    early or three late; then the merged sequence is cut at random points."""
    on_orders = [i for i, command in enumerate(history) if command[0] != "status"]
    statuses = [i for i, command in enumerate(history) if command[0] == "status"]
    positions, floor = [], 0
    for index in statuses:
        natural = sum(1 for i in on_orders if i < index)
        delay = data.draw(st.integers(-2, 3), label=f"delay of command {index}")
        floor = max(floor, min(len(on_orders), max(0, natural + delay)))
        positions.append(floor)
    merged: list[tuple[str, int]] = []
    for k in range(len(on_orders) + 1):
        merged += [("status", i) for i, p in zip(statuses, positions, strict=True) if p == k]
        if k < len(on_orders):
            merged.append(("orders", on_orders[k]))
    cuts = sorted(
        data.draw(st.sets(st.integers(1, max(1, len(merged) - 1))), label="batch cuts")
        if len(merged) > 1
        else set()
    )
    batches = []
    for start, end in zip([0, *cuts], [*cuts, len(merged)], strict=True):
        part = merged[start:end]
        batches.append(
            (
                [i for topic, i in part if topic == "orders"],
                [i for topic, i in part if topic == "status"],
            )
        )
    return Delivery(batches)


# --- the model -----------------------------------------------------------------------------


@dataclass
class Model:
    present: bool = False
    variant: str | None = None
    version: int = 0
    status: str = "created"
    last_erased_ms: int | None = None
    pending: tuple[str, int] | None = None  # (status, changed_at ms)
    erasures: list[int] = field(default_factory=list)  # the version of each
    outcomes: dict[int, tuple[str, int]] = field(default_factory=dict)  # command -> (kind, v)

    def put(self, index: int, variant: str) -> None:
        if self.present and self.variant == variant:
            self.outcomes[index] = ("unchanged", self.version)
            return
        created = not self.present
        self.present, self.variant = True, variant
        self.version += 1
        if created:
            self.status = "created"
            if self.pending is not None:
                status, at = self.pending
                self.pending = None
                if self.last_erased_ms is None or at > self.last_erased_ms:
                    self.status = status
                    self.version += 1
        self.outcomes[index] = ("created" if created else "replaced", self.version)

    def erase(self, index: int, at: int) -> None:
        if not self.present:
            gone = self.last_erased_ms is not None
            self.outcomes[index] = ("gone", self.version) if gone else ("not_found", 0)
            return
        self.present, self.variant, self.status = False, None, "created"
        self.version += 1
        self.last_erased_ms = at
        self.erasures.append(self.version)
        if self.pending is not None and self.pending[1] <= at:
            self.pending = None
        self.outcomes[index] = ("erased", self.version)

    def change_status(self, index: int, status: str, at: int) -> None:
        if self.last_erased_ms is not None and at <= self.last_erased_ms:
            self.outcomes[index] = ("order_erased", 0)
        elif not self.present:
            if self.pending is None or self.pending[0] == status:
                self.pending = self.pending or (status, at)
                waiting = "order_erased" if self.last_erased_ms is not None else "pending"
                self.outcomes[index] = (waiting, 0)
            else:
                self.outcomes[index] = ("rejected", 0)
        elif self.status == status:
            self.outcomes[index] = ("repeated", self.version)
        elif self.status == "created":
            self.status = status
            self.version += 1
            self.outcomes[index] = ("applied", self.version)
        else:
            self.outcomes[index] = ("conflict", self.version)


# --- the real writer -----------------------------------------------------------------------


@dataclass
class Writer:
    loop: asyncio.AbstractEventLoop
    pool: object
    announcer: ChangeAnnouncer
    offsets: Iterator[int]


@pytest.fixture(scope="module")
def writer(servers: Servers, ingestor: ServiceProcess) -> Iterator[Writer]:
    loop = asyncio.new_event_loop()
    pool = create_pool(
        servers.database_url("order_ingestor"), name="history-test", setup=create_staging_tables
    )
    redis = Redis.from_url(servers.redis_url)
    loop.run_until_complete(pool.open(wait=True))
    # Offsets far above any real record's: a partition's fence only compares one order's.
    start = 10**12 + random.randrange(10**9) * 1000
    try:
        yield Writer(loop, pool, ChangeAnnouncer(redis), iter(range(start, start + 10**9)))
    finally:
        loop.run_until_complete(pool.close())
        loop.run_until_complete(redis.aclose())
        loop.close()


def record(writer: Writer, topic: str, key: str, value: bytes | None, at_ms: int) -> object:
    raw = ConsumerRecord(
        topic, 0, next(writer.offsets), at_ms, 0, key.encode(), value, None, len(key),
        -1 if value is None else len(value), [OUTCOME_WANTED],
    )  # fmt: skip
    accepted = validate_record(raw, _MAX_BYTES)
    assert isinstance(accepted, AcceptedOrder | AcceptedErasure | AcceptedStatus), accepted
    return accepted


def variants_of(uid: str) -> dict[str, Order]:
    base = msgspec.structs.replace(generate_order(random.Random(23101)), order_uid=uid)
    return {v: msgspec.structs.replace(base, shardkey=str(int(v) + 1)) for v in "012"}


# --- the property ------------------------------------------------------------------------


def test_an_orders_history_ends_as_the_rules_say_everywhere(
    servers: Servers,
    writer: Writer,
    query_replicas: list[ServiceProcess],
    courier: CourierUnderTest,
) -> None:
    courier.api.add_courier("History Tester", "+10000002301")
    ended: dict[str, Model] = {}
    with (
        listening_to_changes(servers.redis_url) as listener,
        listening_to_outcomes(servers.redis_url) as outcomes,
    ):

        @settings(
            max_examples=25,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(history=commands, data=st.data())
        def one_history(history: list[Command], data: st.DataObject) -> None:
            ended.update(
                run_history(
                    servers.admin_database_url,
                    writer,
                    query_replicas,
                    (listener, outcomes),
                    history,
                    data,
                )
            )

        one_history()

    # The courier settles last: the session ingestor's relay and the courier's consumer.
    def courier_agrees() -> list[tuple[str, object, set[str | None]]]:
        wrong = []
        for uid, model in ended.items():
            found = courier.api.state_of(uid)
            state = None if found is None else found[0]
            expected = courier_states(model)
            if state not in expected:
                wrong.append((uid, state, expected))
        return wrong

    eventually(lambda: not courier_agrees() or None, timeout=90, interval=1.0)


def courier_states(model: Model) -> set[str | None]:
    if model.present:
        return {
            "created": {"assigned", "waiting"},
            "completed": {"delivered", "completed"},
            "cancelled": {"cancelled"},
        }[model.status]
    return {"erased"} if model.erasures else {None}


def run_history(
    admin_url: str,
    writer: Writer,
    replicas: list[ServiceProcess],
    listeners: tuple[ChangeListener, OutcomeListener],
    history: list[Command],
    data: st.DataObject,
) -> dict[str, Model]:
    uid = f"h23{uuid.uuid4().hex[:20]}"
    variants = variants_of(uid)
    delivery = deliver(history, data)
    base_ms = int(time.time() * 1000)
    at = [base_ms + 10 * index for index in range(len(history))]

    def built(index: int) -> object:
        command = history[index]
        if command[0] == "put":
            return record(writer, ORDERS, uid, encode_order(variants[command[1]]), at[index])
        if command[0] == "erase":
            return record(writer, ORDERS, uid, None, at[index])
        changed_at = (_EPOCH + timedelta(milliseconds=at[index])).isoformat()
        body = msgspec.json.encode(
            {"order_uid": uid, "status": command[1], "changed_at": changed_at}
        )
        return record(writer, ORDER_STATUS, uid, body, at[index])

    listener, outcomes = listeners
    model = Model()
    command_of: dict[tuple[str, int], int] = {}
    for on_orders, statuses in delivery.batches:
        orders_records = [built(i) for i in on_orders]
        status_records = [built(i) for i in statuses]
        for i, accepted in zip(
            [*on_orders, *statuses], [*orders_records, *status_records], strict=True
        ):
            command_of[(accepted.record.topic, accepted.record.offset)] = i  # type: ignore[attr-defined]
        result = writer.loop.run_until_complete(
            write_batch(writer.pool, orders_records, status_records)  # type: ignore[arg-type]
        )
        writer.loop.run_until_complete(
            writer.announcer.announce(result.changes, result.committed_at, result.outcomes)
        )
        for i in on_orders:
            if history[i][0] == "put":
                model.put(i, history[i][1])
            else:
                model.erase(i, at[i])
        for i in statuses:
            model.change_status(i, history[i][1], at[i])

    # The waiters' side: each record's outcome, as a command waiting for it hears it on
    # Redis, after the change it speaks of.
    def told() -> dict[int, tuple[str, int]]:
        return {command_of[(o.topic, o.offset)]: (o.outcome, o.version) for o in outcomes.of(uid)}

    eventually(lambda: len(told()) == len(history), timeout=10)
    assert told() == model.outcomes, (history, delivery)
    # Each outcome names the change that carries its record (heard by another
    # subscription here, so perhaps a moment later).
    eventually(
        lambda: all(o.seq in {a.seq for a in listener.of(uid)} for o in outcomes.of(uid) if o.seq),
        timeout=10,
    )

    # Stored: the order's row, or the memory of its erasure.
    stored = query(
        admin_url,
        "SELECT version, status FROM orders WHERE order_uid = %s",
        (uid,),
    )
    erased = query(
        admin_url,
        "SELECT version FROM erased_orders WHERE order_uid = %s",
        (uid,),
    )
    if model.present:
        assert stored == [(model.version, model.status)], (history, delivery)
    else:
        assert stored == []
        assert erased == ([(model.version,)] if model.erasures else [])

    # Announced: every erasure, in order, each with its own change number.
    announced = eventually(lambda: listener.of(uid) or not model.version or None, timeout=10)
    if model.version:
        eventually(lambda: erasures_heard(listener, uid) == model.erasures, timeout=10)
        seqs = [a.seq for a in listener.of(uid)]
        assert seqs == sorted(set(seqs)), announced

    # Every replica's cache answers as the model.
    for replica in replicas:
        eventually(lambda r=replica: served(r, uid) == expected_answers(model, variants))
    return {uid: model}


def erasures_heard(listener: ChangeListener, uid: str) -> list[int]:
    return [a.version for a in listener.of(uid) if a.erased]


Answers = tuple[int, bytes | None, str | None, int, str | None]


def served(replica: ServiceProcess, uid: str) -> Answers:
    with httpx.Client(base_url=replica.base_url, timeout=10) as client:
        document = client.get(f"/api/v1/orders/{uid}")
        status = client.get(f"/api/v1/orders/{uid}/status")
    body = document.content if document.status_code == 200 else None
    told = status.json().get("status") if status.status_code == 200 else None
    return document.status_code, body, document.headers.get("etag"), status.status_code, told


def expected_answers(model: Model, variants: dict[str, Order]) -> Answers:
    if model.present:
        assert model.variant is not None
        body = encode_order(variants[model.variant])
        return 200, body, f'"{model.version}"', 200, model.status
    if model.erasures:
        return 404, None, None, 410, None
    return 404, None, None, 404, None
