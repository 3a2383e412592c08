"""Golden requests: exact method, URL and parameters, per seed 002 and the reference (3.1-3.3)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlsplit

import pytest
from conftest import SHOP, at

from smsgate import Message, connect
from smsgate.errors import ConfigurationError, MessageTooLongError, ValidationError
from smsgate.gateway import Gateway
from smsgate.models import BalanceQuery, HttpRequest
from smsgate.plugins import Registry

A, B = "+48500600700", "+48500600701"
BASE = "http://smsplus.example.net:8080"
CREDENTIALS = "username=shop&password=pa%2Bss%20word"

Offline = Callable[..., Gateway]


def one(gateway: Gateway, message: Message) -> HttpRequest:
    (request,) = gateway.preview(message, redact=False)
    assert request.method == "GET" and request.body == b"" and request.headers == ()
    return request


def params(request: HttpRequest) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True, strict_parsing=True))


def test_plain_gsm_send_to_two_numbers(offline: Offline) -> None:
    request = one(offline(SHOP), Message([A, B], "Hello [ok] + €"))
    assert request.url == (
        f"{BASE}/bulksms/bulksms?{CREDENTIALS}&type=0&dlr=1&destination=48500600700%2C48500600701"
        "&source=Shop&message=Hello%20%5Bok%5D%20%2B%20%E2%82%AC"
    )
    assert params(request)["password"] == "pa+ss word"


def test_unicode_is_upper_case_ucs2_hex(offline: Offline) -> None:
    request = one(offline(SHOP), Message(A, "Zażółć €"))
    assert params(request)["type"] == "2"
    assert params(request)["message"] == "005A0061017C00F301420107002020AC"
    assert request.url.endswith("&message=005A0061017C00F301420107002020AC")


def test_unicode_outside_the_bmp_is_a_surrogate_pair(offline: Offline) -> None:
    assert params(one(offline(SHOP), Message(A, "ok 😀")))["message"] == "006F006B0020D83DDE00"


def test_hex_case_option(offline: Offline) -> None:
    assert params(one(offline("sender=Shop&hex_case=lower"), Message(A, "€ż")))["message"] == "20ac017c"


@pytest.mark.parametrize(
    ("text", "flash", "options", "expected"),
    [
        ("plain", False, "", "0"),
        ("plain", True, "", "1"),
        ("żółw", False, "", "2"),
        ("żółw", True, "", "6"),
        ("Café crème", False, "charset=latin1", "5"),
        ("Café crème", True, "charset=latin1", "7"),
        ("price 5 €", False, "charset=latin1", "0"),
        ("żółw", False, "charset=latin1", "2"),
        ("Café crème", False, "", "0"),
        ("naïve", False, "", "2"),
        ("naïve", False, "charset=latin1", "5"),
    ],
)
def test_type_follows_the_text(offline: Offline, text: str, flash: bool, options: str, expected: str) -> None:
    message = Message(A, text, flash=flash, options=dict(parse_qsl(options)))
    got = params(one(offline(SHOP), message))
    assert got["type"] == expected
    assert got["message"] == (text.encode("utf-16-be").hex().upper() if expected in "26" else text)


def test_latin1_text_travels_as_utf8_percent_encoding(offline: Offline) -> None:
    request = one(offline("sender=Shop&charset=latin1"), Message(A, "Café"))
    assert "&type=5&" in request.url and request.url.endswith("&message=Caf%C3%A9")


def test_dlr_option(offline: Offline) -> None:
    assert params(one(offline("sender=Shop&dlr=false"), Message(A, "x")))["dlr"] == "0"
    assert params(one(offline("sender=Shop"), Message(A, "x", options={"dlr": "0"})))["dlr"] == "0"


def test_message_sender_overrides_and_plus_is_encoded(offline: Offline) -> None:
    request = one(offline(SHOP), Message(A, "x", sender="+48123456789"))
    assert "&source=%2B48123456789&" in request.url
    assert params(one(offline(""), Message(A, "x", sender="ACME Ltd")))["source"] == "ACME Ltd"


@pytest.mark.parametrize("sender", ["ABCDEFGHIJK", "123456789012345678", "+123456789012345678", "A1 B2-C3"])
def test_senders_within_the_limits(offline: Offline, sender: str) -> None:
    assert params(one(offline(""), Message(A, "x", sender=sender)))["source"] == sender


@pytest.mark.parametrize(
    ("sender", "rule"),
    [
        ("ABCDEFGHIJKL", "at most 11 characters"),
        ("1234567890123456789", "at most 18 digits"),
        ("Śklep", "ASCII letters and digits"),
        (" Shop", "ASCII letters and digits"),
        ("!invalid", "ASCII letters and digits"),
        ("Shop\nX", "control characters"),
        ("Sh\x00p", "control characters"),
        ("   ", "blank"),
        ("", "not blank|needs a source"),  # the core refuses it first, else the plugin does
    ],
)
def test_senders_beyond_the_limits_are_refused(offline: Offline, sender: str, rule: str) -> None:
    with pytest.raises(ValidationError, match=rule) as caught:
        offline("").preview(Message(A, "x", sender=sender))
    assert caught.value.field == "sender"


def test_a_source_is_required(offline: Offline) -> None:
    with pytest.raises(ValidationError, match="needs a source"):
        offline("").preview(Message(A, "x"))


def test_sender_option_is_validated_in_the_dsn(offline: Offline) -> None:
    with pytest.raises(ValidationError, match="at most 11"):
        offline("sender=WayTooLongSender")


def test_dlt_fields_are_appended_when_set(offline: Offline) -> None:
    gateway = offline(
        "sender=Shop&tls=false&entityid=1201159100000000001&tempid=1207161234567890123&tmid=1001096933494158,1602100000000009244"
    )
    request = one(gateway, Message("+919876543210", "Your OTP is 1234"))
    assert request.url.endswith(
        "&message=Your%20OTP%20is%201234&entityid=1201159100000000001&tempid=1207161234567890123"
        "&tmid=1001096933494158%2C1602100000000009244"
    )
    assert "entityid" not in one(offline(SHOP), Message(A, "x")).url


def test_scheduled_send_uses_schedulemsg_with_date_time_gmt(offline: Offline) -> None:
    when = datetime(2030, 1, 15, 9, 30, tzinfo=timezone.utc)
    request = one(offline("sender=Shop&tls=false&timezone=Asia/Kolkata"), Message([A, B], "later", send_at=when))
    assert request.url == (
        f"{BASE}/bulksms/schedulemsg?{CREDENTIALS}&message=later&type=0&dlr=1&source=Shop"
        "&destination=48500600700%2C48500600701&date=01%2F15%2F2030&time=03%3A00%20pm&gmt=%2B05%3A30"
    )
    assert {k: params(request)[k] for k in ("date", "time", "gmt")} == {
        "date": "01/15/2030",
        "time": "03:00 pm",
        "gmt": "+05:30",
    }


def test_balance_request(offline: Offline) -> None:
    gateway = offline(SHOP)
    request = gateway.hooks.build_request(BalanceQuery(), gateway.settings, gateway.endpoint)
    assert (request.method, request.url) == ("GET", f"{BASE}/CreditCheck/checkcredits?{CREDENTIALS}")


def test_https_on_request_and_no_default_host(offline: Offline) -> None:
    request = one(offline("sender=Shop", at("sms6.rmlconnect.net:8443")), Message(A, "x"))
    assert request.url.startswith("https://sms6.rmlconnect.net:8443/bulksms/bulksms?"), "TLS unless asked"
    assert one(offline(SHOP, at("121.241.242.114")), Message(A, "x")).url.startswith("http://121.241.242.114/bulksms/")
    with pytest.raises(ConfigurationError, match="no default host"):
        offline(SHOP, at("default"))


def test_preview_hides_the_password(offline: Offline) -> None:
    (request,) = offline(SHOP).preview(Message(A, "x"))
    assert "password=***&" in request.url and "pa%2Bss" not in request.url


def test_batches_of_at_most_100_numbers(offline: Offline) -> None:
    numbers = [f"+4850060{n:04d}" for n in range(101)]
    first, second = offline(SHOP).preview(Message(numbers, "hi"), redact=False)
    assert len(params(first)["destination"].split(",")) == 100
    assert params(second)["destination"] == "48500600100"


def test_worst_case_url_stays_within_the_limit(offline: Offline) -> None:
    numbers = [f"+86138{n:010d}" for n in range(100)]
    (request,) = offline(SHOP).preview(Message(numbers, "Ä" * 918), redact=False)
    assert len(params(request)["destination"]) == 100 * 16 - 1
    assert 7000 < len(request.url) <= 8000


def test_too_long_url_is_refused_before_sending(registry: Registry) -> None:
    dsn = f"routesms://u:{'p' * 7000}@h.example?sender=Shop"
    with connect(dsn, registry=registry) as gateway, pytest.raises(ValidationError, match="request URL would be"):
        gateway.preview(Message([f"+4850060{n:04d}" for n in range(100)], "x" * 900))


def test_parts_limit_counts_latin1_as_8_bit(offline: Offline) -> None:
    assert len(offline(SHOP).preview(Message(A, "x" * 918))) == 1
    with pytest.raises(MessageTooLongError, match="7 parts as type 5"):
        offline("sender=Shop&charset=latin1").preview(Message(A, "x" * 918))
