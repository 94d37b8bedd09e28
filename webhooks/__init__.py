"""Standard Webhooks, in and out: signed intake from support channels, outbound event subscriptions.

Imports ``engine`` only (never ``web``, ``tasks`` or ``mail``); ``ticketflow`` wires it in.
"""
