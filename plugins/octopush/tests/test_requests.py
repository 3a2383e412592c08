"""Golden requests: the exact method, URL, headers and body each API gets (reference 5.1, 5.2)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timezone
from urllib.parse import parse_qsl

import attrs
import pytest
from octopush_support import KEY, LOGIN

from smsgate.errors import ConfigurationError, ValidationError
from smsgate.gateway import Gateway
from smsgate.idempotency import alnum_key
from smsgate.models import HttpRequest, Message, Send

FR1, FR2, PL = "+33601010101", "+33601010102", "+48500600700"
STOP = "Promo -20% STOP au XXXXX"


def form(request: HttpRequest) -> list[tuple[str, str]]:
    assert request.header("Content-Type") == "application/x-www-form-urlencoded; charset=utf-8"
    return parse_qsl(request.body.decode("ascii"), keep_blank_values=True, strict_parsing=True)


def only(gateway: Gateway, message: Message) -> HttpRequest:
    (request,) = gateway.preview(message, redact=False)
    return request


# -- legacy API ---------------------------------------------------------------------------------


def test_legacy_send_is_the_documented_form_post(offline: Callable[..., Gateway]) -> None:
    request = only(offline(), Message([FR1, FR2], STOP, sender="Shop", key="order-42"))
    assert (request.method, request.url) == ("POST", "https://www.octopush-dm.com/api/sms/json")
    assert form(request) == [
        ("user_login", LOGIN),
        ("api_key", KEY),
        ("sms_text", STOP),
        ("sms_recipients", f"{FR1},{FR2}"),
        ("sms_type", "FR"),
        ("sms_sender", "Shop"),
        ("request_id", "FqoblcIQHUsuIlHmaQIUgtS1"),  # alnum_key(batch.dedup_key): regenerated (was batch.key)
    ]
    assert b"user_login=shop%40example.com" in request.body and b"%2B33601010101%2C%2B33601010102" in request.body


def test_legacy_text_is_utf8(offline: Callable[..., Gateway]) -> None:
    request = only(offline(), Message(PL, "Zażółć € [ok]"))
    assert b"sms_text=Za%C5%BC%C3%B3%C5%82%C4%87+%E2%82%AC+%5Bok%5D" in request.body


def test_legacy_options(offline: Callable[..., Gateway]) -> None:
    gateway = offline("type=world&simulation=true&with_replies=1&transactional=yes&msisdn_sender=true")
    fields = dict(form(only(gateway, Message(PL, "hi", key="k"))))
    assert fields["sms_type"] == "WWW"
    assert (fields["request_mode"], fields["with_replies"], fields["transactional"], fields["msisdn_sender"]) == (
        "simu",
        "1",
        "1",
        "1",
    )
    low = dict(form(only(offline("type=XXX"), Message(PL, "hi", options={"type": "premium"}))))
    assert low["sms_type"] == "FR"


def test_legacy_schedule_sends_mode_2_and_both_date_names(offline: Callable[..., Gateway]) -> None:
    when = datetime(2031, 1, 15, 9, 30, tzinfo=timezone.utc)  # 10:30 in Paris (GMT+1 in winter)
    pairs = form(only(offline(), Message(PL, "later", send_at=when)))
    fields = dict(pairs)
    # The seed's golden request: ...&sms_mode=2&sending_date=<Unix time>; the official PHP
    # client's name for the same value is sending_time.
    stamp = "1926235800"
    assert stamp == str(int(when.timestamp()))
    assert (fields["sms_mode"], fields["sending_date"], fields["sending_time"]) == ("2", stamp, stamp)
    names = [k for k, _ in pairs]
    assert names.index("sms_mode") < names.index("sending_date") < names.index("sending_time")


def test_legacy_signature_with_the_python_clients_letters(offline: Callable[..., Gateway]) -> None:
    """octopush-sms-python signs ``M`` (sms_mode) too: "TRMYSD" over a scheduled send."""
    when = datetime(2031, 1, 15, 9, 30, tzinfo=timezone.utc)
    fields = dict(form(only(offline("request_keys=TRMYSD"), Message(PL, "later", sender="Shop", send_at=when))))
    # D names "sms_date", a field no client sends: skipped, as the clients skip absent fields.
    expected = hashlib.sha1(("later" + PL + "2" + "FR" + "Shop").encode()).hexdigest()
    assert fields["request_sha1"] == expected


def test_legacy_signature_follows_the_letter_table(offline: Callable[..., Gateway]) -> None:
    gateway = offline("request_keys=TRYSDWQ")
    message = Message([FR1, FR2], STOP, sender="Shop", key="sig")
    pairs = form(only(gateway, message))
    fields = dict(pairs)
    (batch,) = gateway.prepare(message)[0].batches
    # D (sms_date) and W (with_replies) are not sent, so they are skipped.
    request_id = alnum_key(batch.dedup_key)
    expected = hashlib.sha1((STOP + f"{FR1},{FR2}" + "FR" + "Shop" + request_id).encode()).hexdigest()
    assert fields["request_keys"] == "TRYSDWQ"
    assert fields["request_sha1"] == expected
    assert [k for k, _ in pairs][-2:] == ["request_keys", "request_sha1"]


def test_legacy_mail_merge_lists_follow_the_batches(offline: Callable[..., Gateway]) -> None:
    message = Message(
        [FR1, FR2], "Bonjour {prenom} STOP au XXXXX", options={"first_names": ["Ann", "Bob"], "fields_1": "x,y"}
    )
    fields = dict(form(only(offline(), message)))
    assert (fields["recipients_first_names"], fields["sms_fields_1"]) == ("Ann,Bob", "x,y")
    first, second = offline("batch_size=1").preview(message, redact=False)
    assert dict(form(first))["recipients_first_names"] == "Ann"
    assert dict(form(second))["recipients_first_names"] == "Bob"


def test_legacy_credit_request(offline: Callable[..., Gateway]) -> None:
    from smsgate.models import BalanceQuery

    gateway = offline()
    request = gateway.hooks.build_request(BalanceQuery(), gateway.settings, gateway.endpoint)
    assert (request.method, request.url) == ("POST", "https://www.octopush-dm.com/api/credit")
    assert form(request) == [("user_login", LOGIN), ("api_key", KEY)]


# -- JSON API -----------------------------------------------------------------------------------


def test_v1_send_is_the_documented_json_post(offline: Callable[..., Gateway]) -> None:
    request = only(offline("api=v1"), Message([FR1, PL], "Hello", sender="My Shop", key="order-43"))
    assert (request.method, request.url) == ("POST", "https://api.octopush.com/v1/public/sms-campaign/send")
    assert request.header("api-key") == KEY and request.header("api-login") == LOGIN
    assert (request.header("Content-Type") or "").startswith("application/json")
    assert request.header("cache-control") == "no-cache"
    assert json.loads(request.body) == {
        "recipients": [{"phone_number": FR1}, {"phone_number": PL}],
        "text": "Hello",
        "type": "sms_premium",
        "purpose": "wholesale",
        "sender": "My Shop",
        "request_id": "FqJ8q5N4ObRZFiQ8cLz4S8bp",  # alnum_key(batch.dedup_key): regenerated (was batch.key)
    }


def test_v1_options_and_schedule(offline: Callable[..., Gateway]) -> None:
    gateway = offline(
        "api=v1&type=low_cost&transactional=1&with_replies=1&simulation=1&auto_optimize_text=false"
        "&auto_remove_blacklisted_numbers=true&list_name=Clients&recipient_tracking=true"
    )
    when = datetime.fromisoformat("2031-10-03T07:42:39-07:00")
    body = json.loads(only(gateway, Message(PL, "Hi {param1}", send_at=when, options={"fields_1": ["Ann"]})).body)
    assert body["recipients"] == [{"phone_number": PL, "param1": "Ann"}]
    assert (body["type"], body["purpose"], body["send_at"]) == ("sms_low_cost", "alert", "2031-10-03T07:42:39-07:00")
    assert body["with_replies"] is body["simulation_mode"] is body["auto_remove_blacklisted_numbers"] is True
    assert body["auto_optimize_text"] is False and body["recipient_tracking"] is True
    assert body["list_name"] == "Clients"


def test_v1_mail_merge_uses_contact_fields(offline: Callable[..., Gateway]) -> None:
    options = {
        name: ["a", "b"]
        for name in ("first_names", "last_names", "fields_1", "fields_2", "fields_3", "fields_4", "fields_5")
    }
    body = json.loads(only(offline("api=v1"), Message([FR1, PL], "x", options=options)).body)
    assert body["recipients"][1] == {
        "phone_number": PL,
        "first_name": "b",
        "last_name": "b",
        "param1": "b",
        "param2": "b",
        "param3": "b",
        "param4": "b",
        "param5": "b",
    }


def test_v1_balance_request(offline: Callable[..., Gateway]) -> None:
    from smsgate.models import BalanceQuery

    gateway = offline("api=v1&type=low_cost&balance_country=BE")
    request = gateway.hooks.build_request(BalanceQuery(), gateway.settings, gateway.endpoint)
    assert request.method == "GET"
    assert request.url == (
        "https://api.octopush.com/v1/public/wallet/check-balance?product_name=sms_low_cost&country_code=BE&with_details=1"
    )
    assert request.header("api-key") == KEY and request.header("api-login") == LOGIN


# -- hosts and credentials ----------------------------------------------------------------------


def test_hosts(offline: Callable[..., Gateway]) -> None:
    reseller = "octopush://shop%40example.com:k@sms.reseller.example:8443"
    assert (
        only(offline("api=v1", dsn=reseller), Message(PL, "x")).url
        == "https://sms.reseller.example:8443/v1/public/sms-campaign/send"
    )
    assert only(offline(dsn=reseller), Message(PL, "x")).url == "https://sms.reseller.example:8443/api/sms/json"
    explicit = "octopush://shop%40example.com:k@www.octopush-dm.com"
    assert only(offline("api=v1", dsn=explicit), Message(PL, "x")).url.startswith("https://api.octopush.com/")
    per_message = only(offline(), Message(PL, "x", options={"api": "v1"}))
    assert per_message.url == "https://api.octopush.com/v1/public/sms-campaign/send"


def test_login_is_the_url_encoded_email_and_the_key_stays_secret(offline: Callable[..., Gateway]) -> None:
    gateway = offline()
    assert gateway.settings.login == LOGIN
    assert KEY not in repr(gateway.settings) and KEY not in repr(gateway)
    (shown,) = gateway.preview(Message(PL, "x"))
    assert KEY.encode() not in shown.body and b"api_key=***" in shown.body
    (v1,) = offline("api=v1").preview(Message(PL, "x"))
    assert v1.header("api-key") == "***"


@pytest.mark.parametrize(
    ("dsn", "field"),
    [
        ("octopush://default", "login"),
        ("octopush://:key@default", "login"),
        ("octopush://%20%20:key@default", "login"),
        ("octopush://me%40example.com@default", "api_key"),
        ("octopush://me%40example.com:@default", "api_key"),
        ("octopush://me%40example.com:%20@default?api=v1", "api_key"),
    ],
)
def test_missing_or_blank_credentials_are_refused_at_connect(
    offline: Callable[..., Gateway], dsn: str, field: str
) -> None:
    with pytest.raises(ConfigurationError, match=rf"^\[octopush\] {field}: "):
        offline(dsn=dsn)


@pytest.mark.parametrize("api", ["legacy", "v1"])
def test_request_id_binds_the_key_to_the_content(offline: Callable[..., Gateway], api: str) -> None:
    """The same key for other recipients or another text is another request_id: the gateway
    never refuses it as an "already sent" duplicate of the first message."""
    gateway = offline(f"api={api}")

    def request_id(message: Message) -> str:
        body = only(gateway, message).body
        return str(json.loads(body)["request_id"] if api == "v1" else dict(parse_qsl(body.decode()))["request_id"])

    ids = [
        request_id(Message(PL, "hi", key="k")),
        request_id(Message(PL, "hi", key="k")),
        request_id(Message("+48500600701", "hi", key="k")),
        request_id(Message(PL, "hi!", key="k")),
    ]
    assert ids[0] == ids[1] and len(set(ids)) == 3
    (batch,) = gateway.prepare(Message(PL, "hi", key="k"))[0].batches
    assert ids[0] == alnum_key(batch.dedup_key) != alnum_key(batch.key)


# -- refused before sending ---------------------------------------------------------------------


def test_legacy_length_counts_the_documented_characters_twice(offline: Callable[..., Gateway]) -> None:
    gateway = offline()
    assert only(gateway, Message(PL, "€" * 229 + "a"))  # 459
    with pytest.raises(ValidationError, match="459") as info:
        gateway.preview(Message(PL, "{" * 229 + "ab"))  # 460
    assert info.value.code == "102"
    with pytest.raises(ValidationError, match="459"):
        gateway.preview(Message(PL, "a" * 460))
    assert only(offline("api=v1"), Message(PL, "{" * 459))  # the JSON API counts plain characters


def test_v1_length(offline: Callable[..., Gateway]) -> None:
    gateway = offline("api=v1")
    assert only(gateway, Message(PL, "a" * 1224))
    with pytest.raises(ValidationError, match="1224"):
        gateway.preview(Message(PL, "a" * 1225))


def test_premium_to_france_needs_the_stop_mention(offline: Callable[..., Gateway]) -> None:
    gateway = offline()
    with pytest.raises(ValidationError, match="STOP au XXXXX") as info:
        gateway.preview(Message([PL, FR1], "Promo -20%"))
    assert info.value.code == "121"
    with pytest.raises(ValidationError, match="STOP au XXXXX"):
        gateway.preview(Message(FR1, "Promo stop au XXXXX"))  # the case matters
    assert only(gateway, Message(FR1, STOP))
    assert only(gateway, Message(PL, "Promo -20%"))  # not France
    assert only(offline("type=low_cost"), Message(FR1, "Promo -20%"))  # not premium


@pytest.mark.parametrize(
    ("options", "sender", "match"),
    [
        ("type=low_cost", "Shop", "low-cost"),
        ("", "My Shop", "3 to 11"),
        ("", "Sh", "3 to 11"),
        ("", "ABCDEFGHIJKL", "3 to 11"),
        ("api=v1", "Bad-Name", "3 to 11"),
        ("api=v1", " Shop", "spaces only between them"),
        ("api=v1", "Shop ", "spaces only between them"),
        ("api=v1", "A  ", "spaces only between them"),
    ],
)
def test_sender_rules(offline: Callable[..., Gateway], options: str, sender: str, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        offline(options).preview(Message(PL, "x", sender=sender))


@pytest.mark.parametrize("api", ["legacy", "v1"])
def test_blank_sender_is_refused_naming_the_field_and_rule(offline: Callable[..., Gateway], api: str) -> None:
    with pytest.raises(ValidationError, match=r"sender '   ' must be 3 to 11 letters or digits"):
        offline(f"api={api}&sender=%20%20%20")
    gateway = offline(f"api={api}")
    (batch,) = gateway.prepare(Message(PL, "x"))[0].batches
    blank = attrs.evolve(batch, message=Message(PL, "x", sender="   "))
    with pytest.raises(ValidationError, match="3 to 11") as info:
        gateway.hooks.build_request(Send(blank), gateway.settings, gateway.endpoint)
    assert info.value.field == "sender"


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ("api=v1&type=world", "no equivalent"),
        ("api=v1&request_keys=TR", "request_keys belongs to the Octopush legacy"),
        ("fields_4=a", "fields_4 belongs to the Octopush JSON"),
        ("auto_optimize_text=false", "auto_optimize_text belongs"),
        ("request_keys=TRZ", "unknown letters 'Z'"),
        ("sender=a!", "sender"),
        ("balance_country=France", "balance_country"),
        ("api=v2", "api"),
        ("type=gold", "type"),
        ("colour=red", "unknown option"),
    ],
)
def test_bad_options_are_named(offline: Callable[..., Gateway], options: str, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        offline(options)


def test_mail_merge_lists_must_fit(offline: Callable[..., Gateway]) -> None:
    with pytest.raises(ValidationError, match="2 values for 1 recipients") as info:
        offline().preview(Message(PL, "x", options={"first_names": ["a", "b"]}))
    assert info.value.code == "115"
    with pytest.raises(ValidationError, match="commas"):
        offline().preview(Message([PL, FR1], STOP, options={"last_names": ["Doe, Jr", "Roe"]}))
    assert only(offline("api=v1"), Message([PL, FR1], "x", options={"last_names": ["Doe, Jr", "Roe"]}))


@pytest.mark.parametrize("api", ["legacy", "v1"])
def test_batches_of_at_most_500_recipients(offline: Callable[..., Gateway], api: str) -> None:
    """The JSON API takes "up to 500 contacts" a request; the legacy API uses the same limit."""
    numbers = [f"+485006{n:05d}" for n in range(501)]
    first, second = offline(f"api={api}").preview(Message(numbers, "bulk", key="bulk-501"), redact=False)
    if api == "v1":
        sizes = [len(json.loads(r.body)["recipients"]) for r in (first, second)]
    else:
        sizes = [len(dict(form(r))["sms_recipients"].split(",")) for r in (first, second)]
    assert sizes == [500, 1]
