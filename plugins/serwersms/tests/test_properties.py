"""Hypothesis: the parsers raise nothing but smsgate errors on arbitrary input; encoders round-trip."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import smsgate_serwersms
from smsgate.errors import GatewayError, MalformedResponseError, SmsgateError
from smsgate.gateway import Gateway
from smsgate.models import (
    BalanceQuery,
    Call,
    HttpRequest,
    HttpResponse,
    Message,
    Operation,
    Receipt,
    Reconcile,
    Send,
    StatusQuery,
)
from smsgate.spec import Secret
from smsgate.testing import strategies
from smsgate.testing.kit import Connector, nested, nested_callbacks, registry_for
from smsgate_serwersms.emulator import php_form
from smsgate_serwersms.request import unique_id
from smsgate_serwersms.schedule import format_local, parse_local
from smsgate_serwersms.settings import SerwerSmsSettings

RELAXED = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def gw() -> Iterator[Gateway]:
    with Connector(registry_for(smsgate_serwersms), "serwersms://user:pa55word@default?sender=SMSGATE") as connector:
        yield connector()


_OPERATIONS: dict[int, list[Operation]] = {}


def operations(gateway: Gateway) -> list[Operation]:
    if id(gateway) not in _OPERATIONS:
        batch = gateway.prepare(Message(["+48500600700", "+48500600701"], "Hi"))[0].batches[0]
        _OPERATIONS[id(gateway)] = [
            Send(batch),
            Reconcile(batch),
            StatusQuery(("abc",)),
            BalanceQuery(),
            Call("view", {"id": "x"}),
            Call("error", {"code": 1}),
        ]
    return _OPERATIONS[id(gateway)]


json_values = strategies.json_values(max_leaves=6)
scalars = st.none() | st.booleans() | st.integers(-5, 5000) | st.text(max_size=10)
keys = st.sampled_from(["success", "queued", "unsent", "items", "error", "paging", "id", "phone", "status", "code"])
documents = st.dictionaries(keys, json_values, max_size=6)
items = st.fixed_dictionaries(
    {},
    optional={
        "id": scalars,
        "phone": st.sampled_from(["+48500600700", "48500600701", "45616"]) | scalars,
        "status": st.sampled_from(["queued", "unsent", "delivered", "saved", "undelivered"]) | scalars,
        "error_code": scalars,
        "parts": scalars,
        "cost": scalars,
        "reason": scalars,
        "type": scalars,
        "value": scalars,
        "unique_id": scalars,
    },
)
item_lists = st.lists(items, max_size=4)
shaped = st.fixed_dictionaries(
    {"items": item_lists},
    optional={"success": scalars, "queued": scalars, "paging": json_values, "error": json_values},
)


def check(gateway: Gateway, status: int, body: bytes) -> None:
    for operation in operations(gateway):
        with contextlib.suppress(SmsgateError):
            gateway.hooks.parse_response(operation, HttpResponse(status, body), gateway.settings)


@RELAXED
@given(st.sampled_from([200, 400, 429, 500, 503]), st.binary(max_size=400))
def test_arbitrary_bytes(gw: Gateway, status: int, body: bytes) -> None:
    check(gw, status, body)


php_objects = st.fixed_dictionaries(  # PHP writes a list with gaps in its keys as an object
    {"items": item_lists.map(lambda found: {str(2 * n): item for n, item in enumerate(found)})},
    optional={"success": scalars, "queued": scalars, "paging": json_values},
)


@RELAXED
@given(st.sampled_from([200, 400]), documents | shaped | php_objects)
def test_arbitrary_json_documents(gw: Gateway, status: int, document: dict[str, Any]) -> None:
    check(gw, status, json.dumps(document).encode())


@RELAXED
@given(shaped)
def test_send_outcomes_never_accept_without_queued(gw: Gateway, document: dict[str, Any]) -> None:
    operation = operations(gw)[0]
    try:
        receipt = gw.hooks.parse_response(operation, HttpResponse(200, json.dumps(document).encode()), gw.settings)
    except SmsgateError:
        return
    assert isinstance(receipt, Receipt)
    for outcome, item in zip(receipt.outcomes, document["items"]):
        if outcome.ok:
            status = item.get("status")
            assert isinstance(status, str) and status.strip().lower() == "queued"


@RELAXED
@given(
    st.text(max_size=60),
    st.binary(max_size=200),
    st.sampled_from(["GET", "POST"]),
    st.sampled_from(["", "application/json", "application/x-www-form-urlencoded"]),
)
def test_callback_parser(gw: Gateway, query: str, body: bytes, method: str, ctype: str) -> None:
    headers = (("Content-Type", ctype),) if ctype else ()
    request = HttpRequest(method, "https://shop.example/dlr?" + query, headers, body)
    try:
        reports = gw.parse_delivery_report(request)
    except SmsgateError:
        return
    assert all(r.message_id for r in reports)


texts = st.text(st.characters(codec="utf-8"), min_size=1, max_size=200).filter(lambda t: t.strip() != "")


@RELAXED
@given(texts)
def test_text_round_trips_through_the_json_body(gw: Gateway, text: str) -> None:
    try:
        requests = gw.preview(Message("+48500600700", text), redact=False)
    except SmsgateError:
        return  # too long, for instance
    assert json.loads(requests[0].body)["text"] == text


@RELAXED
@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)))
def test_dates_round_trip_except_in_the_repeated_hour(when: datetime) -> None:
    when = when.replace(microsecond=0)
    back = parse_local(format_local(when, "Europe/Warsaw"), "Europe/Warsaw")
    assert back is not None
    assert back == when or back == when - timedelta(hours=1)  # the autumn hour that occurs twice


@RELAXED
@given(st.text(max_size=80))
def test_unique_ids_fit_the_gateway(key: str) -> None:
    value = unique_id(key)
    assert 3 <= len(value) <= 50 and value.isascii() and value.isalnum()


form_keys = st.builds(
    "".join,
    st.tuples(
        st.sampled_from(["a", "phone", "m"]), st.sampled_from(["", "[]", "[0]", "[1]", "[12]", "[0][text]", "[]["])
    ),
)


@RELAXED
@given(st.lists(st.tuples(form_keys, st.text(max_size=5)), max_size=8))
def test_php_form_parser_never_crashes(pairs: list[tuple[str, str]]) -> None:
    parsed = php_form(pairs)
    assert set(parsed) <= {k.partition("[")[0] for k, _ in pairs}


deep_json = st.builds(nested, st.integers(1, 20_000), st.sampled_from(["[", '{"a":']))
REPORT = '{"paging":{"page":1,"count":1},"items":[{"id":"a","phone":"+48500600700","%s":%s}]}'
deep_documents = st.builds(
    lambda key, nesting: REPORT % (key, nesting),
    st.sampled_from(["status", "reason", "phone", "contact", "id"]),
    deep_json,
) | st.builds(lambda key, nesting: f'{{"{key}":{nesting}}}', keys, deep_json)


@RELAXED
@given(deep_json | deep_documents | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_deeply_nested_or_random_replies_raise_only_gateway_errors(gw: Gateway, body: str) -> None:
    """Audit: every reply parser lets only ``MalformedResponseError`` (or a documented
    ``GatewayError``) escape, whatever the nesting."""
    for operation in [*operations(gw), Call("reports", {})]:
        for status in (200, 500):
            with contextlib.suppress(GatewayError):
                gw.hooks.parse_response(operation, HttpResponse(status, body.encode("utf-8")), gw.settings)


@RELAXED
@given(
    deep_json,
    st.sampled_from(["smsid", "stan", "data", "przyczyna"]),
    st.sampled_from(["application/json", "", "application/x-www-form-urlencoded"]),
)
def test_deeply_nested_delivery_reports_are_malformed_not_a_crash(
    gw: Gateway, nesting: str, field: str, ctype: str
) -> None:
    """Audit: a deeply nested JSON callback raised ``RecursionError`` (a 500 instead of a 400)."""
    report = {"smsid": "1c142d81c7", "stan": "delivered"}
    for request in nested_callbacks("https://shop.example/dlr", report, field, nesting, ctype):
        try:
            reports = gw.hooks.parse_delivery_report(request, gw.settings)
        except MalformedResponseError:
            continue
        assert len(reports) == 1 and reports[0].message_id


def test_a_nested_json_callback_is_malformed() -> None:
    body = ('{"smsid":' + nested(50_000, "[") + "}").encode()
    request = HttpRequest("POST", "https://shop.example/dlr", (("Content-Type", "application/json"),), body)
    with pytest.raises(MalformedResponseError):
        smsgate_serwersms.parse_delivery_report(request, SerwerSmsSettings(password=Secret("x")))


@pytest.mark.parametrize("count", ["²", "1²", "٣"])
def test_a_count_in_digits_that_int_refuses_is_not_a_count(gw: Gateway, count: str) -> None:
    """``str.isdigit`` accepts superscripts (and other scripts' digits): a count must be ASCII,
    and an item with a strange ``parts`` is still read (its status decides)."""
    batch = gw.prepare(Message("+48500600700", "Hi"))[0].batches[0]
    document = {"success": True, "items": [{"id": "a1", "phone": "+48500600700", "status": "queued", "parts": count}]}
    receipt = gw.hooks.parse_response(Send(batch), HttpResponse(200, json.dumps(document).encode()), gw.settings)
    assert [(o.ok, o.parts) for o in receipt.outcomes] == [(True, None)]
