"""Redaction: every encoding a plugin may give a secret, requests, headers and log records."""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
from urllib.parse import quote, quote_plus

import pytest

from smsgate import config
from smsgate.models import HttpRequest
from smsgate.redaction import RedactingFilter, Redactor, is_credential_header

LATIN = "Pässwörd#1"  # BulkSMS posts ISO-8859-1 forms
CYRILLIC = "пароль-2024"  # SMSC accepts windows-1251 and KOI8-R


def _percent(secret: str, encoding: str) -> list[str]:
    data = secret.encode(encoding)
    forms = [quote(data, safe=""), quote(data), quote_plus(data), quote(data, safe="/:@!$&'()*+,;=")]
    return forms + [re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), f) for f in forms]


def _spellings(secret: str, encodings: tuple[str, ...], user: str = "acme") -> list[str]:
    escaped = json.dumps(secret)[1:-1]
    forms = [secret, escaped, re.sub(r"\\u[0-9a-f]{4}", lambda m: "\\u" + m.group()[2:].upper(), escaped)]
    for encoding in encodings:
        data = secret.encode(encoding)
        forms += _percent(secret, encoding)
        forms += [data.hex(), data.hex().upper(), base64.b64encode(data).decode()]
        for basic in (f"{user}:".encode() + data, f"x{user}:".encode() + data, f"xx{user}:".encode() + data):
            forms += [base64.b64encode(basic).decode(), base64.urlsafe_b64encode(basic).decode()]
    return forms


@pytest.mark.parametrize(
    ("secret", "encodings"),
    [(LATIN, ("utf-8", "latin-1", "cp1252")), (CYRILLIC, ("utf-8", "cp1251", "koi8-r"))],
    ids=["latin", "cyrillic"],
)
def test_every_spelling_is_masked_in_text_and_bytes(secret: str, encodings: tuple[str, ...]) -> None:
    redact = Redactor([secret])
    for form in _spellings(secret, encodings):
        assert redact(f"pw={form}&x=1") == "pw=***&x=1", form
        assert redact.bytes(f"pw={form}&x=1".encode()) == b"pw=***&x=1", form
    for encoding in encodings:  # the raw secret in a body of that charset
        assert redact.bytes(f"<pw>{secret}</pw>".encode(encoding)) == b"<pw>***</pw>", encoding
        mojibake = secret.encode(encoding).decode("latin-1")  # a body decoded with the wrong charset
        assert secret not in redact(mojibake) and redact(f"[{mojibake}]") == "[***]", encoding


def test_a_latin1_form_body_is_masked_in_previews() -> None:
    """The audit: a non-ASCII BulkSMS password showed in ``preview`` and ``--dry-run``."""
    request = HttpRequest.form(
        "https://bulksms.example/eapi", {"username": "acme", "password": LATIN}, encoding="latin-1"
    )
    assert quote_plus(LATIN.encode("latin-1")).encode() in request.body
    shown = Redactor([LATIN]).request(request)
    assert shown.body == b"username=acme&password=***"


def test_headers_are_masked_by_credential_name_or_secret_value_only() -> None:
    secret = "tok-3n-s3cr3t"
    request = HttpRequest(
        "POST",
        "https://api.example/send",
        (
            ("Authorization", "Basic " + base64.b64encode(f"acme:{secret}".encode()).decode()),
            ("X-Api-Key", "a-key-that-is-not-registered"),
            ("api-key", "another"),
            ("Idempotency-Key", "msg-42/batch-1"),
            ("Content-Type", "application/json"),
            ("X-Custom", f"Token {secret}"),
        ),
    )
    headers = dict(Redactor([secret]).request(request).headers)
    assert headers["Authorization"] == headers["X-Api-Key"] == headers["api-key"] == headers["X-Custom"] == "***"
    assert headers["Idempotency-Key"] == "msg-42/batch-1" and headers["Content-Type"] == "application/json"


@pytest.mark.parametrize("name", ["Authorization", "Proxy-Authorization", "X-Api-Key", "api_key", "X-Auth-Token"])
def test_credential_header_names(name: str) -> None:
    assert is_credential_header(name)


@pytest.mark.parametrize("name", ["Idempotency-Key", "X-Request-Id", "Content-Type", "Accept", "X-Idempotency-Key"])
def test_non_credential_header_names(name: str) -> None:
    assert not is_credential_header(name)


def test_basic_auth_of_a_short_secret_needs_the_user() -> None:
    token = base64.b64encode(b"acme:abc12").decode()
    assert Redactor(["abc12"], users=["acme"])(f"Basic {token}") == "Basic ***"


def test_short_secrets_are_masked_only_as_whole_tokens() -> None:
    redact = Redactor(["abc12"])
    assert redact("pw=abc12&x=1") == "pw=***&x=1"
    assert redact("xabc12y abc123 zabc12") == "xabc12y abc123 zabc12"
    assert redact(base64.b64encode(b"abc12").decode()) == "***"
    assert redact("key=6162633132") == "key=***"


def test_long_secrets_are_masked_inside_words_and_tokens() -> None:
    redact = Redactor(["hunter22"])
    assert redact("xhunter22y") == "x***y"
    blob = base64.b64encode(b'{"user":"u","password":"hunter22"}').decode()
    assert redact(f"data={blob};") == "data=***;"


def test_unrelated_text_is_left_alone() -> None:
    redact = Redactor(["hunter22", "Pässwörd#1"])
    text = "GET /send?to=48500600700&text=Hello%20w%C3%B6rld dXNlcjpvdGhlcg== 0a1b2c"
    assert redact(text) == text and redact.bytes(text.encode()) == text.encode()
    assert Redactor([])("hunter22") == "hunter22" and Redactor([]).bytes(b"x") == b"x"


def test_config_keeps_the_old_names() -> None:
    assert config.Redactor is Redactor and config.RedactingFilter is RedactingFilter


def test_log_records_are_scrubbed_with_args_and_tracebacks() -> None:
    redact = Redactor([LATIN])
    quoted = quote_plus(LATIN.encode("latin-1"))
    try:
        raise RuntimeError(f"bad url /send?pw={quoted}")
    except RuntimeError:
        record = logging.LogRecord("urllib3.x", logging.WARNING, __file__, 1, "url=%s", (f"/?pw={quoted}",), None)
        record.exc_info = sys.exc_info()
    assert RedactingFilter().filter(record)
    text = logging.Formatter().format(record)
    assert "pw=***" in text and quoted not in text and LATIN not in text
    del redact
