"""Property tests: the parsers raise nothing but smsgate errors, whatever arrives; the
encoders round-trip through the gateway's side."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qsl

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsgate.errors import GatewayError, MalformedResponseError, SmsgateError
from smsgate.gateway import Gateway
from smsgate.models import (
    BalanceQuery,
    Call,
    HttpRequest,
    HttpResponse,
    Message,
    Quote,
    Receipt,
    Send,
    Status,
    StatusQuery,
)
from smsgate.testing import error_of
from smsgate.testing.strategies import json_bodies
from smsgate.text import GSM7_BASIC, GSM7_EXTENSION
from smsgate_bulksms.emulator_model import decode_message
from smsgate_bulksms.encoding import batch_csv, encode_text, from_latin1, parse_csv, to_latin1

Offline = Callable[..., Gateway]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
#: Bodies that look like EAPI replies, to reach past the first checks.
REPLYISH = st.text(alphabet="0123456789||\n\n\r ab.-", max_size=80).map(lambda t: t.encode())
BODIES = st.one_of(st.binary(max_size=200), REPLYISH, REPLYISH.map(lambda b: b"\xef\xbb\xbf" + b))
GSM = st.text(alphabet=sorted((GSM7_BASIC | GSM7_EXTENSION) - {"€"}), min_size=1, max_size=400)


@pytest.fixture(params=["", "report_fields=body,completed_time,credits", "api_version=current"])
def gw(offline: Offline, request: pytest.FixtureRequest) -> Gateway:
    return offline(request.param)


@FUZZ
@given(status=st.sampled_from([200, 200, 400, 429, 500, 503]), body=BODIES)
def test_reply_parsers_raise_only_smsgate_errors(gw: Gateway, status: int, body: bytes) -> None:
    batch = gw.prepare(Message(("+447700900001", "+447700900002"), "hi"))[0].batches[0]
    operations: list[Send | Quote | StatusQuery | BalanceQuery | Call] = [
        Send(batch),
        Quote(batch),
        StatusQuery(("12345",)),
        BalanceQuery(),
        Call("send_to_groups", {"groups": [1], "text": "x", "key": "k"}),
    ]
    for operation in operations:
        try:
            result = gw.hooks.parse_response(operation, HttpResponse(status, body), gw.settings)
        except SmsgateError:
            continue
        if isinstance(result, Receipt):
            accepted = [o for o in result.outcomes if o.status in (Status.ACCEPTED, Status.SCHEDULED)]
            assert not accepted or (status == 200 and _first_code(body) in (b"0", b"1"))


def _first_code(body: bytes) -> bytes:
    """The first field of the first non-blank line (after a byte order mark), stripped."""
    lines = [line for line in body.removeprefix(b"\xef\xbb\xbf").splitlines() if line.strip()]
    return lines[0].split(b"|")[0].strip() if lines else b""


@FUZZ
@given(query=st.text(max_size=120), body=st.binary(max_size=80))
def test_push_parser_raises_only_smsgate_errors(offline: Offline, query: str, body: bytes) -> None:
    gw = offline()
    try:
        reports = gw.parse_delivery_report(HttpRequest("GET", "/dlr?" + query, body=body))
    except SmsgateError:
        return
    assert len(reports) == 1 and reports[0].message_id.isdigit()


@settings(max_examples=300, deadline=None)
@given(GSM)
def test_gsm_text_maps_to_latin1_and_back(text: str) -> None:
    mapped = to_latin1(text)
    assert mapped is not None and mapped.encode("iso-8859-1")
    assert from_latin1(mapped) == text


@settings(max_examples=300, deadline=None)
@given(st.one_of(GSM, st.text(min_size=1, max_size=300)))
def test_the_gateway_reads_back_what_was_encoded(text: str) -> None:
    encoded = encode_text(text)
    body = HttpRequest.form(
        "http://x/", [("message", encoded.message), ("dca", encoded.dca or "7bit")], encoding="iso-8859-1"
    ).body
    params = dict(parse_qsl(body.decode("ascii"), keep_blank_values=True, encoding="iso-8859-1"))
    params |= {"allow_concat_text_sms": "1", "concat_text_sms_max_parts": "99"}
    decoded, parts = decode_message(params)
    assert decoded == text and parts == encoded.parts


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(alphabet="0123456789", min_size=6, max_size=15), st.text(max_size=60)), min_size=1, max_size=5
    )
)
def test_batch_csv_round_trips(rows: list[tuple[str, str]]) -> None:
    data = batch_csv(["msisdn", "message"], rows)
    assert parse_csv(data) == [["msisdn", "message"], *[list(r) for r in rows]]


#: JSON nested deeper than any recursive parser's stack, and structured garbage.
DEEP = st.integers(min_value=1, max_value=50_000).map(lambda n: b"[" * n + b"]" * n)
NESTED = json_bodies()
CHARSETS = st.sampled_from(["", "text/plain", "text/plain; charset=utf-8", "text/plain; charset=x-bogus"])


@FUZZ
@given(
    status=st.sampled_from([200, 502]),
    body=st.one_of(DEEP, NESTED, st.binary(max_size=300)),
    ctype=CHARSETS,
)
def test_nested_json_and_random_bytes_raise_only_malformed_or_gateway_errors(
    gw: Gateway, status: int, body: bytes, ctype: str
) -> None:
    batch = gw.prepare(Message("+447700900001", "hi"))[0].batches[0]
    response = HttpResponse(status, body, (("Content-Type", ctype),) if ctype else ())
    for operation in (Send(batch), Quote(batch), StatusQuery(("12345",)), BalanceQuery()):
        error = error_of(lambda: gw.hooks.parse_response(operation, response, gw.settings))  # noqa: B023
        if error is None:
            assert not isinstance(operation, Send) or _first_code(body) in (b"0", b"1")
        elif status == 200 and not _first_code(body).isdigit():
            assert isinstance(error, MalformedResponseError)  # nothing the gateway said
        else:
            assert isinstance(error, GatewayError)


@FUZZ
@given(body=st.one_of(DEEP, NESTED, st.binary(max_size=200)), query=st.sampled_from(["", "batch_id=1&status=11"]))
def test_push_with_nested_json_or_random_bytes_raises_only_smsgate_errors(
    offline: Offline, body: bytes, query: str
) -> None:
    request = HttpRequest("POST", "/dlr?" + query, body=body)
    error = error_of(lambda: offline().parse_delivery_report(request))
    assert error is None or isinstance(error, MalformedResponseError)
