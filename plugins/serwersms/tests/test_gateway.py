"""End to end over loopback HTTP: smsgate.connect(emulator.dsn()) against the emulator, with faults."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from serwersms_support import INVALID

from smsgate.emulator import Fault
from smsgate.errors import AuthenticationError, InsufficientCreditError, ValidationError
from smsgate.gateway import Gateway, connect
from smsgate.models import DeliveryStatus, HttpRequest, Message, Status
from smsgate.plugins import Registry
from smsgate_serwersms.emulator import SerwerSmsEmulator

TEXT = "Zażółć gęślą jaźń € [ok]"


@pytest.mark.parametrize("auth", ["password", "token"])
def test_both_auth_schemes(emulator: SerwerSmsEmulator, registry: Registry, auth: str) -> None:
    with connect(emulator.dsn(auth=auth), registry=registry) as gateway:  # type: ignore[arg-type]
        result = gateway.send(Message(["+48500600700", "+48500600701"], TEXT))
    assert result.ok and [o.status for o in result.outcomes] == [Status.ACCEPTED] * 2
    sent = emulator.requests[-1]
    if auth == "token":
        assert sent.header("Authorization") == f"Bearer {emulator.token}"
        assert b"password" not in sent.body
    else:
        assert sent.header("Authorization") is None
        assert sent.json()["password"] == emulator.password
    stored = list(emulator.account.messages.values())
    assert [(m.text, m.utf, m.type, m.sender) for m in stored] == [(TEXT, True, "full", "SMSGATE")] * 2


def test_wrong_credentials(emulator: SerwerSmsEmulator, registry: Registry) -> None:
    for dsn in (
        emulator.dsn().replace(emulator.password, "nope"),
        emulator.dsn("token").replace(emulator.token, "nope"),
    ):
        with connect(dsn, registry=registry, sleep=lambda _: None) as gateway:
            result = gateway.send(Message("+48500600700", "Hi"))
            with pytest.raises(AuthenticationError, match="Incorrect login"):
                gateway.balance()
        assert [o.status for o in result.outcomes] == [Status.REJECTED]
        assert isinstance(result.error, AuthenticationError) and result.error.code == "1001"
    assert emulator.account.messages == {}


def test_partial_success(emulator: SerwerSmsEmulator, gateway: Gateway) -> None:
    result = gateway.send(Message(["+48500600700", INVALID, "+48500600701"], "Hi"))
    assert [(o.recipient, o.status, o.code) for o in result.outcomes] == [
        ("+48500600700", Status.ACCEPTED, None),
        (INVALID, Status.REJECTED, "3103"),
        ("+48500600701", Status.ACCEPTED, None),
    ]
    assert all(o.message_id for o in result.outcomes)  # the unsent one still has an id
    assert result.requests == 1 and not result.outcomes[1].retryable
    (report,) = gateway.status(result.outcomes[1].message_id or "")
    assert (report.status, report.code) == (DeliveryStatus.REJECTED, "wrong_number")


def test_test_mode_answers_the_same_and_changes_nothing(emulator: SerwerSmsEmulator, registry: Registry) -> None:
    before = gateway_balance(emulator, registry)
    with connect(emulator.dsn() + "&test=true", registry=registry) as gateway:
        result = gateway.send(Message(["+48500600700", INVALID], "Hi"))
    assert [o.status for o in result.outcomes] == [Status.ACCEPTED, Status.REJECTED]
    assert result.outcomes[0].reason is not None and "test mode" in result.outcomes[0].reason
    assert emulator.account.messages == {} and emulator.account.by_unique_id == {}
    assert gateway_balance(emulator, registry) == before


def gateway_balance(emulator: SerwerSmsEmulator, registry: Registry) -> Decimal:
    with connect(emulator.dsn(), registry=registry) as gateway:
        return gateway.balance().amount


def test_balance_decreases_by_parts(emulator: SerwerSmsEmulator, gateway: Gateway) -> None:
    start = gateway.balance()
    assert start.unit == "full" and start.details["eco"]["chars_limit"] == 918
    gateway.send(Message(["+48500600700", "+48500600701"], "x" * 200))  # 2 parts each
    assert gateway.balance().amount == start.amount - 4


def test_limit_exhausted(registry: Registry) -> None:
    with SerwerSmsEmulator(full=1) as emulator, connect(emulator.dsn(), registry=registry) as gateway:
        result = gateway.send(Message(["+48500600700", "+48500600701"], "Hi"))
    assert [o.status for o in result.outcomes] == [Status.REJECTED] * 2
    assert isinstance(result.error, InsufficientCreditError) and result.error.code == "3002"
    assert emulator.account.messages == {}


def test_sender_not_approved(gateway: Gateway) -> None:
    result = gateway.send(Message("+48500600700", "Hi", sender="NIEZNANY"))
    assert result.error is not None and result.error.code == "3106"
    assert [o.status for o in result.outcomes] == [Status.REJECTED]


def test_lost_reply_is_reconciled_not_resent(emulator: SerwerSmsEmulator, gateway: Gateway) -> None:
    emulator.inject(Fault.RESET_BEFORE_REPLY, path="/messages/send_sms")
    result = gateway.send(Message(["+48500600700", INVALID], "Hi", key="order-77"))
    assert [(o.status, o.code) for o in result.outcomes] == [(Status.ACCEPTED, None), (Status.REJECTED, "wrong_number")]
    assert len(emulator.account.messages) == 2  # sent once, found by unique_id, not resent
    paths = [r.path for r in emulator.requests]
    assert paths == ["/messages/send_sms.json", "/messages/reports.json"]


def test_lost_request_is_resent_after_reconciliation(emulator: SerwerSmsEmulator, gateway: Gateway) -> None:
    emulator.inject(Fault.DROP, path="/messages/send_sms")  # the gateway never saw it
    result = gateway.send(Message(["+48500600700", "+48500600701"], "Hi", key="order-78"))
    assert result.ok and len(emulator.account.messages) == 2
    assert [r.path for r in emulator.requests] == [
        "/messages/send_sms.json",
        "/messages/reports.json",
        "/messages/send_sms.json",
    ]


def test_timeout_with_failed_reconciliation_stays_unknown(emulator: SerwerSmsEmulator, gateway: Gateway) -> None:
    emulator.inject(Fault.RESET_BEFORE_REPLY, times=20)
    result = gateway.send(Message("+48500600700", "Hi"))
    assert [o.status for o in result.outcomes] == [Status.UNKNOWN]
    assert len(emulator.account.messages) == 1


def test_throttling_and_server_errors_are_retried(emulator: SerwerSmsEmulator, gateway: Gateway) -> None:
    emulator.inject(Fault.THROTTLE, retry_after=0)
    emulator.inject(Fault.SERVER_ERROR, status=503)
    result = gateway.send(Message("+48500600700", "Hi"))
    assert result.ok and result.requests == 3
    assert len(emulator.account.messages) == 1


def test_malformed_reply_is_never_accepted(emulator: SerwerSmsEmulator, gateway: Gateway) -> None:
    emulator.inject(Fault.MALFORMED, path="/messages/send_sms")
    result = gateway.send(Message("+48500600700", "Hi"))
    # unreadable -> ambiguous -> reconciled: the gateway has it
    assert [o.status for o in result.outcomes] == [Status.ACCEPTED]
    assert len(emulator.account.messages) == 1


def test_personalised(emulator: SerwerSmsEmulator, gateway: Gateway) -> None:
    messages = [
        Message("+48500600700", "Dzień dobry, Anna"),
        Message("+48500600701", "Hello, Bob"),
        Message(INVALID, "X Y"),
    ]
    results = gateway.send_personalised(messages)
    assert [[o.status for o in r.outcomes] for r in results] == [
        [Status.ACCEPTED],
        [Status.ACCEPTED],
        [Status.REJECTED],
    ]
    assert emulator.requests[-1].path == "/messages/send_personalized.json"
    texts = {m.phone: m.text for m in emulator.account.messages.values()}
    assert texts["+48500600700"] == "Dzień dobry, Anna" and texts["+48500600701"] == "Hello, Bob"


def test_status_pull(registry: Registry) -> None:
    undelivered = {"+48500600701": "message_expired"}
    with SerwerSmsEmulator(undelivered=undelivered) as emulator, connect(emulator.dsn(), registry=registry) as gateway:
        ids = [o.message_id or "" for o in gateway.send(Message(["+48500600700", "+48500600701"], "Hi")).outcomes]
        reports = gateway.status(ids)
    assert [(r.message_id, r.status, r.recipient) for r in reports] == [
        (ids[0], DeliveryStatus.DELIVERED, "+48500600700"),
        (ids[1], DeliveryStatus.EXPIRED, "+48500600701"),
    ]
    assert reports[0].at is not None


def test_status_pending_until_delivered(registry: Registry) -> None:
    with SerwerSmsEmulator(deliver_after=30) as emulator, connect(emulator.dsn(), registry=registry) as gateway:
        (outcome,) = gateway.send(Message("+48500600700", "Hi")).outcomes
        assert gateway.status(outcome.message_id or "")[0].status is DeliveryStatus.PENDING
        emulator.clock = lambda: time.time() + 60
        assert gateway.status(outcome.message_id or "")[0].status is DeliveryStatus.DELIVERED


def test_calls(gateway: Gateway) -> None:
    (outcome,) = gateway.send(Message("+48500600700", "Hi")).outcomes
    view = gateway.call("view", id=outcome.message_id)
    assert view["id"] == outcome.message_id and view["status"] == "delivered"
    assert gateway.call("error", code=1001)["type"] == "InvalidUser"
    with pytest.raises(ValidationError):
        gateway.call("nothing")


def test_delivery_report_callback(gateway: Gateway) -> None:
    get = HttpRequest("GET", "https://shop.example/dlr?smsid=1c142d81c7&stan=delivered&data=2030-07-01+12%3A00%3A00")
    (report,) = gateway.parse_delivery_report(get)
    assert (report.message_id, report.status) == ("1c142d81c7", DeliveryStatus.DELIVERED)
    assert report.at is not None and report.at.isoformat() == "2030-07-01T10:00:00+00:00"
    form = HttpRequest.form(
        "https://shop.example/dlr", {"smsid": "aa", "stan": "undelivered", "przyczyna": "wrong_number"}
    )
    (report,) = gateway.parse_delivery_report(form)
    assert (report.status, report.code, report.reason) == (DeliveryStatus.REJECTED, "wrong_number", "wrong number")
