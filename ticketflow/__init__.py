"""The ticketflow application: composition root, command line, serve, worker and demo."""
