"""Two people in two browsers at once: each sees, finds and can touch only their own tasks."""

import secrets

from playwright.sync_api import Page, expect

from support.browser import Account, NewContext
from support.http import same_origin
from support.stack import Pair
from support.ui import TasksPage


def _own_titles(tasks: TasksPage, tag: str, expected: list[str]) -> None:
    """This run's tasks on the page (tagged) are exactly `expected`, newest first."""
    expect(tasks.titles.filter(has_text=tag)).to_have_text(expected)


def _open(new_context: NewContext, app: Pair, account: Account) -> TasksPage:
    tasks = TasksPage(new_context(storage_state=account.storage_state).new_page())
    tasks.open(app.web_url)
    expect(tasks.page.get_by_test_id("user-name")).to_have_text(account.user.name)
    return tasks


def _reload(page: Page) -> TasksPage:
    page.reload()
    tasks = TasksPage(page)
    tasks.expect_open()
    return tasks


def test_two_users_never_see_each_others_tasks(
    new_context: NewContext, app: Pair, alice: Account, bob: Account
) -> None:
    tag = secrets.token_hex(3)
    alices = _open(new_context, app, alice)
    bobs = _open(new_context, app, bob)
    alice_titles = [f"Alice: dentist appointment {tag}", f"Alice: tax return {tag}"]
    bob_titles = [f"Bob: repaint the fence {tag}", f"Bob: book flights {tag}"]

    # Interleaved, so that neither list could be a stale copy of the other.
    alices.add(alice_titles[0])
    bobs.add(bob_titles[0])
    alices.add(alice_titles[1], "Receipts are in the blue folder")
    bobs.add(bob_titles[1])

    for page, own, other in (
        (alices.page, alice_titles, bob_titles),
        (bobs.page, bob_titles, alice_titles),
    ):
        tasks = _reload(page)
        _own_titles(tasks, tag, own[::-1])
        for title in other:
            expect(tasks.item(title)).to_have_count(0)
        # Searching for the other person's words finds nothing.
        tasks.search.fill(other[0].split(":")[0] + ":")
        tasks.expect_no_match()
        tasks.search.fill("")
        _own_titles(tasks, tag, own[::-1])

    # Alice's browser cannot read, tick or delete Bob's task through the proxy, even with
    # its id: a foreign task is "not found", the same as one that does not exist.
    bobs_id = bobs.item(bob_titles[0]).get_attribute("data-task-id")
    assert bobs_id is not None
    proxy = alices.page.request
    url = f"{app.web_url}/api/tasks/{bobs_id}"
    assert proxy.get(url).status == 404
    assert proxy.patch(f"{url}/complete", headers=same_origin(app)).status == 404
    assert proxy.delete(url, headers=same_origin(app)).status == 404

    bobs = _reload(bobs.page)
    _own_titles(bobs, tag, bob_titles[::-1])
    expect(bobs.item(bob_titles[0])).to_have_attribute("data-completed", "false")
