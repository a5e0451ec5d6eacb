"""The account page and the mailed flows, in Chromium, two people at a time.

Each flow that ends sessions holds a JWT from every affected session (and from the sessions
that must survive) and polls FastAPI directly: the ended ones are refused within 100 ms on a
route that uses the database and on /api/me; the others, and the other person's, still work.
Links are read from the mail the real SMTP path delivered (support/mail.py).
"""

import re
import time
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest
from playwright.sync_api import BrowserContext, Locator, Page, expect

from support import sensitive
from support.browser import NewContext
from support.http import (
    bearer,
    client,
    distinct_address,
    jwt_claims,
    jwt_for,
    request_sign_up,
    same_origin,
    sign_in,
    sign_out,
    sign_up,
)
from support.logs import audit_events, wait_for_events
from support.mail import EXISTING_SUBJECT, RESET_SUBJECT, messages_to, wait_for_link
from support.revocation import assert_accepted, assert_refused_at_once, server_action
from support.stack import Pair, Stack
from support.ui import fill_sign_in
from support.users import User, new_user

FIREFOX_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
)
SAFARI_ON_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


class Person:
    """Someone signed up (verified through the mail), with sessions on other devices."""

    def __init__(self, app: Pair, cleanup: ExitStack, name: str) -> None:
        self.app = app
        self.user = new_user(name)
        self._cleanup = cleanup
        with client(app.web_url, forwarded_for=distinct_address()) as web:
            sign_up(web, app, self.user)
            sign_out(web, app)  # the link's session: only the devices below stay

    def device(self, user_agent: str, password: str | None = None) -> httpx.Client:
        """Another signed-in session, from a device that says `user_agent`."""
        web = self._cleanup.enter_context(
            client(self.app.web_url, forwarded_for=distinct_address())
        )
        web.headers["User-Agent"] = user_agent
        user = self.user if password is None else User(self.user.name, self.user.email, password)
        sign_in(web, self.app, user)
        return web


@pytest.fixture
def cleanup() -> Iterator[ExitStack]:
    with ExitStack() as stack:
        yield stack


@pytest.fixture
def api(app: Pair) -> Iterator[httpx.Client]:
    with client(app.api_url) as api:
        yield api


def _browser_session(new_context: NewContext, app: Pair, person: Person) -> tuple[Page, str]:
    """The person signed in in Chromium, on the account page; and a JWT for that session."""
    context = new_context()
    page = context.new_page()
    page.goto(f"{app.web_url}/sign-in?next=%2Faccount")
    fill_sign_in(page, person.user)
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    return page, _context_jwt(context, app)


def _context_jwt(context: BrowserContext, app: Pair) -> str:
    """A JWT for the browser's session, fetched outside the page (no page script sees it)."""
    response = context.request.get(f"{app.web_url}/api/auth/token")
    assert response.status == 200, response.text()
    token: str = response.json()["token"]
    sensitive.remember("JWT", token)
    return token


def _audited(event: str, sub: str | None, **fields: object) -> None:
    """The web app's audit trail holds this event (one per action), for this user."""
    wait_for_events(
        lambda: audit_events("web"),
        lambda e: (
            e["event"] == event
            and e.get("sub") == sub
            and all(e.get(name) == value for name, value in fields.items())
        ),
    )


def _session_row(page: Page, device: str) -> Locator:
    return page.get_by_test_id("session").filter(has_text=device)


def test_account_page_is_checked_on_the_server(new_context: NewContext, app: Pair) -> None:
    page = new_context().new_page()
    page.goto(f"{app.web_url}/account")
    expect(page).to_have_url(f"{app.web_url}/sign-in?next=%2Faccount")


def test_signing_out_one_other_session(
    new_context: NewContext, app: Pair, api: httpx.Client, cleanup: ExitStack
) -> None:
    ana, ben = Person(app, cleanup, "Ana Lima"), Person(app, cleanup, "Ben Ito")
    laptop, phone = ana.device(FIREFOX_ON_WINDOWS), ana.device(SAFARI_ON_IPHONE)
    laptop_jwt, phone_jwt = jwt_for(laptop), jwt_for(phone)
    ben_jwt = jwt_for(ben.device(FIREFOX_ON_WINDOWS))
    page, here_jwt = _browser_session(new_context, app, ana)

    rows = page.get_by_test_id("session")
    expect(rows).to_have_count(3)  # this browser and the two devices
    expect(rows.first).to_contain_text("This device")
    row = _session_row(page, "Firefox on Windows")
    expect(row).to_contain_text("Signed in")
    expect(row).to_contain_text("Last active")
    # No session token reaches the page.
    for web in (laptop, phone):
        token = web.cookies["better-auth.session_token"].split(".")[0]
        assert token not in page.content()

    for token in (laptop_jwt, phone_jwt, here_jwt, ben_jwt):
        assert_accepted(api, token)  # in use, as a client holding it would be
    with server_action(page) as answered:
        row.get_by_role("button", name=re.compile("^Sign out")).click()
    assert_refused_at_once("session.revoked", api, [laptop_jwt], answered[0])
    for survivor in (phone_jwt, here_jwt, ben_jwt):
        assert_accepted(api, survivor)
    expect(page.get_by_test_id("sessions-outcome")).to_have_text("Signed out.")
    expect(rows).to_have_count(2)
    assert laptop.get("/api/tasks", headers=same_origin(app)).status_code == 401
    _audited("session.revoked", jwt_claims(laptop_jwt)["sub"], reason="ok", sessions_ended=1)


def test_signing_out_every_other_session(
    new_context: NewContext, app: Pair, api: httpx.Client, cleanup: ExitStack
) -> None:
    ana, ben = Person(app, cleanup, "Ana Souza"), Person(app, cleanup, "Ben Park")
    others = [jwt_for(ana.device(FIREFOX_ON_WINDOWS)), jwt_for(ana.device(SAFARI_ON_IPHONE))]
    ben_jwt = jwt_for(ben.device(SAFARI_ON_IPHONE))
    page, here_jwt = _browser_session(new_context, app, ana)

    for token in (*others, here_jwt, ben_jwt):
        assert_accepted(api, token)
    with server_action(page) as answered:
        page.get_by_role("button", name="Sign out all other sessions").click()
    assert_refused_at_once("sessions.revoked_others", api, others, answered[0])
    # The session in use goes on working, and so does the other person's.
    assert_accepted(api, here_jwt)
    assert_accepted(api, ben_jwt)
    expect(page.get_by_test_id("session")).to_have_count(1)
    expect(page.get_by_text("You are signed in on this device only.")).to_be_visible()
    _audited("sessions.revoked_others", jwt_claims(here_jwt)["sub"], sessions_ended=2)


def test_changing_the_password(
    new_context: NewContext, app: Pair, api: httpx.Client, cleanup: ExitStack
) -> None:
    ana, ben = Person(app, cleanup, "Ana Costa"), Person(app, cleanup, "Ben Adler")
    other = jwt_for(ana.device(FIREFOX_ON_WINDOWS))
    ben_jwt = jwt_for(ben.device(FIREFOX_ON_WINDOWS))
    page, here_jwt = _browser_session(new_context, app, ana)
    form = page.get_by_role("form", name="Change password")
    outcome = page.get_by_test_id("password-outcome")

    # Wrong current password, then a weak new one: a clear message, and nothing changes.
    form.get_by_label("Current password").fill(f"{ana.user.password}-wrong")
    form.get_by_label("New password").fill("a-long-enough-new-password")
    form.get_by_role("button", name="Change password").click()
    expect(outcome).to_have_text("That is not your current password.")
    form.get_by_label("Current password").fill(ana.user.password)
    form.get_by_label("New password").fill("short")
    form.get_by_role("button", name="Change password").click()
    expect(outcome).to_have_text("Use at least 8 characters.")
    for token in (other, here_jwt, ben_jwt):
        assert_accepted(api, token)

    new_password = f"{ana.user.password}-new"
    sensitive.remember("password", new_password)
    form.get_by_label("New password").fill(new_password)
    with server_action(page) as answered:
        form.get_by_role("button", name="Change password").click()
    # The other session ends. This browser stays signed in: Better Auth gives it a fresh
    # session (a new cookie), so its old session's JWT ends too.
    assert_refused_at_once("password.changed", api, [other, here_jwt], answered[0])
    assert_accepted(api, ben_jwt)
    expect(outcome).to_have_text("Password changed. Your other sessions are signed out.")
    assert_accepted(api, _context_jwt(page.context, app))
    page.reload()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    # The new password signs in; the old one does not.
    ana.device(SAFARI_ON_IPHONE, password=new_password)
    with client(app.web_url, forwarded_for=distinct_address()) as web:
        body = {"email": ana.user.email, "password": ana.user.password}
        refused = web.post("/api/auth/sign-in/email", json=body, headers={"Origin": app.origin})
        assert refused.status_code == 401, refused.text
    sub = jwt_claims(here_jwt)["sub"]
    _audited("password.change_failed", sub, reason="invalid_password")
    _audited("password.changed", sub, reason="ok", sessions_ended=2)


def test_resetting_a_forgotten_password(
    new_context: NewContext, stack: Stack, app: Pair, api: httpx.Client, cleanup: ExitStack
) -> None:
    ana, ben = Person(app, cleanup, "Ana Berg"), Person(app, cleanup, "Ben Osei")
    sessions = [jwt_for(ana.device(FIREFOX_ON_WINDOWS)), jwt_for(ana.device(SAFARI_ON_IPHONE))]
    ben_jwt = jwt_for(ben.device(FIREFOX_ON_WINDOWS))
    page = new_context().new_page()

    def ask_for_reset(email: str) -> None:
        page.goto(f"{app.web_url}/sign-in")
        page.get_by_role("link", name="Forgot password?").click()
        expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
        page.get_by_label("Email", exact=True).fill(email)
        page.get_by_role("button", name="Send reset link").click()
        expect(page.get_by_test_id("reset-sent")).to_have_text(
            "If an account uses that address, we sent it a link to choose a new password. "
            "The link works once, within an hour."
        )

    # An unknown address gets the same answer, and no mail goes anywhere for it.
    nobody = new_user("Nobody Here")
    ask_for_reset(nobody.email)
    ask_for_reset(ana.user.email)
    link = wait_for_link(ana.user.email, subject=RESET_SUBJECT)
    assert messages_to(nobody.email) == []

    page.goto(link)
    expect(page).to_have_url(re.compile(r"/reset-password\?token="))
    page.get_by_label("New password").fill("short")
    page.get_by_role("button", name="Set new password").click()
    expect(page.get_by_test_id("form-error")).to_have_count(0)
    expect(page.get_by_text("Use at least 8 characters.")).to_be_visible()
    for token in (*sessions, ben_jwt):
        assert_accepted(api, token)

    new_password = f"{ana.user.password}-reset"
    sensitive.remember("password", new_password)
    page.get_by_label("New password").fill(new_password)
    with page.expect_response(lambda r: r.url.endswith("/api/auth/reset-password")) as reset:
        page.get_by_role("button", name="Set new password").click()
    started = time.monotonic()
    assert reset.value.status == 200
    assert_refused_at_once("password.reset", api, sessions, started)
    assert_accepted(api, ben_jwt)
    expect(page.get_by_test_id("reset-done")).to_contain_text("signed out everywhere")

    # The link works once.
    page.goto(link)
    expect(page.get_by_test_id("form-error")).to_contain_text("expired or was already used")
    ana.device(FIREFOX_ON_WINDOWS, password=new_password)

    # An expired link (its hour is over) is refused the same way, and changes nothing.
    ask_for_reset(ana.user.email)
    expired = wait_for_link(ana.user.email, subject=RESET_SUBJECT, after=1)
    token = expired.split("/reset-password/")[1].split("?")[0]
    stack.sql(
        """UPDATE verification SET "expiresAt" = now() - interval '1 second'
           WHERE identifier = 'reset-password:' || :'token'""",
        token=token,
    )
    page.goto(expired)
    expect(page.get_by_test_id("form-error")).to_contain_text("expired or was already used")
    ana.device(SAFARI_ON_IPHONE, password=new_password)
    sub = jwt_claims(sessions[0])["sub"]
    _audited("password.reset_requested", sub, reason="sent")
    _audited("password.reset_requested", None, reason="no_account")
    _audited("password.reset", sub, reason="ok", sessions_ended=2)


def test_deleting_the_account(
    new_context: NewContext, stack: Stack, app: Pair, api: httpx.Client, cleanup: ExitStack
) -> None:
    ana, ben = Person(app, cleanup, "Ana Novak"), Person(app, cleanup, "Ben Cole")
    laptop = ana.device(FIREFOX_ON_WINDOWS)
    ben_web = ben.device(SAFARI_ON_IPHONE)
    for web in (laptop, ben_web):
        created = web.post("/api/tasks", json={"title": "Kept or gone"}, headers=same_origin(app))
        assert created.status_code == 201, created.text
    other, ben_jwt = jwt_for(laptop), jwt_for(ben_web)
    sub = api.get("/api/me", headers=bearer(other)).json()["user_id"]
    page, here_jwt = _browser_session(new_context, app, ana)
    form = page.get_by_role("form", name="Delete account")

    def tasks_of(user_id: str) -> str:
        return stack.sql("SELECT count(*) FROM task WHERE user_id = :'id'", id=user_id).strip()

    form.get_by_label("Password").fill(f"{ana.user.password}-wrong")
    form.get_by_role("button", name="Delete my account").click()
    expect(page.get_by_test_id("delete-outcome")).to_have_text("That is not your current password.")
    assert tasks_of(sub) == "1"
    assert_accepted(api, here_jwt)

    for token in (other, ben_jwt):
        assert_accepted(api, token)
    form.get_by_label("Password").fill(ana.user.password)
    with server_action(page) as answered:
        form.get_by_role("button", name="Delete my account").click()
    assert_refused_at_once("account.deleted", api, [other, here_jwt], answered[0])
    expect(page).to_have_url(f"{app.web_url}/sign-in")
    assert tasks_of(sub) == "0"
    assert_accepted(api, ben_jwt)
    assert len(ben_web.get("/api/tasks", headers=same_origin(app)).json()["items"]) == 1
    _audited("account.delete_failed", sub, reason="invalid_password")
    _audited("account.deleted", sub, reason="ok", sessions_ended=2)


def test_deleting_needs_the_password_even_on_a_fresh_session(app: Pair, cleanup: ExitStack) -> None:
    ana = Person(app, cleanup, "Ana Fresh")
    web = ana.device(FIREFOX_ON_WINDOWS)
    refused = web.post("/api/auth/delete-user", json={}, headers={"Origin": app.origin})
    assert refused.status_code == 400, refused.text
    assert refused.json()["code"] == "PASSWORD_REQUIRED"
    assert web.get("/api/auth/token").status_code == 200


def test_changing_the_name_shows_in_the_header(
    new_context: NewContext, app: Pair, cleanup: ExitStack
) -> None:
    ana = Person(app, cleanup, "Ana Renamed")
    page, _ = _browser_session(new_context, app, ana)
    form = page.get_by_role("form", name="Change name")
    form.get_by_label("Name").fill("   ")
    form.get_by_role("button", name="Save name").click()
    expect(page.get_by_test_id("name-outcome")).to_have_text("Enter your name.")
    form.get_by_label("Name").fill("Ana R. Lindqvist")
    form.get_by_role("button", name="Save name").click()
    expect(page.get_by_test_id("name-outcome")).to_have_text("Name saved.")
    expect(page.get_by_test_id("user-name")).to_have_text("Ana R. Lindqvist")


def test_sign_in_waits_for_verification_and_offers_a_new_link(
    new_context: NewContext, app: Pair
) -> None:
    user = new_user("Vera Unverified")
    with client(app.web_url, forwarded_for=distinct_address()) as web:
        assert request_sign_up(web, app.origin, user).status_code == 200
    page = new_context().new_page()
    page.goto(f"{app.web_url}/sign-in")
    fill_sign_in(page, user)
    expect(page.get_by_test_id("form-error")).to_have_text(
        "Verify your email address first: open the link we sent you when you signed up."
    )
    page.get_by_role("button", name="Send the link again").click()
    expect(page.get_by_test_id("resend-status")).to_have_text(
        "We sent a new link. Open it within an hour to sign in."
    )
    second = wait_for_link(user.email, subject="Verify your email address", after=1)
    page.goto(second)
    expect(page).to_have_url(f"{app.web_url}/tasks")
    expect(page.get_by_test_id("user-name")).to_have_text(user.name)

    # Used again in a fresh browser: it signs no one in, and says what to do.
    other = new_context().new_page()
    other.goto(second)
    expect(other.get_by_test_id("verification-result")).to_have_text(
        "Your email address is verified. Sign in to continue."
    )
    other.goto(second.replace("token=", "token=x"))
    expect(other.get_by_test_id("verification-result")).to_contain_text("expired or cannot be used")
    sub = page.context.request.get(f"{app.web_url}/api/auth/get-session").json()["user"]["id"]
    _audited("email.verification_sent", sub, reason="sign_up")
    _audited("email.verification_sent", sub, reason="resend")
    _audited("email.verified", sub, reason="ok")


def test_sign_up_answers_the_same_for_a_taken_address(app: Pair, cleanup: ExitStack) -> None:
    """docs/security.md: sign-up does not tell whether an address is registered."""
    owner = Person(app, cleanup, "Olga Owner")
    newcomer = new_user("Nils Newcomer")
    taken = User("Mallory Probe", owner.user.email, "another-password-1")
    answers = []
    for user in (newcomer, taken):
        with client(app.web_url, forwarded_for=distinct_address()) as web:
            response = request_sign_up(web, app.origin, user)
            assert not web.cookies
        body = response.json()
        answers.append((response.status_code, sorted(body), sorted(body["user"]), body["token"]))
        assert body["user"]["email"] == user.email.lower()
        assert body["user"]["emailVerified"] is False
    assert answers[0] == answers[1]
    # The owner is told instead, and no verification link is sent for a taken address.
    notice = wait_for_link(owner.user.email, subject=EXISTING_SUBJECT)
    assert notice.endswith("/sign-in")
    subjects = [str(m["subject"]) for m in messages_to(owner.user.email)]
    assert subjects.count("Verify your email address for Tandem") == 1  # the owner's own sign-up
