"""Every documented reply (tests/fixtures) parsed to the right outcomes, and broken replies refused."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from serwersms_support import reply, response

from smsgate.errors import (
    AuthenticationError,
    GatewayError,
    InsufficientCreditError,
    MalformedResponseError,
    RateLimitedError,
)
from smsgate.gateway import Gateway
from smsgate.models import (
    BalanceQuery,
    Batch,
    Call,
    DeliveryStatus,
    HttpResponse,
    Message,
    Reconcile,
    Send,
    Status,
    StatusQuery,
)
from smsgate_serwersms.request import unique_id

Offline = Callable[..., Gateway]


@pytest.fixture
def gw(offline: Offline) -> Gateway:
    return offline()


def batch_of(gateway: Gateway, to: list[str], **kwargs: object) -> Batch:
    return gateway.prepare(Message(to, "Test platform SerwerSMS.pl", **kwargs))[0].batches[0]  # type: ignore[arg-type]


def test_plain_success_without_details(gw: Gateway) -> None:
    batch = batch_of(gw, ["+48500600700"])
    receipt = gw.hooks.parse_response(Send(batch), reply("send_success.json"), gw.settings)
    assert [(o.recipient, o.status, o.message_id) for o in receipt.outcomes] == [
        ("+48500600700", Status.ACCEPTED, None)
    ]


def test_plain_success_that_does_not_cover_the_batch_is_malformed(gw: Gateway) -> None:
    batch = batch_of(gw, ["+48500600700", "+48500600701"])
    with pytest.raises(MalformedResponseError) as info:
        gw.hooks.parse_response(Send(batch), reply("send_success.json"), gw.settings)
    assert info.value.body is not None and '"queued":1' in info.value.body


def test_success_with_details(gw: Gateway) -> None:
    batch = batch_of(gw, ["+48500600700"])
    (outcome,) = gw.hooks.parse_response(Send(batch), reply("send_success_details.json"), gw.settings).outcomes
    assert outcome.status is Status.ACCEPTED and outcome.message_id == "1c142d81c7" and outcome.parts == 1


def test_partial_success_rejects_only_the_wrong_numbers(gw: Gateway) -> None:
    # The gateway echoes wrong numbers as given ("45616"); our batch only holds valid E.164
    # numbers, so the two unsent items keep the gateway's spelling and the core leaves them out.
    batch = batch_of(gw, ["+48500600700", "+48500600500"])
    receipt = gw.hooks.parse_response(Send(batch), reply("send_partial.json"), gw.settings)
    assert [(o.recipient, o.status, o.message_id, o.code) for o in receipt.outcomes] == [
        ("+48500600700", Status.ACCEPTED, "32039da8e9", None),
        ("+48500600500", Status.ACCEPTED, "844c2b4af0", None),
        ("45616", Status.REJECTED, "6e373d7856", "3103"),
        ("7799123", Status.REJECTED, "bf069fe2c1", "3103"),
    ]
    assert receipt.outcomes[2].reason == "Incorrect number"


def test_partial_success_maps_normalised_numbers_back(gw: Gateway) -> None:
    batch = batch_of(gw, ["+48500600700", "+48500600799"])
    document = {
        "success": True,
        "queued": 1,
        "unsent": 1,
        "items": [
            {"id": "a1", "phone": "48500600700", "status": "queued", "parts": 1},
            {
                "id": "a2",
                "phone": "+48500600799",
                "status": "unsent",
                "error_code": "3103",
                "error_message": "Incorrect number",
            },
        ],
    }
    outcomes = gw.hooks.parse_response(Send(batch), response(document), gw.settings).outcomes
    assert [(o.recipient, o.status, o.code) for o in outcomes] == [
        ("+48500600700", Status.ACCEPTED, None),
        ("+48500600799", Status.REJECTED, "3103"),
    ]


def test_scheduled_and_test_mode_outcomes(offline: Offline) -> None:
    gateway = offline("test=true")
    when = datetime(2031, 1, 1, tzinfo=timezone.utc)
    scheduled = batch_of(gateway, ["+48500600700"], send_at=when)
    (outcome,) = gateway.hooks.parse_response(
        Send(scheduled), reply("send_success_details.json"), gateway.settings
    ).outcomes
    assert outcome.status is Status.SCHEDULED
    assert outcome.reason is not None and "test mode" in outcome.reason


@pytest.mark.parametrize(
    ("name", "code", "kind"),
    [
        ("error_empty_message.json", "3101", GatewayError),
        ("error_no_phones.json", "3104", GatewayError),
        ("error_invalid_user.json", "1001", AuthenticationError),
    ],
)
@pytest.mark.parametrize("status", [200, 400])
def test_request_level_errors(gw: Gateway, name: str, code: str, kind: type[GatewayError], status: int) -> None:
    batch = batch_of(gw, ["+48500600700"])
    with pytest.raises(kind) as info:
        gw.hooks.parse_response(Send(batch), reply(name, status), gw.settings)
    assert type(info.value) is kind
    assert info.value.code == code and info.value.http_status == status
    assert info.value.body is not None and code in info.value.body


def test_limit_exhausted_is_insufficient_credit(gw: Gateway) -> None:
    batch = batch_of(gw, ["+48500600700"])
    document = {"error": {"code": 3000, "type": "SendError", "message": "Limit ECO+ exhausted"}}
    with pytest.raises(InsufficientCreditError, match="Limit ECO"):
        gw.hooks.parse_response(Send(batch), response(document), gw.settings)


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (200, b"<html>oops</html>", MalformedResponseError),
        (200, b"[1, 2]", MalformedResponseError),
        (200, b'{"success": true, "items": "nope"}', MalformedResponseError),
        (200, b'{"success": true, "items": [{"id": "x"}]}', MalformedResponseError),
        (200, b'{"error": "flat"}', MalformedResponseError),
        (200, b'{"success": false}', GatewayError),
        (503, b"<html>busy</html>", GatewayError),
        (429, b"slow down", RateLimitedError),
    ],
)
def test_unreadable_or_http_errors(gw: Gateway, status: int, body: bytes, kind: type[GatewayError]) -> None:
    batch = batch_of(gw, ["+48500600700"])
    with pytest.raises(kind) as info:
        gw.hooks.parse_response(Send(batch), HttpResponse(status, body), gw.settings)
    assert type(info.value) is kind and info.value.http_status == status
    assert info.value.body == body.decode()


def test_unknown_item_status_is_unknown_never_accepted(gw: Gateway) -> None:
    batch = batch_of(gw, ["+48500600700"])
    document = {"success": True, "items": [{"id": "x", "phone": "+48500600700", "status": "weird"}]}
    (outcome,) = gw.hooks.parse_response(Send(batch), response(document), gw.settings).outcomes
    assert outcome.status is Status.UNKNOWN


def test_reports_as_delivery_reports(gw: Gateway) -> None:
    reports = gw.hooks.parse_response(
        StatusQuery(("aca3944055",)), reply("reports_documented_fields.json"), gw.settings
    )
    assert [(r.message_id, r.status, r.code) for r in reports] == [
        ("aca3944055", DeliveryStatus.DELIVERED, None),
        ("1c142d81c7", DeliveryStatus.EXPIRED, "message_expired"),
        ("844c2b4af0", DeliveryStatus.REJECTED, "wrong_number"),
        ("32039da8e9", DeliveryStatus.PENDING, None),
    ]
    first = reports[0]
    assert first.recipient == "+48500600700"
    assert first.at == datetime(2015, 2, 22, 11, 26, 9, tzinfo=timezone.utc)  # 12:26:09 in Warsaw (CET)
    assert first.raw["network"] == "Plus"
    assert reports[2].reason == "wrong number"


def test_reconcile_lists_only_what_the_gateway_has(gw: Gateway) -> None:
    to = ["+48500600700", "+48500600701", "+48500600702", "+48500600703", "+48500600704"]
    batch = batch_of(gw, to)
    receipt = gw.hooks.parse_response(Reconcile(batch), reply("reports_documented_fields.json"), gw.settings)
    assert [(o.recipient, o.status, o.message_id, o.code) for o in receipt.outcomes] == [
        ("+48500600700", Status.ACCEPTED, "aca3944055", None),
        ("+48500600701", Status.ACCEPTED, "1c142d81c7", None),
        ("+48500600702", Status.REJECTED, "844c2b4af0", "wrong_number"),
        ("+48500600703", Status.SCHEDULED, "32039da8e9", None),
    ]
    assert receipt.outcomes[0].cost == Decimal("0.07")
    assert [o.parts for o in receipt.outcomes] == [1, 1, None, 1]
    assert receipt.outcomes[2].reason == "wrong number"
    assert receipt.outcomes[1].reason is not None and "undelivered" in receipt.outcomes[1].reason


def test_reconcile_refuses_a_partial_page(gw: Gateway) -> None:
    batch = batch_of(gw, ["+48500600700"])
    document = {"paging": {"page": 1, "count": 2}, "items": []}
    with pytest.raises(MalformedResponseError, match="page 1 of 2"):
        gw.hooks.parse_response(Reconcile(batch), response(document), gw.settings)


_FOUND = {"id": "aca3944055", "phone": "+48500600700", "status": "delivered"}


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"success": True},
        {"success": True, "queued": 0, "unsent": 0},
        {"items": []},  # no paging: it may not be the whole answer
        {"paging": {"page": 1, "count": 1}},  # no items
        {"paging": {"page": 1, "count": 1}, "items": None},
        {"paging": {"page": 1, "count": 1}, "items": {}},
        {"paging": {"page": 1, "count": 1}, "items": "none"},
        {"paging": {"page": 1, "count": 1}, "items": 0},
        {"paging": {"page": 1, "count": 1}, "items": _FOUND},  # a lone item, not a list
        {"paging": {"page": 1, "count": 1}, "items": {"first": _FOUND}},
        {"paging": {"page": 1, "count": 1}, "items": [_FOUND, "x"]},
        {"paging": {"page": 1, "count": 3}, "items": [_FOUND]},  # more pages than we got
        {"paging": {"page": 2, "count": 2}, "items": []},  # not the page we asked for
        {"paging": {"page": 1, "count": 0}, "items": [_FOUND]},
        {"paging": {"page": "one", "count": 1}, "items": []},
        {"paging": {"count": 1}, "items": []},
        {"paging": [1, 1], "items": []},
        {"paging": {"page": 1, "count": 1}, "items": [{"id": "x", "phone": "+48999999999", "status": "sent"}]},
    ],
)
def test_reconcile_accepts_only_a_well_formed_report(gw: Gateway, document: object) -> None:
    """Audit: a lookup reply that is not a report (``{}``, ``{"success": true}``, items not a list,
    paging saying more pages) was read as "the gateway has none of them" and everything was sent
    twice. Only a well-formed report may prove absence; anything else is malformed, so the lookup
    fails and the outcomes stay unknown."""
    batch = batch_of(gw, ["+48500600700", "+48500600701"])
    with pytest.raises(MalformedResponseError):
        gw.hooks.parse_response(Reconcile(batch), response(document), gw.settings)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("delivered", Status.ACCEPTED),
        ("undelivered", Status.ACCEPTED),  # taken by the gateway; the delivery failed later
        ("sent", Status.ACCEPTED),
        ("in_progress", Status.ACCEPTED),
        ("pending", Status.ACCEPTED),
        ("SENT", Status.ACCEPTED),
        ("saved", Status.SCHEDULED),
        ("unsent", Status.REJECTED),
        ("weird", Status.UNKNOWN),  # the gateway has it (never resent) but its state is unknown
        (None, Status.UNKNOWN),
    ],
)
def test_reconcile_item_statuses(gw: Gateway, status: str | None, expected: Status) -> None:
    batch = batch_of(gw, ["+48500600700", "+48500600701"])
    item = {"id": "aca3944055", "phone": "+48500600701", "status": status, "parts": 2, "reason": None}
    document = {"paging": {"page": 1, "count": 1}, "items": [item]}
    (outcome,) = gw.hooks.parse_response(Reconcile(batch), response(document), gw.settings).outcomes
    assert (outcome.recipient, outcome.status, outcome.message_id) == ("+48500600701", expected, "aca3944055")
    assert not outcome.ok or outcome.parts == 2


def test_reconcile_of_nothing_found(gw: Gateway) -> None:
    batch = batch_of(gw, ["+48500600700"])
    receipt = gw.hooks.parse_response(
        Reconcile(batch), response({"paging": {"page": 1, "count": 1}, "items": []}), gw.settings
    )
    assert receipt.outcomes == ()


def test_limits(offline: Offline) -> None:
    eco, full = offline(), offline("sender=INFORMACJA")
    balance = eco.hooks.parse_response(BalanceQuery(), reply("limits_documented_fields.json"), eco.settings)
    assert (balance.amount, balance.unit) == (Decimal(1200), "eco")
    assert balance.details["full"] == {"value": "350", "chars_limit": 918}
    balance = full.hooks.parse_response(BalanceQuery(), reply("limits_documented_fields.json"), full.settings)
    assert (balance.amount, balance.unit) == (Decimal(350), "full")
    with pytest.raises(MalformedResponseError):
        eco.hooks.parse_response(BalanceQuery(), response({"items": []}), eco.settings)
    with pytest.raises(MalformedResponseError):
        eco.hooks.parse_response(BalanceQuery(), response({"items": [{"type": "eco", "value": "lots"}]}), eco.settings)


def test_error_view_call_returns_the_description(gw: Gateway) -> None:
    document = {"error": {"code": 3103, "type": "SendError", "message": "Incorrect number"}}
    result = gw.hooks.parse_response(Call("error", {"code": 3103}), response(document), gw.settings)
    assert result == document["error"]
    with pytest.raises(GatewayError):
        gw.hooks.parse_response(Call("view", {"id": "x"}), response({"error": {"code": 1004}}), gw.settings)


# -- what a real gateway may write that the documented examples do not show --------------------


def test_bom_and_crlf_around_the_documented_partial_reply(gw: Gateway) -> None:
    batch = batch_of(gw, ["+48500600700", "+48500600500"])
    plain = gw.hooks.parse_response(Send(batch), reply("send_partial.json"), gw.settings)
    framed = gw.hooks.parse_response(Send(batch), reply("send_partial_bom_crlf.json"), gw.settings)
    assert framed == plain


def test_phones_in_every_spelling_the_gateway_may_use(gw: Gateway) -> None:
    """Seed 001: numbers come back "in full format ... or the country code (eg. 48) at the
    beginning"; also national, `00`-prefixed and as JSON numbers."""
    to = ["+48500600700", "+48500600701", "+48500600702", "+48500600799"]
    receipt = gw.hooks.parse_response(Send(batch_of(gw, to)), reply("send_details_country_code.json"), gw.settings)
    assert [(o.recipient, o.status, o.message_id, o.code, o.parts) for o in receipt.outcomes] == [
        ("+48500600700", Status.ACCEPTED, "1c142d81c7", None, 1),
        ("+48500600701", Status.ACCEPTED, "1c142d81c8", None, 1),
        ("+48500600702", Status.ACCEPTED, "1c142d81c9", None, 1),
        ("+48500600799", Status.REJECTED, "1c142d81ca", "3103", None),
    ]


def test_an_echoed_unique_id_wins_over_the_phone(gw: Gateway) -> None:
    batch = batch_of(gw, ["+48500600700", "+48500600701"])
    uid = unique_id(batch.items[1].key)
    item = {"id": "b1", "phone": "garbled", "status": "queued", "unique_id": uid}
    document = {"success": True, "queued": 1, "unsent": 0, "items": [item]}
    (outcome,) = gw.hooks.parse_response(Send(batch), response(document), gw.settings).outcomes
    assert (outcome.recipient, outcome.message_id) == ("+48500600701", "b1")


def test_a_national_spelling_never_takes_another_item_or_a_short_number(gw: Gateway) -> None:
    # A panel group's member ("7799123") and a foreign number ending like ours do not become
    # our recipients; our own exact item keeps its outcome.
    batch = batch_of(gw, ["+48500600700", "+4812347799123"])
    items = [
        {"id": "g1", "phone": "7799123", "status": "unsent", "error_code": 3103},
        {"id": "a1", "phone": "+48500600700", "status": "queued"},
        {"id": "g2", "phone": "500600700", "status": "queued"},
        {"id": "b1", "phone": "4812347799123", "status": "queued"},
    ]
    document = {"success": True, "queued": 3, "unsent": 1, "items": items}
    outcomes = gw.hooks.parse_response(Send(batch), response(document), gw.settings).outcomes
    assert [(o.recipient, o.message_id) for o in outcomes] == [
        ("7799123", "g1"),
        ("+48500600700", "a1"),
        ("500600700", "g2"),
        ("+4812347799123", "b1"),
    ]


def test_items_as_a_php_object_and_stat_id(gw: Gateway) -> None:
    """PHP's json_encode writes an array with a gap in its keys as an object."""
    batch = batch_of(gw, ["+48500600700", "+48500600799"])
    receipt = gw.hooks.parse_response(Send(batch), reply("send_items_php_object.json"), gw.settings)
    assert [(o.recipient, o.status, o.code) for o in receipt.outcomes] == [
        ("+48500600700", Status.ACCEPTED, None),
        ("+48500600799", Status.REJECTED, "3103"),
    ]
    lone = {"id": "s1", "phone": "48500600700", "status": "queued"}
    single = {"success": True, "queued": 1, "unsent": 0, "items": lone}
    (outcome,) = gw.hooks.parse_response(Send(batch_of(gw, ["+48500600700"])), response(single), gw.settings).outcomes
    assert (outcome.status, outcome.message_id) == (Status.ACCEPTED, "s1")


@pytest.mark.parametrize(
    ("item", "status", "code"),
    [
        ({"status": " Queued "}, Status.ACCEPTED, None),
        ({"status": "UNSENT", "error_code": 3103.0}, Status.REJECTED, "3103"),
        ({"error_code": " 3103 ", "error_message": "Incorrect number"}, Status.REJECTED, "3103"),
        ({"status": "sending"}, Status.UNKNOWN, None),
    ],
)
def test_item_status_and_code_spellings(gw: Gateway, item: dict[str, object], status: Status, code: str | None) -> None:
    batch = batch_of(gw, ["+48500600700"])
    document = {"success": True, "items": [{"id": "x1", "phone": "+48500600700", **item}]}
    (outcome,) = gw.hooks.parse_response(Send(batch), response(document), gw.settings).outcomes
    assert (outcome.status, outcome.code) == (status, code)


def test_an_empty_error_field_is_not_an_error(gw: Gateway) -> None:
    batch = batch_of(gw, ["+48500600700"])
    empties: tuple[object, ...] = (None, False, "", {}, [])
    item = {"id": "e1", "phone": "+48500600700", "status": "queued"}
    for empty in empties:
        document = {"success": True, "queued": 1, "unsent": 0, "error": empty, "items": [item]}
        (outcome,) = gw.hooks.parse_response(Send(batch), response(document), gw.settings).outcomes
        assert outcome.status is Status.ACCEPTED


def test_an_error_document_without_its_wrapper(gw: Gateway) -> None:
    batch = batch_of(gw, ["+48500600700"])
    bare = {"code": "1001", "type": "InvalidUser", "message": "Incorrect login or password"}
    with pytest.raises(AuthenticationError, match="Incorrect login") as info:
        gw.hooks.parse_response(Send(batch), response(bare), gw.settings)
    assert info.value.code == "1001"


def test_success_written_as_a_string_without_details(gw: Gateway) -> None:
    batch = batch_of(gw, ["+48500600700"])
    document = {"success": "true", "queued": "1", "unsent": "0"}
    (outcome,) = gw.hooks.parse_response(Send(batch), response(document), gw.settings).outcomes
    assert outcome.status is Status.ACCEPTED and outcome.message_id is None


@pytest.mark.parametrize(
    ("document", "kind"),
    [
        ({"success": False, "queued": 0, "unsent": 1, "items": []}, GatewayError),
        ({"success": True, "queued": 0, "unsent": 0, "items": []}, MalformedResponseError),
        ({"success": True, "queued": 1, "unsent": 0, "items": [1]}, MalformedResponseError),
    ],
)
def test_replies_that_say_nothing_about_the_recipients(
    gw: Gateway, document: dict[str, object], kind: type[GatewayError]
) -> None:
    with pytest.raises(kind) as info:
        gw.hooks.parse_response(Send(batch_of(gw, ["+48500600700"])), response(document), gw.settings)
    assert type(info.value) is kind


def test_limits_as_strings_and_without_a_limit(offline: Offline) -> None:
    """The Symfony client documents `chars_limit` and `value` as strings; the XML API wrote an
    unlimited type as "brak limitu"; a type whose value cannot be read spoils only itself."""
    eco, full = offline(), offline("sender=INFORMACJA")
    balance = eco.hooks.parse_response(BalanceQuery(), reply("limits_strings_and_no_limit.json"), eco.settings)
    assert (balance.amount, balance.unit) == (Decimal("Infinity"), "eco")
    assert balance.details == {
        "eco": {"value": "unlimited", "chars_limit": 918},
        "full": {"value": "2345", "chars_limit": 918},
        "mms": {"value": None, "chars_limit": 1000},
    }
    balance = full.hooks.parse_response(BalanceQuery(), reply("limits_strings_and_no_limit.json"), full.settings)
    assert (balance.amount, balance.unit) == (Decimal(2345), "full")
    mms_only = {"items": [{"type": "MMS", "value": None}]}
    with pytest.raises(MalformedResponseError, match="mms"):
        eco.hooks.parse_response(BalanceQuery(), response(mms_only), eco.settings)


def test_report_phones_are_normalised_and_reconciled(gw: Gateway) -> None:
    document = {
        "paging": {"page": "1", "count": "1"},
        "items": {
            "0": {"id": "d1", "phone": "48500600700", "status": "delivered", "delivered": "2030-07-01 12:00:00"},
            "1": {"id": "d2", "phone": "500600701", "status": "saved"},
        },
    }
    reports = gw.hooks.parse_response(StatusQuery(("d1", "d2")), response(document), gw.settings)
    assert [(r.message_id, r.recipient, r.status) for r in reports] == [
        ("d1", "+48500600700", DeliveryStatus.DELIVERED),
        ("d2", "500600701", DeliveryStatus.PENDING),  # a national spelling is left as written
    ]
    batch = batch_of(gw, ["+48500600700", "+48500600701", "+48500600702"])
    receipt = gw.hooks.parse_response(Reconcile(batch), response(document), gw.settings)
    assert [(o.recipient, o.status, o.message_id) for o in receipt.outcomes] == [
        ("+48500600700", Status.ACCEPTED, "d1"),
        ("+48500600701", Status.SCHEDULED, "d2"),
    ]


def test_reports_call_returns_the_page_and_normalised_reports(gw: Gateway) -> None:
    page = gw.hooks.parse_response(Call("reports", {"page": 1}), reply("reports_documented_fields.json"), gw.settings)
    assert isinstance(page, dict)
    assert (page["page"], page["count"]) == (1, 1)
    assert [(r.message_id, r.status) for r in page["reports"]] == [
        ("aca3944055", DeliveryStatus.DELIVERED),
        ("1c142d81c7", DeliveryStatus.EXPIRED),
        ("844c2b4af0", DeliveryStatus.REJECTED),
        ("32039da8e9", DeliveryStatus.PENDING),
    ]
