"""Email, in and out: SMTP delivery with templates and threading; intake with parsing and reply matching.

Imports ``engine`` only (never ``web``, ``tasks`` or ``webhooks``); ``ticketflow`` wires it in.
"""
