"""End to end over loopback HTTP: smsgate.connect(emulator DSN) -> SMSC emulator, with faults."""

from __future__ import annotations

import hashlib
import socket
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from smsgate.emulator import Fault
from smsgate.errors import GatewayError, MalformedResponseError, ValidationError
from smsgate.gateway import Gateway
from smsgate.inbound import CallbackRejectedError
from smsgate.models import DeliveryStatus, Message, Status
from smsgate.plugins import Registry
from smsgate.testing import Connector, FakeClock
from smsgate_smsc.emulator import SmscEmulator

A, B, C = "+48500600700", "+48500600701", "+48500600702"


def paths(emulator: SmscEmulator) -> list[str]:
    return [r.path for r in emulator.requests]


def test_send_two_numbers_cost_and_balance(gateway: Gateway, emulator: SmscEmulator) -> None:
    result = gateway.send(Message([A, B], "Zażółć gęślą jaźń € [ok]"))
    assert [(o.recipient, o.status) for o in result.outcomes] == [(A, Status.ACCEPTED), (B, Status.ACCEPTED)]
    assert result.outcomes[0].message_id == result.outcomes[1].message_id  # one SMSC id per request
    assert result.cost == Decimal("2.80") and result.requests == 1
    assert emulator.balance == Decimal("997.20")
    assert gateway.balance().amount == Decimal("997.20")
    stored = emulator.messages[(int(result.outcomes[0].message_id or 0), A[1:])]
    assert stored.text == "Zażółć gęślą jaźń € [ok]"


def test_api_key_and_md5_password(emulator: SmscEmulator, registry: Registry) -> None:
    digest = hashlib.md5(emulator.password.encode()).hexdigest()
    md5 = f"smsc://{emulator.username}:{digest}@{emulator.host}:{emulator.port}?tls=false"
    for dsn in (emulator.dsn(auth="apikey"), md5):
        with Connector(registry, dsn) as connect:
            assert connect().send(Message(A, dsn[:12])).ok


def test_wrong_credentials_rejected_not_retried(emulator: SmscEmulator, registry: Registry) -> None:
    with Connector(registry, emulator.dsn().replace(emulator.password, "wrong-one")) as connect:
        result = connect().send(Message(A, "x"))
    (outcome,) = result.outcomes
    assert outcome.status is Status.REJECTED and outcome.code == "2" and not outcome.retryable
    assert result.requests == 1 and emulator.messages == {}
    unknown_key = emulator.dsn(auth="apikey").replace(emulator.apikey, "nope")
    with Connector(registry, unknown_key) as connect, pytest.raises(GatewayError, match="SMSC error 2"):
        connect().balance()


def test_partial_success(emulator: SmscEmulator, gateway: Gateway) -> None:
    emulator.invalid_numbers.add(B[1:])
    emulator.undeliverable_numbers.add(C[1:])
    result = gateway.send(Message([A, B, C], "partial"))
    assert [(o.status, o.code) for o in result.outcomes] == [
        (Status.ACCEPTED, None),
        (Status.REJECTED, "7"),
        (Status.REJECTED, "8"),
    ]
    assert not any(o.retryable for o in result.outcomes)
    assert result.outcomes[1].reason == "invalid phone number format"
    assert list(emulator.messages) == [(int(result.outcomes[0].message_id or 0), A[1:])]
    assert emulator.balance == Decimal("998.60")


def test_all_numbers_bad_is_a_request_error(emulator: SmscEmulator, gateway: Gateway) -> None:
    emulator.invalid_numbers.update({A[1:], B[1:]})
    result = gateway.send(Message([A, B], "nobody"))
    assert [(o.status, o.code) for o in result.outcomes] == [(Status.REJECTED, "7")] * 2
    assert result.requests == 1


def test_lost_reply_resend_hits_error_9_and_is_reconciled(emulator: SmscEmulator, gateway: Gateway) -> None:
    emulator.inject(Fault.RESET_BEFORE_REPLY, path="/sys/send.php")
    result = gateway.send(Message([A, B], "once only", key="order-42"))
    assert [o.status for o in result.outcomes] == [Status.ACCEPTED, Status.ACCEPTED]
    assert paths(emulator) == ["/sys/send.php", "/sys/send.php", "/sys/status.php"]
    assert len(emulator.messages) == 2 and emulator.balance == Decimal("997.20")  # sent and charged once
    assert {o.message_id for o in result.outcomes} == {str(next(iter(emulator.messages))[0])}


def test_read_timeout_after_smsc_accepted_is_reconciled(emulator: SmscEmulator, connector: Connector) -> None:
    gateway = connector("read_timeout=0.3")
    emulator.inject(Fault.TIMEOUT_AFTER_ACCEPT, path="/sys/send.php", delay=1.0)
    result = gateway.send(Message([A, B], "slow gateway", key="slow-1"))
    assert [o.status for o in result.outcomes] == [Status.ACCEPTED, Status.ACCEPTED]
    assert paths(emulator) == ["/sys/send.php", "/sys/send.php", "/sys/status.php"]
    assert len(emulator.messages) == 2


def test_lost_reply_of_a_scheduled_send_reconciles_as_scheduled(emulator: SmscEmulator, gateway: Gateway) -> None:
    emulator.inject(Fault.RESET_BEFORE_REPLY, path="/sys/send.php")
    when = datetime.now(timezone.utc) + timedelta(hours=5)
    result = gateway.send(Message(A, "later", send_at=when, key="sched-1"))
    assert [o.status for o in result.outcomes] == [Status.SCHEDULED]
    assert len(emulator.messages) == 1


def test_request_dropped_before_smsc_saw_it_is_resent_once(emulator: SmscEmulator, gateway: Gateway) -> None:
    emulator.inject(Fault.DROP, path="/sys/send.php")
    result = gateway.send(Message(A, "dropped first"))
    assert result.ok and paths(emulator) == ["/sys/send.php", "/sys/send.php"]
    assert len(emulator.messages) == 1


def test_lost_reply_and_lost_lookup_stay_unknown(emulator: SmscEmulator, gateway: Gateway) -> None:
    emulator.inject(Fault.RESET_BEFORE_REPLY, times=20)
    result = gateway.send(Message(A, "in the dark"))
    assert [o.status for o in result.outcomes] == [Status.UNKNOWN]
    assert len(emulator.messages) == 1  # it did go out: unknown, never "rejected"


def test_lookup_finds_nothing_then_the_rest_is_resent(emulator: SmscEmulator, gateway: Gateway) -> None:
    """The first request reached SMSC but failed there (no funds) and its reply was lost: the
    resend gets error 9, the lookup finds nothing, so the batch goes out again under a new id."""
    emulator.balance = Decimal("0.50")
    emulator.inject(Fault.RESET_BEFORE_REPLY, path="/sys/send.php")
    result = gateway.send(Message(A, "no money", key="k-poor"))
    assert paths(emulator) == ["/sys/send.php", "/sys/send.php", "/sys/status.php", "/sys/send.php"]
    (outcome,) = result.outcomes
    assert outcome.status is Status.REJECTED and outcome.code == "3"
    ids = [dict(r.form())["id"] for r in emulator.requests if r.path == "/sys/send.php"]
    assert ids[0] == ids[1] != ids[2]
    assert emulator.messages == {}


def test_same_message_again_within_a_minute_is_never_rejected(
    emulator: SmscEmulator, connector: Connector, clock: FakeClock
) -> None:
    """Error 9 on a send: SMSC has an identical request from the last minute. Not resent; the
    outcome is unknown with code 9, or what the status lookup finds (the first message)."""
    first = connector().send(Message(A, "pay 10", key="pay-1"))
    assert first.ok
    again = connector().send(Message(A, "pay 10", key="pay-1"))  # e.g. the app restarted and resent
    (outcome,) = again.outcomes
    assert outcome.status is not Status.REJECTED and not outcome.retryable
    if outcome.status is Status.UNKNOWN:
        assert outcome.code == "9" and "identical request from the last minute" in (outcome.reason or "")
    else:
        assert outcome.status is Status.ACCEPTED and outcome.message_id == first.outcomes[0].message_id
    assert len(emulator.messages) == 1
    assert paths(emulator).count("/sys/send.php") == 2  # the 9 was not resent
    clock.advance(61)
    assert connector().send(Message(A, "pay 10", key="pay-1")).ok  # SMSC's guard lasts one minute


def test_processed_then_502_is_taken_once_and_accepted(emulator: SmscEmulator, gateway: Gateway) -> None:
    """SMSC took the send, a proxy answered 502: ambiguous, resent under the same id (error 9),
    settled unknown and looked up: accepted, sent and charged once."""
    emulator.inject(Fault.PROCESSED_THEN_ERROR, path="/sys/send.php")
    result = gateway.send(Message([A, B], "taken, then a 502", key="p-1"))
    assert [o.status for o in result.outcomes] == [Status.ACCEPTED, Status.ACCEPTED]
    assert len(emulator.messages) == 2 and emulator.balance == Decimal("997.20")
    ids = [dict(r.form())["id"] for r in emulator.requests if r.path == "/sys/send.php"]
    assert len(ids) >= 2 and len(set(ids)) == 1


def test_processed_then_429_resend_hits_9_and_is_never_rejected(emulator: SmscEmulator, gateway: Gateway) -> None:
    """SMSC took the send, a front end answered 429: the resend is SMSC's error 9 (it has an
    identical request), which settles the send (found by the lookup), never a rejection."""
    emulator.inject(Fault.PROCESSED_THEN_ERROR, path="/sys/send.php", status=429)
    result = gateway.send(Message(A, "taken, then a 429", key="p-429"))
    assert [(o.status, o.retryable) for o in result.outcomes] == [(Status.ACCEPTED, False)]
    assert len(emulator.messages) == 1
    assert paths(emulator) == ["/sys/send.php", "/sys/send.php", "/sys/status.php"]


@pytest.mark.parametrize("status", [500, 502, 504])
def test_processed_then_5xx_every_time_is_never_rejected(emulator: SmscEmulator, gateway: Gateway, status: int) -> None:
    emulator.inject(Fault.PROCESSED_THEN_ERROR, times=20, status=status)  # lookups fail too
    result = gateway.send(Message(A, "taken, every reply lost", key="p-2"))
    assert [o.status for o in result.outcomes] == [Status.UNKNOWN]
    assert len(emulator.messages) == 1  # sent once


def test_throttling_and_server_errors_are_retried(emulator: SmscEmulator, gateway: Gateway) -> None:
    emulator.inject(Fault.THROTTLE, path="/sys/send.php")
    emulator.inject(Fault.SERVER_ERROR, path="/sys/send.php")
    result = gateway.send(Message(A, "eventually"))
    assert result.ok and result.requests == 3 and len(emulator.messages) == 1


def test_ip_block_after_errors_is_throttled(emulator: SmscEmulator, registry: Registry, gateway: Gateway) -> None:
    emulator.block_after = 2
    with Connector(registry, emulator.dsn().replace(emulator.password, "bad-pass")) as connect:
        bad = connect()
        assert [o.code for o in bad.send(Message(A, "x")).outcomes] == ["2"]
        assert [o.code for o in bad.send(Message(A, "y")).outcomes] == ["2"]
    result = gateway.send(Message(A, "blocked"))
    (outcome,) = result.outcomes
    assert outcome.code == "4" and outcome.retryable and result.requests == 4


def test_insufficient_funds(emulator: SmscEmulator, gateway: Gateway) -> None:
    emulator.balance = Decimal("1.00")
    (outcome,) = gateway.send(Message(A, "too dear")).outcomes
    assert outcome.status is Status.REJECTED and outcome.code == "3"


def test_prohibited_text_and_sender(emulator: SmscEmulator, gateway: Gateway) -> None:
    emulator.prohibited_words = ("casino",)
    emulator.senders = {"Shop"}
    assert [o.code for o in gateway.send(Message(A, "Win at the CASINO")).outcomes] == ["6"]
    assert [o.code for o in gateway.send(Message(A, "hello", sender="Other")).outcomes] == ["6"]
    assert gateway.send(Message(A, "hello", sender="Shop")).ok


def test_unreadable_reply_never_accepted(emulator: SmscEmulator, gateway: Gateway) -> None:
    emulator.inject(Fault.MALFORMED, times=10)
    result = gateway.send(Message(A, "garbled"))
    assert [o.status for o in result.outcomes] == [Status.UNKNOWN]
    assert isinstance(result.error, MalformedResponseError) and "oops" in (result.error.body or "")


def test_test_mode_changes_nothing(emulator: SmscEmulator, connector: Connector) -> None:
    gateway = connector("test=true")
    result = gateway.send(Message([A, B], "dry run"))
    assert [o.status for o in result.outcomes] == [Status.ACCEPTED, Status.ACCEPTED]
    assert all(o.message_id is None and "not sent" in (o.reason or "") for o in result.outcomes)
    assert result.cost == Decimal("2.80")
    assert emulator.messages == {} and emulator.balance == Decimal("1000.00")


def test_test_mode_rejects_the_numbers_a_send_would_reject(emulator: SmscEmulator, connector: Connector) -> None:
    emulator.invalid_numbers.add(B[1:])
    result = connector("test=true").send(Message([A, B], "dry run"))
    assert [(o.status, o.code) for o in result.outcomes] == [(Status.ACCEPTED, None), (Status.REJECTED, "7")]
    assert result.cost == Decimal("1.40") and emulator.messages == {}


def test_connections_stay_under_the_status_limit(gateway: Gateway) -> None:
    """status.php refuses five or more concurrent requests of one login with error 9 (reference
    4.5), and reconciliations run inside concurrent sends: at most four connections."""
    assert gateway.max_connections == 4


def test_account_virtual_sending(emulator: SmscEmulator, gateway: Gateway) -> None:
    emulator.virtual = True
    result = gateway.send(Message(A, "virtual"))
    (outcome,) = result.outcomes
    assert outcome.status is Status.ACCEPTED and emulator.balance == Decimal("1000.00")
    (report,) = gateway.status(outcome.message_id or "", A)
    assert report.status is DeliveryStatus.FAILED and report.raw["err"] == "200"
    assert "virtual sending" in (report.reason or "")


def test_status_pull_for_several_ids(gateway: Gateway) -> None:
    first = gateway.send(Message(A, "one")).outcomes[0]
    second = gateway.send(Message(A, "two")).outcomes[0]
    reports = gateway.status([first.message_id or "", second.message_id or "", "999"], A)
    assert [(r.message_id, r.status) for r in reports] == [
        (first.message_id, DeliveryStatus.DELIVERED),
        (second.message_id, DeliveryStatus.DELIVERED),
        ("999", DeliveryStatus.UNKNOWN),
    ]
    assert all(r.recipient == A for r in reports[:2])
    with pytest.raises(ValidationError, match="recipient"):
        gateway.status(first.message_id or "")


def test_status_limit_is_error_9(emulator: SmscEmulator, registry: Registry) -> None:
    with Connector(registry, emulator.dsn()) as connect:  # no time passes between retries
        gateway = connect()
        (sent,) = gateway.send(Message(A, "popular")).outcomes
        for _ in range(5):
            gateway.status(sent.message_id or "", A)
        with pytest.raises(GatewayError, match="more than five requests") as caught:
            gateway.status(sent.message_id or "", A)
    assert caught.value.code == "9"


def test_balance_and_quote(emulator: SmscEmulator, gateway: Gateway) -> None:
    emulator.credit = Decimal("50")
    balance = gateway.balance()
    assert (balance.amount, balance.unit, dict(balance.details)) == (Decimal("1000.00"), "RUB", {"credit": "50.00"})
    price = gateway.quote(Message([A, B], "x" * 200))  # two parts each
    assert (price.cost, price.parts) == (Decimal("5.60"), 4)
    assert emulator.messages == {}


def test_personalised_send(emulator: SmscEmulator, gateway: Gateway) -> None:
    results = gateway.send_personalised([Message(A, "Hi Ann"), Message(B, "Hi Bob")])
    assert [r.ok for r in results] == [True, True]
    assert sorted(m.text for m in emulator.messages.values()) == ["Hi Ann", "Hi Bob"]
    assert len(emulator.requests) == 1


def test_groups_expand_at_the_gateway(emulator: SmscEmulator, gateway: Gateway) -> None:
    emulator.groups = {"5": ["48500600711", "48500600712"]}
    result = gateway.send(Message(A, "team", options={"groups": "5"}))
    assert [o.recipient for o in result.outcomes] == [A] and result.ok
    assert {phone for _, phone in emulator.messages} == {A[1:], "48500600711", "48500600712"}


def test_windows_1251_end_to_end(emulator: SmscEmulator, connector: Connector) -> None:
    gateway = connector("charset=windows-1251")
    assert gateway.send(Message("+79161234567", "Привет, мир", sender="Shop")).ok
    (sms,) = emulator.messages.values()
    assert sms.text == "Привет, мир"
    with pytest.raises(ValidationError, match="windows-1251"):
        gateway.send(Message(A, "Zażółć"))


def test_deferred_tasks_and_their_limit(emulator: SmscEmulator, gateway: Gateway, clock: FakeClock) -> None:
    gateway.send(Message(A, "for the report"))
    task = emulator.add_task("report")
    started = clock.now
    for _ in range(3):
        (listed,) = gateway.call("tasks")
        assert listed["id"] == task.id and listed["state"] == "completed" and listed["file"] == task.file
    (listed,) = gateway.call("tasks")  # the 4th identical request in a minute: error 9, waited out
    assert clock.now - started >= 60
    csv = gateway.call("download", id=task.id)
    assert csv.splitlines()[0] == "id;phone;send_date;status;cost;message" and "for the report" in csv
    assert gateway.call("download", task_name="report") == csv
    with pytest.raises(GatewayError, match="SMSC error 1"):
        gateway.call("download", id=99)


def test_delivery_report_callback(emulator: SmscEmulator, gateway: Gateway, connector: Connector) -> None:
    (sent,) = gateway.send(Message(A, "tell me")).outcomes
    push = emulator.callback(sent.message_id or "", A)
    (report,) = gateway.parse_delivery_report(push)
    assert (report.message_id, report.recipient, report.status) == (sent.message_id, A[1:], DeliveryStatus.DELIVERED)
    assert report.at is not None and "sha1" not in report.raw
    checking = connector("callback_check=true")
    assert checking.parse_delivery_report(push)[0].status is DeliveryStatus.DELIVERED
    forged = push.body.replace(b"status=1", b"status=20")
    with pytest.raises(CallbackRejectedError, match="sha1"):
        checking.parse_delivery_report(type(push)(push.method, push.url, push.headers, forged))
    with pytest.raises(MalformedResponseError, match="no id"):
        gateway.parse_delivery_report(type(push)("POST", push.url, push.headers, b"phone=1&status=1"))


def test_backup_host_used_when_the_main_host_refuses(
    emulator: SmscEmulator, registry: Registry, connector: Connector
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    dsn = f"smsc://{emulator.username}:{emulator.password}@127.0.0.1:{dead}?tls=false&backup_hosts=127.0.0.1:{emulator.port}"
    with Connector(registry, dsn) as connect:
        assert connect().send(Message(A, "via www2")).ok
    assert len(emulator.messages) == 1
    assert connector("backup=true").transport.backup_hosts == ("www2.smscentre.com",)
    assert connector().transport.backup_hosts == ()
