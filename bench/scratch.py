"""A scratch PostgreSQL database for a benchmark run: made fresh, dropped afterwards."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from engine.config import EngineConfig
from engine.runtime import Runtime
from engine.store.db import upgrade
from ticketflow.composition import make_runtime

POSTGRES_URL = os.environ.get("TICKETFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def scratch_postgres(purpose: str) -> Iterator[str | None]:
    """A fresh database named after ``purpose`` (dropped afterwards); None, with the reason printed, when the
    server does not answer."""
    import psycopg

    admin = POSTGRES_URL.replace("+psycopg", "")
    name = f"ticketflow_bench_{purpose}_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        print(f"PostgreSQL skipped: {str(exc).strip().splitlines()[0][:160]}")
        yield None
        return
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrated_runtime(url: str) -> Runtime:
    """A runtime over ``url`` with every migration applied (the caller deploys and closes it)."""
    upgrade(url)
    return make_runtime(EngineConfig(database_url=url))
