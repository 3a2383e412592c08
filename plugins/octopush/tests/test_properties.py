"""Hypothesis: the parsers raise nothing but smsgate errors on any input, and what the
encoders write reads back to what was given."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smsgate.errors import MalformedResponseError, SmsgateError
from smsgate.gateway import Gateway
from smsgate.models import BalanceQuery, HttpRequest, HttpResponse, Message, Receipt, Send, Status
from smsgate.testing import error_of
from smsgate_octopush.request import DOUBLE, legacy_length
from smsgate_octopush.schedule import from_legacy_timestamp, legacy_timestamp, v1_send_at

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
KEYS = st.sampled_from(
    [
        "error_code",
        "ticket",
        "successs",
        "success",
        "failures",
        "failure",
        "recipient",
        "cost",
        "balance",
        "sms_needed",
        "credit",
        "sms_ticket",
        "number_of_contacts",
        "number_of_sms_needed",
        "total_cost",
        "residual_credit",
        "amount",
        "unit",
        "code",
        "message",
        "errors",
        "error",
        "request_id",
        "message_id",
        "status",
        "number",
        "delivery_date",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["000", "120", "+48500600700", "48500600700", "DELIVERED", "already used", "NaN", "1e999"]),
)
DOCS = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=6), max_leaves=20
)
STATUSES = st.sampled_from([200, 201, 400, 401, 402, 404, 422, 429, 500, 502, 503])


def _parse_all(gateway: Gateway, status: int, body: bytes) -> None:
    plan, _ = gateway.prepare(Message(["+48500600700", "+48500600701"], "hello"))
    for operation in (Send(plan.batches[0]), BalanceQuery()):
        try:
            result = gateway.hooks.parse_response(operation, HttpResponse(status, body), plan.settings)
        except SmsgateError:
            continue
        if isinstance(result, Receipt):
            assert all(o.status in Status for o in result.outcomes)
            assert status < 300 or not any(o.ok for o in result.outcomes)


@FUZZ
@given(status=STATUSES, body=st.binary(max_size=400))
def test_parsers_survive_bytes(offline: Callable[..., Gateway], status: int, body: bytes) -> None:
    _parse_all(offline(), status, body)
    _parse_all(offline("api=v1"), status, body)


@FUZZ
@given(status=STATUSES, doc=DOCS, xml=st.booleans())
def test_parsers_survive_documents(offline: Callable[..., Gateway], status: int, doc: Any, xml: bool) -> None:
    body = json.dumps(doc).encode()
    if xml and isinstance(doc, dict):
        body = b"<octopush>" + b"".join(f"<{k}>{v!s:.20}</{k}>".encode() for k, v in doc.items()) + b"</octopush>"
    _parse_all(offline(), status, body)
    _parse_all(offline("api=v1"), status, body)


#: Documents nested far deeper than Python's recursion limit: JSON arrays and objects, and XML.
DEEP = st.integers(min_value=1_100, max_value=50_000).flatmap(
    lambda n: st.sampled_from(
        [
            b"[" * n + b"]" * n,
            b'{"error_code":' * n + b'"000"' + b"}" * n,
            b'{"sms_ticket":' + b"[" * n + b'"sms_1"' + b"]" * n + b"}",
            b"<octopush>" + b"<a>" * n + b"</a>" * n + b"</octopush>",
        ]
    )
)


@FUZZ
@given(status=st.sampled_from([200, 502]), body=st.one_of(DEEP, st.binary(max_size=400)))
def test_deep_nesting_and_random_bytes_are_malformed_never_a_crash(
    offline: Callable[..., Gateway], status: int, body: bytes
) -> None:
    for gateway in (offline(), offline("api=v1")):
        plan, _ = gateway.prepare(Message(["+48500600700", "+48500600701"], "hello"))
        for operation in (Send(plan.batches[0]), BalanceQuery()):
            response = HttpResponse(status, body)
            error = error_of(lambda: gateway.hooks.parse_response(operation, response, plan.settings))  # noqa: B023
            assert error is not None  # none of these is a reply anyone accepted
            if status == 200 and not body.lstrip().startswith(b"{"):
                assert isinstance(error, MalformedResponseError)


@FUZZ
@given(body=st.one_of(DEEP, st.binary(max_size=300)))
def test_callback_parser_deep_nesting_and_random_bytes(offline: Callable[..., Gateway], body: bytes) -> None:
    request = HttpRequest("POST", "https://app.example/dlr", (("Content-Type", "application/json"),), body)
    error = error_of(lambda: offline().parse_delivery_report(request))
    assert error is None or isinstance(error, MalformedResponseError)


@FUZZ
@given(body=st.one_of(st.binary(max_size=300), DOCS.map(lambda d: json.dumps(d).encode())))
def test_callback_parser_survives(offline: Callable[..., Gateway], body: bytes) -> None:
    try:
        reports = offline().parse_delivery_report(HttpRequest("POST", "https://app.example/dlr", (), body))
    except SmsgateError:
        return
    assert all(r.message_id for r in reports)


TEXTS = st.text(min_size=1, max_size=150).filter(lambda t: t.strip() != "")


@FUZZ
@given(text=TEXTS)
def test_legacy_form_round_trips(offline: Callable[..., Gateway], text: str) -> None:
    (request,) = offline().preview(Message(["+48500600700", "+48500600701"], text), redact=False)
    fields = dict(parse_qsl(request.body.decode("ascii"), keep_blank_values=True))
    assert fields["sms_text"] == text
    assert fields["sms_recipients"].split(",") == ["+48500600700", "+48500600701"]
    assert legacy_length(text) == len(text) + sum(text.count(c) for c in DOUBLE)


@FUZZ
@given(text=TEXTS)
def test_v1_json_round_trips(offline: Callable[..., Gateway], text: str) -> None:
    (request,) = offline("api=v1").preview(Message("+48500600700", text), redact=False)
    assert json.loads(request.body)["text"] == text


@FUZZ
@given(
    when=st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.timezones()),
)
def test_schedule_round_trips(when: datetime) -> None:
    exact = when.replace(microsecond=0)
    # timestamps, not ==: an inter-zone == is always False for a time in a DST fold (PEP 495)
    assert from_legacy_timestamp(legacy_timestamp(exact)).timestamp() == exact.timestamp()
    assert datetime.fromisoformat(v1_send_at(exact)).timestamp() == exact.timestamp()
    assert legacy_timestamp(exact) == int(exact.astimezone(timezone.utc).timestamp())
    assert legacy_timestamp(exact.astimezone(timezone.utc) + timedelta(hours=1)) == legacy_timestamp(exact) + 3600
