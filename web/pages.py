"""Server-rendered pages: sign-in, inboxes, task forms, tickets, the customer's own page."""
from __future__ import annotations

from flask import Blueprint

from .auth import load_page_user

pages = Blueprint("pages", __name__)
pages.before_request(load_page_user)
