"""A local SMTP server that keeps every message as an .eml file, for the demo and tests.

Point `notify.smtp` at it and read what stakeholders would have received with
`oasis mail list` / `oasis mail show`, or any mail client that opens .eml files. It can
also speak STARTTLS, implicit TLS and AUTH, so the client's secure modes can be tested
against a real server.
"""

from __future__ import annotations

import email
import itertools
import logging
import os
import socket
import ssl
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # aiosmtpd itself is loaded by `start`: every server imports this module
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP, Envelope, Session

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now. aiosmtpd's Controller cannot take port 0: it connects
    to the port it was given to check that the server is up."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def parse_message(path: Path) -> EmailMessage:
    with path.open("rb") as f:
        return email.message_from_binary_file(f, policy=default_policy)  # type: ignore[return-value]


def text_of(msg: EmailMessage) -> str:
    """The plain-text body, or "" when there is none."""
    part = msg.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""  # type: ignore[union-attr]


def html_of(msg: EmailMessage) -> str | None:
    part = msg.get_body(preferencelist=("html",))
    return part.get_content() if part is not None else None  # type: ignore[union-attr]


class _StoreHandler:
    """aiosmtpd handler: every accepted message becomes one file, written atomically so a
    reader never sees half a message."""

    def __init__(self, directory: Path,
                 on_message: Callable[[Path, EmailMessage], None] | None) -> None:
        self.directory = directory
        self.on_message = on_message
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # Envelope sender and recipients go first, as aiosmtpd's own Message handler names
        # them, because Bcc recipients appear nowhere else.
        head = (f"X-Peer: {session.peer[0] if session.peer else 'unknown'}\r\n"
                f"X-MailFrom: {envelope.mail_from}\r\n"
                f"X-RcptTo: {', '.join(envelope.rcpt_tos)}\r\n").encode()
        content = envelope.original_content or b""
        with self._lock:
            name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}Z-{next(self._seq):06d}.eml"
        path = self.directory / name
        tmp = self.directory / f".{name}.tmp"
        tmp.write_bytes(head + content)
        os.replace(tmp, path)
        if self.on_message is not None:
            try:
                self.on_message(path, parse_message(path))
            except Exception:  # a printing problem must not make the client retry
                log.exception("on_message callback failed for %s", path)
        return "250 OK stored"


class MailCatcher:
    """Receives mail on host:port and stores it in `directory`; start()/stop() or `with`."""

    def __init__(self, directory: Path, host: str = "127.0.0.1", port: int = 1025, *,
                 tls_context: ssl.SSLContext | None = None, implicit_tls: bool = False,
                 authenticator: Callable[..., Any] | None = None,
                 on_message: Callable[[Path, EmailMessage], None] | None = None) -> None:
        """`tls_context` offers STARTTLS, or with `implicit_tls` wraps the whole connection;
        `authenticator` (aiosmtpd's) enables AUTH and then requires it."""
        if port == 0:
            raise ValueError("MailCatcher needs a real port; use free_port()")
        self.directory = Path(directory)
        self.host = host
        self.port = port
        kwargs: dict[str, Any] = {"enable_SMTPUTF8": True}
        if tls_context is not None and implicit_tls:
            kwargs["ssl_context"] = tls_context
        elif tls_context is not None:
            kwargs.update(tls_context=tls_context, require_starttls=True)
        if authenticator is not None:
            # aiosmtpd counts only STARTTLS as TLS for AUTH; an implicit-TLS connection is
            # encrypted from the first byte, so it must not be asked to upgrade again.
            kwargs.update(authenticator=authenticator, auth_required=True,
                          auth_require_tls=tls_context is not None and not implicit_tls)
        self._kwargs = kwargs
        self._handler = _StoreHandler(self.directory, on_message)
        self._controller: Controller | None = None

    def start(self) -> MailCatcher:
        from aiosmtpd.controller import Controller

        if self._controller is not None:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        # A fresh controller per start: one whose start failed cannot be started again.
        controller = Controller(self._handler, hostname=self.host, port=self.port,
                                **self._kwargs)
        try:
            controller.start()
        except OSError as exc:
            raise OSError(exc.errno, f"cannot listen on {self.host}:{self.port}: "
                                     f"{exc.strerror or exc}") from None
        self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> MailCatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def files(self) -> list[Path]:
        return stored_files(self.directory)

    def messages(self) -> list[EmailMessage]:
        """Every stored message, oldest first."""
        return [parse_message(p) for p in self.files()]


def stored_files(directory: Path) -> list[Path]:
    """The .eml files in `directory`, oldest first (their names sort by arrival)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.eml") if not p.name.startswith("."))
