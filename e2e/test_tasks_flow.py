"""A newcomer signs up and does everything the task list offers, checking the page each time."""

from playwright.sync_api import expect

from support.browser import NewContext
from support.stack import Pair
from support.ui import TasksPage, sign_up
from support.users import new_user

MILK = "Buy oat milk"
REPORT = "Write the quarterly report"
PLUMBER = "Call the plumber"
PLUMBER_EDITED = "Call the plumber about the leak"


def test_newcomer_creates_edits_completes_filters_searches_and_deletes(
    new_context: NewContext, app: Pair
) -> None:
    page = new_context().new_page()
    user = new_user("Nora Lindqvist")
    sign_up(page, app.web_url, user)
    tasks = TasksPage(page)
    expect(tasks.empty_state).to_have_text("No tasks yet. Add your first one above.")

    # Create: each new task appears at the top, and the form is ready for the next one.
    tasks.add(MILK, "Two cartons, the barista kind")
    tasks.add(REPORT)
    tasks.add(PLUMBER)
    tasks.expect_titles([PLUMBER, REPORT, MILK])
    expect(tasks.empty_state).to_have_count(0)
    milk_description = tasks.item(MILK).get_by_test_id("task-description")
    expect(milk_description).to_have_text("Two cartons, the barista kind")
    expect(tasks.item(REPORT).get_by_test_id("task-description")).to_have_count(0)

    # Edit title and description.
    tasks.edit(PLUMBER, PLUMBER_EDITED, "Before Friday")
    tasks.expect_titles([PLUMBER_EDITED, REPORT, MILK])
    expect(tasks.item(PLUMBER_EDITED).get_by_test_id("task-description")).to_have_text(
        "Before Friday"
    )

    # Complete.
    tasks.toggle(MILK)
    expect(tasks.item(MILK)).to_have_attribute("data-completed", "true")
    expect(tasks.item(MILK).get_by_role("checkbox")).to_be_checked()
    expect(tasks.item(REPORT)).to_have_attribute("data-completed", "false")

    # All of it was saved, not just shown.
    page.reload()
    tasks.expect_open(user)
    tasks.expect_titles([PLUMBER_EDITED, REPORT, MILK])
    expect(tasks.item(MILK).get_by_role("checkbox")).to_be_checked()
    expect(tasks.item(PLUMBER_EDITED).get_by_role("checkbox")).not_to_be_checked()
    expect(tasks.item(PLUMBER_EDITED).get_by_test_id("task-description")).to_have_text(
        "Before Friday"
    )

    # Filter.
    tasks.show("Completed")
    tasks.expect_titles([MILK])
    tasks.show("Pending")
    tasks.expect_titles([PLUMBER_EDITED, REPORT])
    tasks.show("All")
    tasks.expect_titles([PLUMBER_EDITED, REPORT, MILK])

    # Search titles and descriptions, alone and with a filter.
    tasks.search.fill("plumber")
    tasks.expect_titles([PLUMBER_EDITED])
    tasks.search.fill("barista")
    tasks.expect_titles([MILK])
    tasks.show("Pending")
    tasks.expect_no_match()
    tasks.show("All")
    tasks.expect_titles([MILK])
    tasks.search.fill("no task says this")
    tasks.expect_no_match()
    tasks.search.fill("")
    tasks.expect_titles([PLUMBER_EDITED, REPORT, MILK])

    # Delete: cancelling the confirmation keeps the task; confirming removes it for good.
    tasks.ask_to_delete(REPORT)
    tasks.dialog.get_by_role("button", name="Cancel").click()
    expect(tasks.dialog).to_be_hidden()
    tasks.expect_titles([PLUMBER_EDITED, REPORT, MILK])
    tasks.ask_to_delete(REPORT)
    tasks.confirm_delete()
    tasks.expect_titles([PLUMBER_EDITED, MILK])
    page.reload()
    tasks.expect_open(user)
    tasks.expect_titles([PLUMBER_EDITED, MILK])
    expect(tasks.alerts).to_have_count(0)
