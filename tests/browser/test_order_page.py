"""The order page in a real browser on the real stack: look an order up by typing or by
its address, go back and forward, see every state clearly, use it from the keyboard,
and see values from the order shown as text that never runs."""

from __future__ import annotations

import json
import os
import random
import re
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, Locator, Page, Route, expect

from order_shared.model import encode_order
from producer.generator import generate_order
from tests.browser.publishing import order_like, publish_orders, unique_id
from tests.browser.watched_page import DESKTOP, PHONE, SCREENSHOTS, PageWatch, open_page
from tests.courier_io import CourierUnderTest, settled
from tests.harness import REPO, IngressProcess, Servers, ServiceProcess

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
NOT_FOUND_IN_CONSOLE = r"status of 404"


@pytest.fixture
def order(servers: Servers, page_replica: ServiceProcess, canonical_order: dict) -> dict:
    """The canonical order under an id of its own, served by the page's replica."""
    document = order_like(canonical_order, unique_id("page"))
    publish_orders(servers, page_replica, [document])
    return document


def field(page: Page, section: str, name: str) -> Locator:
    return page.locator(f"#{section} [data-field='{name}'] dd")


def message(page: Page) -> Locator:
    return page.locator("#message")


def heading(page: Page) -> Locator:
    return page.locator("#order-heading")


def focused_element(page: Page) -> dict:
    return page.evaluate(
        """() => {
          const element = document.activeElement;
          const style = getComputedStyle(element);
          return {id: element.id, text: element.textContent.trim(),
                  outline: style.outlineStyle, outlineWidth: parseFloat(style.outlineWidth)};
        }"""
    )


def test_page_is_served_under_the_content_security_policy(page: Page, page_url: str) -> None:
    response = page.goto(page_url)

    assert response is not None
    assert response.headers.get("content-security-policy") == CONTENT_SECURITY_POLICY


def test_typing_an_id_and_pressing_enter_shows_the_whole_order(
    page: Page, page_url: str, order: dict
) -> None:
    order_id = order["order_uid"]
    page.goto(page_url)

    page.get_by_label("Order id").fill(order_id)
    page.get_by_label("Order id").press("Enter")

    expect(heading(page)).to_have_text(f"Order {order_id}")
    expect(page).to_have_url(f"{page_url}?id={order_id}")
    expect(page).to_have_title(f"Order {order_id} · Order lookup · Order Service")
    expect(message(page)).to_have_text(f"Showing order {order_id}.")
    expect(page.locator("#order-status-badge")).to_have_text("created")

    summary = {
        "order_uid": order_id,
        "track_number": "WBILMTESTTRACK",
        "date_created": re.compile(r"^Nov 26, 2021, 6:22:19\sAM$"),
        "status": "created",
        "customer_id": "test",
        "delivery_service": "meest",
    }
    delivery = {"name": "Test Testov", "phone": "+9720000000", "city": "Kiryat Mozkin"}
    payment = {
        "amount": "$1,817.00",
        "goods_total": "$317.00",
        "delivery_cost": "$1,500.00",
        "custom_fee": "$0.00",
        "currency": "USD",
        "payment_dt": re.compile(r"^Nov 26, 2021, 6:22:07\sAM$"),
    }
    for section, fields in (("summary", summary), ("delivery", delivery), ("payment", payment)):
        for name, text in fields.items():
            expect(field(page, section, name)).to_have_text(text)

    item_cells = page.locator("#items-body tr").first.locator("th, td")
    expect(item_cells).to_have_text(
        [
            "1",
            "Mascaras",
            "Vivienne Sabo",
            "0",
            "$453.00",
            "30%",
            "$317.00",
            "9934930",
            "2389212",
            "ab4219087a764ae0btest",
            "WBILMTESTTRACK",
            "202",
        ]
    )
    expect(page.locator("#items-foot tr th, #items-foot tr td")).to_have_text(
        ["Total", "$453.00", "", "$317.00", ""]
    )

    raw = page.locator("#raw-json")
    expect(raw).to_be_hidden()
    page.get_by_role("button", name="Show raw JSON").click()
    expect(raw).to_be_visible()
    expect(page.get_by_role("button", name="Hide raw JSON")).to_have_attribute(
        "aria-expanded", "true"
    )
    assert json.loads(raw.text_content() or "") == order

    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy JSON").click()
    expect(page.locator("#copy-status")).to_have_text("Copied to the clipboard.")
    assert json.loads(page.evaluate("navigator.clipboard.readText()")) == order


def test_the_page_works_from_the_keyboard_alone_with_visible_focus(
    page: Page, page_url: str, order: dict
) -> None:
    page.goto(page_url)

    page.keyboard.press("Tab")
    assert focused_element(page)["text"] == "Skip to content"
    for _ in range(3):
        page.keyboard.press("Tab")
        if focused_element(page)["id"] == "order-id":
            break
    focused = focused_element(page)
    assert focused["id"] == "order-id"
    assert focused["outline"] == "solid"
    assert focused["outlineWidth"] >= 2

    page.keyboard.type(order["order_uid"])
    page.keyboard.press("Enter")
    expect(heading(page)).to_have_text(f"Order {order['order_uid']}")

    for _ in range(10):
        page.keyboard.press("Tab")
        if focused_element(page)["id"] == "raw-toggle":
            break
    focused = focused_element(page)
    assert focused["id"] == "raw-toggle"
    assert focused["outline"] == "solid"
    page.keyboard.press("Enter")
    expect(page.locator("#raw-json")).to_be_visible()


def test_an_order_address_can_be_shared_and_back_and_forward_work(
    page: Page, page_url: str, servers: Servers, page_replica: ServiceProcess, order: dict
) -> None:
    first = order["order_uid"]
    second_order = order_like(order, unique_id("page"), customer_id="second-customer")
    publish_orders(servers, page_replica, [second_order])
    second = second_order["order_uid"]
    lookup = page.get_by_label("Order id")

    page.goto(f"{page_url}?id={second}")
    expect(heading(page)).to_have_text(f"Order {second}")
    expect(lookup).to_have_value(second)
    expect(field(page, "summary", "customer_id")).to_have_text("second-customer")

    page.goto(page_url)
    lookup.fill(first)
    lookup.press("Enter")
    expect(heading(page)).to_have_text(f"Order {first}")
    lookup.fill(second)
    page.get_by_role("button", name="Show order").click()
    expect(heading(page)).to_have_text(f"Order {second}")
    expect(page).to_have_url(f"{page_url}?id={second}")

    page.go_back()
    expect(page).to_have_url(f"{page_url}?id={first}")
    expect(heading(page)).to_have_text(f"Order {first}")
    expect(lookup).to_have_value(first)

    page.go_back()
    expect(page).to_have_url(page_url)
    expect(page.locator("#order")).to_be_hidden()
    expect(lookup).to_have_value("")

    page.go_forward()
    expect(heading(page)).to_have_text(f"Order {first}")


def test_an_unknown_id_says_there_is_no_such_order(
    page: Page, page_watch: PageWatch, page_url: str
) -> None:
    page_watch.expect(NOT_FOUND_IN_CONSOLE)  # Chromium logs every 404 answer
    missing = unique_id("missing")

    page.goto(f"{page_url}?id={missing}")

    expect(message(page)).to_have_attribute("data-state", "not-found")
    expect(message(page)).to_contain_text(f"No order with id {missing}.")
    expect(page.locator("#order")).to_be_hidden()


def test_a_malformed_id_is_refused_without_asking_the_service(page: Page, page_url: str) -> None:
    order_requests: list[str] = []
    page.on(
        "request", lambda request: "/api/v1/orders/" in request.url and order_requests.append(1)
    )
    page.goto(page_url)
    lookup = page.get_by_label("Order id")

    for bad in ("not an id!", "x" * 65):
        lookup.fill(bad)
        lookup.press("Enter")
        expect(message(page)).to_have_attribute("data-state", "bad-id")
        expect(message(page)).to_contain_text("Malformed id")
        expect(lookup).to_have_attribute("aria-invalid", "true")
        expect(lookup).to_be_focused()

    lookup.fill("")
    lookup.press("Enter")
    expect(message(page)).to_have_text("Please enter an order id.")

    page.goto(f"{page_url}?id={quote('<b>x</b>')}")
    expect(message(page)).to_contain_text("Malformed id")
    expect(lookup).to_have_value("<b>x</b>")
    assert order_requests == []


def test_the_order_is_shown_with_status_unknown_when_the_status_cannot_be_loaded(
    page: Page, page_watch: PageWatch, page_url: str, order: dict
) -> None:
    page_watch.expect(r"Failed to load resource: net::ERR_FAILED")
    page.route("**/api/v1/orders/*/status", lambda route: route.abort())

    page.goto(f"{page_url}?id={order['order_uid']}")

    expect(heading(page)).to_have_text(f"Order {order['order_uid']}")
    expect(field(page, "summary", "status")).to_have_text("unknown")
    expect(page.locator("#order-status-badge")).to_have_attribute("data-status", "unknown")


def test_an_unreachable_service_is_reported(
    page: Page, page_watch: PageWatch, page_url: str, order: dict
) -> None:
    page_watch.expect(r"Failed to load resource: net::ERR_CONNECTION_REFUSED")
    page.goto(page_url)
    page.route("**/api/v1/orders/**", lambda route: route.abort("connectionrefused"))

    page.get_by_label("Order id").fill(order["order_uid"])
    page.get_by_label("Order id").press("Enter")

    expect(message(page)).to_have_attribute("data-state", "unreachable")
    expect(message(page)).to_contain_text("The order service is unreachable")
    expect(page.locator("#order")).to_be_hidden()


def test_a_slow_answer_says_so_and_the_page_gives_up_after_15_seconds(
    page: Page, page_url: str, order: dict
) -> None:
    page.clock.install()
    page.goto(page_url)
    held: list[Route] = []  # the order's request is never answered
    page.route(f"**/api/v1/orders/{order['order_uid']}", lambda route: held.append(route))

    page.get_by_label("Order id").fill(order["order_uid"])
    page.get_by_label("Order id").press("Enter")
    expect(message(page)).to_have_attribute("data-state", "loading")
    expect(message(page)).to_have_attribute("aria-busy", "true")

    page.clock.run_for(3_500)
    expect(message(page)).to_have_attribute("data-state", "slow")
    expect(message(page)).to_contain_text("still waiting, the service is slow")

    page.clock.run_for(12_000)
    expect(message(page)).to_have_attribute("data-state", "unreachable")
    expect(message(page)).to_contain_text("did not answer within 15 seconds")
    assert held, "the order request never reached the route"


def test_html_and_script_in_order_fields_are_shown_as_text_and_never_run(
    page: Page, page_url: str, servers: Servers, page_replica: ServiceProcess, order: dict
) -> None:
    payloads = {
        ("summary", "track_number"): '<script>window.__xss = "track_number"</script>',
        ("summary", "customer_id"): "<img src=x onerror=\"window.__xss='customer_id'\">",
        ("summary", "delivery_service"): '"><svg onload="window.__xss=\'delivery_service\'">',
        ("delivery", "name"): "<img src=x onerror=alert(1)>",
        ("delivery", "address"): '<iframe srcdoc="<script>parent.__xss=1</script>"></iframe>',
        ("delivery", "city"): '</dd></dl><script>window.__xss = "city"</script>',
        ("delivery", "email"): '"><script>alert(document.domain)</script>@evil.example',
        ("delivery", "region"): "<b>bold</b> &amp; &lt;tag&gt;",
        ("payment", "provider"): "<style>body { display: none }</style>",
        ("payment", "bank"): "<a href=javascript:alert(1)>bank</a>",
    }
    item_payloads = {
        "name": "<script>alert('item')</script>",
        "brand": "<marquee onstart=alert(1)>brand</marquee>",
        "size": "${alert(1)}",
        "rid": "{{constructor.constructor('alert(1)')()}}",
    }
    hostile = order_like(order, unique_id("xss"))
    for (section, name), payload in payloads.items():
        target = hostile if section == "summary" else hostile[section]
        target[name] = payload
    hostile["items"][0].update(item_payloads)
    # The ingestor insists that items carry their order's track number.
    hostile["items"][0]["track_number"] = hostile["track_number"]
    publish_orders(servers, page_replica, [hostile])

    page.goto(f"{page_url}?id={hostile['order_uid']}")

    expect(heading(page)).to_have_text(f"Order {hostile['order_uid']}")
    for (section, name), payload in payloads.items():
        expect(field(page, section, name)).to_have_text(payload)
    item_cells = page.locator("#items-body tr").first.locator("td")
    expect(item_cells.nth(0)).to_have_text(item_payloads["name"])
    expect(item_cells.nth(1)).to_have_text(item_payloads["brand"])
    expect(item_cells.nth(2)).to_have_text(item_payloads["size"])
    expect(item_cells.nth(8)).to_have_text(item_payloads["rid"])
    expect(item_cells.nth(9)).to_have_text(hostile["track_number"])
    assert json.loads(page.locator("#raw-json").text_content() or "") == hostile
    expect(page.locator("#recent-status")).not_to_have_attribute("data-state", "loading")

    assert page.evaluate("window.__xss") is None
    expect(page.locator("script")).to_have_count(1)  # app.js
    for tag in ("img", "svg", "iframe", "style", "marquee", "b", "a"):
        expect(page.locator(f"#order {tag}")).to_have_count(0)
    for tag in ("img", "svg", "iframe", "script", "style"):
        expect(page.locator(f"#recent {tag}")).to_have_count(0)
    expect(page.locator("body")).to_be_visible()
    # The `page` fixture then checks that no dialog opened and nothing hit the CSP.


def test_screenshots_at_phone_and_desktop_width(
    browser: Browser,
    page_watch: PageWatch,
    ingress: IngressProcess,
    courier: CourierUnderTest,
    servers: Servers,
    page_replica: ServiceProcess,
    canonical_order: dict,
) -> None:
    """Saves test-artifacts/screenshots/order-{desktop,phone}*.png; with
    ORDER_PAGE_SCREENSHOT=path (`make screenshot`) also the desktop one for the README.
    The page is the one `make up` shows: behind the local ingress, with a courier."""
    courier.api.add_courier("Ada Lovelace", "+15550100001", "scooter")
    demo = order_like(canonical_order, "b563feb7b2b84b6demo", **_DEMO_FIELDS)
    demo["payment"].update(_DEMO_PAYMENT)
    rng = random.Random(36701)  # a few realistic neighbours for the newest-orders list
    neighbours = [json.loads(encode_order(generate_order(rng))) for _ in range(4)]
    publish_orders(servers, page_replica, [demo, *neighbours])
    settled(courier, demo["order_uid"], "assigned")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = open_page(browser, page_watch, viewport)
        try:
            page.goto(f"{ingress.base_url}/?id={demo['order_uid']}")
            expect(heading(page)).to_have_text(f"Order {demo['order_uid']}")
            expect(page.locator("#recent-status")).to_have_attribute("data-state", "done")
            expect(page.locator("#courier-fields [data-field='name'] dd")).to_have_text(
                "Ada Lovelace"
            )
            expect(page.locator("#couriers-status")).to_have_attribute("data-state", "done")
            page.evaluate("document.fonts.ready")
            widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
            assert widths[0] <= widths[1], f"{name}: the page scrolls sideways: {widths}"

            page.screenshot(path=SCREENSHOTS / f"order-{name}.png")
            page.screenshot(path=SCREENSHOTS / f"order-{name}-full.png", full_page=True)
            if name == "desktop" and (target := os.environ.get("ORDER_PAGE_SCREENSHOT")):
                # The order, then the newest orders (this one and its four neighbours).
                recent = page.locator("#recent").bounding_box()
                assert recent is not None
                height = recent["y"] + recent["height"] + 24
                clip = {"x": 0, "y": 0, "width": viewport["width"], "height": height}
                page.screenshot(path=REPO / target, clip=clip, full_page=True)
        finally:
            page.context.close()

    problems = page_watch.problems()
    assert not problems, "the page reported problems:\n" + "\n".join(problems)


_DEMO_FIELDS = {
    "customer_id": "customer-1042",
    "delivery_service": "meest",
    "items": [
        {
            "chrt_id": 9934930,
            "track_number": "WBILMTESTTRACK",
            "price": 453,
            "rid": "ab4219087a764ae0btest",
            "name": "Mascaras",
            "sale": 30,
            "size": "0",
            "total_price": 317,
            "nm_id": 2389212,
            "brand": "Vivienne Sabo",
            "status": 202,
        },
        {
            "chrt_id": 4417501,
            "track_number": "WBILMTESTTRACK",
            "price": 1290,
            "rid": "c81f02b4e65d4d1dbtest",
            "name": "Lipstick",
            "sale": 10,
            "size": "0",
            "total_price": 1161,
            "nm_id": 5120334,
            "brand": "Maybelline",
            "status": 202,
        },
        {
            "chrt_id": 7720914,
            "track_number": "WBILMTESTTRACK",
            "price": 2400,
            "rid": "f03a9d6c11e845b7btest",
            "name": "Tea kettle",
            "sale": 0,
            "size": "1.7 l",
            "total_price": 2400,
            "nm_id": 8803127,
            "brand": "Bosch",
            "status": 202,
        },
    ],
}
_DEMO_PAYMENT = {"amount": 5378, "goods_total": 3878, "delivery_cost": 1500, "custom_fee": 0}
