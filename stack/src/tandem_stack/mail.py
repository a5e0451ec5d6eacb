"""The embedded mail catcher: a real SMTP server (aiosmtpd) on 127.0.0.1 that keeps mail.

When SMTP_URL is unset, `run` and `dev` start one and point the web app at it. Each message
is saved as an `.eml` file under `.data/mail/`, and one line per message names its recipient,
its subject and the link it carries: a person trying Tandem locally clicks that link. The
test suites start their own on a free port and read the links from the files.
"""

import asyncio
import email.policy
import logging
import re
import threading
import time
import weakref
from collections.abc import Iterable
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

from tandem_stack.readiness import LOCALHOST

LINK = re.compile(r"https?://[^\s<>\"']+")
_START_TIMEOUT = 10.0

log = logging.getLogger(__name__)
# aiosmtpd logs every SMTP command at INFO: the one line per message above is enough.
logging.getLogger("mail.log").setLevel(logging.WARNING)


def parse(raw: bytes) -> EmailMessage:
    return BytesParser(EmailMessage, policy=email.policy.default).parsebytes(raw)


def link_in(message: EmailMessage) -> str | None:
    """The first http(s) link in the message's plain-text body."""
    body = message.get_body(preferencelist=("plain",))
    if body is None:
        return None
    found = LINK.search(body.get_content())
    return found.group() if found else None


class _Keeper:
    """aiosmtpd's handler: every accepted message becomes one file."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._count = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        self._count += 1
        # Named so that sorting the names sorts the messages by arrival.
        path = self.directory / f"{time.time_ns()}-{self._count:06d}.eml"
        path.write_bytes(raw)
        message = parse(raw)
        log.info(
            "mail to %s: %s  %s",
            ", ".join(envelope.rcpt_tos),
            message.get("subject", "(no subject)"),
            link_in(message) or "(no link)",
        )
        return "250 Message accepted for delivery"


async def _close(server: asyncio.Server, sessions: Iterable[SMTP]) -> None:
    """Stops listening, ends the sessions still open (each runs as a task) and waits until
    their sockets have closed. On the server's own loop: asyncio.Server is not thread-safe,
    and a session ending on the loop while another thread closes the server can wake its
    waiters twice."""
    server.close()
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    # A session's socket closes a few loop turns after its task ends (aiosmtpd clears
    # `transport` in connection_lost); bounded, so a stuck one cannot hang the stop.
    deadline = time.monotonic() + _START_TIMEOUT / 2
    while any(session.transport is not None for session in sessions):
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.01)
    await server.wait_closed()


class MailCatcher:
    """An SMTP server in a thread of its own; a supervised service (name, alive, stop)."""

    name = "mail"

    def __init__(self, directory: Path, *, host: str = LOCALHOST, port: int = 0) -> None:
        self.directory = directory
        self.host = host
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="mail", daemon=True)
        self._server: asyncio.Server | None = None
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def start(self) -> "MailCatcher":
        """Listen (port 0: any free port, then `port` says which) and serve in the thread."""
        self.directory.mkdir(parents=True, exist_ok=True)
        keeper = _Keeper(self.directory)
        self._thread.start()
        serve = self._loop.create_server(lambda: self._session(keeper), self.host, self.port)
        listening = asyncio.run_coroutine_threadsafe(serve, self._loop)
        self._server = listening.result(_START_TIMEOUT)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def _session(self, keeper: _Keeper) -> SMTP:
        session = SMTP(keeper, hostname=self.host)
        self._sessions.add(session)
        return session

    def alive(self) -> bool:
        return self._thread.is_alive() and self._server is not None and self._server.is_serving()

    def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            closing = asyncio.run_coroutine_threadsafe(
                _close(server, list(self._sessions)), self._loop
            )
            closing.result(_START_TIMEOUT)
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(_START_TIMEOUT)
        self._loop.close()

    def __enter__(self) -> "MailCatcher":
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
