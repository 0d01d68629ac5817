"""Who delivers an order, and the couriers, in a real browser: the page behind the local
ingress (nginx, as `make up` runs it) reaches the courier API on its own origin; opened
straight on a query replica it says that courier information is unavailable there and
shows the order all the same."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Locator, Page, expect

from order_shared.model import Order, encode_order
from tests.browser.publishing import publish_orders, publish_status
from tests.browser.watched_page import SCREENSHOTS
from tests.courier_io import CourierUnderTest, orders_created_in_order, phone, settled
from tests.harness import IngressProcess, Servers, ServiceProcess


@pytest.fixture
def ingress_url(ingress: IngressProcess) -> str:
    return f"{ingress.base_url}/"


def publish(servers: Servers, replica: ServiceProcess, order: Order) -> str:
    """Publish `order` to Kafka's `orders`; return its id once `replica` serves it."""
    publish_orders(servers, replica, [json.loads(encode_order(order))])
    return order.order_uid


def courier_card(page: Page) -> Locator:
    return page.locator("#courier")


def courier_field(page: Page, name: str) -> Locator:
    return page.locator(f"#courier-fields [data-field='{name}'] dd")


def courier_rows(page: Page) -> Locator:
    return page.locator("#couriers-body tr")


def test_the_order_page_shows_the_courier_assigned_to_an_order_created_through_kafka(
    page: Page,
    ingress_url: str,
    servers: Servers,
    page_replica: ServiceProcess,
    courier: CourierUnderTest,
) -> None:
    ada = courier.api.add_courier("Ada Lovelace", phone(9511), "on_foot")
    (order,) = orders_created_in_order(9511, 1)
    order_id = publish(servers, page_replica, order)
    assert settled(courier, order_id, "assigned") == ("assigned", ada["id"])

    page.goto(f"{ingress_url}?id={order_id}")

    expect(page.locator("#order-heading")).to_have_text(f"Order {order_id}")
    expect(page.locator("#courier-note")).to_have_text("Ada Lovelace delivers this order.")
    expect(courier_field(page, "name")).to_have_text("Ada Lovelace")
    expect(courier_field(page, "transport")).to_have_text("on foot")
    expect(courier_field(page, "status")).to_have_text("busy")
    expect(courier_field(page, "assigned_at").locator("time")).to_have_count(1)


def test_an_order_no_courier_is_free_for_waits_and_shows_its_courier_once_one_is(
    page: Page,
    ingress_url: str,
    servers: Servers,
    page_replica: ServiceProcess,
    courier: CourierUnderTest,
) -> None:
    (order,) = orders_created_in_order(9512, 1)
    order_id = publish(servers, page_replica, order)
    settled(courier, order_id, "waiting")

    page.goto(f"{ingress_url}?id={order_id}")

    expect(page.locator("#order-heading")).to_have_text(f"Order {order_id}")
    expect(page.locator("#courier-note")).to_have_attribute("data-state", "waiting")
    expect(page.locator("#courier-note")).to_contain_text("Waiting for a courier")
    expect(page.locator("#courier-fields")).to_be_hidden()

    # A courier who becomes free takes the waiting order at once.
    courier.api.add_courier("Grace Hopper", phone(9512), "car")
    settled(courier, order_id, "assigned")
    page.reload()
    expect(courier_field(page, "name")).to_have_text("Grace Hopper")
    expect(courier_field(page, "transport")).to_have_text("car")


def test_the_couriers_view_lists_each_courier_with_status_and_completed_deliveries(
    page: Page,
    ingress_url: str,
    servers: Servers,
    page_replica: ServiceProcess,
    courier: CourierUnderTest,
) -> None:
    api = courier.api
    ada = api.add_courier("Ada Lovelace", phone(9521), "scooter")
    delivered, cancelled, in_hand = orders_created_in_order(9521, 3)
    # Ada delivers one order; a cancelled one never counts.
    publish(servers, page_replica, delivered)
    settled(courier, delivered.order_uid, "assigned")
    publish_status(servers, page_replica, delivered.order_uid, "completed")
    settled(courier, delivered.order_uid, "delivered")
    publish(servers, page_replica, cancelled)
    settled(courier, cancelled.order_uid, "assigned")
    publish_status(servers, page_replica, cancelled.order_uid, "cancelled")
    settled(courier, cancelled.order_uid, "cancelled")
    # Grace, with fewer deliveries, takes the next order; Alan is paused.
    grace = api.add_courier("Grace Hopper", phone(9522), "car")
    alan = api.add_courier("Alan Turing", phone(9523), "on_foot", status="paused")
    publish(servers, page_replica, in_hand)
    assert settled(courier, in_hand.order_uid, "assigned")[1] == grace["id"]

    page.goto(ingress_url)

    rows = courier_rows(page)
    expect(rows).to_have_count(3)
    cells = [
        [ada["name"], "scooter", "available", "1", "—empty"],
        [grace["name"], "car", "busy", "0", in_hand.order_uid],
        [alan["name"], "on foot", "paused", "0", "—empty"],
    ]
    for index, expected in enumerate(cells):
        expect(rows.nth(index).locator("th, td")).to_have_text(expected)
    expect(page.locator("#couriers-summary")).to_have_text(
        "1 available, 1 busy, 1 paused · 1 completed delivery · 0 orders waiting for a courier"
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#couriers").screenshot(path=SCREENSHOTS / "couriers-desktop.png")

    # A courier's current order opens in place.
    rows.nth(1).get_by_role("link", name=in_hand.order_uid).click()
    expect(page.locator("#order-heading")).to_have_text(f"Order {in_hand.order_uid}")
    expect(courier_field(page, "name")).to_have_text("Grace Hopper")
    page.locator(".order-grid").screenshot(path=SCREENSHOTS / "order-courier-desktop.png")


def test_couriers_are_listed_page_by_page(
    page: Page, ingress_url: str, courier: CourierUnderTest
) -> None:
    names = [f"Rider {n:02d}" for n in range(22)]
    for n, name in enumerate(names):
        courier.api.add_courier(name, phone(9530 + n))

    page.goto(ingress_url)
    expect(courier_rows(page)).to_have_count(20)
    expect(page.locator("#couriers-status")).to_have_text(
        "Showing 20 couriers. More are available."
    )

    page.get_by_role("button", name="Load more couriers").click()

    expect(courier_rows(page)).to_have_count(22)
    expect(courier_rows(page).locator("th")).to_have_text(names)
    expect(page.get_by_role("button", name="Load more couriers")).to_be_hidden()
    expect(page.locator("#couriers-summary")).to_contain_text("22 available, 0 busy, 0 paused")


def test_opened_straight_on_a_query_replica_the_page_shows_the_order_without_courier_information(
    page: Page, page_url: str, servers: Servers, page_replica: ServiceProcess
) -> None:
    (order,) = orders_created_in_order(9513, 1)
    order_id = publish(servers, page_replica, order)

    page.goto(f"{page_url}?id={order_id}")

    expect(page.locator("#order-heading")).to_have_text(f"Order {order_id}")
    expect(page.locator("#message")).to_have_text(f"Showing order {order_id}.")
    expect(page.locator("#order-status-badge")).to_have_text("created")
    expect(page.locator("#courier-note")).to_have_attribute("data-state", "unavailable")
    expect(page.locator("#courier-note")).to_contain_text("Courier information is unavailable")
    expect(courier_card(page).locator("#courier-fields")).to_be_hidden()
    expect(page.locator("#couriers-status")).to_contain_text("Courier information is unavailable")
    expect(page.locator("#couriers-table")).to_be_hidden()
