"""Who may work which lane. Lanes map to roles in configuration; Customer tasks belong to one customer."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from engine.errors import Forbidden

ROLES = ("customer", "l1", "l2", "process_owner", "auditor", "admin")


@dataclass(frozen=True)
class Actor:
    name: str
    role: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown role '{self.role}'")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


SYSTEM = Actor("system", "admin")


def check_may_work(actor: Actor, lane: str, ticket_customer: str, lane_roles: Mapping[str, str]) -> None:
    """Raise Forbidden unless the actor may claim or complete a task in this lane of this ticket."""
    if actor.is_admin:
        return
    role = lane_roles.get(lane)
    if role is None:
        raise Forbidden(f"lane '{lane}' has no role mapping")
    if actor.role != role:
        raise Forbidden(f"'{actor.name}' ({actor.role}) may not work the '{lane}' lane")
    if role == "customer" and actor.name != ticket_customer:
        raise Forbidden("only the ticket's own customer may answer this task")
