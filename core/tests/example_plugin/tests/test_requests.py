"""The requests the plugin builds, offline (nothing is sent), and one send over loopback."""

from __future__ import annotations

import json
from collections.abc import Callable

from smsgate.gateway import Gateway
from smsgate.models import Message


def test_send_request(offline: Callable[..., Gateway]) -> None:
    (request,) = offline("sender=Shop").preview(Message(["+48500600700", "+48500600701"], "Hi", key="k1"))
    assert (request.method, request.url) == ("POST", "https://api.acme.example/v2/messages")
    assert json.loads(request.body) == {"to": ["+48500600700", "+48500600701"], "text": "Hi", "from": "Shop"}
    assert str(request.header("Idempotency-Key")).startswith("k1")


def test_send_over_loopback(gateway: Gateway) -> None:
    result = gateway.send(Message("+48500600700", "Hello"))
    assert result.ok and result.outcomes[0].message_id
