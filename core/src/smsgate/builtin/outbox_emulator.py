"""The outbox gateway's emulator: keeps every accepted message for the app's tests."""

from __future__ import annotations

import base64
import itertools
from typing import Any

import attrs

from smsgate.emulator import Emulator, EmulatorReply, EmulatorRequest


@attrs.frozen
class SentMessage:
    """A message the outbox accepted."""

    id: str
    to: str
    text: str
    sender: str | None
    key: str | None
    send_at: str | None
    flash: bool


class OutboxEmulator(Emulator):
    """JSON gateway on loopback. ``messages`` holds what it accepted, in order."""

    name = "outbox"
    dedup = "key"

    def __init__(
        self,
        *args: Any,
        username: str = "smsgate",
        password: str = "outbox-s3cret-pass",
        credit: int = 10_000,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.username = username
        self.password = password
        self.credit = credit
        self.messages: list[SentMessage] = []
        self._ids = itertools.count(1)

    def dsn(self) -> str:
        return f"outbox://{self.username}:{self.password}@{self.host}:{self.port}?tls=false"

    def _authorised(self, request: EmulatorRequest) -> bool:
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return request.header("authorization") == f"Basic {expected}"

    def handle(self, request: EmulatorRequest) -> EmulatorReply:
        if not self._authorised(request):
            return EmulatorReply.json({"error": "auth", "reason": "bad credentials"}, 401)
        if request.path == "/v1/balance":
            return EmulatorReply.json({"balance": self.credit})
        if request.path == "/v1/lookup":
            key = request.query_value("key")
            with self.lock:
                taken = [{"to": m.to, "id": m.id} for m in self.messages if key and m.key == key]
            return EmulatorReply.json({"results": taken})
        if request.path == "/v1/status":
            ids = {v for k, v in request.query if k == "id"}
            found = [m for m in self.messages if m.id in ids]
            return EmulatorReply.json({"reports": [{"id": m.id, "to": m.to, "state": "delivered"} for m in found]})
        if request.path != "/v1/send" or request.method != "POST":
            return EmulatorReply.json({"error": "invalid", "reason": "no such action"}, 404)
        try:
            body = request.json()
        except ValueError:
            return EmulatorReply.json({"error": "invalid", "reason": "body is not JSON"}, 400)
        with self.lock:
            key = body.get("key")
            seen = self.replay(key)
            if seen is not None:  # de-duplication: a resend under a used key replays the first reply
                return seen
            return self.remember(key, self._send(body))

    def _send(self, body: dict[str, Any]) -> EmulatorReply:
        to, text = body.get("to"), body.get("text")
        if not isinstance(to, list) or not to or not isinstance(text, str) or not text:
            return EmulatorReply.json({"error": "invalid", "reason": "to and text are required"}, 400)
        if self.credit < len(to):
            return EmulatorReply.json({"error": "no_credit", "reason": "insufficient credit"}, 402)
        results: list[dict[str, str]] = []
        for number in to:
            if not isinstance(number, str) or not number.startswith("+") or not number[1:].isdigit():
                results.append({"to": str(number), "error": "invalid_number", "reason": "not E.164"})
                continue
            message = SentMessage(
                f"ob{next(self._ids)}",
                number,
                text,
                body.get("sender"),
                body.get("key"),
                body.get("send_at"),
                bool(body.get("flash")),
            )
            if not body.get("test"):
                self.messages.append(message)
                self.credit -= 1
                self.take(number, body.get("key"))
            results.append({"to": number, "id": message.id})
        return EmulatorReply.json({"results": results})
