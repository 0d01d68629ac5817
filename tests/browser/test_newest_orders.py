"""The newest-orders list in a real browser on the real stack: the newest first, each a
link to its order's page, and "Load more" until there is nothing more."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from playwright.sync_api import Page, expect

from tests.browser.publishing import order_like, publish_orders, unique_id
from tests.harness import Servers, ServiceProcess, eventually

PAGE_SIZE = 20  # what the page asks for


def listed_ids(replica: ServiceProcess) -> list[str]:
    """Every order id the list endpoint gives, page by page, in its order."""
    ids: list[str] = []
    cursor: str | None = None
    for _ in range(1000):
        params = {"limit": str(PAGE_SIZE), **({"cursor": cursor} if cursor else {})}
        answer = httpx.get(f"{replica.base_url}/api/v1/orders", params=params, timeout=5)
        answer.raise_for_status()
        body = answer.json()
        ids += [summary["order_uid"] for summary in body["orders"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError("the list never ended")


def test_newest_orders_are_listed_as_links_and_load_more_shows_the_rest(
    page: Page,
    page_url: str,
    servers: Servers,
    page_replica: ServiceProcess,
    canonical_order: dict,
) -> None:
    # Created after every other order of the session, and published last: the newest
    # by any measure.
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
    newest = [
        order_like(
            canonical_order,
            unique_id(f"newest{index:02d}"),
            customer_id=f"customer-{index:02d}",
            date_created=(start + timedelta(seconds=index)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        for index in range(PAGE_SIZE + 5)
    ]
    publish_orders(servers, page_replica, newest)
    ours = {document["order_uid"] for document in newest}
    every_order = eventually(
        lambda: (ids := listed_ids(page_replica)) and ours <= set(ids[: len(ours)]) and ids
    )

    page.goto(page_url)

    rows = page.locator("#recent-body tr")
    links = page.locator("#recent-body a[data-order-id]")
    load_more = page.get_by_role("button", name="Load more")
    status = page.locator("#recent-status")
    expect(rows).to_have_count(PAGE_SIZE)
    expect(links).to_have_text(every_order[:PAGE_SIZE])
    expect(status).to_have_text(f"Showing the newest {PAGE_SIZE} orders. More are available.")

    newest_id = every_order[0]
    newest_document = next(d for d in newest if d["order_uid"] == newest_id)
    expect(rows.first.locator("th, td")).to_have_text(
        [
            newest_id,
            # In the page's time zone (UTC here), without seconds.
            re.compile(
                datetime.fromisoformat(newest_document["date_created"])
                .strftime("^%b %-d, %Y, %-I:%M %p$")
                .replace(" ", r"\s")
            ),
            "created",
            newest_document["customer_id"],
            "meest",
            "1",
            "$1,817.00",
        ]
    )
    expect(links.first).to_have_attribute("href", f"{page_url}?id={newest_id}")

    for _ in range(len(every_order) // PAGE_SIZE + 2):
        if not load_more.is_visible():
            break
        load_more.click()  # sets the status to "loading" before it returns
        expect(status).to_have_attribute("data-state", "done")
    expect(load_more).to_be_hidden()
    expect(links).to_have_text(every_order)
    expect(status).to_have_text(f"Showing all {len(every_order)} orders.")

    link = page.get_by_role("link", name=newest[3]["order_uid"], exact=True)
    link.click()
    expect(page).to_have_url(f"{page_url}?id={newest[3]['order_uid']}")
    expect(page.locator("#order-heading")).to_have_text(f"Order {newest[3]['order_uid']}")
    expect(page.locator("#order-heading")).to_be_focused()
    expect(page.locator("#summary [data-field='customer_id'] dd")).to_have_text("customer-03")

    page.go_back()
    expect(page).to_have_url(page_url)
    expect(page.locator("#order")).to_be_hidden()
    expect(links).to_have_count(len(every_order))  # the list stays as it was
