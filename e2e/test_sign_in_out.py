"""Signing in brings you back where you were going; signing out leaves nothing to go back to."""

import re
import secrets

from playwright.sync_api import Page, expect

from support.browser import Account, NewContext
from support.stack import Pair
from support.ui import TasksPage, fill_sign_in, sign_in

# Records every task title that appears in any document of the tab once watching is on,
# in sessionStorage so that it survives navigations. A title shown for a single frame
# still lands here.
_WATCH_TITLES = """
(() => {
  if (window.__e2eTitleWatch) return;
  window.__e2eTitleWatch = true;
  const record = () => {
    if (sessionStorage.getItem("e2e-watch") !== "on") return;
    const seen = new Set(JSON.parse(sessionStorage.getItem("e2e-seen") || "[]"));
    const before = seen.size;
    for (const title of document.querySelectorAll('[data-testid="task-title"]')) {
      seen.add(title.textContent);
    }
    if (seen.size !== before) sessionStorage.setItem("e2e-seen", JSON.stringify([...seen]));
  };
  const changes = {childList: true, subtree: true, characterData: true};
  new MutationObserver(record).observe(document, changes);
  addEventListener("pageshow", record);
})();
"""


def _titles_seen(page: Page) -> list[str]:
    seen: list[str] = page.evaluate("JSON.parse(sessionStorage.getItem('e2e-seen') || '[]')")
    return seen


def test_signed_out_visit_to_tasks_returns_there_after_sign_in(
    new_context: NewContext, app: Pair, alice: Account
) -> None:
    page = new_context().new_page()
    page.goto(f"{app.web_url}/tasks")
    expect(page).to_have_url(f"{app.web_url}/sign-in?next=%2Ftasks")
    fill_sign_in(page, alice.user)
    TasksPage(page).expect_open(alice.user)


def test_back_button_after_sign_out_shows_no_tasks(
    new_context: NewContext, app: Pair, bob: Account
) -> None:
    context = new_context()
    context.add_init_script(_WATCH_TITLES)
    page = context.new_page()
    sign_in(page, app.web_url, bob.user)  # a session of its own: signing out ends it
    tasks = TasksPage(page)
    title = f"Bob's private note {secrets.token_hex(3)}"
    tasks.add(title)
    # Visiting the site's root (which leads to /tasks) makes a second history entry that
    # shows tasks: the one Back returns to after sign-out. (Reopening /tasks itself would
    # replace the current entry, and sign-out replaces the entry it leaves.)
    page.goto(f"{app.web_url}/")
    tasks.expect_open(bob.user)
    expect(tasks.item(title)).to_be_visible()
    assert page.evaluate("history.length") == 3  # about:blank, /tasks, /tasks

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{app.web_url}/sign-in")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.evaluate("sessionStorage.setItem('e2e-watch', 'on')")

    page.go_back()
    expect(page).to_have_url(
        re.compile(re.escape(f"{app.web_url}/sign-in") + r"(\?next=%2Ftasks)?$")
    )
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_test_id("task-item")).to_have_count(0)
    assert _titles_seen(page) == []
