"""The Flask app factory: the API and page blueprints over a runtime the composition root hands in."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flask import Flask, Request, Response, render_template
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface

from engine.runtime import Runtime
from engine.usecases.audit import AuditService
from engine.usecases.channels import DeliveryVerifier
from engine.usecases.email_in import EmailIngest
from engine.usecases.page_sessions import PageSessions, SessionLimits
from engine.usecases.users import Directory
from web import deadlines, metrics, problems, rate_limits, request_ids

DEFAULT_MAX_BODY = 1024 * 1024  # 1 MiB
DEFAULT_SESSION_IDLE_MINUTES = 480  # a working day
DEFAULT_SESSION_LIFETIME_DAYS = 7


@dataclass(frozen=True)
class WebSettings:
    max_body: int = DEFAULT_MAX_BODY
    secret_key: str | None = None  # signs the page-session cookie; every process behind one URL needs the same one
    secure_cookies: bool = False  # set when served over HTTPS
    session_idle_minutes: int = DEFAULT_SESSION_IDLE_MINUTES  # a page session unused this long ends
    session_lifetime_days: int = DEFAULT_SESSION_LIFETIME_DAYS  # and any page session ends this long after sign-in
    rate_limit: float | None = None  # requests per second per caller (None: unlimited), see web.rate_limits
    rate_burst: int | None = None  # requests a caller may send at once (by default twice the rate)
    rate_failures: float | None = None  # 401s per second per address before unknown credentials wait (None: any)
    request_timeout: float | None = deadlines.DEFAULT_REQUEST_TIMEOUT  # seconds a request may take (None: no limit)

    @classmethod
    def from_env(cls) -> WebSettings:
        limits = rate_limits.limits_from_env(dict(os.environ))  # on by default, unlike the fields' own defaults
        return cls(max_body=int(os.environ.get("TICKETFLOW_MAX_BODY", DEFAULT_MAX_BODY)),
                   rate_limit=limits.rate, rate_burst=limits.burst, rate_failures=limits.failures,
                   request_timeout=deadlines.timeout_from_env(os.environ),
                   secret_key=os.environ.get("TICKETFLOW_SECRET_KEY"),
                   secure_cookies=os.environ.get("TICKETFLOW_SECURE_COOKIES") == "1",
                   session_idle_minutes=_positive("TICKETFLOW_SESSION_IDLE_MINUTES", DEFAULT_SESSION_IDLE_MINUTES),
                   session_lifetime_days=_positive("TICKETFLOW_SESSION_LIFETIME_DAYS", DEFAULT_SESSION_LIFETIME_DAYS))

    @property
    def session_limits(self) -> SessionLimits:
        return SessionLimits(idle=timedelta(minutes=self.session_idle_minutes),
                             lifetime=timedelta(days=self.session_lifetime_days))


def _positive(name: str, default: int) -> int:
    """A whole number of 1 or more from the environment variable ``name``, else a plain error at start-up."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be a whole number of 1 or more (got {raw!r})")
    return int(raw)


@dataclass
class Services:
    """What the views call: the engine's use cases and the user directory."""

    runtime: Runtime
    directory: Directory
    audit: AuditService
    page_sessions: PageSessions
    verifier: DeliveryVerifier | None = None  # checks inbound webhooks' signatures (``webhooks.inbound``)
    ingest_email: EmailIngest | None = None  # reads a raw email a channel's webhook carried (``mail.intake``)


def create_app(runtime: Runtime, settings: WebSettings | None = None,
               verifier: DeliveryVerifier | None = None, ingest_email: EmailIngest | None = None) -> Flask:
    """Build the app over ``runtime`` (``ticketflow.composition.make_runtime`` wires the shipped one); without a
    ``verifier`` inbound webhooks are refused (503), and without ``ingest_email`` the raw emails they carry."""
    settings = settings or WebSettings.from_env()
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body, MAX_FORM_MEMORY_SIZE=settings.max_body,
        SECRET_KEY=settings.secret_key or _local_secret(), SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=settings.secure_cookies)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep documents in their written order
    app.session_interface = _CookieSessions()
    # Sessions read the runtime's clock, so the idle timeout follows a test's fake clock too.
    app.extensions["ticketflow"] = Services(runtime, Directory(runtime.sessions, runtime.clock),
                                            AuditService(runtime),
                                            PageSessions(runtime.sessions, runtime.clock, settings.session_limits),
                                            verifier, ingest_email)
    app.html_error = _html_error  # type: ignore[attr-defined]
    problems.install(app)
    request_ids.install(app)  # the first before_request: every later log line and problem names the request
    deadlines.install(app, settings.request_timeout)  # the clock starts before anything else reads the database
    metrics.install(app)
    rate_limits.install(app, rate_limits.Limits(settings.rate_limit, settings.rate_burst, settings.rate_failures))

    from web.api.audit import audit_api
    from web.api.conversation import conversation_api
    from web.api.definitions import definitions_api
    from web.api.knowledge import kb_api
    from web.api.me import me_api
    from web.api.meta import meta
    from web.api.outbox import outbox_api
    from web.api.reports import reports_api
    from web.api.subscriptions import subscriptions_api
    from web.api.units import units_api
    from web.api.v1 import api
    from web.api.views import views_api
    from web.api.webhooks import channels_api, webhooks
    from web.pages import (  # noqa: F401 - add their routes to the pages blueprint
        admin,
        admin_units,
        answers,
        attention,
        audit,
        channels,
        conversation,
        definitions,
        knowledge,  # noqa: F401 - adds the knowledge-base pages to the pages blueprint
        modeler,  # noqa: F401 - adds the process owners' modeler to the pages blueprint
        outbox,
        personal,
        process,
        reports,
        subscriptions,
        ticket_list,
    )
    from web.pages.views import pages

    app.register_blueprint(api)
    app.register_blueprint(definitions_api)
    app.register_blueprint(audit_api)
    app.register_blueprint(kb_api)
    app.register_blueprint(conversation_api)
    app.register_blueprint(outbox_api)
    app.register_blueprint(reports_api)
    app.register_blueprint(meta)
    app.register_blueprint(pages)
    app.register_blueprint(channels_api)
    app.register_blueprint(webhooks)
    app.register_blueprint(subscriptions_api)
    app.register_blueprint(units_api)
    app.register_blueprint(me_api)
    app.register_blueprint(views_api)

    @app.after_request
    def _hardening(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
            response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    return app


class _CookieSessions(SecureCookieSessionInterface):
    """Flask's signed cookie as the carrier of the page session's random id (the session itself is a
    server-side record, see ``web.auth``), without building a signer for requests that carry no session
    cookie: every API call (bearer tokens) would otherwise pay for one."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def _html_error(status: int, title: str, detail: str) -> tuple[str, int]:
    return render_template("error.html", status=status, title=title, detail=detail), status


def _local_secret() -> str:
    """A per-installation secret kept under var/ (created once, owner-only) for the embedded setup."""
    path = Path(os.environ.get("TICKETFLOW_VAR", "var")) / "secret_key"
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process of this installation wrote it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as out:
        out.write(secret)
    return secret
