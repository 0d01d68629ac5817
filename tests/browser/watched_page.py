"""Debian's Chromium as the browser tests launch it, and pages that are watched for what
a person would never notice but must not happen: console errors, uncaught exceptions,
Content-Security-Policy violations and dialogs."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page

from tests.harness import ARTIFACTS

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
# Without the background-networking flags Chromium keeps calling home, and this closed
# network refuses those connections.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = ARTIFACTS / "screenshots"

# Reports each CSP violation to Python; installed before any page script runs.
_CSP_REPORTER = """
document.addEventListener('securitypolicyviolation', (event) => {
  window.reportCspViolation(`${event.violatedDirective} blocked ${event.blockedURI || 'inline'}`);
});
"""


@dataclass
class PageWatch:
    """What went wrong on the page: console errors, exceptions, CSP violations, dialogs."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    expected: list[re.Pattern[str]] = field(default_factory=list)

    def expect(self, console_error_pattern: str) -> None:
        """Declare a console error this test provokes on purpose (e.g. a 404 in the log)."""
        self.expected.append(re.compile(console_error_pattern))

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            url = message.location.get("url", "")
            self.console_errors.append(f"{message.text} ({url})" if url else message.text)

    def on_dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def problems(self) -> list[str]:
        unexpected = [
            f"console error: {text}"
            for text in self.console_errors
            if not any(pattern.search(text) for pattern in self.expected)
        ]
        return [
            *unexpected,
            *(f"uncaught exception: {text}" for text in self.page_errors),
            *(f"CSP violation: {text}" for text in self.csp_violations),
            *(f"dialog opened: {text}" for text in self.dialogs),
        ]


def open_page(browser: Browser, watch: PageWatch, viewport: dict[str, int]) -> Page:
    """A page in a fresh browser context (en-US, UTC, light), reporting to `watch`."""
    context = browser.new_context(
        viewport=viewport,  # type: ignore[arg-type]
        locale="en-US",
        timezone_id="UTC",
        color_scheme="light",
        reduced_motion="reduce",
    )
    context.expose_function("reportCspViolation", lambda text: watch.csp_violations.append(text))
    context.add_init_script(script=_CSP_REPORTER)
    page = context.new_page()
    page.on("console", watch.on_console)
    page.on("pageerror", lambda error: watch.page_errors.append(str(error)))
    page.on("dialog", watch.on_dialog)
    return page
