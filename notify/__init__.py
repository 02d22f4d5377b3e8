"""Alerts: routes and templates over apprise, and the durable outbox that delivers them."""
