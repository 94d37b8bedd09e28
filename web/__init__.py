"""HTTP only: the Flask app factory, API v1 (api/), the pages (pages/, templates/, static/), sign-in and
error mapping. Wired by the composition root in ``ticketflow``."""
