"""Screenshots of the main screens, into artifacts/screenshots/ (and docs/ on request)."""

from playwright.sync_api import expect

from support.browser import DESKTOP, PHONE, NewContext
from support.http import client, distinct_address, sign_in
from support.screenshots import screenshot
from support.stack import Pair
from support.ui import TasksPage, sign_up
from support.users import new_user

TASKS = [
    ("Plan the team offsite", "Shortlist three venues and ask for quotes"),
    ("Review Priya's pull request", None),
    ("Book the dentist", "Any weekday morning"),
    ("Renew the library card", None),
]


def test_main_screens(new_context: NewContext, app: Pair) -> None:
    page = new_context().new_page()

    page.goto(f"{app.web_url}/sign-in")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    screenshot(page, "sign-in")

    page.goto(f"{app.web_url}/sign-up")
    expect(page.get_by_role("heading", name="Create your account")).to_be_visible()
    screenshot(page, "sign-up")

    maya = new_user("Maya Lin")
    sign_up(page, app.web_url, maya)
    tasks = TasksPage(page)
    for title, description in TASKS:
        tasks.add(title, description)
    tasks.toggle("Renew the library card")
    tasks.toggle("Book the dentist")
    tasks.expect_titles([title for title, _ in reversed(TASKS)])
    page.get_by_label("Title", exact=True).blur()
    screenshot(page, "tasks-desktop")

    page.set_viewport_size(PHONE)
    expect(tasks.titles).to_have_count(len(TASKS))
    screenshot(page, "tasks-phone")

    tasks.ask_to_delete("Review Priya's pull request")
    screenshot(page, "delete-confirmation", full_page=False)
    tasks.dialog.get_by_role("button", name="Cancel").click()
    expect(tasks.dialog).to_be_hidden()

    # The account page, with a second device signed in.
    with client(app.web_url, forwarded_for=distinct_address()) as laptop:
        laptop.headers["User-Agent"] = (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
        )
        sign_in(laptop, app, maya)
    page.set_viewport_size(DESKTOP)
    page.goto(f"{app.web_url}/account")
    expect(page.get_by_test_id("session")).to_have_count(2)
    screenshot(page, "account-desktop")
    page.set_viewport_size(PHONE)
    screenshot(page, "account-phone")
