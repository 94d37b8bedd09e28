"""Prometheus metrics: requests, step latency and timer lag as this process counts them, and figures the database
holds (tickets by status, the outbox's backlog, SLA breaches) read when scraped.

Under gunicorn every worker process writes its counts to files in ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's
multiprocess mode; ``ticketflow.gunicorn`` sets the directory up) and a scrape of any of them adds them all up,
``ticketflow worker`` processes sharing the directory included. Without that variable a process counts on its own.
"""
from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, request
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from engine.execution.observe import observe_steps
from engine.runtime import Runtime
from engine.usecases.operations import OperationsFigures, operations_figures
from web.request_ids import elapsed, route

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
READ_ROLES = ("admin", "auditor")  # who may scrape from elsewhere than this host, with their token

REQUESTS = Counter("ticketflow_http_requests", "HTTP requests answered, by route (the URL rule) and status",
                   ["method", "route", "status"])
REQUEST_SECONDS = Histogram("ticketflow_http_request_duration_seconds", "Time to answer an HTTP request",
                            ["method", "route"],
                            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
STEP_SECONDS = Histogram("ticketflow_step_duration_seconds", "Time for one engine step of a ticket, from its "
                         "workflow in hand to its state written", ["cause"],
                         buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
TIMER_LAG = Histogram("ticketflow_timer_lag_seconds", "How long after it was due a timer fired",
                      buckets=(1, 5, 15, 30, 60, 120, 300, 900, 3600, 14400))


class StepMetrics:
    """The engine's step observer (``engine.execution.observe``) that counts into the histograms above."""

    def __init__(self) -> None:
        self._by_cause: dict[str, Any] = {}  # each cause's labelled histogram, looked up once: steps are hot

    def step_saved(self, cause: str, seconds: float) -> None:
        histogram = self._by_cause.get(cause)
        if histogram is None:
            histogram = self._by_cause[cause] = STEP_SECONDS.labels(cause)
        histogram.observe(seconds)

    def timer_fired(self, lag_seconds: float) -> None:
        TIMER_LAG.observe(lag_seconds)


def count_steps() -> None:
    """Count this process's engine steps and timer firings from now on."""
    observe_steps(StepMetrics())


def install(app: Flask) -> None:
    """Count every request the app answers, and its engine steps."""
    count_steps()
    app.after_request(_counted)


def _counted(response: Response) -> Response:
    matched = route()
    REQUESTS.labels(request.method, matched, str(response.status_code)).inc()
    REQUEST_SECONDS.labels(request.method, matched).observe(elapsed())
    return response


def exposition(runtime: Runtime) -> bytes:
    """The metrics in Prometheus's text format: this process's (or all processes') counts, then the figures."""
    figures = CollectorRegistry(auto_describe=False)
    figures.register(FiguresCollector(runtime))
    return generate_latest(_counts_registry()) + generate_latest(figures)


def _counts_registry() -> CollectorRegistry:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
    return merged


class FiguresCollector(Collector):
    """Gauges read from the database at scrape time (so every process reports the same, whichever is asked)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        yield from figure_metrics(operations_figures(self.runtime))


def figure_metrics(figures: OperationsFigures) -> Iterator[Metric]:
    """The gauges of one reading of the figures."""
    tickets = GaugeMetricFamily("ticketflow_tickets", "Tickets by status", labels=["status"])
    for status, count in sorted(figures.tickets_by_status.items()):
        tickets.add_metric([status], count)
    yield tickets
    outbox = GaugeMetricFamily("ticketflow_outbox_messages", "Outbox messages by state (pending: still to "
                               "deliver; held: email not configured; dead: given up)", labels=["state"])
    for state in ("pending", "held", "delivered", "dead"):
        outbox.add_metric([state], figures.outbox_by_state.get(state, 0))
    yield outbox
    yield GaugeMetricFamily("ticketflow_outbox_oldest_pending_seconds", "How long the oldest message still to "
                            "deliver has waited (0 when none waits)", value=figures.oldest_pending_seconds)
    yield GaugeMetricFamily("ticketflow_outbox_dead_messages", "Messages given up after their last retry",
                            value=figures.outbox_by_state.get("dead", 0))
    if figures.sla_breached is not None:
        yield GaugeMetricFamily("ticketflow_sla_breached_tickets", "Tickets whose service level was breached",
                                value=figures.sla_breached)


def from_this_host() -> bool:
    """A request from a loopback address that no proxy forwarded (behind a proxy on this host every request
    would otherwise look local)."""
    if request.headers.get("X-Forwarded-For") or request.headers.get("Forwarded"):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False
