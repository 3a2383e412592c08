"""End to end over loopback HTTP: gateways (``smsgate.testing.Connector``) to the emulator, with faults."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from serwersms_support import INVALID

import smsgate_serwersms
from smsgate.emulator import EmulatorReply, EmulatorRequest, Fault
from smsgate.errors import AuthenticationError, InsufficientCreditError, ValidationError
from smsgate.gateway import Gateway
from smsgate.models import DeliveryStatus, HttpRequest, Message, Status
from smsgate.plugins import Registry
from smsgate.testing.fixtures import GatewayTo, StartEmulator
from smsgate.testing.kit import Connector, FakeClock
from smsgate_serwersms.emulator import SerwerSmsEmulator

TEXT = "Zażółć gęślą jaźń € [ok]"


@pytest.mark.parametrize("auth", ["password", "token"])
def test_both_auth_schemes(emulator: SerwerSmsEmulator, registry: Registry, auth: str) -> None:
    with Connector(registry, emulator.dsn(auth=auth)) as connector:  # type: ignore[arg-type]
        result = connector().send(Message(["+48500600700", "+48500600701"], TEXT))
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
        with Connector(registry, dsn) as connector:
            gateway = connector()
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


def test_test_mode_answers_the_same_and_changes_nothing(emulator: SerwerSmsEmulator, connector: Connector) -> None:
    before = connector().balance().amount
    result = connector("test=true").send(Message(["+48500600700", INVALID], "Hi"))
    assert [o.status for o in result.outcomes] == [Status.ACCEPTED, Status.REJECTED]
    assert result.outcomes[0].reason is not None and "test mode" in result.outcomes[0].reason
    assert emulator.account.messages == {} and emulator.account.by_unique_id == {}
    assert connector().balance().amount == before


def test_balance_decreases_by_parts(emulator: SerwerSmsEmulator, gateway: Gateway) -> None:
    start = gateway.balance()
    assert start.unit == "full" and start.details["eco"]["chars_limit"] == 918
    gateway.send(Message(["+48500600700", "+48500600701"], "x" * 200))  # 2 parts each
    assert gateway.balance().amount == start.amount - 4


def test_limit_exhausted(registry: Registry) -> None:
    with SerwerSmsEmulator(full=1) as emulator, Connector(registry, emulator.dsn()) as connector:
        result = connector().send(Message(["+48500600700", "+48500600701"], "Hi"))
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


def test_throttling_is_retried(emulator: SerwerSmsEmulator, gateway: Gateway) -> None:
    emulator.inject(Fault.THROTTLE, retry_after=0)
    result = gateway.send(Message("+48500600700", "Hi"))
    assert result.ok and result.requests == 2
    assert [r.path for r in emulator.requests] == ["/messages/send_sms.json"] * 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_to_a_send_is_reconciled_before_any_resend(
    emulator: SerwerSmsEmulator, gateway: Gateway, status: int
) -> None:
    """Reference 2.5: a non-200 reply leaves the outcome unknown; the message is looked up by
    unique_id before resubmitting (here the front end refused it: not found, sent once)."""
    emulator.inject(Fault.SERVER_ERROR, status=status, path="/messages/send_sms")
    result = gateway.send(Message("+48500600700", "Hi"))
    assert result.ok and result.requests == 3 and len(emulator.account.messages) == 1
    assert [r.path for r in emulator.requests] == [
        "/messages/send_sms.json",
        "/messages/reports.json",
        "/messages/send_sms.json",
    ]


def test_a_5xx_after_the_gateway_queued_the_message_is_not_resent(
    emulator: SerwerSmsEmulator, gateway: Gateway
) -> None:
    """A 502 from a front end after the gateway queued the message: found, not sent twice."""

    def queue_then_fail(request: EmulatorRequest) -> EmulatorReply:
        reply = original(request)
        return EmulatorReply.text("Bad Gateway", 502) if request.path.endswith("send_sms.json") else reply

    original = emulator.handle
    emulator.handle = queue_then_fail  # type: ignore[method-assign]
    result = gateway.send(Message(["+48500600700", "+48500600701"], "Hi", key="order-502"))
    assert result.ok and len(emulator.account.messages) == 2
    assert [r.path for r in emulator.requests] == ["/messages/send_sms.json", "/messages/reports.json"]


def test_a_4xx_without_an_error_document_is_a_refusal(emulator: SerwerSmsEmulator, gateway: Gateway) -> None:
    emulator.inject(Fault.SERVER_ERROR, status=413, path="/messages/send_sms")
    result = gateway.send(Message("+48500600700", "Hi"))
    assert [o.status for o in result.outcomes] == [Status.REJECTED]
    assert result.error is not None and getattr(result.error, "http_status", None) == 413
    assert [r.path for r in emulator.requests] == ["/messages/send_sms.json"]


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
    with SerwerSmsEmulator(undelivered=undelivered) as emulator, Connector(registry, emulator.dsn()) as connector:
        gateway = connector()
        ids = [o.message_id or "" for o in gateway.send(Message(["+48500600700", "+48500600701"], "Hi")).outcomes]
        reports = gateway.status(ids)
    assert [(r.message_id, r.status, r.recipient) for r in reports] == [
        (ids[0], DeliveryStatus.DELIVERED, "+48500600700"),
        (ids[1], DeliveryStatus.EXPIRED, "+48500600701"),
    ]
    assert reports[0].at is not None


def test_status_pending_until_delivered(registry: Registry) -> None:
    with SerwerSmsEmulator(deliver_after=30) as emulator, Connector(registry, emulator.dsn()) as connector:
        gateway = connector()
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


def test_reply_phones_without_plus_are_matched_back(registry: Registry) -> None:
    """Seed 001: the reply writes numbers "in full format ... or the country code (eg. 48) at the
    beginning"; with `48500600700` every recipient still gets its own outcome and id."""
    with (
        SerwerSmsEmulator(reply_phone="digits", invalid={INVALID}) as emulator,
        Connector(registry, emulator.dsn()) as connector,
    ):
        gateway = connector()
        result = gateway.send(Message(["+48500600700", INVALID, "+48500600701"], "Hi"))
        assert emulator.requests[-1].path == "/messages/send_sms.json"
        assert [(o.recipient, o.status, o.code) for o in result.outcomes] == [
            ("+48500600700", Status.ACCEPTED, None),
            (INVALID, Status.REJECTED, "3103"),
            ("+48500600701", Status.ACCEPTED, None),
        ]
        assert all(o.message_id for o in result.outcomes)
        (report,) = gateway.status(result.outcomes[0].message_id or "")
        assert report.recipient == "+48500600700"  # normalised back to E.164
        emulator.inject(Fault.RESET_BEFORE_REPLY, path="/messages/send_sms")
        lost = gateway.send(Message(["+48500600702", "+48500600703"], "Hi", key="digits-lost"))
        assert [o.status for o in lost.outcomes] == [Status.ACCEPTED] * 2
        assert len(emulator.account.messages) == 5, "found by unique_id, matched by phone, not resent"


def test_reports_call_with_filters_and_paging(emulator: SerwerSmsEmulator, gateway: Gateway) -> None:
    first = gateway.send(Message(["+48500600700", "+48500600701", "+48500600702"], "Hi", key="r1"))
    gateway.send(Message("+48500600703", "Later", send_at=datetime.now(timezone.utc) + timedelta(days=1)))
    page = gateway.call("reports", limit=2, page=1, order="asc")
    assert (page["page"], page["count"]) == (1, 2)
    assert [r.message_id for r in page["reports"]] == [o.message_id for o in first.outcomes[:2]]
    saved = gateway.call("reports", status="saved", type="full")
    assert [r.recipient for r in saved["reports"]] == ["+48500600703"]
    by_phone = gateway.call("reports", phone=["+48 500 600 701"])
    assert [r.message_id for r in by_phone["reports"]] == [first.outcomes[1].message_id]
    now = datetime.now(timezone.utc)
    window = gateway.call("reports", date_from=now - timedelta(minutes=5), date_to=now + timedelta(minutes=5))
    assert len(window["reports"]) == 4
    assert gateway.call("reports", date_to=now - timedelta(days=1))["reports"] == ()
    stat_id = next(iter(emulator.account.messages.values())).stat_id
    assert len(gateway.call("reports", stat_id=stat_id)["reports"]) == 3
    with pytest.raises(ValidationError, match="status"):
        gateway.call("reports", status="lost")


def test_delivery_report_callback_as_json_with_an_iso_date(gateway: Gateway) -> None:
    request = HttpRequest.json(
        "https://shop.example/dlr", {"smsid": "1c142d81c7", "stan": "DELIVRD", "data": "2030-01-15T10:00:00+01:00"}
    )
    (report,) = gateway.parse_delivery_report(request)
    assert (report.message_id, report.status) == ("1c142d81c7", DeliveryStatus.DELIVERED)
    assert report.at == datetime(2030, 1, 15, 9, 0, tzinfo=timezone.utc)


def timed(emulator: SerwerSmsEmulator) -> list[tuple[str, float]]:
    """Record ``(path, emulator clock)`` of every request the emulator handles."""
    seen: list[tuple[str, float]] = []
    original = emulator.handle

    def handle(request: EmulatorRequest) -> EmulatorReply:
        seen.append((request.path, emulator.clock()))
        return original(request)

    emulator.handle = handle  # type: ignore[method-assign]
    return seen


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"success": True},
        {"paging": {"page": 1, "count": 2}, "items": []},
        {"paging": {"page": 1, "count": 1}, "items": "none"},
        {"items": []},
    ],
)
def test_a_lookup_reply_that_is_not_a_report_never_sends_twice(
    emulator: SerwerSmsEmulator, gateway: Gateway, document: object
) -> None:
    """Audit: after an unreadable send reply, a lookup answered with something that is not a
    report was read as "the gateway has none of them" and everything was sent again."""
    original = emulator.handle

    def not_a_report(request: EmulatorRequest) -> EmulatorReply:
        reply = original(request)
        return EmulatorReply.json(document) if request.path.endswith("reports.json") else reply

    emulator.handle = not_a_report  # type: ignore[method-assign]
    emulator.inject(Fault.MALFORMED, path="/messages/send_sms")
    result = gateway.send(Message(["+48500600700", "+48500600701"], "Hi", key="order-not-a-report"))
    assert [o.status for o in result.outcomes] == [Status.UNKNOWN] * 2
    assert len(emulator.account.messages) == 2, "taken once, never resent"
    paths = [r.path for r in emulator.requests]
    assert paths[0] == "/messages/send_sms.json" and set(paths[1:]) == {"/messages/reports.json"}


def test_lookup_delay_is_declared() -> None:
    caps = smsgate_serwersms.provider_spec().capabilities
    assert caps.lookup_delay == smsgate_serwersms.LOOKUP_DELAY == 60.0
    assert "reconcile" in caps.operations and caps.dedup is None


@pytest.mark.parametrize("status", [502, 503])
def test_processed_then_5xx_is_found_by_a_late_lookup_not_resent(
    emulator: SerwerSmsEmulator, connector: Connector, clock: FakeClock, status: int
) -> None:
    """Audit: the gateway queued the message, then a proxy answered 502/503. It is looked up
    (no sooner than lookup_delay after the send), found, and never sent twice."""
    seen = timed(emulator)
    emulator.inject(Fault.PROCESSED_THEN_ERROR, status=status, path="/messages/send_sms")
    result = connector(clock=clock).send(Message(["+48500600700", "+48500600701"], "Hi", key=f"late-{status}"))
    assert [o.status for o in result.outcomes] == [Status.ACCEPTED] * 2
    assert all(o.message_id for o in result.outcomes)
    assert len(emulator.account.messages) == 2
    assert [path for path, _ in seen] == ["/messages/send_sms.json", "/messages/reports.json"]
    (_, sent), (_, looked) = seen
    assert looked - sent >= smsgate_serwersms.LOOKUP_DELAY


@pytest.mark.parametrize("fault", [Fault.RESET_BEFORE_REPLY, Fault.PROCESSED_THEN_ERROR, Fault.TIMEOUT_AFTER_ACCEPT])
def test_gateway_slower_than_read_timeout_sends_nothing_twice(
    start_emulator: StartEmulator, gateway_to: GatewayTo, clock: FakeClock, fault: Fault
) -> None:
    """The gateway takes 59 s (of the shared virtual clock) to process a send we gave up on:
    a lookup made sooner would find nothing and resend; after lookup_delay it finds both."""
    emulator = start_emulator(process_after=smsgate_serwersms.LOOKUP_DELAY - 1)
    emulator.inject(fault, path="/messages/send_sms", delay=1.0)
    gateway = gateway_to(emulator, "read_timeout=0.2", clock=clock)
    result = gateway.send(Message(["+48500600700", "+48500600701"], "Hi", key=f"slow-{fault.name}"))
    assert emulator.processing == []
    assert [o.status for o in result.outcomes] == [Status.ACCEPTED] * 2
    assert len(emulator.account.messages) == 2, "processed once, never resent"
    assert [r.path for r in emulator.requests].count("/messages/send_sms.json") == 1


def test_fault_slow_in_real_time_is_found_after_the_lookup_delay(registry: Registry) -> None:
    """``Fault.SLOW`` (the core's fault) with a delay above ``read_timeout``: the emulator
    processes the send 0.5 s after we gave up. The gateway's waits are cut to 1.5 s of real time
    (lookup_delay would be 60), which is still after the processing: found, not resent."""
    waits: list[float] = []

    def short_sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(min(seconds, 1.5))

    with SerwerSmsEmulator() as emulator, Connector(registry, emulator.dsn(), sleep=short_sleep) as connector:
        emulator.inject(Fault.SLOW, path="/messages/send_sms", delay=0.5)
        result = connector("read_timeout=0.2").send(Message(["+48500600700", "+48500600701"], "Hi", key="real-slow"))
    assert [o.status for o in result.outcomes] == [Status.ACCEPTED] * 2
    assert len(emulator.account.messages) == 2
    assert [r.path for r in emulator.requests] == ["/messages/send_sms.json", "/messages/reports.json"]
    assert max(waits) >= smsgate_serwersms.LOOKUP_DELAY - 0.5
