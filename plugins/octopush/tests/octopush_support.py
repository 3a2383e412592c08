"""Helpers shared by the Octopush tests (a module name no other plugin's tests use)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from smsgate.gateway import Gateway
from smsgate.models import Batch, HttpResponse, Message

FIXTURES = Path(__file__).parent / "fixtures"
#: A DSN that reaches nothing (requests are only built): the production hosts.
LOGIN = "shop@example.com"
KEY = "k3y-Secret-0ctopush"
DSN = "octopush://shop%40example.com:k3y-Secret-0ctopush@default"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def response(name: str, status: int = 200) -> HttpResponse:
    ctype = "text/xml; charset=utf-8" if name.endswith(".xml") else "application/json"
    return HttpResponse(status, fixture(name), (("Content-Type", ctype),))


def batch_of(gateway: Gateway, message: Message) -> tuple[Batch, Any]:
    """The first planned batch of ``message`` and the effective settings."""
    plan, _ = gateway.prepare(message)
    return plan.batches[0], plan.settings
