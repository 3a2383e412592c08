"""Every reply code of the RouteSMS ``bulksms/bulksms`` API, its meaning and its resend verdict.

One table serves ``classify_error``, the reply parser (per-destination rejections) and the tests.
The gateway's own rule (seed 002) is strict: "Apart from error code 1709, please do NOT retry
re-sending the message for any other error code (including SMPP v3.4 error codes)" and "for error
code 1715, do NOT re-submit the same message again". So 1709 is ``retry``, 1715 is ``ambiguous``
and final (never resent: the outcome is unknown), and everything else, including numeric codes
the table does not know (SMPP v3.4 codes), is ``fatal``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from smsgate import hookimpl
from smsgate.codes import Code, CodeTable
from smsgate.errors import AuthenticationError, InsufficientCreditError
from smsgate.models import Classification, Failure, Verdict

if TYPE_CHECKING:
    from smsgate_routesms.settings import RoutesmsSettings

FATAL = Verdict.FATAL
SUCCESS = "1701"
RETRYABLE = "1709"
TIMEOUT = "1715"

#: Textual replies that replace a numeric reply, keyed by their lower-cased start, mapped to the
#: label this plugin reports as their code.
TEXT_REPLIES: Mapping[str, str] = {
    "destination/(s) is not white listed": "NOT_WHITE_LISTED",
    "permission denied": "PERMISSION_DENIED",
}


def _undocumented(code: str) -> Code:
    """An undocumented numeric code is an SMPP v3.4 error: fatal (the gateway's rule); any other
    unknown code has no verdict of ours (the core's rules answer)."""
    if code.isascii() and code.isdigit():
        return Code(code, f"SMPP v3.4 or undocumented error {code} (not retried, per the gateway's rule)", FATAL)
    return Code(code, f"unknown code {code}", None)


#: Every code: meaning, verdict (``None``: success) and the error a whole-request reply raises.
#: Credentials and the caller's address refused: 1703 (username or password), 16 (IP
#: blacklisted), 18 (IP not whitelisted) and ``PERMISSION DENIED``; 1709 "User validation
#: failed" is not among them: the seed makes it the one code to resend. No credit: 1025 (older
#: deployments) and 1725 (seed 002).
TABLE = CodeTable(
    Code(SUCCESS, "Success, message submitted", None),
    Code("1702", "Invalid URL: a parameter was not provided or left blank", FATAL),
    Code("1703", "Invalid value in username or password field", FATAL, error=AuthenticationError),
    Code("1704", "Invalid value in type field", FATAL),
    Code("1705", "Invalid message", FATAL),
    Code("1706", "Invalid destination", FATAL),
    Code("1707", "Invalid source (sender)", FATAL),
    Code("1708", "Invalid value for dlr parameter", FATAL),
    Code(RETRYABLE, "User validation failed", Verdict.RETRY),
    Code("1710", "Internal error", FATAL),
    Code("1725", "Insufficient credit", FATAL, error=InsufficientCreditError),
    Code("1025", "Insufficient credit", FATAL, error=InsufficientCreditError),
    Code(TIMEOUT, "Response timeout: the message may have been sent; do not re-submit", Verdict.AMBIGUOUS, final=True),
    Code("1732", "DND reject", FATAL),
    Code("1032", "DND reject", FATAL),
    Code("1028", "Spam message", FATAL),
    Code("1041", "Duplicate message (already submitted; do not re-submit)", FATAL),
    Code("1042", "Explicit DND destination", FATAL),
    Code("1033", "Message template mismatch (DLT)", FATAL),
    Code("69", "Internal error", FATAL),
    Code("8", "Internal error", FATAL),
    Code("16", "IP blacklisted", FATAL, error=AuthenticationError),
    Code("18", "Non whitelisted user IP", FATAL, error=AuthenticationError),
    Code("NOT_WHITE_LISTED", "Destination(s) not white listed for this account", FATAL),
    Code("PERMISSION_DENIED", "Permission denied (credentials or IP)", FATAL, error=AuthenticationError),
    fallback=_undocumented,
)
#: The table by code (what the tests walk).
CODES: Mapping[str, Code] = TABLE
#: The table as the provider contract wants it: every code with a verdict.
VERDICTS: Mapping[str, Verdict] = TABLE.verdicts
#: Codes that mean "no credit left".
CREDIT_CODES = TABLE.codes_with(InsufficientCreditError)
#: A human-readable meaning for any code (never raises).
meaning = TABLE.meaning


def classify(failure: Failure, settings: RoutesmsSettings | None = None) -> Classification | None:
    """The ``classify_error`` hook: the gateway's codes only. 5xx replies, transport failures and
    unreadable replies are left to the core (ambiguous once written: the gateway has no
    de-duplication and no lookup, so the outcome settles ``unknown``). 1709, the one code the
    seed allows to resend, is ``retry`` only under a non-5xx status: a 5xx may come from a front
    end after the gateway took the request."""
    entry = TABLE.find(failure.code)
    if entry is None or entry.verdict is None:
        return None
    status = failure.http_status
    if entry.verdict is Verdict.RETRY and status is not None and status >= 500:
        return None
    # 1715 ("do NOT re-submit the same message again") is final: never resent
    return Classification(entry.verdict, reason=f"routesms {entry.code}: {entry.meaning}", final=entry.final)


#: The ``classify_error`` hook: this module's :func:`classify`.
classify_error = hookimpl(classify)
