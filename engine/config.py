"""Engine configuration read from the environment, with the embedded defaults."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

DEFAULT_DATABASE_URL = "sqlite:///var/ticketflow.db"
DEFAULT_LANE_ROLES = {"Customer": "customer", "L1 Support": "l1", "L2 Support": "l2"}
DEFAULT_SANDBOX_SECONDS = 2.0  # longest one diagram expression or script may run
DEFAULT_SANDBOX_MEMORY_MB = 64  # most one evaluation may build


@dataclass(frozen=True)
class EngineConfig:
    database_url: str = DEFAULT_DATABASE_URL
    # Lane name -> role that works it. A Customer-role lane belongs to the ticket's own customer.
    lane_roles: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_LANE_ROLES))
    sandbox_seconds: float = DEFAULT_SANDBOX_SECONDS
    sandbox_memory_mb: int = DEFAULT_SANDBOX_MEMORY_MB

    @classmethod
    def from_env(cls) -> EngineConfig:
        lanes = os.environ.get("TICKETFLOW_LANE_ROLES")
        seconds, memory_mb = sandbox_limits_from_env()
        return cls(
            database_url=os.environ.get("TICKETFLOW_DATABASE_URL", DEFAULT_DATABASE_URL),
            lane_roles=json.loads(lanes) if lanes else dict(DEFAULT_LANE_ROLES),
            sandbox_seconds=seconds,
            sandbox_memory_mb=memory_mb,
        )


def sandbox_limits_from_env() -> tuple[float, int]:
    """(seconds, MB) one diagram expression or script may use: TICKETFLOW_SANDBOX_SECONDS and _MEMORY_MB."""
    return (float(os.environ.get("TICKETFLOW_SANDBOX_SECONDS", DEFAULT_SANDBOX_SECONDS)),
            int(os.environ.get("TICKETFLOW_SANDBOX_MEMORY_MB", DEFAULT_SANDBOX_MEMORY_MB)))
