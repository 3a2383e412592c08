"""Recorded SMSC replies (tests/fixtures) parsed into outcomes, reports, prices and balances, and
the parser fuzzed: arbitrary bytes and documents never escape as anything but smsgate errors."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.strategies as st
import pytest

import smsgate_smsc
from smsgate.errors import (
    AuthenticationError,
    GatewayError,
    InsufficientCreditError,
    MalformedResponseError,
    RateLimitedError,
    SmsgateError,
)
from smsgate.models import (
    BalanceQuery,
    Batch,
    Call,
    DeliveryStatus,
    HttpRequest,
    HttpResponse,
    Item,
    Message,
    Operation,
    Outcome,
    Quote,
    Receipt,
    Reconcile,
    Send,
    Status,
    StatusQuery,
)
from smsgate.spec import Secret
from smsgate.text import analyse
from smsgate_smsc import codes
from smsgate_smsc.request import message_id
from smsgate_smsc.settings import SmscSettings

FIXTURES = Path(__file__).parent / "fixtures"
SETTINGS = SmscSettings(login="shop", password=Secret("pw"))
NUMBERS = ("+48500600700", "+48500600701", "+48500600702", "+48500600703")


def batch(*numbers: str, schedule: dict[str, str] | None = None, text: str = "Hello") -> Batch:
    items = tuple(Item(n, text, f"k/{n}", analyse(text)) for n in numbers)
    return Batch(Message(numbers, text), items, "k", schedule or {})


def response(name: str, status: int = 200) -> HttpResponse:
    return HttpResponse(status, (FIXTURES / name).read_bytes(), (("Content-Type", "application/json; charset=utf-8"),))


def parse(operation: Operation, name: str, settings: SmscSettings = SETTINGS, status: int = 200) -> Any:
    return smsgate_smsc.parse_response(operation, response(name, status), settings)


def test_send_accepted_as_a_whole() -> None:
    receipt = parse(Send(batch(*NUMBERS[:1])), "send_fmt3.json")
    assert receipt == Receipt((Outcome(NUMBERS[0], Status.ACCEPTED, message_id="1234", parts=1),))


def test_send_with_cost_and_balance() -> None:
    receipt = parse(Send(batch(*NUMBERS[:1])), "send_fmt3_cost3.json")
    assert receipt.cost == Decimal("1.40") and receipt.balance == Decimal("100.50")
    assert [o.status for o in receipt.outcomes] == [Status.ACCEPTED]


def test_partial_success_one_outcome_per_number() -> None:
    receipt = parse(Send(batch(*NUMBERS)), "send_fmt3_op1_partial.json")
    assert receipt.cost == Decimal("5.60") and receipt.balance == Decimal("94.90")
    assert receipt.outcomes == (
        Outcome(NUMBERS[0], Status.ACCEPTED, message_id="1234", parts=2, cost=Decimal("2.80")),
        Outcome(NUMBERS[1], Status.ACCEPTED, message_id="1234", parts=2, cost=Decimal("2.80")),
        Outcome(NUMBERS[2], Status.REJECTED, code="7", reason="invalid phone number format"),
        Outcome(NUMBERS[3], Status.REJECTED, code="8", reason=codes.ERRORS["8"].meaning),
    )


def test_err_1_lists_only_the_bad_numbers_the_rest_are_accepted() -> None:
    body = b'{"id":1234,"cnt":2,"phones":[{"phone":"48500600702","status":22,"error":7}]}'
    receipt = smsgate_smsc.parse_response(Send(batch(*NUMBERS[:3])), HttpResponse(200, body), SETTINGS)
    assert [(o.recipient, o.status, o.message_id, o.parts) for o in receipt.outcomes] == [
        (NUMBERS[2], Status.REJECTED, None, None),
        (NUMBERS[0], Status.ACCEPTED, "1234", 1),
        (NUMBERS[1], Status.ACCEPTED, "1234", 1),
    ]


def test_group_members_in_the_reply_do_not_disturb_the_batch() -> None:
    body = b'{"id":9,"cnt":2,"phones":[{"phone":"48500600700","status":0},{"phone":"79990000001","status":0}]}'
    receipt = smsgate_smsc.parse_response(Send(batch(NUMBERS[0])), HttpResponse(200, body), SETTINGS)
    assert [(o.recipient, o.status) for o in receipt.outcomes] == [
        (NUMBERS[0], Status.ACCEPTED),
        ("79990000001", Status.ACCEPTED),
    ]


def test_per_number_fields_as_strings_and_status_only_failures() -> None:
    receipt = parse(Send(batch(*NUMBERS[:3])), "send_fmt3_op1_strings.json")
    assert [(o.recipient, o.status, o.code) for o in receipt.outcomes] == [
        (NUMBERS[0], Status.ACCEPTED, None),
        (NUMBERS[1], Status.ACCEPTED, None),  # -1: waiting to be sent
        (NUMBERS[2], Status.REJECTED, "status:25"),
    ]
    assert receipt.outcomes[2].reason == "unavailable number"


def test_scheduled_batch_is_scheduled() -> None:
    receipt = parse(Send(batch(*NUMBERS[:2], schedule={"time": "01900000000"})), "send_fmt3_op1_strings.json")
    assert [o.status for o in receipt.outcomes[:2]] == [Status.SCHEDULED, Status.SCHEDULED]


ERROR_KINDS = {"2": AuthenticationError, "3": InsufficientCreditError, "4": RateLimitedError}


@pytest.mark.parametrize("code", sorted(codes.ERRORS))
def test_every_error_reply(code: str) -> None:
    with pytest.raises(GatewayError) as caught:
        parse(Send(batch(*NUMBERS[:1])), f"error_{code}.json")
    error = caught.value
    assert type(error) is ERROR_KINDS.get(code, GatewayError)
    assert error.code == code and error.http_status == 200
    assert error.body == (FIXTURES / f"error_{code}.json").read_text()
    assert f"SMSC error {code}" in str(error)


@pytest.mark.parametrize(("name", "code"), [("error_fmt0.txt", "2"), ("error_fmt2.xml", "9")])
def test_error_in_other_formats(name: str, code: str) -> None:
    with pytest.raises(GatewayError) as caught:
        parse(Send(batch(*NUMBERS[:1])), name)
    assert caught.value.code == code and not isinstance(caught.value, MalformedResponseError)


def test_error_meaning_per_endpoint() -> None:
    with pytest.raises(GatewayError, match="duplicate request"):
        parse(BalanceQuery(), "error_9.json")
    with pytest.raises(GatewayError) as caught:
        smsgate_smsc.parse_response(BalanceQuery(), HttpResponse(200, b'{"error_code":9}'), SETTINGS)
    assert "ten balance requests" in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html>\x00\xffoops",
        b"1234,1,1.40,100.50",
        b"[]",
        b"{}",
        b'{"id":1234}',
        b'{"id":"x","cnt":1}',
        b'{"id":1,"cnt":0}',
        b'{"id":1,"cnt":1,"cost":"NaN"}',
        b'{"id":1,"cnt":1,"phones":{}}',
        b'{"id":1,"cnt":1,"phones":[{"status":0}]}',
        b'{"id":1,"cnt":1,"phones":[7]}',
        b'{"error_code":"x"}',
        b'{"id":1,"cnt":true}',
    ],
)
def test_unreadable_send_replies_are_malformed_with_the_body(body: bytes) -> None:
    with pytest.raises(MalformedResponseError) as caught:
        smsgate_smsc.parse_response(Send(batch(*NUMBERS[:1])), HttpResponse(200, body), SETTINGS)
    assert caught.value.body == body.decode("utf-8", "replace")


def test_fmt1_reply_is_not_taken_for_success() -> None:
    with pytest.raises(MalformedResponseError):
        parse(Send(batch(*NUMBERS[:1])), "send_fmt1_cost3.txt")


def test_http_errors_keep_their_status_for_the_core() -> None:
    for status in (429, 500, 503):
        with pytest.raises(GatewayError) as caught:
            smsgate_smsc.parse_response(
                Send(batch(*NUMBERS[:1])), HttpResponse(status, b"Service Unavailable"), SETTINGS
            )
        assert caught.value.http_status == status and caught.value.code is None
        assert not isinstance(caught.value, MalformedResponseError)


def test_reply_in_the_configured_charset() -> None:
    settings = SmscSettings(login="a", password=Secret("b"), charset="windows-1251")
    body = '{"id":5,"cnt":1,"phones":[{"phone":"79161234567","status":22,"error":7}]}'.encode("cp1251")
    (outcome,) = smsgate_smsc.parse_response(Send(batch("+79161234567")), HttpResponse(200, body), settings).outcomes
    assert outcome.code == "7"
    error = '{"error":"неверный номер","error_code":7}'.encode("cp1251")
    with pytest.raises(GatewayError, match="неверный номер"):
        smsgate_smsc.parse_response(Send(batch("+79161234567")), HttpResponse(200, error), settings)
    with pytest.raises(MalformedResponseError):
        smsgate_smsc.parse_response(Send(batch("+79161234567")), HttpResponse(200, b"{}" + b"\xff"), SETTINGS)


def test_test_mode_reply_is_priced_not_sent() -> None:
    settings = SmscSettings(login="a", password=Secret("b"), test=True)
    receipt = parse(Send(batch(*NUMBERS[:1])), "cost1_fmt3.json", settings)
    (outcome,) = receipt.outcomes
    assert outcome.status is Status.ACCEPTED and outcome.message_id is None and "not sent" in (outcome.reason or "")
    assert receipt.cost == Decimal("1.40")


def test_test_mode_reply_rejects_the_numbers_smsc_marks_bad() -> None:
    settings = SmscSettings(login="a", password=Secret("b"), test=True)
    receipt = parse(Send(batch(*NUMBERS[:2])), "cost1_fmt3_op1.json", settings)
    assert [(o.recipient, o.status, o.code, o.message_id) for o in receipt.outcomes] == [
        (NUMBERS[0], Status.ACCEPTED, None, None),
        (NUMBERS[1], Status.REJECTED, "7", None),
    ]
    assert receipt.cost == Decimal("1.40")


def test_quote() -> None:
    price = parse(Quote(batch(*NUMBERS[:1])), "cost1_fmt3.json")
    assert price.cost == Decimal("1.40") and price.parts == 1


def test_status_single() -> None:
    (found,) = parse(StatusQuery("1234", NUMBERS[0]), "status_fmt3.json")
    assert found.message_id == "1234" and found.recipient == NUMBERS[0]
    assert found.status is DeliveryStatus.DELIVERED and found.code == "1" and found.reason == "delivered"
    assert found.at == datetime(2026, 3, 28, 9, 0, tzinfo=timezone.utc)
    assert found.raw["last_date"] == "28.03.2026 12:00:00"


def test_status_list() -> None:
    reports = parse(StatusQuery(("1234",) * 4, NUMBERS[0]), "status_list_fmt3.json")
    assert [(r.recipient, r.status) for r in reports] == [
        (NUMBERS[0], DeliveryStatus.DELIVERED),
        ("48500600701", DeliveryStatus.UNKNOWN),
        ("48500600702", DeliveryStatus.REJECTED),
        ("48500600703", DeliveryStatus.PENDING),
    ]
    assert reports[2].reason == "invalid number: subscriber does not exist (err 1)"


def test_virtual_sending_is_reported_as_not_sent() -> None:
    (found,) = parse(StatusQuery("1234", NUMBERS[0]), "status_virtual_fmt3.json")
    assert found.status is DeliveryStatus.FAILED
    assert "virtual sending" in (found.reason or "") and "err 200" in (found.reason or "")


def reconcile_reply(target: Batch) -> HttpResponse:
    """The recorded status list, with the id the plugin gives ``target``."""
    entries = json.loads((FIXTURES / "status_list_fmt3.json").read_bytes())
    for entry in entries:
        entry["id"] = message_id(target)
    return HttpResponse(200, json.dumps(entries).encode())


def test_reconcile_reports_only_what_smsc_has() -> None:
    target = batch(*NUMBERS)
    receipt = smsgate_smsc.parse_response(Reconcile(target), reconcile_reply(target), SETTINGS)
    assert [(o.recipient, o.status, o.code) for o in receipt.outcomes] == [
        (NUMBERS[0], Status.ACCEPTED, None),
        (NUMBERS[2], Status.REJECTED, "status:22"),
        (NUMBERS[3], Status.ACCEPTED, None),
    ]
    assert [o.message_id for o in receipt.outcomes] == [str(message_id(target)), None, str(message_id(target))]
    scheduled = batch(*NUMBERS, schedule={"time": "0"})
    assert (
        smsgate_smsc.parse_response(Reconcile(scheduled), reconcile_reply(scheduled), SETTINGS).outcomes[0].status
        is Status.SCHEDULED
    )
    (single,) = parse(Reconcile(batch(NUMBERS[0])), "status_fmt3.json").outcomes
    assert single.recipient == NUMBERS[0] and single.status is Status.ACCEPTED


def test_reconcile_never_resends_what_another_id_answers_for() -> None:
    """Entries for another id (1234 is not this batch's) settle nothing: every number stays
    unknown, so the core resends none of them."""
    outcomes = parse(Reconcile(batch(*NUMBERS)), "status_list_fmt3.json").outcomes
    assert [(o.recipient, o.status) for o in outcomes] == [(n, Status.UNKNOWN) for n in NUMBERS]


def test_reconcile_reads_entries_without_phone_by_position() -> None:
    """A status list without ``phone`` fields (the reference documents the appended id and phone
    only for fmt=1) answers in the order of the request: the batch's order."""
    outcomes = parse(Reconcile(batch(*NUMBERS[:3])), "status_list_nophone_fmt3.json").outcomes
    assert [(o.recipient, o.status, o.code) for o in outcomes] == [
        (NUMBERS[0], Status.ACCEPTED, None),  # status 1
        (NUMBERS[2], Status.REJECTED, "status:22"),  # "22" as a string; NUMBERS[1] (-3) is left to resend
    ]


def test_reconcile_a_short_or_broken_list_leaves_the_rest_unknown() -> None:
    target = batch(*NUMBERS[:3])
    ident = message_id(target)
    entries = [
        {"status": 1, "id": ident, "phone": NUMBERS[0][1:]},
        {"error": "duplicate request, wait a minute", "error_code": 9, "id": ident, "phone": NUMBERS[1][1:]},
    ]
    body = HttpResponse(200, json.dumps(entries).encode())
    outcomes = smsgate_smsc.parse_response(Reconcile(target), body, SETTINGS).outcomes
    assert [(o.recipient, o.status) for o in outcomes] == [
        (NUMBERS[0], Status.ACCEPTED),
        (NUMBERS[1], Status.UNKNOWN),
        (NUMBERS[2], Status.UNKNOWN),
    ]


def test_status_time_from_last_date_when_no_timestamp() -> None:
    (found,) = parse(StatusQuery("1234", NUMBERS[0]), "status_last_date_only_fmt3.json")
    assert found.status is DeliveryStatus.PENDING
    assert found.at == datetime(2026, 3, 28, 9, 0, tzinfo=timezone.utc)  # 12:00 Moscow (UTC+3)


def test_byte_order_mark_and_crlf_around_a_reply() -> None:
    receipt = parse(Send(batch(NUMBERS[0])), "send_fmt3_bom.json")
    assert [(o.status, o.message_id) for o in receipt.outcomes] == [(Status.ACCEPTED, "1234")]
    assert receipt.balance == Decimal("100.50")
    settings = SmscSettings(login="a", password=Secret("b"), charset="windows-1251")
    assert smsgate_smsc.parse_response(Send(batch(NUMBERS[0])), response("send_fmt3_bom.json"), settings).outcomes[0].ok


def test_utf8_reply_to_a_windows_1251_request_keeps_its_error_code() -> None:
    """UTF-8 Cyrillic holds bytes cp1251 cannot decode ("И" is D0 98): the code must still come
    through, not an "unreadable reply" that the core would take as a possible success."""
    settings = SmscSettings(login="a", password=Secret("b"), charset="windows-1251")
    with pytest.raises(GatewayError) as caught:
        parse(Send(batch(NUMBERS[0])), "error_7_utf8_text.json", settings)
    assert caught.value.code == "7" and not isinstance(caught.value, MalformedResponseError)
    assert "Неверный формат номера" in str(caught.value)


def test_balance() -> None:
    assert parse(BalanceQuery(), "balance_fmt3.json").amount == Decimal("100.50")
    found = parse(BalanceQuery(), "balance_cur_fmt3.json")
    assert (found.amount, found.unit) == (Decimal("100.50"), "RUB")
    found = parse(BalanceQuery(), "balance_credit_fmt3.json")
    assert (found.amount, found.unit, dict(found.details)) == (Decimal("-5.00"), "KZT", {"credit": "50.00"})


def test_tasks_as_json_and_as_lines() -> None:
    expected = (
        {
            "id": 7,
            "name": "May, all messages",
            "status": 2,
            "created": "01.06.2026 10:00:00",
            "time": "01.06.2026 10:00:05",
            "file": "smsc_7.csv",
            "state": "completed",
        },
    )
    from_json = parse(Call("tasks"), "tasks_fmt3.json")
    assert from_json[:1] == expected and from_json[1]["state"] == "pending"
    from_lines = parse(Call("tasks"), "tasks_fmt1.txt")
    assert from_lines[:1] == expected and from_lines[1]["state"] == "in progress"
    assert smsgate_smsc.parse_response(Call("tasks"), HttpResponse(200, b"[]"), SETTINGS) == ()
    with pytest.raises(MalformedResponseError):
        smsgate_smsc.parse_response(Call("tasks"), HttpResponse(200, b"7,only three,2"), SETTINGS)


def test_download_returns_the_csv_or_raises_the_error() -> None:
    assert parse(Call("download", {"id": 7}), "download.csv") == (FIXTURES / "download.csv").read_bytes().decode()
    with pytest.raises(GatewayError) as caught:
        parse(Call("download", {"id": 7}), "error_9.json")
    assert caught.value.code == "9"


# -- fuzzing ----------------------------------------------------------------------------------

OPERATIONS: list[Operation] = [
    Send(batch(*NUMBERS[:2])),
    Send(batch(*NUMBERS[:2], schedule={"time": "0"})),
    Reconcile(batch(*NUMBERS[:2])),
    Quote(batch(NUMBERS[0])),
    StatusQuery(("1", "2"), NUMBERS[0]),
    BalanceQuery(),
    Call("tasks"),
    Call("download", {"id": 1}),
]
SETTINGS_VARIANTS = [SETTINGS, SmscSettings(login="a", password=Secret("b"), charset="windows-1251", test=True)]

scalars = st.none() | st.booleans() | st.integers(-(10**20), 10**20) | st.floats() | st.text(max_size=8)
fields = [
    "id",
    "cnt",
    "cost",
    "balance",
    "phone",
    "status",
    "error",
    "error_code",
    "err",
    "last_timestamp",
    "currency",
    "name",
    "file",
]
entries = st.fixed_dictionaries({}, optional=dict.fromkeys(fields, scalars))
documents = (
    st.fixed_dictionaries(
        {}, optional={**dict.fromkeys(fields, scalars), "phones": st.lists(entries, max_size=3) | scalars}
    )
    | st.lists(entries, max_size=3)
    | st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(fields), inner, max_size=4),
        max_leaves=8,
    )
)


def _never_crashes(operation: Operation, settings: SmscSettings, status: int, body: bytes) -> None:
    try:
        result = smsgate_smsc.parse_response(operation, HttpResponse(status, body), settings)
    except SmsgateError:
        return
    if isinstance(result, Receipt):
        assert all(isinstance(o, Outcome) and o.status in Status for o in result.outcomes)


@hypothesis.settings(max_examples=300, deadline=None, database=None)
@hypothesis.given(
    st.sampled_from(OPERATIONS),
    st.sampled_from(SETTINGS_VARIANTS),
    st.sampled_from([200, 400, 503]),
    st.binary(max_size=200),
)
def test_parser_never_raises_anything_else_on_bytes(
    operation: Operation, settings: SmscSettings, status: int, body: bytes
) -> None:
    _never_crashes(operation, settings, status, body)


@hypothesis.settings(max_examples=300, deadline=None, database=None)
@hypothesis.given(st.sampled_from(OPERATIONS), documents)
def test_parser_never_raises_anything_else_on_documents(operation: Operation, document: Any) -> None:
    body = json.dumps(document).encode()
    _never_crashes(operation, SETTINGS, 200, body)


def test_success_needs_the_gateways_word() -> None:
    """A document without ``id`` and ``cnt`` is never taken as accepted."""
    for body in (b'{"phones":[{"phone":"48500600700","status":0}]}', b'{"cnt":1}', b'{"balance":"1"}'):
        with pytest.raises(MalformedResponseError):
            smsgate_smsc.parse_response(Send(batch(NUMBERS[0])), HttpResponse(200, body), SETTINGS)


def test_timestamps_far_out_are_malformed_not_crashes() -> None:
    body = json.dumps({"status": 1, "last_timestamp": 10**17}).encode()
    with pytest.raises(MalformedResponseError):
        smsgate_smsc.parse_response(StatusQuery("1", NUMBERS[0]), HttpResponse(200, body), SETTINGS)


#: JSON nested far deeper than Python's recursion limit: arrays, objects, and an error document.
DEEP = st.integers(min_value=1_100, max_value=50_000).flatmap(
    lambda n: st.sampled_from(
        [b"[" * n + b"]" * n, b'{"a":' * n + b"1" + b"}" * n, b'{"error_code":' + b"[" * n + b"]" * n + b"}"]
    )
)


@hypothesis.settings(max_examples=100, deadline=None, database=None)
@hypothesis.given(st.sampled_from(OPERATIONS), st.sampled_from(SETTINGS_VARIANTS), st.sampled_from([200, 502]), DEEP)
def test_deeply_nested_json_is_malformed_never_a_crash(
    operation: Operation, settings: SmscSettings, status: int, body: bytes
) -> None:
    error: SmsgateError | None = None
    try:
        result = smsgate_smsc.parse_response(operation, HttpResponse(status, body), settings)
    except SmsgateError as exc:
        error = exc
    else:  # parsed (a depth the JSON decoder allows): still nothing anyone accepted
        if isinstance(result, Receipt):
            assert not any(o.status is Status.ACCEPTED for o in result.outcomes)
    if error is not None and status == 200 and not isinstance(operation, Call):
        assert isinstance(error, MalformedResponseError)


CALLBACK_QUERIES = st.sampled_from(["", "id=5&phone=48500600700&status=1", "id=5&phone=1&status=x&ts=99999999999999"])


@hypothesis.settings(max_examples=200, deadline=None, database=None)
@hypothesis.given(CALLBACK_QUERIES, DEEP | st.binary(max_size=200), st.sampled_from(SETTINGS_VARIANTS))
def test_callback_parser_raises_only_malformed(query: str, body: bytes, settings: SmscSettings) -> None:
    request = HttpRequest("POST", "https://app.example/smsc?" + query, (), body)
    try:
        smsgate_smsc.parse_delivery_report(request, settings)
    except MalformedResponseError:
        return
