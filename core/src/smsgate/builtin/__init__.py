"""Providers that ship with the core (``outbox``: a loopback gateway for apps' own tests)."""
