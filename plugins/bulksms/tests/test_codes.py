"""The code table, walked in full: every documented code, its verdict and delivery state."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import smsgate_bulksms
from smsgate.errors import GatewayError, MalformedResponseError, RateLimitedError, SmsgateError, TransportError
from smsgate.gateway import Gateway
from smsgate.models import DeliveryStatus, Failure, Message, Send, Verdict
from smsgate_bulksms import codes

Offline = Callable[..., Gateway]

#: The send_sms / quote_sms / send_batch codes of the reference (section 1.6) and their class.
DOCUMENTED_REPLY_CODES = {
    "22": Verdict.FATAL,
    "23": Verdict.FATAL,
    "24": Verdict.FATAL,
    "25": Verdict.FATAL,
    "26": Verdict.RETRY,
    "27": Verdict.FATAL,
    "28": Verdict.RETRY,
    "40": Verdict.RETRY,
    "201": Verdict.FATAL,
    "1001": Verdict.FATAL,
}
#: The delivery status table of the reference (section 1.6).
DOCUMENTED_DELIVERY = {
    "0": DeliveryStatus.PENDING,
    "10": DeliveryStatus.PENDING,
    "11": DeliveryStatus.DELIVERED,
    "12": DeliveryStatus.PENDING,
    **{str(c): DeliveryStatus.REJECTED for c in range(22, 29)},
    "29": DeliveryStatus.FAILED,
    "30": DeliveryStatus.DELIVERED,
    "31": DeliveryStatus.REJECTED,
    "32": DeliveryStatus.REJECTED,
    "33": DeliveryStatus.REJECTED,
    "40": DeliveryStatus.PENDING,
    **{str(c): DeliveryStatus.FAILED for c in (50, 51, 52, 54, 55, 56, 57)},
    "53": DeliveryStatus.EXPIRED,
    **{str(c): DeliveryStatus.PENDING for c in range(60, 65)},
    "70": DeliveryStatus.UNKNOWN,
}


ALL_CODES = sorted(codes.CODES, key=lambda code: (len(code), code))


def _failure(gateway: Gateway, error: SmsgateError) -> Failure:
    operation = Send(gateway.prepare(Message("+447700900001", "hi"))[0].batches[0])
    return Failure(error, operation)


def test_every_documented_code_is_in_the_table() -> None:
    assert set(DOCUMENTED_REPLY_CODES) | set(DOCUMENTED_DELIVERY) | {"1", "1000"} == set(codes.CODES)
    assert dict(codes.VERDICTS) == DOCUMENTED_REPLY_CODES
    assert dict(codes.DELIVERY) == DOCUMENTED_DELIVERY
    assert {"0", "1", "1000"} == codes.SUCCESS
    assert all(codes.CODES[c].verdict is None for c in codes.SUCCESS)


@pytest.mark.parametrize("code", ALL_CODES)
def test_classify_walks_the_whole_table(offline: Offline, code: str) -> None:
    gateway = offline()
    got = gateway.hooks.classify_error(_failure(gateway, GatewayError("x", code=code)), gateway.settings)
    entry = codes.CODES[code]
    if entry.verdict is None:  # not a failure: the core's defaults answer (fatal)
        assert got.verdict is Verdict.FATAL and "BulkSMS" not in got.reason
    else:
        assert got.verdict is entry.verdict
        assert got.reason == f"BulkSMS {code}: {entry.meaning}"


@pytest.mark.parametrize("code", ALL_CODES)
def test_delivery_state_of_every_code(code: str) -> None:
    entry = codes.CODES[code]
    assert codes.delivery_status(code) is (entry.delivery or DeliveryStatus.UNKNOWN)
    assert codes.meaning(code) == entry.meaning


def test_only_40_26_28_are_worth_resending() -> None:
    assert {c for c, v in codes.VERDICTS.items() if v is Verdict.RETRY} == {"26", "28", "40"}


def test_undocumented_code_is_left_to_the_core(offline: Offline) -> None:
    gateway = offline()
    got = gateway.hooks.classify_error(_failure(gateway, GatewayError("x", code="99")), gateway.settings)
    assert got.verdict is Verdict.FATAL  # "all other errors should be considered fatal"
    assert codes.meaning("99") == "unknown code 99"
    assert codes.delivery_status("99") is DeliveryStatus.UNKNOWN


@pytest.mark.parametrize("status", [400, 401, 403, 404, 500, 502, 503, 504])
def test_any_http_status_but_200_is_ambiguous(offline: Offline, status: int) -> None:
    """Not an EAPI answer: the gateway may have taken the request. Resent ("transient", the
    docs) only under the same stop_dup_id, by the core's ambiguous rule."""
    gateway = offline()
    error = GatewayError("x", http_status=status, retry_after=7.0)
    got = gateway.hooks.classify_error(_failure(gateway, error), gateway.settings)
    assert got.verdict is Verdict.AMBIGUOUS and got.retry_after == 7.0 and not got.final


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_left_to_the_cores_ambiguous_rule(offline: Offline, status: int) -> None:
    gateway = offline()
    failure = _failure(gateway, GatewayError("x", http_status=status))
    assert smsgate_bulksms.classify_error(failure, gateway.settings) is None


def test_429_stays_throttled(offline: Offline) -> None:
    gateway = offline()
    error = RateLimitedError("x", http_status=429, retry_after=3.0)
    got = gateway.hooks.classify_error(_failure(gateway, error), gateway.settings)
    assert got.verdict is Verdict.THROTTLED and got.retry_after == 3.0


def test_transport_failures_are_the_cores(offline: Offline) -> None:
    gateway = offline()
    lost = TransportError("x", kind="timeout", written=True)
    refused = TransportError("x", kind="connect", written=False)
    unreadable = MalformedResponseError("x", http_status=200)
    verdicts = [
        gateway.hooks.classify_error(_failure(gateway, e), gateway.settings).verdict
        for e in (lost, refused, unreadable)
    ]
    assert verdicts == [Verdict.AMBIGUOUS, Verdict.RETRY, Verdict.AMBIGUOUS]
