"""Every documented example reply, recorded in tests/fixtures, read to the right outcome."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from smsgate.errors import AuthenticationError, GatewayError, InsufficientCreditError, MalformedResponseError
from smsgate.gateway import Gateway
from smsgate.models import (
    Balance,
    BalanceQuery,
    Call,
    DeliveryReport,
    DeliveryStatus,
    Failure,
    HttpRequest,
    HttpResponse,
    Message,
    Operation,
    Price,
    Quote,
    Receipt,
    Send,
    Status,
    StatusQuery,
    Verdict,
)

FIXTURES = Path(__file__).parent / "fixtures"
Offline = Callable[..., Gateway]
RECIPIENTS = ("+4712345678", "+4712345679")


def recorded(name: str, status: int = 200) -> HttpResponse:
    return HttpResponse(status, (FIXTURES / name).read_bytes(), (("Content-Type", "text/plain"),))


@pytest.fixture
def gw(offline: Offline) -> Gateway:
    return offline()


def send_op(gateway: Gateway, text: str = "hello") -> Send:
    return Send(gateway.prepare(Message(RECIPIENTS, text))[0].batches[0])


def parse(gateway: Gateway, operation: Operation, response: HttpResponse) -> object:
    return gateway.hooks.parse_response(operation, response, gateway.settings)


def receipt(gateway: Gateway, operation: Send, response: HttpResponse) -> Receipt:
    result = parse(gateway, operation, response)
    assert isinstance(result, Receipt)
    return result


def reports(gateway: Gateway, operation: StatusQuery, response: HttpResponse) -> tuple[DeliveryReport, ...]:
    result = parse(gateway, operation, response)
    assert isinstance(result, tuple) and all(isinstance(r, DeliveryReport) for r in result)
    return result


def test_in_progress_accepts_every_recipient_under_the_batch_id(gw: Gateway) -> None:
    got = receipt(gw, send_op(gw, "x" * 200), recorded("send_sms_in_progress.txt"))
    assert [(o.recipient, o.status, o.message_id, o.parts) for o in got.outcomes] == [
        ("+4712345678", Status.ACCEPTED, "4712345678", 2),
        ("+4712345679", Status.ACCEPTED, "4712345678", 2),
    ]


def test_in_progress_without_a_batch_id_is_still_accepted(gw: Gateway) -> None:
    got = receipt(gw, send_op(gw), recorded("send_sms_in_progress_no_id.txt"))
    assert {(o.status, o.message_id) for o in got.outcomes} == {(Status.ACCEPTED, None)}


def test_status_1_is_scheduled(gw: Gateway) -> None:
    got = receipt(gw, send_op(gw), recorded("send_sms_scheduled.txt"))
    assert {(o.status, o.message_id) for o in got.outcomes} == {(Status.SCHEDULED, "4712345679")}


@pytest.mark.parametrize(
    ("fixture", "code", "reason"),
    [
        (
            "send_sms_invalid_credentials.txt",
            "23",
            "Authentication failure: invalid credentials (username was: XXXXXXX)",
        ),
        ("send_sms_insufficient_credits.txt", "25", "You do not have sufficient credits: FAILED_USERCREDITS"),
        ("send_sms_undocumented_code.txt", "99", "unknown code 99: ERROR"),
    ],
)
def test_fatal_codes_are_errors_of_the_whole_request(gw: Gateway, fixture: str, code: str, reason: str) -> None:
    with pytest.raises(GatewayError) as caught:
        parse(gw, send_op(gw), recorded(fixture))
    assert (caught.value.code, caught.value.message) == (code, reason)
    verdict = gw.hooks.classify_error(Failure(caught.value, send_op(gw), after_ambiguous=True), gw.settings)
    assert verdict.verdict is Verdict.FATAL and verdict.final, "a replayed reply is definitive"
    if code == "23":
        assert isinstance(caught.value, AuthenticationError)
    if code == "25":
        assert isinstance(caught.value, InsufficientCreditError)


def test_code_40_is_raised_for_a_resend(gw: Gateway) -> None:
    with pytest.raises(GatewayError) as caught:
        parse(gw, send_op(gw), recorded("send_sms_temporarily_unavailable.txt"))
    assert caught.value.code == "40" and caught.value.body == "40|Temporarily unavailable|"


def test_non_200_is_an_error_with_status_and_body(gw: Gateway) -> None:
    with pytest.raises(GatewayError) as caught:
        parse(gw, send_op(gw), recorded("send_sms_in_progress.txt", status=500))
    assert caught.value.http_status == 500 and caught.value.body == "0|IN_PROGRESS|4712345678"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"OK",
        b"0|IN_PROGRESS",
        b"0|IN_PROGRESS|12|34",
        b"0|IN_PROGRESS|abc",
        b"0|IN_PROGRESS|0",
        b"<html>0|x|1</html>",
        b"0|IN_PROGRESS|1\n0|IN_PROGRESS|2",
        b"x|IN_PROGRESS|1",
    ],
)
def test_unreadable_send_replies_are_never_accepted(gw: Gateway, body: bytes) -> None:
    with pytest.raises(MalformedResponseError) as caught:
        parse(gw, send_op(gw), HttpResponse(200, body))
    assert caught.value.body == body.decode("latin-1")


def test_reply_charset_defaults_to_latin1(gw: Gateway) -> None:
    with pytest.raises(MalformedResponseError) as caught:
        parse(gw, send_op(gw), HttpResponse(200, b"\xa3\xff"))
    assert caught.value.body == "£ÿ"


def test_quote_replies(gw: Gateway) -> None:
    batch = send_op(gw).batch
    assert parse(gw, Quote(batch), recorded("quote_sms_2_0.txt")) == Price(Decimal("1.5"), parts=1, unit="credits")
    assert parse(gw, Quote(batch), recorded("quote_sms_1_1.txt")) == Price(Decimal("3.25"), parts=1, unit="credits")
    with pytest.raises(AuthenticationError):
        parse(gw, Quote(batch), recorded("send_sms_invalid_credentials.txt"))
    with pytest.raises(MalformedResponseError):
        parse(gw, Quote(batch), HttpResponse(200, b"0|Quotation issued|lots"))


def test_get_credits_replies(gw: Gateway) -> None:
    assert parse(gw, BalanceQuery(), recorded("get_credits.txt")) == Balance(Decimal("2101.15"), unit="credits")
    with pytest.raises(AuthenticationError) as caught:
        parse(gw, BalanceQuery(), recorded("get_credits_invalid_credentials.txt"))
    assert caught.value.code == "23"
    with pytest.raises(InsufficientCreditError):
        parse(gw, BalanceQuery(), HttpResponse(200, b"25|no credits"))
    with pytest.raises(MalformedResponseError):
        parse(gw, BalanceQuery(), HttpResponse(200, b"0|NaN"))


@pytest.mark.parametrize(
    ("fixture", "rows"),
    [
        ("get_report_returns_single.txt", [("+1212121", "11", DeliveryStatus.DELIVERED)]),
        (
            "get_report_returns_multiple.txt",
            [("+1212121", "11", DeliveryStatus.DELIVERED), ("+1212122", "12", DeliveryStatus.PENDING)],
        ),
        ("get_report_returns_none.txt", []),
    ],
)
def test_get_report_rows(gw: Gateway, fixture: str, rows: list[tuple[str, str, DeliveryStatus]]) -> None:
    got = reports(gw, StatusQuery(("123445566",)), recorded(fixture))
    assert [(r.recipient, r.code, r.status) for r in got] == rows
    assert all(r.message_id == "123445566" for r in got)


def test_get_report_results_header_and_optional_fields(offline: Offline) -> None:
    gw = offline("report_fields=completed_time,source_id")
    first, second = reports(gw, StatusQuery(("9",)), recorded("get_report_results_optional_fields.txt"))
    assert first.status is DeliveryStatus.DELIVERED and second.status is DeliveryStatus.EXPIRED
    assert first.at == datetime(2026, 3, 29, 1, 30, tzinfo=timezone.utc)  # 02:30 BST
    assert dict(second.raw) == {
        "msisdn": "447700900002",
        "status": "53",
        "completed_time": "2026-03-29 02:31:10",
        "source_id": "inv-7",
    }
    assert second.reason == "Message expired"


def test_get_report_body_holding_a_pipe(offline: Offline) -> None:
    gw = offline("report_fields=body,credits")
    (report,) = reports(gw, StatusQuery(("9",)), HttpResponse(200, b"0|Results to follow\n\n4477|11|a|b|c|1.00\n"))
    assert report.raw["body"] == "a|b|c" and report.raw["credits"] == "1.00"


def test_get_report_errors(gw: Gateway) -> None:
    with pytest.raises(AuthenticationError):
        parse(gw, StatusQuery(("1",)), recorded("get_report_invalid_credentials.txt"))
    with pytest.raises(GatewayError) as caught:
        parse(gw, StatusQuery(("1",)), recorded("get_report_1_0_not_found.txt"))
    assert caught.value.code == "1001"
    missing = Failure(caught.value, StatusQuery(("1",)))
    assert gw.hooks.classify_error(missing, gw.settings).verdict is Verdict.FATAL  # not worth asking again
    with pytest.raises(MalformedResponseError):
        parse(gw, StatusQuery(("1",)), HttpResponse(200, b"0|Results to follow\n\nnot-a-row\n"))


def test_get_report_1_0_rows(gw: Gateway) -> None:
    got = reports(gw, StatusQuery(("123456",)), recorded("get_report_1_0.txt"))
    assert [(r.recipient, r.status, r.raw["status_description"]) for r in got] == [
        ("+447700900001", DeliveryStatus.DELIVERED, "Delivered to mobile"),
        ("+447700900002", DeliveryStatus.REJECTED, "Unroutable"),
    ]


def test_http_push_report(gw: Gateway) -> None:
    query = (FIXTURES / "http_push_2_0.query").read_text()
    (report,) = gw.parse_delivery_report(HttpRequest("GET", "https://app.example/dlr?" + query))
    assert (report.message_id, report.recipient, report.status, report.code) == (
        "4712345678", "+447700900001", DeliveryStatus.DELIVERED, "11",
    )  # fmt: skip
    assert report.at == datetime(2026, 3, 29, 1, 30, tzinfo=timezone.utc)
    assert "extra" not in report.raw


def test_http_push_with_the_old_msg_id(gw: Gateway) -> None:
    query = (FIXTURES / "http_push_msg_id.query").read_text()
    (report,) = gw.parse_delivery_report(HttpRequest("GET", "/dlr?" + query))
    assert (report.message_id, report.status, report.at) == ("123456", DeliveryStatus.EXPIRED, None)


@pytest.mark.parametrize(
    "query", ["", "msisdn=1&status=11", "batch_id=5", "batch_id=5&status=delivered", "batch_id=x&status=1"]
)
def test_http_push_that_is_not_a_report(gw: Gateway, query: str) -> None:
    with pytest.raises(MalformedResponseError):
        gw.parse_delivery_report(HttpRequest("GET", "/dlr?" + query))


def test_send_to_groups_reply(gw: Gateway) -> None:
    call = Call("send_to_groups", {"groups": [1], "text": "x", "key": "k"})
    assert parse(gw, call, recorded("send_sms_in_progress.txt")) == {"status": "accepted", "batch_id": "4712345678"}
    assert parse(gw, call, recorded("send_sms_scheduled.txt")) == {"status": "scheduled", "batch_id": "4712345679"}
    with pytest.raises(InsufficientCreditError):
        parse(gw, call, recorded("send_sms_insufficient_credits.txt"))


def test_http_push_time_in_the_documented_two_digit_year_format(gw: Gateway) -> None:
    # developer.bulksms.com http_push [B21]: "completed_time ... The format is yy-MM-dd HH:mm:ss
    # (24 hour clock)"; source_id is pushed back too; the callback URL's own parameters stay out.
    query = (FIXTURES / "http_push_documented_time.query").read_text()
    (report,) = gw.parse_delivery_report(HttpRequest("GET", "https://app.example/dlr?" + query))
    assert (report.message_id, report.recipient, report.status) == (
        "4712345678",
        "+447700900001",
        DeliveryStatus.DELIVERED,
    )
    assert report.at == datetime(2026, 3, 29, 1, 30, tzinfo=timezone.utc)  # 02:30 BST, the account's zone
    assert dict(report.raw) == {
        "msisdn": "447700900001",
        "batch_id": "4712345678",
        "status": "11",
        "completed_time": "26-03-29 02:30:00",
        "source_id": "inv-7",
    }


def test_report_time_in_either_year_format(offline: Offline) -> None:
    gw = offline("report_fields=completed_time&timezone=America/New_York")
    body = b"0|Results to follow\n\n15555550100|11|26-07-01 12:00:00\n15555550101|11|2026-07-01 12:00:00\n"
    first, second = reports(gw, StatusQuery(("9",)), HttpResponse(200, body))
    assert first.at is not None and second.at is not None
    assert first.at.timestamp() == second.at.timestamp() == datetime(2026, 7, 1, 16, tzinfo=timezone.utc).timestamp()
    (odd,) = reports(gw, StatusQuery(("9",)), HttpResponse(200, b"0|Results to follow\n\n1555|11|29/03/2026\n"))
    assert odd.at is None and odd.raw["completed_time"] == "29/03/2026"


# -- what a real reply may carry that the documentation's examples do not ----------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"\xef\xbb\xbf0|IN_PROGRESS|4712345678",  # a UTF-8 byte order mark
        b"0|IN_PROGRESS|4712345678\r\n",  # CRLF
        b"\n0|IN_PROGRESS|4712345678\n\n",  # blank lines around it
        b"0|IN_PROGRESS|4712345678|",  # a trailing separator
        b" 0 | IN_PROGRESS | 4712345678 ",  # spaces
    ],
)
def test_send_reply_tolerances(gw: Gateway, body: bytes) -> None:
    got = receipt(gw, send_op(gw), HttpResponse(200, body, (("Content-Type", "text/plain"),)))
    assert {(o.status, o.message_id) for o in got.outcomes} == {(Status.ACCEPTED, "4712345678")}


@pytest.mark.parametrize("charset", ["utf-8", "iso-8859-1"])
def test_bom_with_a_declared_charset(gw: Gateway, charset: str) -> None:
    response = HttpResponse(200, b"\xef\xbb\xbf1|SCHEDULED|7", (("Content-Type", f"text/plain; charset={charset}"),))
    assert {o.status for o in receipt(gw, send_op(gw), response).outcomes} == {Status.SCHEDULED}


@pytest.mark.parametrize(("body", "code"), [(b"40", "40"), (b"25\n", "25"), (b"\xef\xbb\xbf23|", "23")])
def test_a_failure_code_without_description_is_that_failure(gw: Gateway, body: bytes, code: str) -> None:
    with pytest.raises(GatewayError) as caught:
        parse(gw, send_op(gw), HttpResponse(200, body))
    assert caught.value.code == code and not isinstance(caught.value, MalformedResponseError)


@pytest.mark.parametrize("body", [b"0", b"1", b"0|IN_PROGRESS|12|34|", b"0|IN_PROGRESS|12|x", b"\xef\xbb\xbf"])
def test_tolerance_never_makes_a_success_of_an_unreadable_reply(gw: Gateway, body: bytes) -> None:
    with pytest.raises(MalformedResponseError):
        parse(gw, send_op(gw), HttpResponse(200, body))


def test_quote_with_a_trailing_separator(gw: Gateway) -> None:
    batch = send_op(gw).batch
    assert parse(gw, Quote(batch), HttpResponse(200, b"0|Quotation issued|2.50|\r\n")) == Price(
        Decimal("2.50"), parts=1, unit="credits"
    )
    with pytest.raises(MalformedResponseError):
        parse(gw, Quote(batch), HttpResponse(200, b"0|Quotation issued|2.50|3"))


def test_get_report_with_crlf_leading_blank_line_and_plus(gw: Gateway) -> None:
    body = b"\r\n0|Returns to follow\r\n\r\n+447700900001|11\r\n447700900002|51\r\n\r\n"
    got = reports(gw, StatusQuery(("5",)), HttpResponse(200, body))
    assert [(r.recipient, r.status) for r in got] == [
        ("+447700900001", DeliveryStatus.DELIVERED),
        ("+447700900002", DeliveryStatus.FAILED),
    ]
