"""Alerts: what to send and when, composing, delivery, outbox."""
