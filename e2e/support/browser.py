"""The browser the suite drives, and the types its fixtures hand to tests."""

from dataclasses import dataclass
from typing import Protocol

from playwright.sync_api import Browser, BrowserContext, StorageState, ViewportSize

from support.users import User

CHROMIUM = "/usr/bin/chromium"  # Debian's package: Playwright cannot download a browser here
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# Playwright turns the back/forward cache off; people's browsers have it on, and what the
# back button shows after sign-out depends on it.
CHROMIUM_IGNORED_DEFAULTS = ["--disable-back-forward-cache"]

DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=375, height=812)

EXPECT_TIMEOUT_MS = 10_000
ACTION_TIMEOUT_MS = 15_000
NAVIGATION_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class Account:
    """A user signed up through the form, and the cookies that sign them in."""

    user: User
    storage_state: StorageState


class NewContext(Protocol):
    """The `new_context` fixture: a fresh browser profile, closed after the test."""

    def __call__(
        self, *, storage_state: StorageState | None = None, viewport: ViewportSize = DESKTOP
    ) -> BrowserContext: ...


def open_context(
    browser: Browser, *, storage_state: StorageState | None = None, viewport: ViewportSize = DESKTOP
) -> BrowserContext:
    context = browser.new_context(storage_state=storage_state, viewport=viewport)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
    return context
