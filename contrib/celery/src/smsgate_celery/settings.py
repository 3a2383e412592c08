"""Where the workers find their broker, store and gateways: environment variables.

- ``SMSGATE_BROKER``: the Celery broker, ``redis://...`` (default ``redis://127.0.0.1:6379/0``)
  or ``amqp://...`` (RabbitMQ).
- ``SMSGATE_STORE``: the PostgreSQL store, ``postgresql://USER@HOST:5432/DB`` (``?schema=NAME``
  for a schema of its own); required.
- ``SMSGATE_CONFIG``: the ``smsgate.toml`` with the named gateways (searched as by ``smsgate``).
- ``SMSGATE_RATES``: limits shared by every worker, requests per second per gateway name:
  ``shop=10,promo=2.5`` (default: none).
- ``SMSGATE_LEASE``: seconds a claim's lease lasts at least (default 120; never less than three
  times one attempt's timeout).
- ``SMSGATE_CHUNK``: rows per claim (default 100).
- ``SMSGATE_QUEUE``: the Celery queue (default ``smsgate``; workers: ``celery -A smsgate_celery
  worker -Q NAME``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import attrs

from smsgate.errors import ConfigurationError
from smsgate_celery.worker import DEFAULT_CHUNK, DEFAULT_LEASE

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"


@attrs.frozen
class Settings:
    broker: str = DEFAULT_BROKER
    store: str | None = None
    rates: Mapping[str, float] = attrs.field(factory=dict)
    lease: float = DEFAULT_LEASE
    chunk: int = DEFAULT_CHUNK
    queue: str = "smsgate"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        try:
            return cls(
                broker=env.get("SMSGATE_BROKER") or DEFAULT_BROKER,
                store=env.get("SMSGATE_STORE") or None,
                rates=parse_rates(env.get("SMSGATE_RATES", "")),
                lease=float(env.get("SMSGATE_LEASE") or DEFAULT_LEASE),
                chunk=int(env.get("SMSGATE_CHUNK") or DEFAULT_CHUNK),
                queue=env.get("SMSGATE_QUEUE") or "smsgate",
            )
        except ValueError as exc:
            raise ConfigurationError(f"smsgate-celery settings: {exc}") from None

    def store_url(self) -> str:
        if not self.store or not self.store.startswith(("postgresql://", "postgres://")):
            raise ConfigurationError(
                "smsgate-celery needs the PostgreSQL store shared by every worker: set SMSGATE_STORE="
                "postgresql://USER@HOST:5432/DB"
            )
        return self.store


def parse_rates(text: str) -> dict[str, float]:
    """``"shop=10,promo=2.5"`` -> ``{"shop": 10.0, "promo": 2.5}`` (requests per second)."""
    rates: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"SMSGATE_RATES: {part!r} is not NAME=REQUESTS_PER_SECOND")
        rate = float(value)
        if rate <= 0:
            raise ValueError(f"SMSGATE_RATES: the rate of {name.strip()!r} must be positive")
        rates[name.strip()] = rate
    return rates
