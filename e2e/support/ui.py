"""The app's screens as the tests use them: locators by role, label and test id."""

import re
from collections.abc import Callable

from playwright.sync_api import Locator, Page, Response, expect

from support.mail import verification_link
from support.users import User


def _is_task_call(method: str, suffix: str = "") -> Callable[[Response], bool]:
    pattern = re.compile(r"/api/tasks(/[^/?]+)?" + re.escape(suffix) + r"(\?|$)")

    def matches(response: Response) -> bool:
        return response.request.method == method and bool(pattern.search(response.url))

    return matches


def request_sign_up(page: Page, base_url: str, user: User) -> None:
    """Submit the sign-up form; ends on the page that asks to check the mail."""
    page.goto(f"{base_url}/sign-up")
    page.get_by_label("Name", exact=True).fill(user.name)
    page.get_by_label("Email", exact=True).fill(user.email)
    page.get_by_label("Password", exact=True).fill(user.password)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()


def sign_up(page: Page, base_url: str, user: User) -> None:
    """Create an account through the form and the mailed link; ends on the task list."""
    request_sign_up(page, base_url, user)
    page.goto(verification_link(user.email))
    TasksPage(page).expect_open(user)


def fill_sign_in(page: Page, user: User) -> None:
    """Submit the sign-in form that is on screen."""
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Email", exact=True).fill(user.email)
    page.get_by_label("Password", exact=True).fill(user.password)
    page.get_by_role("button", name="Sign in").click()


def sign_in(page: Page, base_url: str, user: User) -> None:
    """Sign in through the form; ends on the task list."""
    page.goto(f"{base_url}/sign-in")
    fill_sign_in(page, user)
    TasksPage(page).expect_open(user)


class TasksPage:
    """/tasks: the new-task form, the filters and the list."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.titles = page.get_by_test_id("task-title")
        self.empty_state = page.get_by_test_id("empty-state")
        self.search = page.get_by_label("Search tasks")
        self.dialog = page.get_by_test_id("delete-dialog")
        # Any message the page shows when something failed. (Next.js's route announcer is an
        # always-present, empty role=alert outside <main>.)
        self.alerts = page.get_by_role("main").get_by_role("alert")

    def expect_open(self, user: User | None = None) -> None:
        expect(self.page).to_have_url(re.compile(r"/tasks$"))
        expect(self.page.get_by_role("heading", name="Your tasks")).to_be_visible()
        expect(self.page.get_by_test_id("tasks-loading")).to_have_count(0)
        if user is not None:
            expect(self.page.get_by_test_id("user-name")).to_have_text(user.name)

    def open(self, base_url: str) -> None:
        self.page.goto(f"{base_url}/tasks")
        self.expect_open()

    def item(self, title: str) -> Locator:
        """The list item whose title is exactly `title`."""
        title_element = self.page.get_by_test_id("task-title").get_by_text(title, exact=True)
        return self.page.get_by_test_id("task-item").filter(has=title_element)

    def add(self, title: str, description: str | None = None) -> Locator:
        """Create a task through the form and wait until the server has it."""
        self.page.get_by_label("Title", exact=True).fill(title)
        if description is not None:
            self.page.get_by_label("Description", exact=True).fill(description)
        with self.page.expect_response(_is_task_call("POST")) as created:
            self.page.get_by_role("button", name="Add task").click()
        assert created.value.status == 201, created.value.status
        item = self.item(title)
        # A task still in flight has no data-task-id; the saved one has the server's id.
        expect(item).to_have_attribute("data-task-id", re.compile(r"^[0-9a-f-]{36}$"))
        expect(self.page.get_by_label("Title", exact=True)).to_have_value("")
        return item

    def toggle(self, title: str) -> None:
        """Tick or untick a task and wait until the server has the change."""
        with self.page.expect_response(_is_task_call("PATCH", "/complete")) as toggled:
            self.item(title).get_by_role("checkbox").click()
        assert toggled.value.status == 200, toggled.value.status

    def edit(self, title: str, new_title: str, new_description: str) -> None:
        self.item(title).get_by_role("button", name="Edit").click()
        form = self.page.get_by_role("form", name=f"Edit {title}")
        form.get_by_label("Edit title").fill(new_title)
        form.get_by_label("Edit description").fill(new_description)
        with self.page.expect_response(_is_task_call("PATCH")) as saved:
            form.get_by_role("button", name="Save").click()
        assert saved.value.status == 200, saved.value.status

    def show(self, status: str) -> None:
        """Pick All, Pending or Completed."""
        self.page.get_by_role("radio", name=status, exact=True).check()

    def ask_to_delete(self, title: str) -> None:
        self.item(title).get_by_role("button", name="Delete").click()
        expect(self.dialog).to_be_visible()
        expect(self.dialog.get_by_role("heading", name="Delete task?")).to_be_visible()
        expect(self.dialog).to_contain_text(f"“{title}” will be deleted permanently.")

    def confirm_delete(self) -> None:
        with self.page.expect_response(_is_task_call("DELETE")) as deleted:
            self.dialog.get_by_role("button", name="Delete").click()
        assert deleted.value.status == 204, deleted.value.status
        expect(self.dialog).to_be_hidden()

    def expect_no_match(self) -> None:
        """The filters or search, once loaded, match none of the user's tasks."""
        expect(self.titles).to_have_count(0)
        # Also absent while loading: only the empty state proves the answer arrived.
        expect(self.empty_state).to_have_text("No tasks match these filters.")

    def expect_titles(self, titles: list[str]) -> None:
        """Exactly these tasks, in this order (newest first by default)."""
        if titles:
            expect(self.titles).to_have_text(titles)
        else:
            expect(self.titles).to_have_count(0)
