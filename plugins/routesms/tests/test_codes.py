"""The code table, walked in full: classification, per-destination outcomes, global errors."""

from __future__ import annotations

import pytest

import smsgate_routesms
from smsgate import Secret, text
from smsgate.errors import (
    AuthenticationError,
    GatewayError,
    InsufficientCreditError,
    MalformedResponseError,
    TransportError,
)
from smsgate.models import Batch, Classification, Failure, HttpResponse, Item, Message, Send, Status, Verdict
from smsgate_routesms import codes
from smsgate_routesms.reply import send_receipt
from smsgate_routesms.settings import RoutesmsSettings

NUMBER = "+919876543210"
OPERATION = Send(Batch(Message(NUMBER, "hi"), (Item(NUMBER, "hi", "k", text.analyse("hi")),), "k"))
SETTINGS = RoutesmsSettings(username="u", password=Secret("p"))
NUMERIC = sorted(c for c in codes.CODES if c.isdigit())


def classify(error: Exception) -> Classification | None:
    assert isinstance(error, (GatewayError, TransportError))
    return smsgate_routesms.classify_error(Failure(error, OPERATION), SETTINGS)


def test_the_table_has_every_documented_code() -> None:
    seed = {"1701", "1702", "1703", "1704", "1705", "1706", "1707", "1708", "1709", "1710", "1725", "1715", "1732"}
    seed |= {"1028", "1041", "1042", "1033", "69", "8", "16", "18"}
    clients = {"1025", "1032"}
    assert set(NUMERIC) == seed | clients
    assert set(codes.TEXT_REPLIES.values()) <= set(codes.CODES)


@pytest.mark.parametrize("code", sorted(codes.CODES))
def test_every_code_is_classified_by_the_seed_rule(code: str) -> None:
    entry = codes.CODES[code]
    got = classify(GatewayError("x", code=code))
    if code == codes.SUCCESS:
        assert got is None and entry.verdict is None
        return
    assert got is not None and got.verdict is entry.verdict
    if code == "1709":
        assert got.verdict is Verdict.RETRY, "the only code the seed allows to resend"
    elif code == "1715":
        assert (got.verdict, got.final) == (Verdict.AMBIGUOUS, True), "never re-submitted"
    else:
        assert (got.verdict, got.final) == (Verdict.FATAL, False)
    assert code in got.reason


@pytest.mark.parametrize("code", ["0", "1", "11", "13", "88", "97", "255", "1099", "1799"])
def test_undocumented_numeric_codes_are_fatal(code: str) -> None:
    got = classify(GatewayError("x", code=code))
    assert got is not None and got.verdict is Verdict.FATAL
    assert "SMPP" in got.reason


@pytest.mark.parametrize(
    "error",
    [
        TransportError("t", kind="timeout", written=True),
        TransportError("t", kind="connect", written=False),
        MalformedResponseError("m"),
        GatewayError("HTTP 503", http_status=503),
        GatewayError("x", code="something"),
    ],
)
def test_failures_without_a_gateway_code_are_left_to_the_core(error: Exception) -> None:
    assert classify(error) is None


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_no_resend_verdict_under_a_5xx(status: int) -> None:
    """A 5xx may come from a front end after the gateway took the request: not even 1709 is
    resent under one (the core settles it ambiguous); fatal codes stay fatal."""
    assert classify(GatewayError("x", code="1709", http_status=status)) is None
    assert classify(GatewayError(f"HTTP {status}", http_status=status)) is None
    fatal = classify(GatewayError("x", code="1702", http_status=status))
    assert fatal is not None and fatal.verdict is Verdict.FATAL
    got = classify(GatewayError("x", code="1709", http_status=200))
    assert got is not None and got.verdict is Verdict.RETRY


@pytest.mark.parametrize(
    "body", [b"<html>Bad Gateway</html>", b"", b"1701|919876543210|id|extra|more", b"\xff\xfe garbage"]
)
@pytest.mark.parametrize("status", [200, 502, 503])
def test_unreadable_replies_never_classify_as_resendable(status: int, body: bytes) -> None:
    with pytest.raises(GatewayError) as caught:
        send_receipt(OPERATION.batch, HttpResponse(status, body))
    got = classify(caught.value)
    assert got is None or got.verdict not in (Verdict.RETRY, Verdict.THROTTLED)


@pytest.mark.parametrize("code", NUMERIC)
def test_every_code_as_a_destination_item(code: str) -> None:
    body = f"{code}|919876543210" + ("|abc-1" if code == codes.SUCCESS else "")
    (outcome,) = send_receipt(OPERATION.batch, HttpResponse(200, body.encode())).outcomes
    expected = {codes.SUCCESS: Status.ACCEPTED, codes.TIMEOUT: Status.UNKNOWN}.get(code, Status.REJECTED)
    assert outcome.status is expected
    assert outcome.recipient == NUMBER
    if expected is Status.REJECTED:
        assert (outcome.code, outcome.reason) == (code, codes.CODES[code].meaning)


@pytest.mark.parametrize("code", [c for c in NUMERIC if c != codes.SUCCESS])
def test_every_code_as_a_global_reply(code: str) -> None:
    with pytest.raises(GatewayError) as caught:
        send_receipt(OPERATION.batch, HttpResponse(200, code.encode()))
    assert caught.value.code == code
    if code in ("1025", "1725"):  # insufficient credit (seed 002; older deployments)
        assert type(caught.value) is InsufficientCreditError
    elif code in ("1703", "16", "18"):  # credentials; IP blacklisted; IP not whitelisted
        assert type(caught.value) is AuthenticationError
    else:
        assert type(caught.value) is GatewayError


def test_both_spellings_mean_the_same() -> None:
    assert codes.CODES["1025"].meaning == codes.CODES["1725"].meaning
    assert codes.CODES["1032"].meaning == codes.CODES["1732"].meaning
    assert {"1025", "1725"} == codes.CREDIT_CODES


def test_meaning_never_raises() -> None:
    assert codes.meaning("1706") == "Invalid destination"
    assert "SMPP" in codes.meaning("4242")
    assert codes.meaning("weird") == "unknown code weird"
