"""Every error code of the Acme gateway, with its meaning, verdict and error class."""

from __future__ import annotations

from smsgate import hookimpl
from smsgate.codes import Code, CodeTable
from smsgate.errors import AuthenticationError, InsufficientCreditError, RateLimitedError
from smsgate.models import Classification, Failure, Verdict
from smsgate_acme.settings import AcmeSettings

TABLE = CodeTable(
    Code("unauthorized", "the token is missing or wrong", Verdict.FATAL, error=AuthenticationError),
    Code("invalid_request", "the request is malformed", Verdict.FATAL),
    Code("insufficient_funds", "the account has no credit left", Verdict.FATAL, error=InsufficientCreditError),
    Code("rate_limited", "too many requests; wait Retry-After seconds", Verdict.THROTTLED, error=RateLimitedError),
    Code("internal", "the gateway failed; it may have taken the message", Verdict.AMBIGUOUS),
    # per-recipient codes (in a 200 reply)
    Code("unknown_subscriber", "no such subscriber", Verdict.FATAL),
    Code("blocked", "the recipient opted out", Verdict.FATAL),
)


def classify(failure: Failure, settings: AcmeSettings) -> Classification | None:
    """The ``classify_error`` hook. ``CodeTable.classify`` passes the error's retry_after on;
    ``None`` (a code the table does not know) lets the core's rules answer."""
    return TABLE.classify(failure)


#: The ``classify_error`` hook: this module's :func:`classify`.
classify_error = hookimpl(classify)
