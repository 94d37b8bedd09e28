"""Alembic environment: the URL comes from the caller or TICKETFLOW_DATABASE_URL."""
from alembic import context
from engine.config import EngineConfig
from engine.store.db import make_engine
from engine.store.models import Base

url = context.config.get_main_option("sqlalchemy.url") or EngineConfig.from_env().database_url
engine = make_engine(url)
try:
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata)
        with context.begin_transaction():
            context.run_migrations()
finally:  # a migration that refuses (or fails) must not leave its connection to the garbage collector
    engine.dispose()
