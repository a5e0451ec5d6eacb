"""Fixtures: the real stack and a browser (one per session), browser contexts per test, and
accounts that are signed up once and reused (Better Auth allows 10 sign-ups a minute).
"""

import contextlib
import shutil
from collections.abc import Callable, Generator, Iterator

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Error,
    StorageState,
    ViewportSize,
    expect,
    sync_playwright,
)

from support import sensitive
from support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    CHROMIUM_IGNORED_DEFAULTS,
    DESKTOP,
    EXPECT_TIMEOUT_MS,
    Account,
    NewContext,
    open_context,
)
from support.paths import FAILURES
from support.stack import Pair, Stack, running_stack
from support.ui import sign_up
from support.users import new_user

expect.set_options(timeout=EXPECT_TIMEOUT_MS)
_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def pytest_sessionstart(session: pytest.Session) -> None:
    shutil.rmtree(FAILURES, ignore_errors=True)  # only this run's failures


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item,
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test, so fixtures can tell that it failed."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


# -- the stack ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    with running_stack() as running:
        yield running


@pytest.fixture(scope="session")
def app(stack: Stack) -> Pair:
    """The EdDSA Next.js + FastAPI pair."""
    return stack.main


@pytest.fixture(autouse=True)
def _stack_alive(stack: Stack) -> None:
    """Fail with the dead child's log, rather than with a puzzling timeout."""
    stack.check_alive()


# -- the browser -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            ignore_default_args=CHROMIUM_IGNORED_DEFAULTS,
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_context(browser: Browser, request: pytest.FixtureRequest) -> Iterator[NewContext]:
    """Fresh browser contexts (a fresh profile each); a failed test leaves screenshots."""
    contexts: list[BrowserContext] = []

    def make(
        *, storage_state: StorageState | None = None, viewport: ViewportSize = DESKTOP
    ) -> BrowserContext:
        context = open_context(browser, storage_state=storage_state, viewport=viewport)
        contexts.append(context)
        return context

    yield make
    failed = any(report.failed for report in request.node.stash.get(_REPORTS, {}).values())
    for index, context in enumerate(contexts):
        with contextlib.suppress(Error):  # for the log scan: these cookies must appear in no log
            sensitive.remember_cookies(context.cookies())
        if failed:
            FAILURES.mkdir(parents=True, exist_ok=True)
            for number, page in enumerate(context.pages):
                name = f"{request.node.name}-{index}-{number}.png"
                # A crashed or closed page must not hide the test's own failure.
                with contextlib.suppress(Error):
                    page.screenshot(path=FAILURES / name, full_page=True)
        context.close()


# -- accounts ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def accounts(browser: Browser, app: Pair) -> Callable[[str], Account]:
    """Accounts by name, each signed up through the form once per run, on first use."""
    made: dict[str, Account] = {}

    def account(name: str) -> Account:
        if name not in made:
            context = open_context(browser)
            try:
                user = new_user(name)
                sign_up(context.new_page(), app.web_url, user)
                made[name] = Account(user, context.storage_state())
                sensitive.remember_cookies(made[name].storage_state["cookies"])
            finally:
                context.close()
        return made[name]

    return account


@pytest.fixture
def alice(accounts: Callable[[str], Account]) -> Account:
    return accounts("Alice Moreau")


@pytest.fixture
def bob(accounts: Callable[[str], Account]) -> Account:
    return accounts("Bob Okafor")
