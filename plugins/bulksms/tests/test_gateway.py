"""End to end over loopback HTTP: smsgate.connect(emulator.dsn()) with the core's retry engine,
de-duplication and fault injection."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest

from smsgate.emulator import Fault
from smsgate.errors import GatewayError
from smsgate.gateway import Gateway
from smsgate.idempotency import int_key
from smsgate.models import DeliveryStatus, HttpRequest, Message, Status
from smsgate.plugins import Registry
from smsgate.testing import Connector, FakeClock
from smsgate_bulksms.emulator import BulkSmsEmulator

Connect = Callable[..., Gateway]
GatewayTo = Callable[..., Gateway]
TO = ("+447700900001", "+447700900002")


def stop_dup_ids(emulator: BulkSmsEmulator) -> list[str]:
    return [r.form("iso-8859-1").get("stop_dup_id", "") for r in emulator.requests]


def test_two_recipients_accepted_under_one_batch(gateway: Gateway, emulator: BulkSmsEmulator) -> None:
    result = gateway.send(Message(TO, "Zażółć gęślą jaźń € [ok]"))
    assert result.ok and [o.recipient for o in result.outcomes] == list(TO)
    (batch_id,) = {o.message_id for o in result.outcomes}
    submission = emulator.submissions[batch_id or ""]
    assert [(r.msisdn, r.text) for r in submission.recipients] == [(t[1:], "Zażółć gęślą jaźń € [ok]") for t in TO]
    assert emulator.credit == Decimal(998)
    assert [m.msisdn for m in emulator.messages] == [t[1:] for t in TO]


def test_gsm_text_arrives_intact_through_latin1(gateway: Gateway, emulator: BulkSmsEmulator) -> None:
    text = "ΔΦΓΛΩΠΨΣΘΞ £¥§¿ÄÅÆÇÉÑÖØÜß àäåæèéìñòöøùü @_ [ok] {x} ~^|\\"
    assert gateway.send(Message(TO[0], text)).ok
    assert b"message=%D0%DE%AC%C2%DB%BA%DD%CA%D4%B1+%A3%A5%A7%BF" in emulator.requests[-1].body
    (submission,) = emulator.submissions.values()
    assert submission.recipients[0].text == text


def test_long_text_is_charged_per_part(gateway: Gateway, emulator: BulkSmsEmulator) -> None:
    result = gateway.send(Message(TO, "y" * 400))
    assert [o.parts for o in result.outcomes] == [3, 3]
    assert emulator.credit == Decimal(1000 - 6)


def test_lost_reply_is_resent_with_the_same_stop_dup_id(gateway: Gateway, emulator: BulkSmsEmulator) -> None:
    emulator.inject(Fault.RESET_BEFORE_REPLY)
    message = Message(TO, "once only", key="order-42")
    result = gateway.send(message)
    assert result.ok and result.requests == 2
    assert len(emulator.submissions) == 1 and emulator.credit == Decimal(998)
    (batch,) = gateway.prepare(message)[0].batches
    assert stop_dup_ids(emulator) == [str(int_key(batch.dedup_key))] * 2


def test_timeout_after_accepting_is_deduplicated(connector: Connect, emulator: BulkSmsEmulator) -> None:
    gateway = connector("read_timeout=0.3")
    emulator.inject(Fault.TIMEOUT_AFTER_ACCEPT, delay=1.0)
    result = gateway.send(Message(TO[0], "slow gateway"))
    assert result.ok and len(emulator.submissions) == 1
    assert len(set(stop_dup_ids(emulator))) == 1


@pytest.mark.parametrize("fault", [Fault.SERVER_ERROR, Fault.THROTTLE, Fault.DROP])
def test_transient_failures_are_resent(gateway: Gateway, emulator: BulkSmsEmulator, fault: Fault) -> None:
    emulator.inject(fault, times=2)
    result = gateway.send(Message(TO[0], "hello"))
    assert result.ok and result.requests == 3 and len(emulator.submissions) == 1


def test_non_200_until_the_attempts_run_out_is_unknown(gateway: Gateway, emulator: BulkSmsEmulator) -> None:
    """A 500 may come from a proxy after the gateway took the request: resent under the same
    stop_dup_id while attempts last, then unknown, never rejected."""
    emulator.inject(Fault.SERVER_ERROR, times=10, status=500)
    result = gateway.send(Message(TO[0], "hello"))
    assert [(o.status, o.retryable) for o in result.outcomes] == [(Status.UNKNOWN, False)]
    assert isinstance(result.error, GatewayError) and result.error.http_status == 500
    assert result.requests == 4 and len(set(stop_dup_ids(emulator))) == 1


def test_processed_then_502_is_resent_under_the_key_and_replayed(gateway: Gateway, emulator: BulkSmsEmulator) -> None:
    emulator.inject(Fault.PROCESSED_THEN_ERROR)
    result = gateway.send(Message(TO, "taken, then a proxy said 502", key="p-1"))
    assert [o.status for o in result.outcomes] == [Status.ACCEPTED] * 2 and result.requests == 2
    assert len(emulator.submissions) == 1 and emulator.credit == Decimal(998)  # taken once
    assert result.outcomes[0].message_id in emulator.submissions
    assert len(set(stop_dup_ids(emulator))) == 1


@pytest.mark.parametrize("status", [500, 502, 504])
def test_processed_then_5xx_every_time_is_unknown_never_rejected(
    gateway: Gateway, emulator: BulkSmsEmulator, status: int
) -> None:
    emulator.inject(Fault.PROCESSED_THEN_ERROR, times=10, status=status)
    result = gateway.send(Message(TO[0], "taken, every reply lost", key="p-2"))
    assert [o.status for o in result.outcomes] == [Status.UNKNOWN]
    assert len(emulator.submissions) == 1 and emulator.credit == Decimal(999)  # taken once
    assert len(set(stop_dup_ids(emulator))) == 1


def test_a_proxys_404_is_resent_under_the_same_stop_dup_id(gateway: Gateway, emulator: BulkSmsEmulator) -> None:
    emulator.inject(Fault.SERVER_ERROR, status=404)
    result = gateway.send(Message(TO[0], "hello"))
    assert result.ok and result.requests == 2 and len(emulator.submissions) == 1
    assert len(set(stop_dup_ids(emulator))) == 1


def test_a_key_reused_for_other_content_is_not_replayed(connector: Connect, emulator: BulkSmsEmulator) -> None:
    """stop_dup_id is the key bound to the content: the gateway takes the second message (sent
    by another process, which cannot know the key was used) rather than replaying the first
    one's reply for it."""
    first = connector().send(Message(TO[0], "first text", key="reused"))
    second = connector().send(Message(TO[1], "other text", key="reused"))
    assert first.ok and second.ok and len(emulator.submissions) == 2
    submission = emulator.submissions[second.outcomes[0].message_id or ""]
    assert [(r.msisdn, r.text) for r in submission.recipients] == [(TO[1][1:], "other text")]
    assert len(set(stop_dup_ids(emulator))) == 2


@pytest.mark.parametrize("code", ["40", "26", "28"])
def test_codes_worth_resending(gateway: Gateway, emulator: BulkSmsEmulator, code: str) -> None:
    emulator.answer_next(code, times=2)
    result = gateway.send(Message(TO[0], "hello"))
    assert result.ok and result.requests == 3


def test_code_40_bounded_by_the_attempts(gateway: Gateway, emulator: BulkSmsEmulator) -> None:
    emulator.answer_next("40", times=10)
    result = gateway.send(Message(TO, "hello"))
    assert [(o.status, o.code, o.retryable) for o in result.outcomes] == [(Status.REJECTED, "40", True)] * 2
    assert result.requests == 4 and not emulator.submissions


def test_unreadable_replies_end_unknown(gateway: Gateway, emulator: BulkSmsEmulator) -> None:
    emulator.inject(Fault.MALFORMED, times=10)
    result = gateway.send(Message(TO[0], "hello"))
    assert [o.status for o in result.outcomes] == [Status.UNKNOWN]
    assert len(emulator.submissions) == 1  # it did take the message: hence never "rejected"


def test_insufficient_credit_is_rejected_not_retryable(gateway_to: GatewayTo) -> None:
    with BulkSmsEmulator(credit=1) as emulator:
        gateway = gateway_to(emulator)
        result = gateway.send(Message(TO, "two messages, one credit"))
        assert [(o.status, o.code, o.retryable) for o in result.outcomes] == [(Status.REJECTED, "25", False)] * 2
        assert "FAILED_USERCREDITS" in (result.outcomes[0].reason or "")


def test_replayed_failure_after_a_lost_reply_is_the_original_outcome(gateway_to: GatewayTo) -> None:
    with BulkSmsEmulator(credit=0) as emulator:
        gateway = gateway_to(emulator)
        emulator.inject(Fault.RESET_BEFORE_REPLY)
        result = gateway.send(Message(TO[0], "no credit", key="k-25"))
        assert [(o.status, o.code) for o in result.outcomes] == [(Status.REJECTED, "25")]
        assert result.requests == 2


def test_stop_dup_id_replays_within_the_window_only(gateway_to: GatewayTo, clock: FakeClock) -> None:
    with BulkSmsEmulator(credit=0) as emulator:
        gateway = gateway_to(emulator)
        emulator.clock = clock
        message = Message(TO[0], "retry me later", key="invoice-9")
        assert gateway.send(message).outcomes[0].code == "25"
        emulator.credit = Decimal(10)
        assert gateway.send(message).outcomes[0].code == "25"  # the first reply, replayed
        assert gateway.send(Message(TO[0], "retry me later", key="invoice-9b")).ok  # a new id goes through
        clock.now += emulator.dedup_window + 1
        assert gateway.send(message).ok


def test_wrong_password_is_rejected_and_never_shown(emulator: BulkSmsEmulator, registry: Registry) -> None:
    with Connector(registry, emulator.dsn().replace("s3cret", "s3cr3t")) as connector:
        result = connector().send(Message(TO[0], "hello"))
    assert [(o.status, o.code) for o in result.outcomes] == [(Status.REJECTED, "23")]
    assert "s3cr3t" not in repr(result) and not emulator.submissions


def test_test_modes_change_nothing(connector: Connect, emulator: BulkSmsEmulator) -> None:
    ok = connector("test_always_succeed=1").send(Message(TO, "test"))
    assert ok.ok and ok.outcomes[0].message_id
    failed = connector("test_always_fail=1").send(Message(TO, "test"))
    assert {(o.status, o.code) for o in failed.outcomes} == {(Status.REJECTED, "22")}
    assert not emulator.submissions and emulator.credit == Decimal(1000)
    message = Message(TO[0], "same key", key="t1")
    assert connector("test_always_succeed=1").send(message).ok
    assert connector().send(message).ok and len(emulator.submissions) == 1  # test sends leave no dedup trace


def test_balance_decreases(gateway: Gateway) -> None:
    before = gateway.balance()
    gateway.send(Message(TO, "x" * 170))
    assert before.amount - gateway.balance().amount == Decimal(4) and before.unit == "credits"


def test_quote_changes_nothing(gateway: Gateway, emulator: BulkSmsEmulator) -> None:
    price = gateway.quote(Message(TO, "x" * 170))
    assert (price.cost, price.parts) == (Decimal(4), 2)
    assert not emulator.submissions and emulator.credit == Decimal(1000)


def test_status_pull_with_partial_failure(gateway_to: GatewayTo) -> None:
    with BulkSmsEmulator(unroutable=("447700900002",)) as emulator:
        gateway = gateway_to(emulator)
        result = gateway.send(Message(TO, "hello"))
        assert result.ok  # the submission reply is per batch; failures show in the reports
        batch_id = result.outcomes[0].message_id or ""
        reports = gateway.status(batch_id)
        assert [(r.recipient, r.status, r.code) for r in reports] == [
            (TO[0], DeliveryStatus.DELIVERED, "11"),
            (TO[1], DeliveryStatus.REJECTED, "31"),
        ]
        emulator.set_status(batch_id, TO[0], "53")
        (one,) = gateway.status(batch_id, recipient=TO[0])
        assert (one.status, one.reason) == (DeliveryStatus.EXPIRED, "Message expired")
        assert gateway.status("999999") == ()  # unknown batch: zero rows


def test_status_with_optional_fields(connector: Connect, emulator: BulkSmsEmulator, clock: FakeClock) -> None:
    emulator.clock = clock
    gateway = connector("report_fields=completed_time,body,credits,source_id&source_id=inv-7", clock=clock)
    result = gateway.send(Message(TO[0], "a|b\nc"))
    (report,) = gateway.status(result.outcomes[0].message_id or "")
    assert report.at is not None and report.at.timestamp() == clock.now
    assert (report.raw["body"], report.raw["credits"], report.raw["source_id"]) == ("a b c", "1.00", "inv-7")


def test_personalised_bulk_through_send_batch(gateway: Gateway, emulator: BulkSmsEmulator) -> None:
    texts = ['Hi "Ann",\nyour code is 1', "Cześć Bob \\o/", "ΔΣ Carol"]
    numbers = ["+447700900001", "+447700900002", "+447700900003"]
    results = gateway.send_personalised([Message(n, t) for n, t in zip(numbers, texts)])
    assert all(r.ok for r in results) and len(emulator.requests) == 1
    assert emulator.requests[0].path == "/eapi/submission/send_batch/1/1.0"
    (submission,) = emulator.submissions.values()
    assert [(r.msisdn, r.text) for r in submission.recipients] == [(n[1:], t) for n, t in zip(numbers, texts)]


def test_over_the_batch_maximum_is_201(gateway_to: GatewayTo) -> None:
    with BulkSmsEmulator(max_batch=1) as emulator:
        gateway = gateway_to(emulator)
        result = gateway.send(Message(TO, "hello"))
        assert {(o.status, o.code) for o in result.outcomes} == {(Status.REJECTED, "201")}


def test_batches_each_get_their_own_stop_dup_id(connector: Connect, emulator: BulkSmsEmulator) -> None:
    numbers = [f"+4477009000{i:02d}" for i in range(5)]
    result = connector("batch_size=2").send(Message(numbers, "hello", key="campaign-1"))
    assert result.ok and len(emulator.submissions) == 3
    assert len(set(stop_dup_ids(emulator))) == 3


def test_send_sms_1_x_and_get_report_1_0(connector: Connect, emulator: BulkSmsEmulator) -> None:
    gateway = connector(f"api_version=current&report_port={emulator.port}")
    result = gateway.send(Message(TO, "old api"))
    assert result.ok and emulator.requests[-1].path == "/eapi/submission/send_sms/1/current"
    reports = gateway.status(result.outcomes[0].message_id or "")
    assert emulator.requests[-1].path == "/eapi/1.0/get_report.mc"
    assert [r.status for r in reports] == [DeliveryStatus.DELIVERED] * 2
    (one,) = gateway.status(result.outcomes[0].message_id or "", recipient=TO[1])
    assert one.recipient == TO[1] and emulator.requests[-1].form("iso-8859-1")["msisdn"] == TO[1][1:]
    with pytest.raises(GatewayError) as caught:
        gateway.status("123")
    assert caught.value.code == "1001"


def test_phonebook_groups(gateway_to: GatewayTo) -> None:
    groups = {"12": ("447700900005", "447700900006")}
    with BulkSmsEmulator(groups=groups) as emulator:
        gateway = gateway_to(emulator)
        reply = gateway.call("send_to_groups", groups=[12], text="Meeting at 5", key="meeting-1")
        assert reply["status"] == "accepted"
        assert [r.msisdn for r in emulator.submissions[reply["batch_id"]].recipients] == list(groups["12"])
        with pytest.raises(GatewayError) as caught:
            gateway.call("send_to_groups", groups=[99], text="x", key="meeting-2")
        assert caught.value.code == "24"
        result = gateway.send(Message(TO[0], "and the group", options={"dest_group_id": "12"}))
        assert [o.recipient for o in result.outcomes] == [TO[0]] and result.ok
        assert len(emulator.submissions[result.outcomes[0].message_id or ""].recipients) == 3


def test_one_connection_per_account(gateway: Gateway) -> None:
    assert gateway.max_connections == 1 and gateway.transport.max_connections == 1


class _Receiver:
    """A loopback HTTP endpoint for pushed delivery reports; fails the first ``failures``."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                receiver.received.append(self.path)
                failing = receiver.failures > 0
                receiver.failures -= 1
                body = b"" if failing else b"OK"
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/dlr"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    r = _Receiver(failures=1)
    yield r
    r.close()


def test_http_push_delivery_reports(
    gateway: Gateway, emulator: BulkSmsEmulator, receiver: _Receiver, clock: FakeClock
) -> None:
    emulator.clock = clock
    emulator.push_url = receiver.url
    result = gateway.send(Message(TO[0], "report me"))
    (pushed,) = emulator.deliver_pushes()
    assert pushed[1] is False and len(receiver.received) == 1  # the receiver failed: retried in 60 min
    clock.now += 59 * 60
    assert emulator.deliver_pushes() == []
    clock.now += 60
    ((params, ok),) = emulator.deliver_pushes()
    assert ok and params["batch_id"] == result.outcomes[0].message_id
    assert emulator.deliver_pushes() == [] and not emulator.pushes
    query = dict(parse_qsl(urlsplit(receiver.received[-1]).query))
    assert query.keys() == {"msisdn", "batch_id", "status", "completed_time"}
    assert re.fullmatch(r"\d\d-\d\d-\d\d \d\d:\d\d:\d\d", query["completed_time"])  # yy-MM-dd HH:mm:ss [B21]
    (report,) = gateway.parse_delivery_report(HttpRequest("GET", receiver.received[-1]))
    assert (report.recipient, report.status, report.message_id) == (TO[0], DeliveryStatus.DELIVERED, params["batch_id"])
    assert report.at is not None and report.at.timestamp() == clock.now - 60 * 60  # delivered at the first push


def test_http_push_carries_the_source_id(
    connector: Connect, emulator: BulkSmsEmulator, receiver: _Receiver, clock: FakeClock
) -> None:
    emulator.clock = clock
    emulator.push_url = receiver.url
    receiver.failures = 0
    connector("source_id=inv-7").send(Message(TO[0], "tagged"))
    ((params, ok),) = emulator.deliver_pushes()
    assert ok and params["source_id"] == "inv-7"
    (report,) = connector().parse_delivery_report(HttpRequest("GET", receiver.received[-1]))
    assert report.raw["source_id"] == "inv-7"


def test_http_push_gives_up_after_the_documented_retries(
    emulator: BulkSmsEmulator, gateway: Gateway, clock: FakeClock
) -> None:
    receiver = _Receiver(failures=100)
    try:
        emulator.clock = clock
        emulator.push_url = receiver.url
        gateway.send(Message(TO[0], "nobody listens"))
        for wait in (0, 3600, 3 * 3600, 12 * 3600):
            clock.now += wait
            assert [ok for _, ok in emulator.deliver_pushes()] == [False]
        assert not emulator.pushes and len(receiver.received) == 4
    finally:
        receiver.close()


def test_pushes_go_to_loopback_only(emulator: BulkSmsEmulator) -> None:
    emulator.push_url = "http://example.com/dlr"
    with pytest.raises(ValueError, match="loopback"):
        emulator.deliver_pushes()


def test_quote_prices_every_batch(connector: Connect, emulator: BulkSmsEmulator) -> None:
    one = connector().quote(Message(TO[0], "how much?"))
    both = connector("batch_size=1").quote(Message(TO, "how much?"))
    assert one.cost > 0 and both.cost == 2 * one.cost
    assert [r.path for r in emulator.requests].count("/eapi/submission/quote_sms/2/2.0") == 3
