"""WSGI entry point for production servers: `gunicorn -w 4 -b 127.0.0.1:8000 'ticketflow.wsgi:app'`.

Configuration comes from the environment (TICKETFLOW_DATABASE_URL, TICKETFLOW_SECRET_KEY, ...).
"""
from ticketflow.composition import make_app

app = make_app()
