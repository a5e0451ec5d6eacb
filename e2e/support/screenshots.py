"""Screenshots of the main screens: every run into artifacts/, and on request into docs/.

With UPDATE_SCREENSHOTS=1, the images the README shows are also copied to docs/screenshots/.
"""

import os
import shutil

from playwright.sync_api import Page

from support.paths import DOCS_SCREENSHOTS, SCREENSHOTS

FOR_README = frozenset(
    {"sign-in", "tasks-desktop", "tasks-phone", "account-desktop", "account-phone"}
)


def screenshot(page: Page, name: str, *, full_page: bool = True) -> None:
    """`full_page=False` for a modal: its backdrop covers only the viewport."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # Caret hidden and animations stopped, so repeated runs look the same.
    page.screenshot(path=path, full_page=full_page, animations="disabled", caret="hide")
    if name in FOR_README and os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_SCREENSHOTS / path.name)
