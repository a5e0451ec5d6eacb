"""A page left open past its session's JWT lifetime keeps working: the proxy gets a new token.

The stack runs with JWT_LIFETIME_SECONDS=20 and no leeway in the API, so this test can watch
a token expire. The wait below is the suite's only deliberate one.
"""

import secrets
import time

from playwright.sync_api import BrowserContext, expect

from support.browser import Account, NewContext
from support.http import SESSION_COOKIE, bearer, client, jwt_claims, jwt_for
from support.stack import JWT_LIFETIME_SECONDS, Pair
from support.ui import TasksPage

_PAST_EXPIRY_SECONDS = 2.0


def _session_cookie(context: BrowserContext) -> str:
    (value,) = [cookie["value"] for cookie in context.cookies() if cookie["name"] == SESSION_COOKIE]
    return value


def test_session_keeps_working_after_its_jwt_expires(
    new_context: NewContext, app: Pair, alice: Account
) -> None:
    context = new_context(storage_state=alice.storage_state)
    tasks = TasksPage(context.new_page())
    tasks.open(app.web_url)
    tag = secrets.token_hex(3)
    plants, letter = f"Water the plants {tag}", f"Answer Grandma's letter {tag}"
    tasks.add(plants)  # the proxy now holds a JWT for this session

    # A token for the same session, issued after the proxy's: when it has expired, so has
    # every token the proxy got before it.
    with client(app.web_url) as web, client(app.api_url) as api:
        web.cookies.set(SESSION_COOKIE, _session_cookie(context))
        token = jwt_for(web)
        claims = jwt_claims(token)
        assert claims["exp"] - claims["iat"] == JWT_LIFETIME_SECONDS
        assert api.get("/api/me", headers=bearer(token)).status_code == 200

        tasks.page.wait_for_timeout((claims["exp"] + _PAST_EXPIRY_SECONDS - time.time()) * 1000)
        # The token really is dead now: the API allows no leeway in this stack.
        assert api.get("/api/me", headers=bearer(token)).status_code == 401

    # The same open page goes on as if nothing happened.
    tasks.toggle(plants)
    expect(tasks.item(plants)).to_have_attribute("data-completed", "true")
    tasks.add(letter)
    expect(tasks.alerts).to_have_count(0)

    tasks.page.reload()
    tasks.expect_open(alice.user)
    expect(tasks.titles.filter(has_text=tag)).to_have_text([letter, plants])
    expect(tasks.item(plants).get_by_role("checkbox")).to_be_checked()
    expect(tasks.alerts).to_have_count(0)
