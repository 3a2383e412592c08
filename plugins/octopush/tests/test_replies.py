"""Every documented reply (recorded in ``fixtures/``), and the unverified shapes we chose to read."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from octopush_support import batch_of, fixture, response

from smsgate.errors import (
    AuthenticationError,
    GatewayError,
    InsufficientCreditError,
    MalformedResponseError,
    RateLimitedError,
)
from smsgate.gateway import Gateway
from smsgate.models import (
    Balance,
    BalanceQuery,
    DeliveryStatus,
    HttpRequest,
    HttpResponse,
    Message,
    Receipt,
    Send,
    Status,
)
from smsgate_octopush import codes

FR1, FR2, BAD = "+33601010101", "+33601010102", "+99912345678"
TEXT = "Hello STOP au XXXXX"


def parse(gateway: Gateway, message: Message, reply: HttpResponse) -> Any:
    batch, settings = batch_of(gateway, message)
    return gateway.hooks.parse_response(Send(batch), reply, settings)


# -- legacy: the seed's replies -----------------------------------------------------------------


def test_seed_json_reply(offline: Callable[..., Gateway]) -> None:
    receipt: Receipt = parse(offline(), Message(FR1, TEXT), response("legacy_send_seed.json"))
    (outcome,) = receipt.outcomes
    assert (outcome.recipient, outcome.status, outcome.message_id) == (FR1, Status.ACCEPTED, "api110000000021")
    assert (outcome.parts, outcome.cost) == (1, Decimal("0.550"))
    assert (receipt.cost, receipt.balance) == (Decimal("0.055"), Decimal("6.93"))


def test_seed_xml_reply(offline: Callable[..., Gateway]) -> None:
    receipt: Receipt = parse(offline(), Message(FR1, TEXT), response("legacy_send_seed.xml"))
    (outcome,) = receipt.outcomes
    assert (outcome.recipient, outcome.status, outcome.message_id, outcome.cost) == (
        FR1,
        Status.ACCEPTED,
        "api110000000021",
        Decimal("0.055"),
    )


def test_successs_as_a_list(offline: Callable[..., Gateway]) -> None:
    receipt: Receipt = parse(offline(), Message([FR1, FR2], TEXT), response("legacy_send_two.json"))
    assert [(o.recipient, o.status, o.message_id) for o in receipt.outcomes] == [
        (FR1, Status.ACCEPTED, "api110000000022"),
        (FR2, Status.ACCEPTED, "api110000000022"),
    ]


@pytest.mark.parametrize(
    ("name", "code"), [("legacy_send_partial_objects.json", "150"), ("legacy_send_partial_strings.json", None)]
)
def test_failures_both_shapes(offline: Callable[..., Gateway], name: str, code: str | None) -> None:
    receipt: Receipt = parse(offline(), Message([FR1, BAD], TEXT), response(name))
    ok, failed = receipt.outcomes
    assert (ok.recipient, ok.status) == (FR1, Status.ACCEPTED)
    assert (failed.recipient, failed.status, failed.code) == (BAD, Status.REJECTED, code)
    assert failed.reason


def test_scheduled_send_is_scheduled(offline: Callable[..., Gateway]) -> None:
    later = datetime(2031, 5, 1, 8, 0, tzinfo=timezone.utc)
    receipt: Receipt = parse(offline(), Message(FR1, TEXT, send_at=later), response("legacy_send_seed.json"))
    assert receipt.outcomes[0].status is Status.SCHEDULED


def test_000_without_entries_covers_every_recipient(offline: Callable[..., Gateway]) -> None:
    body = b'{"error_code":"000","ticket":"api1","successs":[],"failures":[]}'
    receipt: Receipt = parse(offline(), Message([FR1, FR2], TEXT), HttpResponse(200, body))
    assert [(o.status, o.message_id) for o in receipt.outcomes] == [(Status.ACCEPTED, "api1")] * 2


@pytest.mark.parametrize("written", ["33601010101", "+33601010101", "0033601010101", "0601010101", 33601010101])
def test_recipient_forms(offline: Callable[..., Gateway], written: object) -> None:
    body = json.dumps({"error_code": "000", "ticket": "t", "successs": {"recipient": written}}).encode()
    receipt: Receipt = parse(offline(), Message([FR1, "+48500600700"], TEXT), HttpResponse(200, body))
    assert [(o.recipient, o.status) for o in receipt.outcomes] == [
        (FR1, Status.ACCEPTED),
        ("+48500600700", Status.UNKNOWN),  # named nowhere: never accepted
    ]


def test_official_php_client_dump(offline: Callable[..., Gateway]) -> None:
    """The official PHP client's README dump of a real reply: numbers as strings, the XML
    conversion's ``"successs": {"success": {...}}`` wrapper, and no ``ticket`` shown."""
    receipt: Receipt = parse(offline(), Message(FR1, TEXT), response("legacy_send_php_client_dump.json"))
    (outcome,) = receipt.outcomes
    assert (outcome.recipient, outcome.status, outcome.message_id) == (FR1, Status.ACCEPTED, None)
    assert (outcome.parts, outcome.cost, receipt.cost, receipt.balance) == (
        1,
        Decimal("0.049"),
        Decimal("0.049"),
        Decimal(0),
    )


def test_bom_and_crlf_around_the_seed_reply(offline: Callable[..., Gateway]) -> None:
    receipt: Receipt = parse(offline(), Message(FR1, TEXT), response("legacy_send_seed_bom_crlf.json"))
    assert [(o.status, o.message_id) for o in receipt.outcomes] == [(Status.ACCEPTED, "api110000000021")]


def test_xml_with_several_successes_and_a_failure(offline: Callable[..., Gateway]) -> None:
    receipt: Receipt = parse(offline(), Message([FR1, FR2, BAD], TEXT), response("legacy_send_mixed.xml"))
    assert [(o.recipient, o.status, o.message_id, o.code) for o in receipt.outcomes] == [
        (FR1, Status.ACCEPTED, "api110000000025", None),
        (FR2, Status.ACCEPTED, "api110000000025", None),
        (BAD, Status.REJECTED, None, "150"),
    ]
    assert receipt.outcomes[0].parts == 1


def test_root_wrapper_and_failure_wrapper(offline: Callable[..., Gateway]) -> None:
    """``{"octopush": {...}}`` (the XML root kept) and ``"failures": {"failure": {...}}``."""
    receipt: Receipt = parse(offline(), Message([FR1, FR2, BAD], TEXT), response("legacy_send_wrapped.json"))
    assert [(o.status, o.code) for o in receipt.outcomes] == [
        (Status.ACCEPTED, None),
        (Status.ACCEPTED, None),
        (Status.REJECTED, "151"),
    ]


@pytest.mark.parametrize(
    "doc",
    [
        {"error_code": "000", "ticket": "t", "successs": {"recipient": "+4400000000"}},  # not ours
        {"error_code": "000", "ticket": "t", "successs": [{"recipient": FR1}], "failures": [FR1]},  # both lists
        {"error_code": "000", "ticket": "t", "failures": {"recipient": ["+4400000000"]}},
    ],
)
def test_numbers_the_reply_does_not_settle_are_unknown(offline: Callable[..., Gateway], doc: object) -> None:
    receipt: Receipt = parse(offline(), Message(FR1, TEXT), HttpResponse(200, json.dumps(doc).encode()))
    assert [(o.recipient, o.status) for o in receipt.outcomes] == [(FR1, Status.UNKNOWN)]
    assert receipt.outcomes[0].reason


def test_failures_as_bare_numbers_in_an_xml_list(offline: Callable[..., Gateway]) -> None:
    body = b"<octopush><error_code>000</error_code><ticket>t</ticket><successs/><failures>"
    body += b"<recipient>+33601010101</recipient><recipient>+33601010102</recipient></failures></octopush>"
    receipt: Receipt = parse(offline(), Message([FR1, FR2], TEXT), HttpResponse(200, body))
    assert [o.status for o in receipt.outcomes] == [Status.REJECTED, Status.REJECTED]


# -- legacy: errors in HTTP 200 -----------------------------------------------------------------


def test_error_in_http_200(offline: Callable[..., Gateway]) -> None:
    with pytest.raises(AuthenticationError) as info:
        parse(offline(), Message(FR1, TEXT), response("legacy_error_101.json"))
    assert (info.value.code, info.value.http_status) == ("101", 200)
    assert info.value.body == fixture("legacy_error_101.json").decode()


def test_xml_error(offline: Callable[..., Gateway]) -> None:
    with pytest.raises(GatewayError) as info:
        parse(offline(), Message(FR1, TEXT), response("legacy_error_120.xml"))
    assert info.value.code == "120" and "request_id" in info.value.message


@pytest.mark.parametrize("code", sorted(codes.LEGACY_CODES))
def test_every_legacy_code_raises_its_error(offline: Callable[..., Gateway], code: str) -> None:
    body = json.dumps({"error_code": code}).encode()
    with pytest.raises(GatewayError) as info:
        parse(offline(), Message(FR1, TEXT), HttpResponse(200, body))
    assert info.value.code == code and type(info.value) is codes.LEGACY_CODES[code].error
    assert info.value.message == codes.LEGACY_CODES[code].meaning


def test_numeric_error_code(offline: Callable[..., Gateway]) -> None:
    with pytest.raises(InsufficientCreditError) as info:
        parse(offline(), Message(FR1, TEXT), HttpResponse(200, b'{"error_code":104}'))
    assert info.value.code == "104"


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (200, b"<html>oops</html>", MalformedResponseError),
        (200, b'{"ticket":"api1"}', MalformedResponseError),
        (200, b'{"error_code":"000"}', MalformedResponseError),
        (200, b'{"error_code":"000","successs":[],"failures":[]}', MalformedResponseError),
        (200, b'\xef\xbb\xbf{"ticket":"api1"}', MalformedResponseError),
        (200, b"[]", MalformedResponseError),
        (502, b"Bad gateway", GatewayError),
        (500, b'{"error_code":"000","ticket":"api1"}', GatewayError),
        (429, b"slow down", RateLimitedError),
    ],
)
def test_unreadable_legacy_replies(
    offline: Callable[..., Gateway], status: int, body: bytes, kind: type[Exception]
) -> None:
    with pytest.raises(kind) as info:
        parse(offline(), Message(FR1, TEXT), HttpResponse(status, body))
    assert type(info.value) is kind
    assert getattr(info.value, "body", None) == body.decode()


@pytest.mark.parametrize("name", ["legacy_credit.json", "legacy_credit.xml"])
def test_credit(offline: Callable[..., Gateway], name: str) -> None:
    gateway = offline()
    balance: Balance = gateway.hooks.parse_response(BalanceQuery(), response(name), gateway.settings)
    assert (balance.amount, balance.unit) == (Decimal("0.18"), "EUR")


# -- JSON API -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "ticket", "cost"),
    [
        ("v1_send.json", "sms_5fec89fe97109", Decimal("0.0333")),
        ("v1_send_curl_example.json", "sms_5f6c4ba715694", Decimal("0.062")),
        ("v1_send_readme_strings.json", "sms_5f69d09739c2e", Decimal("0.097")),
    ],
)
def test_v1_success_replies(offline: Callable[..., Gateway], name: str, ticket: str, cost: Decimal) -> None:
    receipt: Receipt = parse(offline("api=v1"), Message(FR1, "hi"), response(name))
    (outcome,) = receipt.outcomes
    assert (outcome.recipient, outcome.status, outcome.message_id) == (FR1, Status.ACCEPTED, ticket)
    assert receipt.cost == cost


def test_v1_residual_credit_and_parts(offline: Callable[..., Gateway]) -> None:
    receipt: Receipt = parse(offline("api=v1"), Message(FR1, "hi"), response("v1_send.json"))
    assert receipt.balance == Decimal("99.5") and receipt.outcomes[0].parts == 1


def test_v1_fewer_contacts_than_sent_is_unknown(offline: Callable[..., Gateway]) -> None:
    receipt: Receipt = parse(offline("api=v1"), Message([FR1, FR2], "hi"), response("v1_send.json"))
    assert [o.status for o in receipt.outcomes] == [Status.UNKNOWN, Status.UNKNOWN]
    assert "1 of 2" in (receipt.outcomes[0].reason or "")


@pytest.mark.parametrize("name", ["v1_balance.json", "v1_balance_readme.json"])
def test_v1_balance(offline: Callable[..., Gateway], name: str) -> None:
    gateway = offline("api=v1")
    balance: Balance = gateway.hooks.parse_response(BalanceQuery(), response(name), gateway.settings)
    assert balance.unit == "vocal_sms" and balance.amount in (Decimal(10), Decimal("216.027"))
    assert "wallet_packs" in balance.details


#: Error bodies of the JSON API: its schema is unverified, so several plausible shapes are read.
V1_ERRORS = [
    (401, {"code": 401, "message": "Invalid api-key"}, AuthenticationError, "401", "Invalid api-key"),
    (403, {"error": "Forbidden"}, AuthenticationError, "403", "Forbidden"),
    (402, {"message": "Not enough credit"}, InsufficientCreditError, "402", "Not enough credit"),
    (400, {"code": 1000, "message": "Invalid type"}, GatewayError, "1000", "Invalid type"),
    (422, {"errors": {"text": ["too long"]}}, GatewayError, "422", "text: too long"),
    (
        400,
        {"code": 400, "message": "request_id has already been used"},
        GatewayError,
        "duplicate_request_id",
        "request_id",
    ),
    (422, {"errors": {"request_id": ["already exists"]}}, GatewayError, "duplicate_request_id", "request_id"),
    (429, {"message": "Too many requests"}, RateLimitedError, "429", "Too many requests"),
    (500, {"message": "Server error"}, GatewayError, "500", "Server error"),
    # the same error documents under HTTP 200: the code in the body decides
    (200, {"code": 401, "message": "Invalid api-key"}, AuthenticationError, "401", "Invalid api-key"),
    (200, {"code": "403", "message": "Forbidden"}, AuthenticationError, "403", "Forbidden"),
    (200, {"code": 402, "message": "Not enough credit"}, InsufficientCreditError, "402", "Not enough credit"),
    (200, {"code": 429, "message": "Too many requests"}, RateLimitedError, "429", "Too many requests"),
    (200, {"error_code": 1000, "message": "Invalid type"}, GatewayError, "1000", "Invalid type"),
    (
        200,
        {"code": 400, "message": "request_id has already been used"},
        GatewayError,
        "duplicate_request_id",
        "request_id",
    ),
]


@pytest.mark.parametrize(("status", "doc", "kind", "code", "text"), V1_ERRORS)
def test_v1_errors(
    offline: Callable[..., Gateway], status: int, doc: object, kind: type[Exception], code: str, text: str
) -> None:
    body = json.dumps(doc).encode()
    with pytest.raises(GatewayError) as info:
        parse(offline("api=v1"), Message(FR1, "hi"), HttpResponse(status, body, (("Retry-After", "3"),)))
    assert type(info.value) is kind
    assert (info.value.code, info.value.http_status, info.value.body) == (code, status, body.decode())
    assert text in info.value.message
    if kind is RateLimitedError:
        assert info.value.retry_after == 3.0


def test_v1_200_with_a_ticket_and_an_error_code_is_unreadable(offline: Callable[..., Gateway]) -> None:
    body = json.dumps({"sms_ticket": "sms_1", "code": 401}).encode()
    with pytest.raises(MalformedResponseError):
        parse(offline("api=v1"), Message(FR1, "hi"), HttpResponse(200, body))
    ok = json.dumps({"sms_ticket": "sms_2", "code": 200}).encode()  # a success that names its status
    assert parse(offline("api=v1"), Message(FR1, "hi"), HttpResponse(200, ok)).outcomes[0].message_id == "sms_2"


def test_v1_balance_error_in_http_200(offline: Callable[..., Gateway]) -> None:
    gateway = offline("api=v1")
    with pytest.raises(AuthenticationError) as info:
        gateway.hooks.parse_response(BalanceQuery(), HttpResponse(200, b'{"code":401}'), gateway.settings)
    assert info.value.code == "401"


def test_v1_validation_error_naming_another_field_is_not_a_duplicate(offline: Callable[..., Gateway]) -> None:
    body = json.dumps({"errors": {"text": ["required"]}, "request_id": "abc"}).encode()
    with pytest.raises(GatewayError) as info:
        parse(offline("api=v1"), Message(FR1, "hi"), HttpResponse(400, body))
    assert info.value.code == "400"


@pytest.mark.parametrize(("status", "body"), [(200, b"not json"), (200, b'{"number_of_contacts":1}'), (500, b"<html>")])
def test_v1_unreadable(offline: Callable[..., Gateway], status: int, body: bytes) -> None:
    with pytest.raises(GatewayError) as info:
        parse(offline("api=v1"), Message(FR1, "hi"), HttpResponse(status, body))
    assert info.value.body == body.decode()
    assert (type(info.value) is MalformedResponseError) == (status == 200)


# -- delivery reports ---------------------------------------------------------------------------


def test_documented_callback(offline: Callable[..., Gateway]) -> None:
    request = HttpRequest(
        "POST", "https://app.example/dlr", (("Content-Type", "application/json"),), fixture("dlr_delivered.json")
    )
    (report,) = offline().parse_delivery_report(request)
    assert (report.message_id, report.recipient, report.status, report.code) == (
        "sms_5fa275dbf21dc",
        "+33600000000",
        DeliveryStatus.DELIVERED,
        "DELIVERED",
    )
    assert report.at == datetime(2020, 11, 4, 9, 12, 13, tzinfo=timezone.utc)  # Paris, CET in November
    assert report.raw["unit_price"] == "0.045"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("ACK", DeliveryStatus.PENDING),
        ("DELIVERED", DeliveryStatus.DELIVERED),
        ("NOT_DELIVERED", DeliveryStatus.FAILED),
        ("NOT_ALLOWED", DeliveryStatus.REJECTED),
        ("UNKNOWN_DELIVERY", DeliveryStatus.UNKNOWN),
        ("BAD_DESTINATION", DeliveryStatus.REJECTED),
        ("BLACKLISTED_NUMBER", DeliveryStatus.REJECTED),
        ("UNDEFINED", DeliveryStatus.UNKNOWN),
        ("READ", DeliveryStatus.DELIVERED),
        ("SOMETHING_NEW", DeliveryStatus.UNKNOWN),
    ],
)
def test_callback_statuses(offline: Callable[..., Gateway], status: str, expected: DeliveryStatus) -> None:
    body = json.dumps(
        {"message_id": "sms_1", "number": "33600000000", "status": status, "delivery_date": "2021-07-01 12:00:00"}
    )
    (report,) = offline().parse_delivery_report(HttpRequest("POST", "https://app.example/dlr", (), body.encode()))
    assert report.status is expected and report.recipient == "+33600000000"
    assert report.at == datetime(2021, 7, 1, 10, 0, tzinfo=timezone.utc)  # Paris, CEST in July


def test_callback_as_form_or_list(offline: Callable[..., Gateway]) -> None:
    form = HttpRequest.form(
        "https://app.example/dlr", {"message_id": "sms_1", "number": "+33600000000", "status": "ACK"}
    )
    assert offline().parse_delivery_report(form)[0].status is DeliveryStatus.PENDING
    query = HttpRequest.get("https://app.example/dlr", {"message_id": "sms_2", "status": "DELIVERED"})
    assert offline().parse_delivery_report(query)[0].message_id == "sms_2"
    many = json.dumps([{"message_id": "a", "status": "DELIVERED"}, {"message_id": "b", "status": "NOT_DELIVERED"}])
    reports = offline().parse_delivery_report(HttpRequest("POST", "https://app.example/dlr", (), many.encode()))
    assert [r.status for r in reports] == [DeliveryStatus.DELIVERED, DeliveryStatus.FAILED]


@pytest.mark.parametrize("body", [b"{", b'{"status":"DELIVERED"}', b'{"message_id":"x"}', b"[1]", b"", b"\xff\xfe"])
def test_bad_callbacks(offline: Callable[..., Gateway], body: bytes) -> None:
    with pytest.raises(MalformedResponseError):
        offline().parse_delivery_report(HttpRequest("POST", "https://app.example/dlr", (), body))
