"""The core's own hookimpls: the rules that hold for every gateway, answering last.

A provider answers first for its own codes; whatever it returns ``None`` for lands here.
"""

from __future__ import annotations

from typing import Any

from smsgate.errors import MalformedResponseError, RateLimitedError, TransportError
from smsgate.hookspecs import hookimpl
from smsgate.models import Classification, Failure, Verdict


@hookimpl(trylast=True)
def classify_error(failure: Failure, settings: Any) -> Classification:
    """Transport failures, HTTP statuses and unreadable replies, for every gateway."""
    error = failure.error
    if isinstance(error, TransportError):
        if error.kind == "invalid_request":  # refused by the transport: a resend is the same request
            return Classification(Verdict.FATAL, reason="malformed request, not sent")
        if error.written:
            return Classification(Verdict.AMBIGUOUS, reason=f"{error.kind} after the request was sent")
        return Classification(Verdict.RETRY, reason=f"{error.kind} before the request was sent")
    retry_after = getattr(error, "retry_after", None)
    status = failure.http_status
    if isinstance(error, RateLimitedError) or status == 429:
        return Classification(Verdict.THROTTLED, retry_after, "rate limited")
    if isinstance(error, MalformedResponseError):
        return Classification(Verdict.AMBIGUOUS, reason="unreadable reply: the gateway may have it")
    if status is not None and status >= 500:
        # Even a 502/503 may come from a proxy after the gateway took the request: only a
        # provider that knows its front end better may say otherwise.
        return Classification(Verdict.AMBIGUOUS, retry_after, f"HTTP {status}: the gateway may have it")
    return Classification(Verdict.FATAL, reason="gateway error")
