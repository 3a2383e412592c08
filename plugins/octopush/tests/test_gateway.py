"""End to end over loopback HTTP: a real ``Gateway`` talking to the emulator, with faults."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from smsgate.emulator import Fault
from smsgate.errors import AuthenticationError, InsufficientCreditError, ValidationError
from smsgate.gateway import Gateway, connect
from smsgate.models import DeliveryStatus, Message, Status
from smsgate.plugins import Registry
from smsgate.testing import Connector
from smsgate_octopush.emulator import OctopushEmulator

PL1, PL2, FR, NOWHERE = "+48500600700", "+48500600701", "+33601010101", "+99912345678"
TEXT = "Zażółć gęślą jaźń € [ok]"
APIS = ["legacy", "v1"]


@pytest.mark.parametrize("api", APIS)
def test_send_two_recipients(online: Callable[..., Gateway], emulator: OctopushEmulator, api: str) -> None:
    result = online(api).send(Message([PL1, PL2], TEXT, sender="Shop"))
    assert result.ok and [o.recipient for o in result.outcomes] == [PL1, PL2]
    (ticket,) = {o.message_id for o in result.outcomes}
    assert [(m.api, m.ticket, m.recipient, m.text, m.sender) for m in emulator.messages] == [
        (api, ticket, PL1, TEXT, "Shop"),
        (api, ticket, PL2, TEXT, "Shop"),
    ]
    assert emulator.credit == Decimal(100) - Decimal("0.110") and result.cost == Decimal("0.11")


@pytest.mark.parametrize("api", APIS)
def test_balance_decreases(online: Callable[..., Gateway], api: str) -> None:
    gateway = online(api)
    before = gateway.balance().amount
    gateway.send(Message(PL1, "hello"))
    assert gateway.balance().amount < before


def test_legacy_partial_success(online: Callable[..., Gateway], emulator: OctopushEmulator) -> None:
    result = online().send(Message([PL1, NOWHERE], "hello"))
    ok, failed = result.outcomes
    assert ok.status is Status.ACCEPTED and ok.message_id
    assert (failed.recipient, failed.status, failed.code, failed.retryable) == (NOWHERE, Status.REJECTED, "150", False)
    assert "prefix" in (failed.reason or "")
    assert [m.recipient for m in emulator.messages] == [PL1]


def test_legacy_failures_as_strings_and_unserved_country(registry: Registry) -> None:
    with (
        OctopushEmulator(failures_as="strings", unserved={"PL"}) as emu,
        connect(emu.dsn(), registry=registry) as gateway,
    ):
        result = gateway.send(Message([FR, PL1], "Bonjour STOP au XXXXX"))
        assert [o.status for o in result.outcomes] == [Status.ACCEPTED, Status.REJECTED]
        assert result.outcomes[1].code is None  # a bare number carries no code


def test_legacy_numbers_as_strings(registry: Registry) -> None:
    """Every number a JSON string, as in the official PHP client's dump of a real reply."""
    with OctopushEmulator(numbers_as="strings") as emu, Connector(registry, emu.dsn()) as connector:
        result = connector().send(Message([PL1, PL2, NOWHERE], "hello"))
        assert [(o.status, o.code) for o in result.outcomes] == [
            (Status.ACCEPTED, None),
            (Status.ACCEPTED, None),
            (Status.REJECTED, "150"),
        ]
        assert result.cost == Decimal("0.11") and result.outcomes[0].parts == 1


@pytest.mark.parametrize("api", APIS)
def test_simulation_changes_nothing(online: Callable[..., Gateway], emulator: OctopushEmulator, api: str) -> None:
    result = online(api, "simulation=true").send(Message(PL1, "test", key="sim-1"))
    assert result.ok and result.outcomes[0].message_id
    assert emulator.messages == [] and emulator.credit == Decimal(100)
    assert online(api).send(Message(PL1, "test", key="sim-1")).ok  # the request_id was not used up


@pytest.mark.parametrize(("api", "code"), [("legacy", "120"), ("v1", "duplicate_request_id")])
def test_same_key_twice_is_sent_once(
    online: Callable[..., Gateway], emulator: OctopushEmulator, api: str, code: str
) -> None:
    gateway = online(api)
    assert gateway.send(Message(PL1, "once", key="order-7")).ok
    again = gateway.send(Message(PL1, "once", key="order-7"))
    assert [(o.status, o.code) for o in again.outcomes] == [(Status.UNKNOWN, code)]
    assert again.requests == 1 and len(emulator.messages) == 1


def test_v1_request_id_window_is_24_hours(online: Callable[..., Gateway], emulator: OctopushEmulator) -> None:
    gateway = online("v1")
    start = 1_900_000_000.0
    emulator.clock = lambda: start
    assert gateway.send(Message(PL1, "once", key="order-8")).ok
    emulator.clock = lambda: start + 24 * 3600 - 1
    assert gateway.send(Message(PL1, "once", key="order-8")).outcomes[0].status is Status.UNKNOWN
    emulator.clock = lambda: start + 24 * 3600 + 1
    assert gateway.send(Message(PL1, "once", key="order-8")).ok
    assert len(emulator.messages) == 2


@pytest.mark.parametrize("api", APIS)
def test_timeout_after_accept_is_resent_then_unknown(
    online: Callable[..., Gateway], emulator: OctopushEmulator, api: str
) -> None:
    emulator.inject(Fault.TIMEOUT_AFTER_ACCEPT, delay=1.0)
    result = online(api, "read_timeout=0.3").send(Message(PL1, "hello", key="slow-1"))
    assert result.outcomes[0].status is Status.UNKNOWN and result.requests == 2
    assert len(emulator.messages) == 1


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("fault", [Fault.THROTTLE, Fault.SERVER_ERROR, Fault.DROP])
def test_transient_faults_are_retried(
    online: Callable[..., Gateway], emulator: OctopushEmulator, api: str, fault: Fault
) -> None:
    emulator.inject(fault, retry_after=0.01)
    result = online(api).send(Message(PL1, "hello"))
    assert result.ok and result.requests == 2 and len(emulator.messages) == 1


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize(("times", "status"), [(1, 502), (10, 502), (10, 500), (10, 504)])
def test_processed_then_5xx_is_taken_once_never_rejected(
    online: Callable[..., Gateway], emulator: OctopushEmulator, api: str, times: int, status: int
) -> None:
    """Octopush took the send and a proxy answered 5xx: ambiguous, resent under the same
    request_id, which Octopush refuses as already sent: unknown, never rejected, sent once."""
    emulator.inject(Fault.PROCESSED_THEN_ERROR, times=times, status=status)
    result = online(api).send(Message(PL1, "taken, then a proxy error", key="p-1"))
    assert [(o.status, o.retryable) for o in result.outcomes] == [(Status.UNKNOWN, False)]
    assert len(emulator.messages) == 1 and result.requests >= 2


@pytest.mark.parametrize(
    ("case", "code", "kind"),
    [("wrong key", "401", AuthenticationError), ("no credit", "402", InsufficientCreditError)],
)
def test_v1_error_in_http_200_is_that_error_at_once(
    registry: Registry, case: str, code: str, kind: type[Exception]
) -> None:
    """An HTTP 200 whose body carries an error code is that error, rejected with its code: not
    four resends of an "unreadable" reply ending unknown without a code."""
    with OctopushEmulator(v1_errors_in_200=True) as emu, Connector(registry, emu.dsn("v1")) as connector:
        if case == "wrong key":
            emu.password += "-rotated"  # the gateway now expects another key than the DSN's
        else:
            emu.credit = Decimal(0)
        result = connector().send(Message(PL1, "hello"))
        assert [(o.status, o.code) for o in result.outcomes] == [(Status.REJECTED, code)]
        assert isinstance(result.error, kind) and result.requests == 1
        assert emu.messages == []


def test_v1_duplicate_in_http_200_is_unknown_at_once(registry: Registry) -> None:
    with OctopushEmulator(v1_errors_in_200=True) as emu, Connector(registry, emu.dsn("v1")) as connector:
        assert connector().send(Message(PL1, "once", key="k-200")).ok
        again = connector().send(Message(PL1, "once", key="k-200"))
        assert [(o.status, o.code) for o in again.outcomes] == [(Status.UNKNOWN, "duplicate_request_id")]
        assert again.requests == 1 and len(emu.messages) == 1


def test_a_key_reused_for_other_content_is_sent(online: Callable[..., Gateway], emulator: OctopushEmulator) -> None:
    """request_id is the key bound to the content: another message under a used key (another
    process, which cannot know) is sent rather than refused as a duplicate of the first."""
    for api in APIS:
        assert online(api).send(Message(PL1, f"first {api}", key=f"reused-{api}")).ok
        again = online(api).send(Message(PL2, f"other {api}", key=f"reused-{api}"))
        assert again.ok, again
    assert [m.recipient for m in emulator.messages] == [PL1, PL2, PL1, PL2]


def test_truncated_reply_is_never_accepted_twice(online: Callable[..., Gateway], emulator: OctopushEmulator) -> None:
    emulator.inject(Fault.TRUNCATED)
    result = online().send(Message(PL1, "hello", key="cut-1"))
    assert result.outcomes[0].status is Status.UNKNOWN and len(emulator.messages) == 1


@pytest.mark.parametrize(("api", "code"), [("legacy", "101"), ("v1", "401")])
def test_wrong_key(registry: Registry, emulator: OctopushEmulator, api: str, code: str) -> None:
    dsn = emulator.dsn(api).replace(emulator.password, "wrong-key")
    with connect(dsn, registry=registry) as gateway:
        result = gateway.send(Message(PL1, "hello"))
        assert isinstance(result.error, AuthenticationError) and result.error.code == code
        assert result.outcomes[0].status is Status.REJECTED and result.requests == 1
        with pytest.raises(AuthenticationError):
            gateway.balance()


@pytest.mark.parametrize(("api", "code"), [("legacy", "104"), ("v1", "402")])
def test_no_credit(online: Callable[..., Gateway], emulator: OctopushEmulator, api: str, code: str) -> None:
    emulator.credit = Decimal("0.01")
    result = online(api).send(Message(PL1, "hello"))
    assert isinstance(result.error, InsufficientCreditError) and result.error.code == code
    assert result.outcomes[0].status is Status.REJECTED and emulator.messages == []


def test_v1_invalid_number_is_a_validation_error(online: Callable[..., Gateway], emulator: OctopushEmulator) -> None:
    result = online("v1").send(Message([PL1, NOWHERE], "hello"))
    assert [o.status for o in result.outcomes] == [Status.REJECTED, Status.REJECTED]
    assert result.error is not None and result.error.code == "400" and emulator.messages == []


def test_v1_blacklisted_numbers_removed(registry: Registry) -> None:
    with OctopushEmulator(blacklist={PL2}) as emu:
        with connect(emu.dsn("v1") + "&auto_remove_blacklisted_numbers=true", registry=registry) as gateway:
            result = gateway.send(Message([PL1, PL2], "hello"))
        assert [o.status for o in result.outcomes] == [Status.UNKNOWN, Status.UNKNOWN]
        assert [m.recipient for m in emu.messages] == [PL1]


@pytest.mark.parametrize("api", APIS)
def test_scheduled(online: Callable[..., Gateway], emulator: OctopushEmulator, api: str) -> None:
    when = (datetime.now(timezone.utc) + timedelta(days=3)).replace(microsecond=0)
    result = online(api).send(Message(PL1, "later", send_at=when))
    assert result.outcomes[0].status is Status.SCHEDULED
    assert emulator.messages[0].send_at == when.timestamp()


def test_batches_get_their_own_request_id(online: Callable[..., Gateway], emulator: OctopushEmulator) -> None:
    numbers = [f"+4850060070{n}" for n in range(5)]
    result = online("legacy", "batch_size=2").send(Message(numbers, "hello", key="bulk-1"))
    assert result.ok and result.requests == 3
    assert len({m.request_id for m in emulator.messages}) == 3


def test_mail_merge_and_signature_reach_the_gateway(online: Callable[..., Gateway], emulator: OctopushEmulator) -> None:
    gateway = online("legacy", "request_keys=TRYSabQ")
    result = gateway.send(
        Message([FR, PL1], "Bonjour {prenom} STOP au XXXXX", sender="Shop", options={"first_names": ["Ann", "Bob"]})
    )
    assert result.ok, result
    assert dict(emulator.messages[0].fields)["recipients_first_names"] == "Ann,Bob"


@pytest.mark.parametrize("api", APIS)
def test_delivery_report_callback(online: Callable[..., Gateway], emulator: OctopushEmulator, api: str) -> None:
    gateway = online(api)
    result = gateway.send(Message(PL1, "hello"))
    (report,) = gateway.parse_delivery_report(emulator.callback(emulator.messages[0], "DELIVERED"))
    assert (report.message_id, report.recipient, report.status) == (
        result.outcomes[0].message_id,
        PL1,
        DeliveryStatus.DELIVERED,
    )
    assert report.at is not None and abs(report.at.timestamp() - emulator.clock()) < 2


def test_secret_never_shows(online: Callable[..., Gateway], emulator: OctopushEmulator) -> None:
    gateway = online()
    texts = [repr(gateway), repr(gateway.settings), repr(gateway.send(Message(PL1, "x")))]
    texts += [repr(r) for r in gateway.preview(Message(PL1, "x"))]
    assert all(emulator.password not in t for t in texts)


@pytest.mark.parametrize("api", APIS)
def test_no_status_pull(online: Callable[..., Gateway], emulator: OctopushEmulator, api: str) -> None:
    with pytest.raises(ValidationError, match="no status operation"):
        online(api).status("api110000000001")
    assert emulator.requests == []


def test_signed_scheduled_send_reaches_the_gateway(online: Callable[..., Gateway], emulator: OctopushEmulator) -> None:
    """``request_keys`` with the official Python client's ``M`` (sms_mode) over a deferred send."""
    when = (datetime.now(timezone.utc) + timedelta(days=1)).replace(microsecond=0)
    result = online("legacy", "request_keys=TRMYSDQ").send(Message(FR, "Promo STOP au XXXXX", send_at=when))
    assert [o.status for o in result.outcomes] == [Status.SCHEDULED], result
    assert emulator.messages[0].send_at == when.timestamp()
