"""Delivery reports: the push (form POST, or GET) parsed into normalised reports."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import quote, urlencode

import pytest
from conftest import FIXTURES

from smsgate import Message
from smsgate.emulator import Emulator, EmulatorReply, EmulatorRequest
from smsgate.errors import MalformedResponseError
from smsgate.gateway import Gateway
from smsgate.models import DeliveryStatus, HttpRequest
from smsgate.testing.fixtures import GatewayTo
from smsgate_routesms.dlr import STATES, parse_report
from smsgate_routesms.emulator import RoutesmsEmulator

FORM = "application/x-www-form-urlencoded"
URL = "https://shop.example/sms/dlr"


def post(body: bytes, content_type: str = FORM) -> HttpRequest:
    return HttpRequest("POST", URL, (("Content-Type", content_type),), body)


def test_delivered_form_post(gateway: Gateway) -> None:
    (report,) = gateway.parse_delivery_report(post((FIXTURES / "dlr_delivered.form").read_bytes()))
    assert report.message_id == "bc5f7425-9b3e-4f6b-8d1a-2c7e5f0a9d41"
    assert (report.status, report.recipient, report.code) == (DeliveryStatus.DELIVERED, "+2348055494143", None)
    assert report.at == datetime(2016, 7, 2, 10, 15, 40, tzinfo=timezone.utc)
    assert report.raw["iCharge"] == "1" and report.raw["iMCCMNC"] == "62130" and report.raw["sSender"] == "SHOPNG"


def test_undelivered_with_dates_out_of_order_is_accepted(gateway: Gateway) -> None:
    (report,) = gateway.parse_delivery_report(post((FIXTURES / "dlr_undelivered_dates_reversed.form").read_bytes()))
    assert (report.status, report.code) == (DeliveryStatus.FAILED, "205")
    assert report.at == datetime(2016, 7, 2, 10, 19, 58, tzinfo=timezone.utc)
    assert report.reason == "UNDELIV: undeliverable"


def test_recorded_drupal_report_with_submit_after_done(gateway: Gateway) -> None:
    # The Drupal module's test report [R2]: dtSubmit 11 minutes after dtDone, dates in UTC.
    (report,) = gateway.parse_delivery_report(post((FIXTURES / "dlr_recorded_drupal.form").read_bytes()))
    assert (report.message_id, report.status, report.recipient) == (
        "bc5f7425-c98c-445b-a1f7-4fc5e2acef7e",
        DeliveryStatus.DELIVERED,
        "+123123123",
    )
    assert report.at == datetime(2017, 8, 22, 15, 35, 34, tzinfo=timezone.utc)


def test_the_same_report_as_a_json_body() -> None:
    # The second Drupal handler [R2] decodes the pushed body as JSON.
    body = (
        b'{"sSender": "TestGateway", "sMobileNo": 123123123, "sStatus": "DELIVRD",'
        b' "sMessageId": " bc5f7425-c98c-445b-a1f7-4fc5e2acef7e ", "dtDone": "2017-08-22 15:35:34", "iErrCode": 0}'
    )
    for ctype in ("application/json", ""):
        (report,) = parse_report(post(body, ctype))
        assert (report.message_id, report.status, report.recipient, report.code) == (
            "bc5f7425-c98c-445b-a1f7-4fc5e2acef7e",
            DeliveryStatus.DELIVERED,
            "+123123123",
            None,
        )
        assert report.at == datetime(2017, 8, 22, 15, 35, 34, tzinfo=timezone.utc)


NOT_REPORTS = [b'{"sStatus": "DELIVRD"}', b"[1, 2]", b"{" * 5000, b'{"sMessageId": {"x": 1}, "sStatus": "DELIVRD"}']


@pytest.mark.parametrize("body", NOT_REPORTS)
def test_json_that_is_not_a_report(body: bytes) -> None:
    with pytest.raises(MalformedResponseError):
        parse_report(post(body, "application/json"))


DONE = datetime(2017, 8, 22, 15, 35, 34, tzinfo=timezone.utc)
SUBMIT = datetime(2017, 8, 22, 15, 46, 34, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("fields", "at", "code"),
    [
        ("dtDone=2017-08-22+15%3A35%3A34.0&iErrCode=000", DONE, None),  # java.sql.Timestamp.toString()
        ("dtDone=2017-08-22+15%3A35%3A34.123&iErrCode=0205", DONE, "205"),
        ("dtDone=junk&dtSubmit=2017-08-22+15%3A46%3A34&iErrCode=", SUBMIT, None),
    ],
)
def test_java_timestamps_and_zero_padded_codes(fields: str, at: datetime, code: str | None) -> None:
    (report,) = parse_report(post(f"sMessageId=x&sStatus=UNDELIV&{fields}".encode()))
    assert (report.at, report.code) == (at, code)


def test_get_query_is_read_too() -> None:
    query = urlencode(
        {"sMessageId": "m-1", "sStatus": "EXPIRED", "sMobileNo": "919876543210", "dtDone": ""}, quote_via=quote
    )
    (report,) = parse_report(HttpRequest("GET", f"{URL}?{query}"))
    assert (report.message_id, report.status, report.recipient, report.at) == (
        "m-1",
        DeliveryStatus.EXPIRED,
        "+919876543210",
        None,
    )


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("DELIVRD", DeliveryStatus.DELIVERED),
        ("UNDELIV", DeliveryStatus.FAILED),
        ("REJECTD", DeliveryStatus.REJECTED),
        ("EXPIRED", DeliveryStatus.EXPIRED),
        ("DELETED", DeliveryStatus.EXPIRED),
        ("ACKED", DeliveryStatus.PENDING),
        ("ENROUTE", DeliveryStatus.PENDING),
        ("ACCEPTED", DeliveryStatus.PENDING),
        ("UNKNOWN", DeliveryStatus.UNKNOWN),
        ("delivrd", DeliveryStatus.DELIVERED),
        ("SOMETHING", DeliveryStatus.UNKNOWN),
    ],
)
def test_every_documented_state(state: str, expected: DeliveryStatus) -> None:
    (report,) = parse_report(post(f"sMessageId=x&sStatus={state}".encode()))
    assert report.status is expected


def test_the_state_table_is_the_documented_list() -> None:
    assert set(STATES) == {
        "UNKNOWN",
        "ACKED",
        "ENROUTE",
        "DELIVRD",
        "EXPIRED",
        "DELETED",
        "UNDELIV",
        "ACCEPTED",
        "REJECTD",
    }


def test_declared_charset_is_honoured() -> None:
    body = b"sMessageId=x&sStatus=DELIVRD&sSender=Caf%E9"
    (report,) = parse_report(post(body, f"{FORM}; charset=ISO-8859-1"))
    assert report.raw["sSender"] == "Café"


@pytest.mark.parametrize("body", [b"", b"sStatus=DELIVRD", b"sMessageId=x", b'{"id": 1}', b"\xff\xfe"])
def test_not_a_report(body: bytes) -> None:
    with pytest.raises(MalformedResponseError):
        parse_report(post(body))


class Receiver(Emulator):
    """Our side: an endpoint that answers 200 to every report it gets."""

    name = "dlr-receiver"

    def handle(self, request: EmulatorRequest) -> EmulatorReply:
        return EmulatorReply.text("OK")


def as_http_request(receiver: Receiver, request: EmulatorRequest) -> HttpRequest:
    query = urlencode(request.query, quote_via=quote)
    url = f"{receiver.base_url}{request.path}" + (f"?{query}" if query else "")
    return HttpRequest(request.method, url, request.headers, request.body)


def test_pushed_reports_end_to_end(gateway: Gateway, emulator: RoutesmsEmulator, gateway_to: GatewayTo) -> None:
    sent = gateway.send(Message(["+48500600700", "+48500600701"], "Zażółć"))
    gateway_to(emulator, "dlr=false").send(Message("+48500600702", "no report"))
    later = datetime.now(timezone.utc) + timedelta(days=1)
    gateway.send(Message("+48500600703", "later", send_at=later))
    with Receiver() as receiver:
        assert emulator.push_delivery_reports(f"{receiver.base_url}/dlr", status="DELIVRD") == 2
        assert emulator.push_delivery_reports(f"{receiver.base_url}/dlr") == 0, "each report is pushed once"
        reports = [
            r
            for request in receiver.requests
            for r in gateway.parse_delivery_report(as_http_request(receiver, request))
        ]
    assert [(r.message_id, r.recipient, r.status) for r in reports] == [
        (o.message_id, o.recipient, DeliveryStatus.DELIVERED) for o in sent.outcomes
    ]
    assert all(r.raw["sSender"] == "SMSGate" and r.at is not None for r in reports)


def test_push_is_loopback_only(emulator: RoutesmsEmulator) -> None:
    with pytest.raises(ValueError, match="loopback"):
        emulator.push_delivery_reports("http://example.com/dlr")


def test_failed_reports_carry_the_error_code(gateway: Gateway, emulator: RoutesmsEmulator) -> None:
    gateway.send(Message("+48500600700", "hi"))
    (request,) = emulator.delivery_reports(URL, status="UNDELIV", error="205")
    assert request.method == "POST" and (request.header("Content-Type") or "").startswith(FORM)
    (report,) = gateway.parse_delivery_report(request)
    assert (report.status, report.code, report.message_id) == (DeliveryStatus.FAILED, "205", emulator.messages[0].id)
