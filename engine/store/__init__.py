"""Persistence: SQLAlchemy 2.0 models, database set-up and the unit of work."""
