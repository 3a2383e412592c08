"""Real services for tests (PostgreSQL, Redis, RabbitMQ): where they are and whether they answer.

Each address comes from an environment variable, with the local default::

    SMSGATE_TEST_POSTGRES   postgresql://postgres@127.0.0.1:5432/test
    SMSGATE_TEST_REDIS      redis://127.0.0.1:6379/0
    SMSGATE_TEST_RABBITMQ   amqp://guest:guest@127.0.0.1:5672//

:func:`require` checks a TCP connection (and, for PostgreSQL, a login): when the service does
not answer, the test is **skipped** with a line naming the service and its address, except on
CI (``CI`` set), where it **fails**: a CI run must never pass by skipping what it was meant to test.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import socket
import uuid
from collections.abc import Iterator
from types import ModuleType
from typing import NoReturn
from urllib.parse import urlsplit

import pytest

DEFAULTS = {
    "postgres": ("SMSGATE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test", 5432),
    "redis": ("SMSGATE_TEST_REDIS", "redis://127.0.0.1:6379/0", 6379),
    "rabbitmq": ("SMSGATE_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672//", 5672),
}
NAMES = {"postgres": "PostgreSQL", "redis": "Redis", "rabbitmq": "RabbitMQ"}


def url(service: str) -> str:
    """The address of ``service`` (``postgres``, ``redis``, ``rabbitmq``) for the tests."""
    variable, default, _ = DEFAULTS[service]
    return os.environ.get(variable) or default


def where(service: str) -> str:
    """``host:port`` of ``service`` (no credentials), for messages."""
    parts = urlsplit(url(service))
    return f"{parts.hostname or '127.0.0.1'}:{parts.port or DEFAULTS[service][2]}"


def problem(service: str, timeout: float = 3.0) -> str | None:
    """Why ``service`` cannot be used, or ``None`` when it answers."""
    parts = urlsplit(url(service))
    host, port = parts.hostname or "127.0.0.1", parts.port or DEFAULTS[service][2]
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    if service == "postgres":
        try:
            import psycopg
        except ImportError:
            return None  # the connection answered; the tests that need psycopg say so themselves
        try:
            psycopg.connect(url(service), connect_timeout=max(1, int(timeout))).close()
        except psycopg.Error as exc:
            return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def unavailable(message: str) -> NoReturn:
    """Skip the test for want of ``message``'s part, or fail it on CI (``CI`` set), which has
    every part installed and running: a CI run never passes by skipping what it should test."""
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI requires it", pytrace=False)
    pytest.skip(message)


def require(service: str) -> str:
    """The address of ``service``; skips the test (fails it on CI) when it does not answer."""
    why = problem(service)
    if why is not None:
        unavailable(f"{NAMES[service]} unreachable at {where(service)} ({DEFAULTS[service][0]}): {why}")
    return url(service)


def module(name: str, install: str) -> ModuleType:
    """``import name``, or :func:`unavailable` saying what to ``install``."""
    try:
        return importlib.import_module(name)
    except ImportError:
        unavailable(f"{name} is not installed ({install})")


@contextlib.contextmanager
def scratch_schema(database: str, prefix: str = "smsgate_test") -> Iterator[str]:
    """A fresh PostgreSQL schema name for one test; the schema is dropped afterwards."""
    import psycopg
    from psycopg import sql

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        with psycopg.connect(database, autocommit=True) as db:
            db.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
