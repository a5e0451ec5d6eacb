"""The mail the stack sent, as the suite's own catcher (tandem_stack.mail) saved it.

The stack's Next.js servers send through real SMTP to a catcher on a free port, which writes
each message to artifacts/mail/; a test reads the link a message carries from there.
"""

import time
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

from tandem_stack.mail import link_in, parse

from support import sensitive
from support.paths import MAIL

_POLL_SECONDS = 0.05
_TIMEOUT_SECONDS = 15.0


def messages_to(recipient: str) -> list[EmailMessage]:
    """Every message to `recipient` so far, oldest first."""
    found = []
    for path in sorted(MAIL.glob("*.eml")):
        message = parse(path.read_bytes())
        if recipient.lower() in str(message.get("to", "")).lower():
            found.append(message)
    return found


def _remember_token(link: str) -> None:
    """The link's token must appear in no log (test_zz_log_scan.py)."""
    parts = urlsplit(link)
    for token in parse_qs(parts.query).get("token", []):
        sensitive.remember("mail link token", token)
    sensitive.remember("mail link token", parts.path.rsplit("/", 1)[-1])


def wait_for_link(recipient: str, *, subject: str, after: int = 0) -> str:
    """The link in the first message to `recipient` whose subject contains `subject`, among those
    that arrived after the first `after` messages to them (messages_to); waits for it."""
    deadline = time.monotonic() + _TIMEOUT_SECONDS
    while True:
        for message in messages_to(recipient)[after:]:
            if subject in str(message.get("subject", "")) and (link := link_in(message)):
                _remember_token(link)
                return link
        if time.monotonic() > deadline:
            raise AssertionError(f"no mail with {subject!r} arrived for the recipient")
        time.sleep(_POLL_SECONDS)


VERIFY_SUBJECT = "Verify your email address"
RESET_SUBJECT = "Reset your Tandem password"
EXISTING_SUBJECT = "Someone tried to create a Tandem account"


def verification_link(recipient: str) -> str:
    return wait_for_link(recipient, subject=VERIFY_SUBJECT)
