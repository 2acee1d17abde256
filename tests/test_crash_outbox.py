"""kill -9 of a real `oasis serve` while it sends mail from its outbox, to a real SMTP
server on localhost: no notification is ever lost.

The guarantee is at least once with a stable Message-ID: a delivery claimed by a process
that died is sent again once its claim (`notify.send_claim_seconds`) lapses, and every copy
of one notification carries the same Message-ID, which is what a receiver de-duplicates on.
Killed before the relay took the message, it arrives once; killed after the relay took it
(whether or not OASIS saw the relay's answer), it arrives twice, identical. Never zero.
"""

from __future__ import annotations

import threading
from collections import Counter
from email.message import EmailMessage
from pathlib import Path

import pytest

from oasis.notify.catcher import MailCatcher, free_port
from oasis.notify.outbox import SENT, Outbox
from tests.crash_server import OasisProcess, seed_incident
from tests.helpers import FLEET_NOWHERE

# An incident with a rollback to propose queues two mails: its summary and the approval
# request. The kill lands on the first one sent; the second must not be lost either.
MAILS = 2


def mail_server(tmp_path: Path, smtp_port: int) -> OasisProcess:
    server = OasisProcess(
        tmp_path,
        {
            "notify": {
                "smtp": {"port": smtp_port, "timeout_seconds": 120},
                "send_claim_seconds": 2,
                "dispatch_interval_seconds": 0.5,
            },
            "remediate": FLEET_NOWHERE,
            "respond": {"interval_seconds": 0.5},
        },
    )
    seed_incident(server.data, "inc-mail", "checkout", "1.0.0")
    return server


def ids(messages: list[EmailMessage]) -> Counter[str]:
    return Counter(m["Message-ID"] for m in messages)


def finish_after_restart(
    server: OasisProcess, mailbox: MailCatcher, copies: int
) -> tuple[list[EmailMessage], list]:
    """Restart, wait until every mail is in the mailbox, stop; the mail and the rows."""
    server.start()
    try:
        server.wait_for(
            lambda: len(mailbox.messages()) >= copies, 120, what=f"{copies} mails after the restart"
        )
        outbox = Outbox(f"sqlite:///{server.data / 'state.db'}")
        try:
            rows = server.wait_for(
                lambda: (
                    lambda rows: rows if rows and all(r.status == SENT for r in rows) else None
                )(outbox.for_incident("inc-mail")),
                60,
                what="every delivery marked sent",
            )
        finally:
            outbox.close()
    finally:
        server.stop()
    return mailbox.messages(), rows


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("point", "received_before_restart"), [("outbox.before_send", 0), ("outbox.after_send", 1)]
)
def test_kill_9_around_an_smtp_send_loses_no_mail(
    tmp_path: Path, point: str, received_before_restart: int
) -> None:
    port = free_port()
    with MailCatcher(tmp_path / "mail", port=port) as mailbox:
        server = mail_server(tmp_path, port)
        server.start(crash_at=point)
        try:
            server.killed_at_crash_point()
        finally:
            server.stop()
        assert len(mailbox.messages()) == received_before_restart
        messages, rows = finish_after_restart(server, mailbox, MAILS + received_before_restart)

    assert len(rows) == MAILS and len(ids(messages)) == MAILS  # every notification arrived
    assert {f"<{r.notification_id}@localhost>" for r in rows} == set(ids(messages))
    crashed = [r for r in rows if r.attempts == 2]
    assert len(crashed) == 1 and all(r.attempts == 1 for r in rows if r not in crashed)
    if received_before_restart:  # the relay had it: the retry is a same-ID duplicate
        [(twice, n)] = [(i, n) for i, n in ids(messages).items() if n > 1]
        assert n == 2 and twice == f"<{crashed[0].notification_id}@localhost>"
        first, second = [m for m in messages if m["Message-ID"] == twice]
        assert first.get_body().get_content() == second.get_body().get_content()
    else:
        assert sorted(ids(messages).values()) == [1] * MAILS  # exactly once


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_kill_9_in_the_middle_of_the_smtp_conversation_resends_with_the_same_id(
    tmp_path: Path,
) -> None:
    """The relay has the whole message but OASIS dies before reading its `250`: the
    classic duplicate. The test's SMTP server holds its answer until OASIS is dead."""
    entered, release = threading.Event(), threading.Event()

    def hold_the_first(path: Path, message: EmailMessage) -> None:
        if not entered.is_set():
            entered.set()
            release.wait(120)

    port = free_port()
    with MailCatcher(tmp_path / "mail", port=port, on_message=hold_the_first) as mailbox:
        server = mail_server(tmp_path, port)
        proc = server.start()
        try:
            assert entered.wait(90), "no mail reached the SMTP server"
            proc.kill()  # SIGKILL from outside, mid-conversation
            proc.wait(30)
        finally:
            release.set()
            server.stop()
        assert len(mailbox.messages()) == 1
        messages, rows = finish_after_restart(server, mailbox, MAILS + 1)

    assert len(rows) == MAILS and sorted(ids(messages).values()) == [1, 2]
    [held] = [r for r in rows if r.attempts == 2]
    assert ids(messages)[f"<{held.notification_id}@localhost>"] == 2


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("point", ["respond.after_summary", "respond.before_approval_request"])
def test_kill_9_between_proposing_and_asking_still_sends_the_request_once(
    tmp_path: Path, point: str
) -> None:
    """Killed after the proposals are stored but before the approval request is queued,
    the restarted responder queues it (and never the summary a second time)."""
    port = free_port()
    with MailCatcher(tmp_path / "mail", port=port) as mailbox:
        server = mail_server(tmp_path, port)
        server.start(crash_at=point)
        try:
            server.killed_at_crash_point()
        finally:
            server.stop()
        messages, rows = finish_after_restart(server, mailbox, MAILS)
    assert sorted(r.kind for r in rows) == ["approval_request", "incident_summary"]
    assert sorted(ids(messages).values()) == [1, 1]
    assert any("approv" in m["subject"].lower() for m in messages)
