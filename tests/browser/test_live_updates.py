"""The page updates itself, in real Chromium behind the local ingress (nginx in front of
two query replicas of the test's own, which hear the test's courier service): an open
order changes status and courier with no reload, the newest orders gain a new order, and
when the replica serving the streams is killed the page reconnects to the other one and
catches up. The tests wait, with a deadline, for what the page shows; they time nothing
(`make bench` measures the delays)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import msgspec
import pytest
from playwright.sync_api import Locator, Page, expect

from order_shared.model import Order, encode_order
from tests.browser.publishing import publish_orders, publish_status
from tests.browser.watched_page import SCREENSHOTS
from tests.courier_io import CourierUnderTest, orders_created_in_order, phone, settled
from tests.harness import IngressProcess, Servers, ServiceProcess, start_ingress, start_query
from tests.metrics_io import metric_total

NO_RELOAD_MARK = "window.__notReloaded = true"
NOT_RELOADED = "window.__notReloaded === true"


@pytest.fixture
def live_replicas(servers: Servers, courier: CourierUnderTest) -> Iterator[list[ServiceProcess]]:
    """Two query replicas that hear the courier service's notifications (its tables are in
    a database of the test's own)."""
    database = courier.database_admin_url.rsplit("/", 1)[1]
    url = f"postgresql://order_query:order_query@127.0.0.1:{servers.postgres_port}/{database}"
    with ThreadPoolExecutor(max_workers=2) as pool:
        replicas = list(
            pool.map(
                lambda name: start_query(servers, name, COURIER_DATABASE_URL=url),
                ["query-live-1", "query-live-2"],
            )
        )
    yield replicas
    for replica in replicas:
        replica.stop()


@pytest.fixture
def live_ingress(
    servers: Servers, live_replicas: list[ServiceProcess], courier: CourierUnderTest
) -> Iterator[IngressProcess]:
    running = start_ingress(
        servers, {"query": live_replicas, "courier": [courier.service]}, name="ingress-live"
    )
    yield running
    running.stop()


def publish(servers: Servers, replica: ServiceProcess, orders: list[Order]) -> None:
    publish_orders(servers, replica, [json.loads(encode_order(order)) for order in orders])


def created_now(order: Order) -> Order:
    """`order`, created now: newer than every order listed, so it goes first."""
    return msgspec.structs.replace(order, date_created=datetime.now(UTC).replace(microsecond=0))


def live_mark(page: Page, section: str) -> Locator:
    return page.locator(f"#{section}-live")


def recent_row(page: Page, order_uid: str) -> Locator:
    return page.locator(f"#recent-body tr[data-order-uid='{order_uid}']")


def test_an_open_order_changes_status_and_courier_with_no_reload(
    live_ingress: IngressProcess,
    live_replicas: list[ServiceProcess],
    servers: Servers,
    courier: CourierUnderTest,
    page: Page,
) -> None:
    (order,) = orders_created_in_order(2721, 1)
    publish(servers, live_replicas[0], [order])
    settled(courier, order.order_uid, "waiting")  # no courier yet

    page.goto(f"{live_ingress.base_url}/?id={order.order_uid}")
    expect(page.locator("#order-heading")).to_have_text(f"Order {order.order_uid}")
    expect(live_mark(page, "order")).to_have_attribute("data-state", "live")
    expect(live_mark(page, "order")).to_have_text("Live")
    expect(page.locator("#order-live-status")).to_have_attribute("aria-live", "polite")
    expect(page.locator("#courier-note")).to_have_attribute("data-state", "waiting")
    page.evaluate(NO_RELOAD_MARK)

    # A courier comes: the waiting order is assigned, and the card says so by itself.
    courier.api.add_courier("Lin Live", phone(2721), "scooter")
    expect(page.locator("#courier-note")).to_have_text("Lin Live delivers this order.")

    publish_status(servers, live_replicas[0], order.order_uid, "completed")
    expect(page.locator("#order-status-badge")).to_have_text("completed")
    expect(page.locator("#courier-note")).to_have_text("Delivered by Lin Live.")
    expect(page.locator("#order-refresh")).to_be_hidden()
    assert page.evaluate(NOT_RELOADED)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "live-order-desktop.png", full_page=True)


def test_the_newest_orders_gain_a_new_order_in_place(
    live_ingress: IngressProcess,
    live_replicas: list[ServiceProcess],
    servers: Servers,
    page: Page,
) -> None:
    page.goto(f"{live_ingress.base_url}/")
    expect(live_mark(page, "recent")).to_have_attribute("data-state", "live")
    expect(page.locator("#recent-body tr").first).to_be_visible()
    rows_before = page.locator("#recent-body tr").count()
    height_before = page.locator("#recent-table").bounding_box()
    page.evaluate(NO_RELOAD_MARK)

    (order,) = orders_created_in_order(2722, 1)
    newest = created_now(order)
    publish(servers, live_replicas[0], [newest])

    expect(page.locator("#recent-body tr").first).to_have_attribute(
        "data-order-uid", newest.order_uid
    )
    expect(recent_row(page, newest.order_uid).locator(".badge")).to_have_text("created")
    if rows_before >= 20:  # a full page keeps its length: nothing below it moves
        expect(page.locator("#recent-body tr")).to_have_count(rows_before)
        assert page.locator("#recent-table").bounding_box() == height_before

    publish_status(servers, live_replicas[0], newest.order_uid, "cancelled")
    expect(recent_row(page, newest.order_uid).locator(".badge")).to_have_text("cancelled")
    assert page.evaluate(NOT_RELOADED)


def test_a_killed_replica_s_streams_reconnect_to_the_other_and_catch_up(
    live_ingress: IngressProcess,
    live_replicas: list[ServiceProcess],
    servers: Servers,
    page: Page,
) -> None:
    (order,) = orders_created_in_order(2723, 1)
    publish(servers, live_replicas[0], [order])

    page.goto(f"{live_ingress.base_url}/?id={order.order_uid}")
    expect(live_mark(page, "order")).to_have_attribute("data-state", "live")
    expect(live_mark(page, "recent")).to_have_attribute("data-state", "live")
    page.evaluate(NO_RELOAD_MARK)

    # Kill the replica that holds the page's streams (each counts its open streams).
    holder = max(live_replicas, key=lambda replica: metric_total(replica, "query_streams_open"))
    other = next(replica for replica in live_replicas if replica is not holder)
    holder.kill()

    # While the page reconnects, the order changes and a new order arrives.
    publish_status(servers, other, order.order_uid, "completed")
    (late,) = orders_created_in_order(2724, 1)
    late = created_now(late)
    publish(servers, other, [late])

    expect(page.locator("#order-status-badge")).to_have_text("completed", timeout=20_000)
    expect(page.locator("#recent-body tr").first).to_have_attribute(
        "data-order-uid", late.order_uid, timeout=20_000
    )
    expect(live_mark(page, "order")).to_have_attribute("data-state", "live")
    assert page.evaluate(NOT_RELOADED)
