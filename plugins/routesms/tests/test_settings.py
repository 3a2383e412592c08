"""Settings from the DSN and Message.options: typed, validated, secrets hidden."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import SHOP

import smsgate
import smsgate_routesms
from smsgate import Message, Secret
from smsgate.config import build_settings
from smsgate.errors import ConfigurationError, ValidationError
from smsgate.gateway import Gateway
from smsgate.plugins import Registry
from smsgate_routesms.settings import RoutesmsSettings, source_problem

Offline = Callable[..., Gateway]


def test_defaults() -> None:
    settings = build_settings(RoutesmsSettings, {"username": "u", "password": "p"})
    assert (settings.sender, settings.dlr, settings.charset, settings.hex_case, settings.timezone) == (
        "",
        True,
        "gsm",
        "upper",
        "UTC",
    )
    assert (settings.entityid, settings.tempid, settings.tmid) == ("", "", "")
    assert isinstance(settings.password, Secret) and "'p'" not in repr(settings)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ("dlr=maybe", "option dlr"),
        ("charset=utf8", "option charset"),
        ("hex_case=mixed", "option hex_case"),
        ("timezone=Mars/Olympus", "IANA"),
        ("sender=ABCDEFGHIJKLM", "at most 11"),
        ("entityid=12 34", "entityid"),
        ("colour=red", "unknown option"),
        ("test=1", "unknown option"),
    ],
)
def test_bad_options_name_themselves(offline: Offline, options: str, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        offline(options)


def test_credentials_are_required() -> None:
    with pytest.raises(ConfigurationError, match=r"^username: "):  # connect() adds "[routesms] "
        build_settings(RoutesmsSettings, {"username": "", "password": "p"})
    with pytest.raises(ConfigurationError, match="password: "):
        build_settings(RoutesmsSettings, {"username": "u", "password": ""})
    with pytest.raises(ConfigurationError, match="username and password: "):
        build_settings(RoutesmsSettings, {"username": " ", "password": ""})


@pytest.mark.parametrize(
    ("dsn", "missing"),
    [
        ("routesms://:@sms.example.net:8080", "username and password"),
        ("routesms://:p@sms.example.net:8080", "username"),
        ("routesms://u:@sms.example.net:8080", "password"),
    ],
)
def test_empty_credentials_fail_at_connect_naming_them(registry: Registry, dsn: str, missing: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        smsgate.connect(dsn, registry=registry)
    assert str(caught.value).startswith(f"[routesms] {missing}: ")


def test_per_message_options_are_validated(offline: Offline) -> None:
    with pytest.raises(ValidationError, match=r"options\.charset"):
        offline(SHOP).preview(Message("+48500600700", "x", options={"charset": "koi8"}))


def test_secret_never_shown(offline: Offline) -> None:
    gateway = offline(SHOP)
    for text in (repr(gateway), repr(gateway.settings), str(gateway.settings)):
        assert "pa+ss word" not in text and "pa%2Bss" not in text


def test_spec() -> None:
    spec = smsgate_routesms.provider_spec()
    caps = spec.capabilities
    assert (spec.name, spec.default_host, spec.tls, spec.credentials) == (
        "routesms",
        "",
        True,
        ("username", "password"),
    )
    assert (caps.max_recipients, caps.max_parts, caps.scheduling, caps.dedup, caps.test_mode) == (
        100,
        6,
        True,
        None,
        None,
    )
    assert caps.flash and caps.unicode and caps.delivery_reports
    assert caps.operations == frozenset({"send", "balance"})


@pytest.mark.parametrize(
    ("source", "ok"),
    [
        ("Shop", True),
        ("+123456789012345678", True),
        ("123456789012345678", True),
        ("1234567890123456789", False),
        ("ABCDEFGHIJK", True),
        ("ABCDEFGHIJKL", False),
        ("", False),
        ("Sklep\n", False),
        ("Sk\x00lep", False),
        ("   ", False),
        ("!invalid", False),
        ("Shop!", False),
        ("+Shop", False),  # a "+" belongs to a number only
        ("My Shop", True),
        ("Shop.pl", True),
        ("A-1", True),
        ("A  B", False),
    ],
)
def test_source_limits(source: str, ok: bool) -> None:
    assert (source_problem(source) is None) is ok
