"""Helpers for the SerwerSMS tests (a module with a unique name, imported by the tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from smsgate.models import HttpRequest, HttpResponse

FIXTURES = Path(__file__).parent / "fixtures"
INVALID = "+48500600799"  # the emulator treats this number as incorrect (3103)


def reply(name: str, status: int = 200) -> HttpResponse:
    """A recorded reply from tests/fixtures."""
    body = (FIXTURES / name).read_bytes()
    return HttpResponse(status, body, (("Content-Type", "application/json"),))


def response(document: Any, status: int = 200) -> HttpResponse:
    return HttpResponse(status, json.dumps(document).encode(), (("Content-Type", "application/json"),))


def body(request: HttpRequest) -> Any:
    """A request's JSON body."""
    return json.loads(request.body)


def at_default(credentials: str) -> str:
    """A DSN to the production host with ``credentials`` (``"user:password"`` or ``":token"``)."""
    return f"serwersms://{credentials}@default"
