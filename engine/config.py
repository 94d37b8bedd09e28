"""Engine configuration read from the environment, with the embedded defaults."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

DEFAULT_DATABASE_URL = "sqlite:///var/ticketflow.db"
DEFAULT_LANE_ROLES = {"Customer": "customer", "L1 Support": "l1", "L2 Support": "l2"}


@dataclass(frozen=True)
class EngineConfig:
    database_url: str = DEFAULT_DATABASE_URL
    # Lane name -> role that works it. A Customer-role lane belongs to the ticket's own customer.
    lane_roles: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_LANE_ROLES))

    @classmethod
    def from_env(cls) -> EngineConfig:
        lanes = os.environ.get("TICKETFLOW_LANE_ROLES")
        return cls(
            database_url=os.environ.get("TICKETFLOW_DATABASE_URL", DEFAULT_DATABASE_URL),
            lane_roles=json.loads(lanes) if lanes else dict(DEFAULT_LANE_ROLES),
        )
