"""Knowledge-base use cases for the CLI and the API (one transaction each)."""
from __future__ import annotations

from pathlib import Path

from engine.runtime import Runtime
from tasks.knowledge_base import import_articles


def import_kb_file(runtime: Runtime, path: Path) -> tuple[int, int]:
    """Load articles from a JSON file; all or nothing."""
    with runtime.uow() as uow:
        created, updated = import_articles(uow.session, path, runtime.clock())
        uow.commit()
    return created, updated
