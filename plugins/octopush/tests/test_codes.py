"""The code tables, walked in full against the reference (section 5.1, "Error codes")."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from smsgate.errors import AuthenticationError, GatewayError, InsufficientCreditError, RateLimitedError, TransportError
from smsgate.gateway import Gateway
from smsgate.models import Failure, Message, Send, Verdict
from smsgate_octopush import codes

#: Every legacy code the reference lists, with its class there.
REFERENCE_RETRY = {"126", "127", "129", "153", "500", "501"}
REFERENCE_UNKNOWN = {"120", "125", "132", "133"}  # "do not resend": ambiguous, settled at once
REFERENCE_CODES = (
    {str(c) for c in range(100, 134)}
    | {str(c) for c in range(150, 154)}
    | {str(c) for c in range(201, 211)}
    | {str(c) for c in range(300, 309)}
    | {"500", "501"}
)
AUTH = {"101", "108", "109", "113", "114"}
CREDIT = {"104", "105"}


def test_legacy_table_holds_exactly_the_reference_codes() -> None:
    assert set(codes.LEGACY_CODES) == REFERENCE_CODES
    assert codes.SUCCESS not in codes.LEGACY_CODES


@pytest.mark.parametrize("code", sorted(REFERENCE_CODES))
def test_every_legacy_code_has_the_reference_class(code: str) -> None:
    entry = codes.LEGACY_CODES[code]
    assert entry.meaning
    if code in REFERENCE_RETRY:
        assert (entry.verdict, entry.final) == (Verdict.RETRY, False)
    elif code in REFERENCE_UNKNOWN:
        assert (entry.verdict, entry.final) == (Verdict.AMBIGUOUS, True)
    else:
        assert (entry.verdict, entry.final) == (Verdict.FATAL, False)
    expected = AuthenticationError if code in AUTH else InsufficientCreditError if code in CREDIT else GatewayError
    assert entry.error is expected


def _failure(gateway: Gateway, error: Exception, *, after_ambiguous: bool = False) -> Failure:
    plan, _ = gateway.prepare(Message("+48500600700", "hello"))
    return Failure(error, Send(plan.batches[0]), after_ambiguous=after_ambiguous)  # type: ignore[arg-type]


@pytest.mark.parametrize("after_ambiguous", [False, True])
def test_120_settles_unknown_and_is_never_resent(offline: Callable[..., Gateway], after_ambiguous: bool) -> None:
    gateway = offline()
    failure = _failure(gateway, GatewayError("dup", code="120"), after_ambiguous=after_ambiguous)
    verdict = gateway.hooks.classify_error(failure, gateway.settings)
    assert verdict.verdict is Verdict.AMBIGUOUS and verdict.final
    assert "request_id" in verdict.reason


def test_classification_follows_the_api(offline: Callable[..., Gateway]) -> None:
    legacy, v1 = offline(), offline("api=v1")
    dup = GatewayError("dup", code="120")
    assert legacy.hooks.classify_error(_failure(legacy, dup), legacy.settings).verdict is Verdict.AMBIGUOUS
    # 120 means nothing to the JSON API: the core's rule (a gateway error is fatal) answers.
    assert v1.hooks.classify_error(_failure(v1, dup), v1.settings).verdict is Verdict.FATAL
    assert not v1.hooks.classify_error(_failure(v1, dup), v1.settings).final


@pytest.mark.parametrize(("code", "verdict", "final"), [(c, e.verdict, e.final) for c, e in codes.V1_CODES.items()])
def test_v1_table(offline: Callable[..., Gateway], code: str, verdict: Verdict, final: bool) -> None:
    gateway = offline("api=v1")
    got = gateway.hooks.classify_error(_failure(gateway, GatewayError("x", code=code)), gateway.settings)
    assert (got.verdict, got.final) == (verdict, final)


def test_v1_statuses_match_their_meaning() -> None:
    assert {c for c, e in codes.V1_CODES.items() if e.error is AuthenticationError} == {"401", "403"}
    assert {c for c, e in codes.V1_CODES.items() if e.error is InsufficientCreditError} == {"402"}
    assert {c for c, e in codes.V1_CODES.items() if e.error is RateLimitedError} == {"429"}
    assert codes.V1_CODES[codes.DUPLICATE_REQUEST_ID].final


@pytest.mark.parametrize("status", ["500", "502", "503", "504"])
def test_v1_5xx_statuses_are_ambiguous(status: str) -> None:
    """A proxy may answer any 5xx after the API took the request (the core's rule)."""
    assert (codes.V1_CODES[status].verdict, codes.V1_CODES[status].final) == (Verdict.AMBIGUOUS, False)


@pytest.mark.parametrize("api", ["legacy", "v1"])
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_no_5xx_is_retry_throttled_or_fatal(offline: Callable[..., Gateway], api: str, status: int) -> None:
    gateway = offline(f"api={api}")
    for code in [*codes.TABLES[api], None]:
        failure = _failure(gateway, GatewayError("x", code=code, http_status=status))
        got = gateway.hooks.classify_error(failure, gateway.settings)
        assert got.verdict is Verdict.AMBIGUOUS, (code, got)


def test_unknown_codes_and_transport_errors_are_left_to_the_core(offline: Callable[..., Gateway]) -> None:
    gateway = offline()
    failure = _failure(gateway, GatewayError("?", code="999"))
    assert codes.classify(failure, gateway.settings) is None
    written = _failure(gateway, TransportError("reset", kind="reset", written=True))
    assert codes.classify(written, gateway.settings) is None
    assert gateway.hooks.classify_error(written, gateway.settings).verdict is Verdict.AMBIGUOUS


def test_throttled_code_keeps_the_gateways_delay(offline: Callable[..., Gateway]) -> None:
    gateway = offline("api=v1")
    failure = _failure(gateway, RateLimitedError("slow down", code="429", http_status=429, retry_after=7.0))
    got = gateway.hooks.classify_error(failure, gateway.settings)
    assert got.verdict is Verdict.THROTTLED and got.retry_after == 7.0
