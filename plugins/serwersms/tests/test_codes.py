"""The code tables, walked in full: classification, error classes, per-item rejections, reasons."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from serwersms_support import response

from smsgate.errors import AuthenticationError, GatewayError, InsufficientCreditError
from smsgate.gateway import Gateway
from smsgate.models import BalanceQuery, DeliveryStatus, Failure, Message, Send, Status, StatusQuery, Verdict
from smsgate_serwersms.codes import CODES, REASONS, STATUSES, TYPES, VERDICTS
from smsgate_serwersms.dlr import normalised_status

Offline = Callable[..., Gateway]

#: Reference 2.5, as published: every code and its type.
DOCUMENTED = {
    "1000": "InvalidAction", "1001": "InvalidUser", "1002": "InvalidRole", "1003": "InvalidIP",
    "1004": "InvalidID", "1005": "InvalidRole", "1006": "InvalidData", "1007": "InvalidRole",
    "1008": "InvalidRole", "2000": "ValidationRequiredError", "2001": "ValidationPhoneError",
    "2002": "ValidationCodeError", "3000": "SendError", "3001": "SendError", "3002": "SendError",
    "3003": "SendError", "3004": "SendError", "3005": "SendError", "3006": "SendError",
    "3007": "SendError", "3008": "SendError", "3009": "SendError", "3100": "SendError",
    "3101": "SendError", "3102": "SendError", "3103": "SendError", "3104": "SendError",
    "3106": "SendError",
}  # fmt: skip
#: Credential and account codes (types InvalidUser, InvalidRole, InvalidIP): the login, the API
#: user's role, the account's state (1007: not fully active) or the caller's IP was refused.
AUTH = {"1001", "1002", "1003", "1005", "1007", "1008"}
CREDIT = {"3000", "3002", "3004", "3006"}


def test_the_table_is_the_reference() -> None:
    assert {code: TYPES[code] for code in CODES} == DOCUMENTED
    assert set(VERDICTS) == set(DOCUMENTED)
    assert all(verdict is Verdict.FATAL for verdict in VERDICTS.values())  # reference 2.5: all FATAL


@pytest.mark.parametrize("code", sorted(CODES))
def test_each_code_classifies_and_raises_its_class(offline: Offline, code: str) -> None:
    gateway = offline()
    batch = gateway.prepare(Message("+48500600700", "Hi"))[0].batches[0]
    classification = gateway.hooks.classify_error(Failure(GatewayError("x", code=code), Send(batch)), gateway.settings)
    assert classification.verdict is CODES[code].verdict
    assert CODES[code].meaning in classification.reason
    document = {"error": {"code": int(code), "type": TYPES[code], "message": f"message {code}"}}
    expected = AuthenticationError if code in AUTH else InsufficientCreditError if code in CREDIT else GatewayError
    with pytest.raises(GatewayError) as info:
        gateway.hooks.parse_response(Send(batch), response(document), gateway.settings)
    assert type(info.value) is expected
    assert info.value.code == code
    assert f"message {code}" in str(info.value)


@pytest.mark.parametrize("code", sorted(CODES))
def test_each_code_as_a_per_item_rejection(offline: Offline, code: str) -> None:
    gateway = offline()
    batch = gateway.prepare(Message("+48500600700", "Hi"))[0].batches[0]
    item = {"id": "0123456789", "phone": "+48500600700", "status": "unsent", "error_code": int(code)}
    document = {"success": True, "queued": 0, "unsent": 1, "items": [item]}
    (outcome,) = gateway.hooks.parse_response(Send(batch), response(document), gateway.settings).outcomes
    assert (outcome.status, outcome.code, outcome.reason) == (Status.REJECTED, code, CODES[code].meaning)


def test_undocumented_codes_are_left_to_the_core(offline: Offline) -> None:
    gateway = offline()
    batch = gateway.prepare(Message("+48500600700", "Hi"))[0].batches[0]
    for code in ("3105", "4312", None):
        failure = Failure(GatewayError("x", code=code), Send(batch))
        assert getattr(CODES.find(code), "verdict", None) is None
        # the core's default answers: a gateway error without a known code is fatal
        assert gateway.hooks.classify_error(failure, gateway.settings).verdict is Verdict.FATAL


@pytest.mark.parametrize("reason", sorted(REASONS))
def test_each_reason(reason: str) -> None:
    entry = REASONS[reason]
    assert CODES.meaning(reason) == entry.meaning
    assert getattr(CODES.find(reason), "verdict", None) is entry.verdict
    assert normalised_status("undelivered", reason) is entry.delivery
    assert normalised_status("unsent", reason) is DeliveryStatus.REJECTED
    assert normalised_status("delivered", reason) is DeliveryStatus.DELIVERED


def test_reason_verdicts() -> None:
    retry = {r for r, e in REASONS.items() if e.verdict is Verdict.RETRY}
    assert retry == {"operator_error"}


@pytest.mark.parametrize("status", sorted(STATUSES))
def test_each_status(status: str) -> None:
    assert normalised_status(status, None) is STATUSES[status]
    assert normalised_status(status.upper(), None) is STATUSES[status]


def test_status_table() -> None:
    assert STATUSES["delivered"] is DeliveryStatus.DELIVERED
    assert STATUSES["undelivered"] is DeliveryStatus.FAILED
    assert STATUSES["unsent"] is DeliveryStatus.REJECTED
    assert {s for s, v in STATUSES.items() if v is DeliveryStatus.PENDING} == {
        "sent",
        "in_progress",
        "saved",
        "pending",
    }
    assert normalised_status("something else", None) is DeliveryStatus.UNKNOWN


@pytest.mark.parametrize(
    ("status", "send", "expected"),
    [
        (500, True, Verdict.AMBIGUOUS),
        (502, True, Verdict.AMBIGUOUS),  # a proxy may answer 502/503 after the gateway took it
        (503, True, Verdict.AMBIGUOUS),
        (504, True, Verdict.AMBIGUOUS),
        (503, False, Verdict.AMBIGUOUS),  # the core's rule for any 5xx; a query is simply asked again
        (429, True, Verdict.THROTTLED),
        (413, True, Verdict.FATAL),  # refused by a front end before the gateway read it
        (404, True, Verdict.FATAL),
    ],
)
def test_http_statuses_without_an_error_document(offline: Offline, status: int, send: bool, expected: Verdict) -> None:
    """A 5xx without an error document is ambiguous (a proxy may answer after the gateway took
    the request): the core reconciles a send by unique_id before any resend."""
    gateway = offline()
    batch = gateway.prepare(Message("+48500600700", "Hi"))[0].batches[0]
    operation = Send(batch) if send else StatusQuery(("a1",))
    error = GatewayError(f"HTTP {status}", http_status=status)
    assert gateway.hooks.classify_error(Failure(error, operation), gateway.settings).verdict is expected


@pytest.mark.parametrize("code", sorted(AUTH | {"1009", "1011", "1012"}))
def test_credential_codes_are_fatal_authentication_errors(offline: Offline, code: str) -> None:
    """Audit: token and credential errors raise ``AuthenticationError`` and are fatal. 1009,
    1011 and 1012 are in no source: they are read by the type the gateway gives them."""
    gateway = offline()
    batch = gateway.prepare(Message("+48500600700", "Hi"))[0].batches[0]
    kind = TYPES[code] if code in CODES else "InvalidRole"
    document = {"error": {"code": int(code), "type": kind, "message": f"message {code}"}}
    with pytest.raises(GatewayError) as info:
        gateway.hooks.parse_response(Send(batch), response(document), gateway.settings)
    assert type(info.value) is AuthenticationError and info.value.code == code
    failure = Failure(info.value, Send(batch))
    assert gateway.hooks.classify_error(failure, gateway.settings).verdict is Verdict.FATAL


@pytest.mark.parametrize("kind", ["InvalidUser", "InvalidRole", "InvalidIP", "InvalidToken", "TokenExpired"])
def test_undocumented_codes_of_a_credential_type_are_authentication_errors(offline: Offline, kind: str) -> None:
    gateway = offline()
    document = {"error": {"code": 1011, "type": kind, "message": "Invalid API token"}}
    with pytest.raises(AuthenticationError):
        gateway.hooks.parse_response(BalanceQuery(), response(document), gateway.settings)
    other = {"error": {"code": 1011, "type": "SendError", "message": "?"}}
    with pytest.raises(GatewayError) as info:
        gateway.hooks.parse_response(BalanceQuery(), response(other), gateway.settings)
    assert type(info.value) is GatewayError


def test_the_credit_codes_are_the_exhausted_limits() -> None:
    assert {c for c, e in CODES.items() if e.error is InsufficientCreditError} == CREDIT
    assert all("limit is exhausted" in CODES[c].meaning for c in CREDIT)
    assert {c for c, e in CODES.items() if e.error is AuthenticationError} == AUTH


def test_an_error_document_under_a_5xx_keeps_its_code(offline: Offline) -> None:
    gateway = offline()
    batch = gateway.prepare(Message("+48500600700", "Hi"))[0].batches[0]
    document = {"error": {"code": 3101, "type": "SendError", "message": "The message is empty"}}
    with pytest.raises(GatewayError) as info:
        gateway.hooks.parse_response(Send(batch), response(document, 500), gateway.settings)
    failure = Failure(info.value, Send(batch))
    assert gateway.hooks.classify_error(failure, gateway.settings).verdict is Verdict.FATAL


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("DELIVRD", DeliveryStatus.DELIVERED),
        ("UNDELIV", DeliveryStatus.FAILED),
        ("EXPIRED", DeliveryStatus.EXPIRED),
        ("REJECTD", DeliveryStatus.REJECTED),
        ("ERR", DeliveryStatus.FAILED),
        ("PENDING", DeliveryStatus.PENDING),
        ("ENROUTE", DeliveryStatus.PENDING),
        ("niedostarczona", DeliveryStatus.FAILED),
        ("???", DeliveryStatus.UNKNOWN),
    ],
)
def test_callback_states_beyond_the_report_statuses(state: str, expected: DeliveryStatus) -> None:
    assert normalised_status(state, None) is expected
