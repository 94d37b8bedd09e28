"""Service-task handlers, registered under the operator ids the diagram names."""
from __future__ import annotations

from engine.execution.services import ServiceRegistry
from tasks import acknowledge, closure, knowledge_base, notify, priority, reminders


def build_registry() -> ServiceRegistry:
    """Every handler ticketflow ships, keyed by operator id."""
    registry = ServiceRegistry()
    registry.register("acknowledge_ticket", acknowledge.acknowledge_ticket)
    registry.register("priority_matrix", priority.priority_matrix)
    registry.register("knowledge_base_search", knowledge_base.knowledge_base_search)
    registry.register("notify_resolution", notify.notify_resolution)
    registry.register("request_customer_validation", notify.request_customer_validation)
    registry.register("send_reminder", reminders.send_reminder)
    registry.register("record_closure", closure.record_closure)
    return registry
