"""Email settings from the environment: where to send (``TICKETFLOW_SMTP_URL``) and as whom
(``TICKETFLOW_MAIL_FROM``). Without an SMTP URL email is not configured: messages are held, not sent."""
from __future__ import annotations

import os
from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_SENDER = "ticketflow <support@localhost>"
DEFAULT_TIMEOUT = 30.0  # seconds for connecting and for each reply of the server
PORTS = {"plain": 25, "starttls": 587, "tls": 465}


@dataclass(frozen=True)
class SmtpServer:
    """An SMTP server: ``security`` is plain, starttls (upgrade after connecting) or tls (implicit, smtps)."""

    host: str
    port: int
    security: str
    user: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str, password: str | None = None) -> SmtpServer:
        """``smtp://[user[:password]@]host[:port][?starttls=true]``, ``smtp+starttls://...`` or ``smtps://...``."""
        parts = urlsplit(url)
        security = {"smtp": "plain", "smtp+starttls": "starttls", "smtps": "tls"}.get(parts.scheme)
        if security is None:
            raise ValueError(f"TICKETFLOW_SMTP_URL must start with smtp://, smtp+starttls:// or smtps:// "
                             f"(got {parts.scheme or 'no scheme'})")
        if security == "plain" and parse_qs(parts.query).get("starttls", ["false"])[0].lower() in ("true", "1"):
            security = "starttls"
        if not parts.hostname:
            raise ValueError("TICKETFLOW_SMTP_URL names no host")
        try:
            port = parts.port or PORTS[security]
        except ValueError:
            raise ValueError("TICKETFLOW_SMTP_URL has a port that is not a number from 1 to 65535") from None
        user = unquote(parts.username) if parts.username else None
        secret = unquote(parts.password) if parts.password else password
        return cls(parts.hostname, port, security, user, secret)


@dataclass(frozen=True)
class MailSettings:
    """The sender, and the server (None: email is not configured, messages are held)."""

    sender: str = DEFAULT_SENDER
    server: SmtpServer | None = None
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_env(cls) -> MailSettings:
        """TICKETFLOW_SMTP_URL, TICKETFLOW_SMTP_PASSWORD, TICKETFLOW_SMTP_TIMEOUT and TICKETFLOW_MAIL_FROM."""
        url = os.environ.get("TICKETFLOW_SMTP_URL", "").strip()
        server = SmtpServer.from_url(url, os.environ.get("TICKETFLOW_SMTP_PASSWORD")) if url else None
        timeout = float(os.environ.get("TICKETFLOW_SMTP_TIMEOUT", DEFAULT_TIMEOUT))
        if timeout <= 0:
            raise ValueError("TICKETFLOW_SMTP_TIMEOUT must be a number of seconds above 0")
        return cls(checked_sender(os.environ.get("TICKETFLOW_MAIL_FROM", DEFAULT_SENDER)), server, timeout)

    @property
    def domain(self) -> str:
        """The sender's domain: the right-hand side of every Message-ID ticketflow writes."""
        return sender_address(self.sender).domain


def sender_address(sender: str) -> Address:
    """The sender as an address (display name and addr-spec)."""
    name, addr_spec = parseaddr(sender)
    return Address(display_name=name, addr_spec=addr_spec)


def checked_sender(sender: str) -> str:
    """``sender`` if it is one well-formed address on one line, else a plain error at start-up."""
    if "\r" in sender or "\n" in sender:
        raise ValueError("TICKETFLOW_MAIL_FROM must be on one line")
    try:
        address = sender_address(sender)
    except (ValueError, IndexError) as exc:
        raise ValueError(f"TICKETFLOW_MAIL_FROM is not an email address: {sender!r} ({exc})") from None
    if not address.username or not address.domain:
        raise ValueError(f"TICKETFLOW_MAIL_FROM is not an email address like 'Support <help@example.com>': "
                         f"{sender!r}")
    return sender
