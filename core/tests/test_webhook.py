"""Delivery-report callbacks through the WSGI app, over real loopback HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import urllib3

from smsgate import DeliveryReport, DeliveryStatus
from smsgate.gateway import Gateway
from smsgate.webhook import delivery_reports_app


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver(gateway: Gateway) -> Iterator[tuple[str, list[DeliveryReport]]]:
    got: list[DeliveryReport] = []
    server = make_server("127.0.0.1", 0, delivery_reports_app(gateway, got.append), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/sms/dlr", got
    finally:
        server.shutdown()
        server.server_close()


def test_reports_are_handed_over_once(receiver: tuple[str, list[DeliveryReport]]) -> None:
    url, got = receiver
    http = urllib3.PoolManager()
    body = b'[{"id":"ob1","to":"+48500600700","state":"delivered"},{"id":"ob2","state":"pending"}]'
    for _ in range(2):  # gateways resend reports
        reply = http.request("POST", url, body=body, headers={"Content-Type": "application/json"})
        assert (reply.status, reply.data) == (200, b"OK\n")
    assert [(r.message_id, r.status) for r in got] == [
        ("ob1", DeliveryStatus.DELIVERED),
        ("ob2", DeliveryStatus.PENDING),
    ]


def test_unreadable_callback_is_a_400(receiver: tuple[str, list[DeliveryReport]]) -> None:
    url, got = receiver
    reply = urllib3.PoolManager().request("POST", url + "?x=1", body=b"not json")
    assert reply.status == 400 and got == []
