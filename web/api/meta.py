"""Service endpoints: health, readiness, metrics and the API description."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from engine.usecases.operations import readiness
from web.api.openapi import document
from web.auth import authenticate_api, current_user
from web.metrics import CONTENT_TYPE, READ_ROLES, exposition, from_this_host
from web.problems import ApiError, problem

meta = Blueprint("meta", __name__)


@meta.get("/healthz")
def healthz() -> Response:
    try:
        current_app.extensions["ticketflow"].runtime.ping()
    except Exception as exc:  # any database failure means "not healthy"; the detail names it
        return problem(503, "Unhealthy", f"the database is not reachable: {type(exc).__name__}")
    return jsonify({"status": "ok", "database": "reachable"})


@meta.get("/readyz")
def readyz() -> Response:
    """Ready to serve: the database answers, its migrations are current and a process definition is deployed."""
    state = readiness(current_app.extensions["ticketflow"].runtime)
    if state.failed is not None:
        return problem(503, "Not ready", state.failed)
    return jsonify({"status": "ready", "database": "reachable", "migrations": "current", "definition": "deployed"})


@meta.get("/metrics")
def metrics() -> Response:
    """Prometheus's text format; without a token only from this host, else with an admin's or auditor's token."""
    if not from_this_host():
        authenticate_api()
        if current_user().role not in READ_ROLES:
            raise ApiError(403, "Forbidden", f"only {' and '.join(READ_ROLES)} tokens read the metrics")
    body = exposition(current_app.extensions["ticketflow"].runtime)
    return Response(body, mimetype=None, content_type=CONTENT_TYPE)


@meta.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document())
