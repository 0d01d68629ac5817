"""Searching the orders in a real browser on the real stack: the filters narrow the list,
land in the address (so a search can be shared, and back and forward return to it), work
from the keyboard, and a range that cannot be is refused without asking the service."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.publishing import order_like, publish_orders, publish_status, unique_id
from tests.browser.watched_page import PageWatch
from tests.harness import Servers, ServiceProcess

PAGE_SIZE = 20  # what the page asks for


def on_track(template: dict, track: str, number: int, **fields: object) -> dict:
    """An order on its own track number (its items carry it too, as the ingestor insists),
    created on March 1st 2019 plus `number` days, at noon UTC."""
    document = order_like(
        template,
        unique_id(f"search{number:02d}"),
        track_number=track,
        date_created=f"2019-03-{1 + number:02d}T12:00:00Z",
        **fields,
    )
    for item in document["items"]:
        item["track_number"] = track
    return document


def unique_track() -> str:
    return f"TRACK{uuid.uuid4().hex[:12].upper()}"


@pytest.fixture
def track_orders(
    servers: Servers, page_replica: ServiceProcess, canonical_order: dict
) -> list[dict]:
    """Five orders on one new track number, created March 1st to 5th 2019, newest first;
    the first two of customer A, the others of customer B, and the one of the 4th
    cancelled."""
    track = unique_track()
    customers = [f"customer-a-{track}"] * 2 + [f"customer-b-{track}"] * 3
    documents = [
        on_track(canonical_order, track, number, customer_id=customer)
        for number, customer in enumerate(customers)
    ]
    publish_orders(servers, page_replica, documents)
    publish_status(servers, page_replica, documents[3]["order_uid"], "cancelled")
    return documents[::-1]


def ids(documents: list[dict]) -> list[str]:
    return [document["order_uid"] for document in documents]


def links(page: Page) -> Locator:
    return page.locator("#recent-body a[data-order-id]")


def list_status(page: Page) -> Locator:
    return page.locator("#recent-status")


def search_field(page: Page, label: str) -> Locator:
    return page.get_by_role("search", name="Search orders").get_by_label(label, exact=True)


def search_url(page_url: str, **filters: str) -> str:
    return f"{page_url}?{urlencode(filters)}"


def test_a_search_by_track_number_lists_its_orders_and_lands_in_the_address(
    page: Page, page_url: str, track_orders: list[dict]
) -> None:
    track = track_orders[0]["track_number"]
    page.goto(page_url)
    expect(list_status(page)).to_have_attribute("data-state", "done")

    search_field(page, "Track number").fill(track)
    search_field(page, "Track number").press("Enter")

    expect(page).to_have_url(search_url(page_url, track_number=track))
    expect(links(page)).to_have_text(ids(track_orders))
    expect(list_status(page)).to_have_text("Showing all 5 orders found.")
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()


def test_a_shared_search_address_fills_the_form_and_shows_what_it_finds(
    page: Page, page_url: str, track_orders: list[dict]
) -> None:
    cancelled = track_orders[1]
    customer = cancelled["customer_id"]

    page.goto(search_url(page_url, customer_id=customer, status="cancelled"))

    expect(search_field(page, "Customer id")).to_have_value(customer)
    expect(search_field(page, "Status")).to_have_value("cancelled")
    expect(search_field(page, "Track number")).to_have_value("")
    expect(links(page)).to_have_text([cancelled["order_uid"]])
    expect(page.locator("#recent-body [data-status]")).to_have_text(["cancelled"])
    expect(list_status(page)).to_have_text("Showing the only order found.")


def test_days_bound_the_search_both_included_in_the_readers_time_zone(
    page: Page, page_url: str, track_orders: list[dict]
) -> None:
    track = track_orders[0]["track_number"]
    page.goto(search_url(page_url, track_number=track))
    expect(links(page)).to_have_count(5)

    search_field(page, "Created from").fill("2019-03-02")
    search_field(page, "Created to").fill("2019-03-03")
    with page.expect_request(lambda request: "created_from" in request.url) as asked:
        page.get_by_role("button", name="Search", exact=True).click()

    # The page runs in UTC here: from the start of the 2nd to the end of the 3rd.
    assert "created_from=2019-03-02T00%3A00%3A00.000Z" in asked.value.url
    assert "created_to=2019-03-04T00%3A00%3A00.000Z" in asked.value.url
    expect(page).to_have_url(
        search_url(page_url, track_number=track, created_from="2019-03-02", created_to="2019-03-03")
    )
    march_3rd_then_2nd = [d for d in track_orders if d["date_created"][8:10] in ("02", "03")]
    expect(links(page)).to_have_text(ids(march_3rd_then_2nd))


def test_back_and_forward_move_between_searches(
    page: Page, page_url: str, track_orders: list[dict]
) -> None:
    track = track_orders[0]["track_number"]
    customer_a = track_orders[-1]["customer_id"]
    page.goto(page_url)

    search_field(page, "Track number").fill(track)
    search_field(page, "Track number").press("Enter")
    expect(links(page)).to_have_count(5)
    search_field(page, "Track number").fill("")
    search_field(page, "Customer id").fill(customer_a)
    search_field(page, "Customer id").press("Enter")
    expect(links(page)).to_have_text(ids(track_orders[-2:]))

    page.go_back()
    expect(page).to_have_url(search_url(page_url, track_number=track))
    expect(search_field(page, "Track number")).to_have_value(track)
    expect(search_field(page, "Customer id")).to_have_value("")
    expect(links(page)).to_have_text(ids(track_orders))

    page.go_forward()
    expect(search_field(page, "Customer id")).to_have_value(customer_a)
    expect(links(page)).to_have_text(ids(track_orders[-2:]))

    page.get_by_role("button", name="Clear search").click()
    expect(page).to_have_url(page_url)
    expect(search_field(page, "Customer id")).to_have_value("")
    expect(list_status(page)).to_have_text(re.compile(r"^Showing (the newest|all) \d+ orders\."))


def test_an_order_opened_from_the_results_keeps_the_search(
    page: Page, page_url: str, track_orders: list[dict]
) -> None:
    track = track_orders[0]["track_number"]
    chosen = track_orders[2]["order_uid"]
    page.goto(search_url(page_url, track_number=track))

    page.get_by_role("link", name=chosen, exact=True).click()

    expect(page.locator("#order-heading")).to_have_text(f"Order {chosen}")
    expect(page).to_have_url(f"{page_url}?{urlencode({'id': chosen, 'track_number': track})}")
    expect(links(page)).to_have_text(ids(track_orders))
    page.reload()  # the shared link shows the order and the search alike
    expect(page.locator("#order-heading")).to_have_text(f"Order {chosen}")
    expect(search_field(page, "Track number")).to_have_value(track)
    expect(links(page)).to_have_text(ids(track_orders))


def test_load_more_continues_the_same_search(
    page: Page,
    page_url: str,
    servers: Servers,
    page_replica: ServiceProcess,
    canonical_order: dict,
) -> None:
    track = unique_track()
    documents = [on_track(canonical_order, track, number) for number in range(PAGE_SIZE + 3)]
    publish_orders(servers, page_replica, documents)
    newest_first = ids(sorted(documents, key=lambda d: d["date_created"], reverse=True))

    page.goto(search_url(page_url, track_number=track))
    expect(links(page)).to_have_text(newest_first[:PAGE_SIZE])
    expect(list_status(page)).to_have_text(
        f"Showing the newest {PAGE_SIZE} orders found. More are available."
    )
    page.get_by_role("button", name="Load more").click()

    expect(links(page)).to_have_text(newest_first)
    expect(list_status(page)).to_have_text(f"Showing all {PAGE_SIZE + 3} orders found.")


def test_a_search_works_from_the_keyboard_alone(
    page: Page, page_url: str, track_orders: list[dict]
) -> None:
    track = track_orders[0]["track_number"]
    page.goto(page_url)
    expect(list_status(page)).to_have_attribute("data-state", "done")

    for _ in range(6):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "search-track-number":
            break
    assert page.evaluate("document.activeElement.id") == "search-track-number"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    page.keyboard.type(track)
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "search-status"
    page.keyboard.press("ArrowDown")  # any → created
    page.keyboard.press("ArrowDown")  # created → cancelled
    for _ in range(12):  # each part of a date field is a stop of its own
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "search-button":
            break
    assert page.evaluate("document.activeElement.id") == "search-button"
    page.keyboard.press("Enter")

    expect(page).to_have_url(search_url(page_url, track_number=track, status="cancelled"))
    expect(links(page)).to_have_text([track_orders[1]["order_uid"]])
    expect(page.get_by_role("button", name="Search", exact=True)).to_be_focused()


def test_a_range_that_ends_before_it_starts_is_refused_without_asking_the_service(
    page: Page, page_url: str
) -> None:
    page.goto(page_url)
    expect(list_status(page)).to_have_attribute("data-state", "done")
    list_requests: list[str] = []
    page.on("request", lambda request: "/api/v1/orders?" in request.url and list_requests.append(1))

    search_field(page, "Created from").fill("2019-03-05")
    search_field(page, "Created to").fill("2019-03-01")
    page.get_by_role("button", name="Search", exact=True).click()

    expect(page.locator("#search-problem")).to_have_text("Created to is before Created from.")
    expect(search_field(page, "Created to")).to_have_attribute("aria-invalid", "true")
    expect(search_field(page, "Created to")).to_be_focused()
    expect(page).to_have_url(page_url)
    assert list_requests == []


def test_a_search_that_finds_nothing_says_so(page: Page, page_url: str) -> None:
    page.goto(search_url(page_url, track_number=unique_track()))

    expect(list_status(page)).to_have_text("No orders match this search.")
    expect(page.locator("#recent-table")).to_be_hidden()


def test_a_search_the_service_refuses_shows_its_reason(
    page: Page, page_watch: PageWatch, page_url: str
) -> None:
    page_watch.expect(r"status of 400")  # Chromium logs every 400 answer

    page.goto(search_url(page_url, status="lost"))

    expect(list_status(page)).to_have_attribute("data-state", "error")
    expect(list_status(page)).to_contain_text("The service answered HTTP 400.")
    expect(list_status(page)).to_contain_text("Validation failed")
