"""Step 1.3: search the knowledge base for a documented resolution, with keywords from the ticket."""
from __future__ import annotations

from typing import Any

from engine.execution.services import ServiceContext
from engine.store.knowledge import search


def knowledge_base_search(ctx: ServiceContext, query: str) -> list[dict[str, Any]]:
    return [m.as_dict() for m in search(ctx.connection, query, ctx.now)]
