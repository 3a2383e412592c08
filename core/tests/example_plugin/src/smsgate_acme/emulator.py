"""A faithful Acme gateway on loopback: Bearer auth, Idempotency-Key de-duplication,
per-recipient statuses, gateway-format errors (401, 402, 429 with Retry-After, 5xx).

Numbers ending in ``999`` are unknown subscribers (rejected); ``credit`` counts messages.
"""

from __future__ import annotations

import itertools
from typing import Any

from smsgate.emulator import Emulator, EmulatorReply, EmulatorRequest


def error(code: str, message: str, status: int, **headers: str) -> EmulatorReply:
    """An error in the gateway's own format."""
    return EmulatorReply.json({"error": {"code": code, "message": message}}, status, headers=headers)


class AcmeEmulator(Emulator):
    name = "acme"
    dedup = "Idempotency-Key"  # what Capabilities.dedup declares; the contract checks both agree

    def __init__(self, *args: Any, token: str = "acme-t0ken-s3cret", credit: int = 10_000, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.token = token
        self.credit = credit
        self._ids = itertools.count(1)

    def dsn(self) -> str:
        return f"acme://:{self.token}@{self.host}:{self.port}?tls=false"

    def error_reply(self, situation: str, status: int, retry_after: float | None) -> EmulatorReply:
        if situation == "throttled":
            return error("rate_limited", "slow down", 429, **{"Retry-After": f"{retry_after or 1:g}"})
        return error("internal", "internal error", status)

    def handle(self, request: EmulatorRequest) -> EmulatorReply:
        if request.header("Authorization") != f"Bearer {self.token}":
            return error("unauthorized", "bad token", 401)
        if request.method == "GET" and request.path == "/v2/balance":
            return EmulatorReply.json({"balance": str(self.credit), "currency": "EUR"})
        if request.method != "POST" or request.path != "/v2/messages":
            return error("invalid_request", "no such endpoint", 404)
        try:
            body = request.json()
        except ValueError:
            return error("invalid_request", "body is not JSON", 400)
        key = request.header("Idempotency-Key")
        with self.lock:
            seen = self.replay(key)
            if seen is not None:  # a resend under a used key: the first reply, nothing taken
                return seen
            return self.remember(key, self._send(body, key))

    def _send(self, body: Any, key: str | None) -> EmulatorReply:
        to, text = (
            body.get("to") if isinstance(body, dict) else None,
            body.get("text") if isinstance(body, dict) else None,
        )
        if not isinstance(to, list) or not to or not isinstance(text, str) or not text:
            return error("invalid_request", "to and text are required", 400)
        if self.credit < len(to):
            return error("insufficient_funds", "no credit left", 402)
        messages = []
        for number in to:
            if str(number).endswith("999"):
                messages.append({"to": str(number), "status": "rejected", "code": "unknown_subscriber"})
                continue
            self.take(str(number), key)  # what the contract suite counts
            self.credit -= 1
            messages.append({"to": str(number), "status": "queued", "id": f"ac{next(self._ids)}"})
        return EmulatorReply.json({"messages": messages})
