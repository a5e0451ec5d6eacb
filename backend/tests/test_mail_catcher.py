"""The stack's mail catcher (tandem_stack.mail): a real SMTP server that keeps each message."""

import logging
import smtplib
from email.message import EmailMessage
from pathlib import Path

import pytest
from tandem_stack.mail import MailCatcher, link_in, parse
from tandem_stack.readiness import port_in_use

LINK = "http://localhost:3000/api/auth/verify-email?token=abc.def&callbackURL=%2Femail-verified"


def _message() -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Tandem <no-reply@localhost>"
    message["To"] = "ada@example.com"
    message["Subject"] = "Verify your email address for Tandem"
    message.set_content(f"Hello Ada,\n\nOpen this link:\n\n{LINK}\n")
    return message


def test_each_message_is_saved_and_announced_with_its_link(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tandem_stack.mail")
    with MailCatcher(tmp_path / "mail") as catcher:
        assert catcher.port != 0
        assert catcher.url == f"smtp://127.0.0.1:{catcher.port}"
        with smtplib.SMTP(catcher.host, catcher.port) as smtp:
            smtp.send_message(_message())
            smtp.send_message(_message())
        saved = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(saved) == 2
    kept = parse(saved[0].read_bytes())
    assert kept["To"] == "ada@example.com"
    assert link_in(kept) == LINK
    lines = [r.getMessage() for r in caplog.records if r.name == "tandem_stack.mail"]
    assert lines == [f"mail to ada@example.com: Verify your email address for Tandem  {LINK}"] * 2


def test_stopping_closes_the_port(tmp_path: Path) -> None:
    catcher = MailCatcher(tmp_path).start()
    assert catcher.alive()
    # A whole SMTP conversation, not a bare connect: a probe that hangs up at once can race
    # the stop, and leave the server's side of the socket for the garbage collector.
    with smtplib.SMTP(catcher.host, catcher.port) as smtp:
        assert smtp.noop()[0] == 250
    catcher.stop()
    assert not catcher.alive()
    assert not port_in_use(catcher.port)


def test_a_message_without_a_link_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="tandem_stack.mail")
    message = _message()
    message.set_content("No link here.\n")
    with MailCatcher(tmp_path) as catcher, smtplib.SMTP(catcher.host, catcher.port) as smtp:
        smtp.send_message(message)
    assert any(r.getMessage().endswith("(no link)") for r in caplog.records)
