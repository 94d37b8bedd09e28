"""Composition root: wires the database, the handler registry, the message composer and the definition loader
into a Runtime, and the runtime into the web app. The only place that knows every package."""
from __future__ import annotations

import os
from pathlib import Path

from flask import Flask

from engine.access import Actor
from engine.config import EngineConfig
from engine.execution.clock import Clock, system_clock
from engine.process.definitions import read_bundle
from engine.process.guards import configure_limits
from engine.runtime import Runtime, build_runtime
from engine.store.db import REPO_ROOT, make_engine, session_factory
from engine.usecases.answer_links import DEFAULT_BASE_URL, AnswerLinkSigner
from engine.usecases.email_in import EmailIntake
from engine.usecases.outbox import ChannelTransport, MessageTransport, OutboxDelivery
from mail.compose import TemplateComposer
from mail.intake import IntakeLimits, WebhookMailIntake
from mail.settings import MailSettings
from mail.smtp import SmtpTransport
from tasks import build_registry
from web.app import WebSettings, _local_secret, create_app
from webhooks.inbound import StandardWebhooksVerifier
from webhooks.outbound import WebhookTransport

BUNDLED_DIAGRAM = REPO_ROOT / "bpmn" / "support_ticket.bpmn"
EMAIL_HELD = "Email is not configured: messages are held, see /outbox (set TICKETFLOW_SMTP_URL to send them)"


def make_runtime(config: EngineConfig, clock: Clock = system_clock, mail: MailSettings | None = None,
                 links: AnswerLinkSigner | None = None) -> Runtime:
    """A runtime over the configured database with every shipped handler, the email templates and the signer of
    the customer's answer links (``make_answer_links`` by default)."""
    configure_limits(config.sandbox_seconds, config.sandbox_memory_mb)  # the sandbox's limits are per process
    engine = make_engine(config.database_url)
    composer = TemplateComposer((mail or MailSettings.from_env()).domain)
    return build_runtime(session_factory(engine), build_registry(), config.lane_roles, clock, composer=composer,
                         links=links or make_answer_links())


def make_answer_links(secret_key: str | None = None) -> AnswerLinkSigner:
    """The answer links' signer: the web's secret key (``secret_key``, else TICKETFLOW_SECRET_KEY, else the one kept
    under var/, read only once a link is written or checked), so the worker's links open on every web process;
    the links point at TICKETFLOW_BASE_URL."""
    base_url = os.environ.get("TICKETFLOW_BASE_URL", "").strip() or DEFAULT_BASE_URL
    if not base_url.startswith(("http://", "https://")):
        raise ValueError(f"TICKETFLOW_BASE_URL must start with http:// or https:// (got {base_url!r})")
    return AnswerLinkSigner(secret_key or os.environ.get("TICKETFLOW_SECRET_KEY") or _local_secret, base_url)


def make_transport(mail: MailSettings | None = None) -> MessageTransport | None:
    """The SMTP transport of TICKETFLOW_SMTP_URL; None when email is not configured (messages are held)."""
    mail = mail or MailSettings.from_env()
    return SmtpTransport(mail) if mail.server is not None else None


def make_delivery(runtime: Runtime, mail: MailSettings | None = None,
                  webhooks: WebhookTransport | None = None) -> OutboxDelivery:
    """The outbox's delivery over ``runtime``: email through the configured SMTP server (held when there is none)
    and webhooks over HTTP (``TICKETFLOW_WEBHOOKS_ALLOW_HOSTS`` says which private hosts they may reach)."""
    transports: dict[str, MessageTransport] = {"webhook": webhooks or WebhookTransport()}
    email = make_transport(mail)
    if email is not None:
        transports["email"] = email
    return OutboxDelivery(runtime, ChannelTransport(transports))


def deploy_file(runtime: Runtime, path: Path = BUNDLED_DIAGRAM, actor: Actor | None = None) -> tuple[int, bool]:
    """Deploy a diagram and its forms from disk; return (version, newly created)."""
    bpmn, forms = read_bundle(path)
    row, created = runtime.deploy(bpmn, forms, actor or Actor("deployer", "process_owner"))
    return row.version, created


def make_app(config: EngineConfig | None = None, settings: WebSettings | None = None) -> Flask:
    """The web app over the configured database (``TICKETFLOW_*`` environment variables by default)."""
    settings = settings or WebSettings.from_env()
    links = make_answer_links(settings.secret_key)
    runtime = make_runtime(config or EngineConfig.from_env(), links=links)
    return create_app(runtime, settings, verifier=StandardWebhooksVerifier(),
                      ingest_email=WebhookMailIntake(EmailIntake.over(runtime), IntakeLimits.from_env()))
