"""Webhooks: the verification of inbound deliveries from the support channels (Standard Webhooks)."""
