"""Browser fixtures: Debian's Chromium, driven by Playwright, against the real stack (a
query replica's page, or the local ingress in front of the replicas and a courier service).

Every page a test opens is watched: a console error, an uncaught exception, a
Content-Security-Policy violation or a dialog fails the test, unless the test declares
the console error it expects (a 404 for an unknown id, say) with `page_watch.expect`.
Without Chromium the tests here are skipped, saying how to install it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.browser.watched_page import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    SCREENSHOTS,
    PageWatch,
    open_page,
)
from tests.courier_io import CourierUnderTest, isolated_courier
from tests.harness import Servers, ServiceProcess

T = TypeVar("T")
_HERE = Path(__file__).parent
_CALL_FAILED = pytest.StashKey[bool]()

expect.set_options(timeout=10_000)  # two shared cores: leave the stack some room


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(
        reason=f"no Chromium at {CHROMIUM}: run scripts/install-browser.sh (CI does)"
    )
    for item in items:
        if _HERE in item.path.parents:
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    # Package scope: Playwright's sync API keeps an event loop running while it is
    # started, and the integration tests after this package call asyncio.run().
    for stale in SCREENSHOTS.glob("failed-*.png"):
        stale.unlink()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _off_playwrights_thread(call: Callable[[], T]) -> T:
    """Playwright's sync API keeps an event loop running on this thread; what runs its own
    (asyncio.run, in the Kafka helpers) runs on another."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


@pytest.fixture
def courier(servers: Servers, query_replicas: list[ServiceProcess]) -> Iterator[CourierUnderTest]:
    """The session's `courier` (a courier service of this test's own), started off
    Playwright's thread."""
    context = isolated_courier(servers, query_replicas[0])
    running = _off_playwrights_thread(context.__enter__)
    try:
        yield running
    finally:
        _off_playwrights_thread(lambda: context.__exit__(None, None, None))


@pytest.fixture
def page_replica(query_replicas: list[ServiceProcess]) -> ServiceProcess:
    """The query replica whose page the browser opens."""
    return query_replicas[0]


@pytest.fixture
def page_url(page_replica: ServiceProcess) -> str:
    return f"{page_replica.base_url}/"


# Chromium logs every 404 answer. The courier API answers one for an order it has not seen
# yet, and a query replica opened straight (no courier API on its origin) for all of the
# courier API's paths: the page says so in its courier card and view, which the tests
# check; it is no error of the page.
COURIER_API_404 = r"status of 404 .*\(http://[^)]*/api/v1/(assignments|couriers)\b"


# Chromium logs a live stream (/api/v1/events/...) that a server cut, and each attempt to
# reconnect while none answers: a replica killed by a test, or the stack stopped while a
# page is still open. The page reconnects by itself and says so (its "Live" mark, tested
# in test_live_updates); it is no error of the page.
LIVE_STREAM_CUT = (
    r"net::ERR_(INCOMPLETE_CHUNKED_ENCODING|CONNECTION_REFUSED|EMPTY_RESPONSE) "
    r"\(http://[^)]*/api/v1/events/"
)


@pytest.fixture
def page_watch() -> PageWatch:
    watch = PageWatch()
    watch.expect(COURIER_API_404)
    watch.expect(LIVE_STREAM_CUT)
    return watch


@pytest.fixture
def page(browser: Browser, page_watch: PageWatch, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A desktop-sized page in its own browser context, checked for problems afterwards."""
    page = open_page(browser, page_watch, DESKTOP)
    yield page
    if request.node.stash.get(_CALL_FAILED, False):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(PlaywrightError):
            page.screenshot(path=SCREENSHOTS / f"failed-{request.node.name}.png", full_page=True)
    page.context.close()
    problems = page_watch.problems()
    assert not problems, "the page reported problems:\n" + "\n".join(problems)
