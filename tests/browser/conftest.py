"""Browser fixtures: Debian's Chromium, driven by Playwright, against the real stack.

Every page a test opens is watched: a console error, an uncaught exception, a
Content-Security-Policy violation or a dialog fails the test, unless the test declares
the console error it expects (a 404 for an unknown id, say) with `page_watch.expect`.
Without Chromium the tests here are skipped, saying how to install it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

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
from tests.harness import ServiceProcess

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


@pytest.fixture
def page_replica(query_replicas: list[ServiceProcess]) -> ServiceProcess:
    """The query replica whose page the browser opens."""
    return query_replicas[0]


@pytest.fixture
def page_url(page_replica: ServiceProcess) -> str:
    return f"{page_replica.base_url}/"


@pytest.fixture
def page_watch() -> PageWatch:
    return PageWatch()


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
