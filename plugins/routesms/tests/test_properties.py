"""Hypothesis: the parsers never raise anything but smsgate errors; encoders round-trip."""

from __future__ import annotations

import contextlib
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import smsgate_routesms
from smsgate import text as smstext
from smsgate.errors import GatewayError, MalformedResponseError, SmsgateError
from smsgate.models import BalanceQuery, Batch, HttpRequest, HttpResponse, Item, Message, Send, Status
from smsgate.spec import Endpoint, Secret
from smsgate.testing.kit import nested, nested_callbacks
from smsgate_routesms import codes
from smsgate_routesms.dlr import parse_report
from smsgate_routesms.encoding import MessageType, decode, encode, fits_latin1, message_type, parts
from smsgate_routesms.reply import balance, send_receipt
from smsgate_routesms.request import send_request
from smsgate_routesms.settings import RoutesmsSettings

NUMBERS = ("+2348055494143", "+2348134496448", "+919876543210")
SETTINGS = RoutesmsSettings(username="u", password=Secret("p"), sender="Shop")
ENDPOINT = Endpoint("sms.example.net", 8080, tls=False)


def batch(text: str = "hi", recipients: tuple[str, ...] = NUMBERS, flash: bool = False) -> Batch:
    info = smstext.analyse(text)
    items = tuple(Item(r, text, f"k/{r}", info) for r in recipients)
    return Batch(Message(recipients, text, flash=flash), items, "k")


BATCH = batch()
pieces = st.sampled_from(
    ["1701", "1706", "1715", "|", ":", ",", "2348055494143", "abc-1", "\n", "\r", "\t", " ", "\ufeff", "NA", "1702"]
)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from([200, 202, 400, 404, 500, 503]),
    st.binary(max_size=300) | st.lists(pieces).map(lambda p: "".join(p).encode()),
)
def test_send_parser_raises_only_smsgate_errors(status: int, body: bytes) -> None:
    try:
        receipt = send_receipt(BATCH, HttpResponse(status, body))
    except SmsgateError:
        return
    assert {o.recipient for o in receipt.outcomes} <= set(NUMBERS)
    assert all(o.message_id for o in receipt.outcomes if o.status is Status.ACCEPTED)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([200, 500]), st.binary(max_size=100) | st.text(max_size=40).map(lambda t: f"Balance:{t}".encode())
)
def test_balance_parser_raises_only_smsgate_errors(status: int, body: bytes) -> None:
    try:
        found = balance(HttpResponse(status, body))
    except SmsgateError:
        return
    assert found.amount.is_finite()


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["GET", "POST"]),
    st.text(max_size=60),
    st.binary(max_size=200),
    st.sampled_from(["", "application/x-www-form-urlencoded; charset=bogus", "text/plain"]),
)
def test_report_parser_raises_only_smsgate_errors(method: str, query: str, body: bytes, ctype: str) -> None:
    try:
        reports = parse_report(HttpRequest(method, f"http://h/dlr?{query}", (("Content-Type", ctype),), body))
    except SmsgateError:
        return
    assert len(reports) == 1 and reports[0].message_id


@given(st.text(min_size=1, max_size=200), st.sampled_from(["upper", "lower"]))
def test_unicode_hex_round_trips(text: str, case: Literal["upper", "lower"]) -> None:
    written = encode(text, MessageType.UNICODE, hex_case=case)
    assert len(written) == 4 * smstext.ucs2_length(text)
    assert written == (written.upper() if case == "upper" else written.lower())
    assert decode(written, 2) == text


@given(st.text(min_size=1, max_size=100), st.booleans(), st.sampled_from(["gsm", "latin1"]))
def test_type_choice(text: str, flash: bool, charset: Literal["gsm", "latin1"]) -> None:
    mtype = message_type(text, flash=flash, charset=charset)
    assert mtype.flash is flash
    assert mtype.latin1 is (charset == "latin1" and fits_latin1(text))
    assert mtype.unicode is (not mtype.latin1 and not smstext.is_gsm7(text))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(min_size=1, max_size=150), st.booleans(), st.sampled_from(["gsm", "latin1"]))
def test_requests_carry_the_text_exactly(text: str, flash: bool, charset: Literal["gsm", "latin1"]) -> None:
    settings_ = RoutesmsSettings(username="u", password=Secret("p&=+ %"), sender="+4812", charset=charset)
    request = send_request(batch(text, NUMBERS[:2], flash), settings_, ENDPOINT)
    params = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
    assert decode(params["message"], int(params["type"])) == text
    assert params["destination"] == "2348055494143,2348134496448"
    assert (params["password"], params["source"]) == ("p&=+ %", "+4812")


outcomes = st.lists(
    st.tuples(
        st.sampled_from([c for c in codes.CODES if c.isdigit()]), st.uuids().map(str), st.sampled_from(["|", ":"])
    ),
    min_size=1,
    max_size=len(NUMBERS),
)


@given(outcomes)
def test_generated_replies_round_trip(items: list[tuple[str, str, str]]) -> None:
    body = ",".join(
        f"{code}|{number.lstrip('+')}" + (f"{sep}{mid}" if code == codes.SUCCESS else "")
        for (code, mid, sep), number in zip(items, NUMBERS)
    )
    receipt = send_receipt(BATCH, HttpResponse(200, body.encode()))
    assert len(receipt.outcomes) == len(items)
    for outcome, (code, mid, _), number in zip(receipt.outcomes, items, NUMBERS):
        assert outcome.recipient == number
        if code == codes.SUCCESS:
            assert (outcome.status, outcome.message_id) == (Status.ACCEPTED, mid)
        else:
            assert outcome.code == code
            assert outcome.status is (Status.UNKNOWN if code == codes.TIMEOUT else Status.REJECTED)


@pytest.mark.parametrize(
    ("mtype", "length", "expected"),
    [
        (MessageType.PLAIN, 160, 1),
        (MessageType.PLAIN, 161, 2),
        (MessageType.PLAIN, 306, 2),
        (MessageType.PLAIN, 307, 3),
        (MessageType.FLASH, 140, 1),
        (MessageType.FLASH, 141, 2),  # past one flash message: concatenated, so two parts
        (MessageType.FLASH, 153, 2),
        (MessageType.LATIN1, 140, 1),
        (MessageType.LATIN1, 141, 2),
        (MessageType.UNICODE, 70, 1),
        (MessageType.UNICODE, 71, 2),
        (MessageType.UNICODE, 134, 2),
        (MessageType.UNICODE, 135, 3),
    ],
)
def test_part_counts_follow_the_seed_limits(mtype: MessageType, length: int, expected: int) -> None:
    assert parts(("ż" if mtype.unicode else "x") * length, mtype) == expected


deep_json = st.builds(nested, st.integers(1, 20_000), st.sampled_from(["[", '{"a":']))
OPERATIONS = (Send(BATCH), BalanceQuery())


@settings(max_examples=60, deadline=None)
@given(deep_json | st.binary(max_size=300).map(lambda b: b.decode("latin-1")), st.sampled_from([200, 500, 502]))
def test_deeply_nested_or_random_replies_raise_only_gateway_errors(body: str, status: int) -> None:
    """Audit: only ``MalformedResponseError`` (or a documented ``GatewayError``) leaves a parser."""
    for operation in OPERATIONS:
        with contextlib.suppress(GatewayError):
            smsgate_routesms.parse_response(operation, HttpResponse(status, body.encode("utf-8")), SETTINGS)


@settings(max_examples=60, deadline=None)
@given(
    deep_json,
    st.sampled_from(["sMessageId", "sStatus", "sMobileNo"]),
    st.sampled_from(["application/json", "", "application/x-www-form-urlencoded"]),
)
def test_deeply_nested_delivery_reports_are_malformed(nesting: str, field: str, ctype: str) -> None:
    report = {"sMessageId": "abc", "sStatus": "DELIVRD"}
    for request in nested_callbacks("http://h/dlr", report, field, nesting, ctype):
        try:
            reports = smsgate_routesms.parse_delivery_report(request, SETTINGS)
        except MalformedResponseError:
            continue
        assert len(reports) == 1 and reports[0].message_id
