"""The browser never holds a JWT, and its session cookie is out of JavaScript's reach.

A JWT's header always starts with `{"` and so its base64url with `eyJ`: that string must
appear nowhere the page's JavaScript can look, nor in any URL, header or body it handles.
"""

import secrets
from typing import Any

from playwright.sync_api import Error, Page, Request, Response, expect

from support.browser import Account, NewContext
from support.http import SESSION_COOKIE
from support.stack import Pair
from support.ui import TasksPage, sign_in

JWT_PREFIX = "eyJ"
_BODY_TYPES = frozenset({"document", "fetch", "xhr"})

# Everything a script in the page can read without the network.
_PAGE_STATE = """() => ({
  cookie: document.cookie,
  localStorage: Object.entries(localStorage),
  sessionStorage: Object.entries(sessionStorage),
  location: location.href,
  historyState: JSON.stringify(history.state),
  windowName: window.name,
  html: document.documentElement.outerHTML,
})"""


class Traffic:
    """Every request and response of a page: URLs, headers and the bodies scripts see."""

    def __init__(self, page: Page) -> None:
        self.urls: list[str] = []
        self.navigations: list[str] = []
        self._requests: list[Request] = []
        self._responses: list[Response] = []
        self.bodies_checked = 0
        page.on("request", self._on_request)
        page.on("response", self._on_response)
        page.on(
            "framenavigated",
            lambda frame: self.navigations.append(frame.url) if frame == page.main_frame else None,
        )

    def _on_request(self, request: Request) -> None:
        self.urls.append(request.url)
        self._requests.append(request)

    def _on_response(self, response: Response) -> None:
        self.urls.append(response.url)
        self._responses.append(response)

    def check(self) -> None:
        """Check what arrived since the last call; call it before the page navigates away,
        while the browser still has the bodies."""
        for request in self._requests:
            assert JWT_PREFIX not in str(request.all_headers()), request.url
        for response in self._responses:
            assert JWT_PREFIX not in str(response.all_headers()), response.url
            if response.request.resource_type in _BODY_TYPES and not 300 <= response.status < 400:
                try:
                    body = response.body()
                except Error:
                    continue  # a document replaced before its body could be read
                assert JWT_PREFIX.encode() not in body, response.url
                self.bodies_checked += 1
        self._requests.clear()
        self._responses.clear()


def _check_page_state(page: Page) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate(_PAGE_STATE)
    assert SESSION_COOKIE not in state["cookie"]
    for name, value in state.items():
        assert JWT_PREFIX not in str(value), f"a JWT in {name}"
    return state


def test_no_jwt_reaches_the_browser(new_context: NewContext, app: Pair, alice: Account) -> None:
    context = new_context()
    page = context.new_page()
    traffic = Traffic(page)

    sign_in(page, app.web_url, alice.user)  # the server sets the cookie in this context
    tasks = TasksPage(page)
    title = f"Renew the passport {secrets.token_hex(3)}"
    tasks.add(title, "Photos from the booth on Main Street")
    tasks.toggle(title)
    tasks.edit(title, f"{title}, urgently", "Appointment on Tuesday")
    tasks.search.fill("passport")
    expect(tasks.item(f"{title}, urgently")).to_be_visible()
    _check_page_state(page)
    traffic.check()

    page.reload()
    tasks.expect_open(alice.user)
    expect(tasks.item(f"{title}, urgently")).to_be_visible()
    _check_page_state(page)
    traffic.check()

    for url in traffic.urls + traffic.navigations:
        assert JWT_PREFIX not in url, url
    assert traffic.bodies_checked >= 5, "too few responses were checked to mean anything"

    (session,) = [cookie for cookie in context.cookies() if cookie["name"] == SESSION_COOKIE]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert session["path"] == "/"
    # Plain http here: Better Auth adds Secure and the __Secure- prefix only on https.
    assert session["secure"] is False
    for cookie in context.cookies():
        assert JWT_PREFIX not in cookie["value"], cookie["name"]
