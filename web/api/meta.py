"""Unauthenticated service endpoints: health and the API description."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from web.api.openapi import document
from web.problems import problem

meta = Blueprint("meta", __name__)


@meta.get("/healthz")
def healthz() -> Response:
    try:
        current_app.extensions["ticketflow"].runtime.ping()
    except Exception as exc:  # any database failure means "not healthy"; the detail names it
        return problem(503, "Unhealthy", f"the database is not reachable: {type(exc).__name__}")
    return jsonify({"status": "ok", "database": "reachable"})


@meta.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document())
