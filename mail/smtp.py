"""Delivery over SMTP with the standard ``smtplib``: plain, STARTTLS or implicit TLS, optional login, a
timeout, and the connection kept for the next message of the same round.

Failures are classified for the outbox's retry schedule: a 5xx reply is permanent (the server refused this
message or recipient for good); a 4xx reply, a refused or dropped connection, a timeout, a TLS or login
problem are temporary (they are about the server or its configuration, not this message). All but a 4xx reply
also mark the server ``unavailable``: the round stops rather than wait out the same failure for every message.
"""
from __future__ import annotations

import smtplib
import ssl
from datetime import timedelta

from engine.store.outbox import OutboxItem
from engine.usecases.outbox import DeliveryError
from mail.message import build_email, recipient_of
from mail.settings import MailSettings, SmtpServer, sender_address


class SmtpTransport:
    """``engine.usecases.outbox.MessageTransport`` over one SMTP server."""

    def __init__(self, settings: MailSettings) -> None:
        if settings.server is None:
            raise ValueError("no SMTP server configured (TICKETFLOW_SMTP_URL)")
        self.server: SmtpServer = settings.server
        self.sender = settings.sender
        self.envelope_from = sender_address(settings.sender).addr_spec
        self.timeout = settings.timeout
        self.send_budget = timedelta(seconds=4 * settings.timeout)  # connect, greet, envelope, data
        self._connection: smtplib.SMTP | None = None

    def deliver(self, item: OutboxItem) -> str:
        """Send ``item``; return the server's answer to its data, e.g. ``250 2.0.0 Ok: queued as 4F1A``."""
        message = build_email(item, self.sender).as_bytes()
        to = recipient_of(item)
        try:
            code, answer = self._transaction(to, message)
        except DeliveryError:
            self._reset()
            raise
        except smtplib.SMTPResponseException as exc:
            self.close()
            refusal = _refused(exc.smtp_code, exc.smtp_error, "the connection")
            raise DeliveryError(refusal.reason, unavailable=True) from None  # about the server: temporary
        except (OSError, smtplib.SMTPException) as exc:  # refused, timed out, dropped, TLS
            self.close()
            raise DeliveryError(f"the mail server could not be reached or dropped the connection "
                                f"({type(exc).__name__}: {str(exc)[:200]})", unavailable=True) from None
        return f"{code} {answer.decode('utf-8', 'replace')}"

    def _transaction(self, to: str, message: bytes) -> tuple[int, bytes]:
        """MAIL, RCPT, DATA on the kept connection; if the server had closed it meanwhile (idle timeout), once
        more on a new one: nothing was sent yet, so this cannot send the message twice."""
        reused = self._connection is not None
        connection = self._connected()
        try:
            _expect(connection.mail(self.envelope_from), "the sender")
        except (smtplib.SMTPServerDisconnected, ConnectionError):
            if not reused:
                raise
            self.close()
            connection = self._connected()
            _expect(connection.mail(self.envelope_from), "the sender")
        _expect(connection.rcpt(to), "the recipient")
        code, answer = connection.data(message)
        _expect((code, answer), "the message")
        return code, answer

    def close(self) -> None:
        """Say goodbye to the server, if connected."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.quit()
            except (OSError, smtplib.SMTPException):
                connection.close()

    def _connected(self) -> smtplib.SMTP:
        if self._connection is None:
            self._connection = self._connect()
        return self._connection

    def _connect(self) -> smtplib.SMTP:
        server = self.server
        if server.security == "tls":
            connection: smtplib.SMTP = smtplib.SMTP_SSL(server.host, server.port, timeout=self.timeout,
                                                        context=ssl.create_default_context())
        else:
            connection = smtplib.SMTP(server.host, server.port, timeout=self.timeout)
        try:
            connection.ehlo()
            if server.security == "starttls":
                connection.starttls(context=ssl.create_default_context())
                connection.ehlo()
            if server.user:
                connection.login(server.user, server.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            connection.close()
            raise DeliveryError(f"the mail server refused the login ({exc.smtp_code}); check the SMTP user "
                                "and password", unavailable=True) from None
        except BaseException:
            connection.close()
            raise
        return connection

    def _reset(self) -> None:
        """After a refusal the connection is still good: forget the half-begun transaction."""
        try:
            if self._connection is not None:
                self._connection.rset()
        except (OSError, smtplib.SMTPException):
            self.close()


def _expect(reply: tuple[int, bytes], what: str) -> None:
    code, text = reply
    if not 200 <= code < 300:
        raise _refused(code, text, what)


def _refused(code: int, text: bytes | str, what: str) -> DeliveryError:
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    reason = f"the mail server refused {what}: {code} {words[:200]}"
    return DeliveryError(reason, permanent=500 <= code < 600)
