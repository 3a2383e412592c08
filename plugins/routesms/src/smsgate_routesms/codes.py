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
from typing import NamedTuple

from smsgate.models import Verdict


class Code(NamedTuple):
    """One gateway code: what it means and what it means for a resend (``None``: success)."""

    meaning: str
    verdict: Verdict | None


SUCCESS = "1701"
RETRYABLE = "1709"
TIMEOUT = "1715"

#: Textual replies that replace a numeric reply, keyed by their lower-cased start, mapped to the
#: label this plugin reports as their code.
TEXT_REPLIES: Mapping[str, str] = {
    "destination/(s) is not white listed": "NOT_WHITE_LISTED",
    "permission denied": "PERMISSION_DENIED",
}

CODES: Mapping[str, Code] = {
    SUCCESS: Code("Success, message submitted", None),
    "1702": Code("Invalid URL: a parameter was not provided or left blank", Verdict.FATAL),
    "1703": Code("Invalid value in username or password field", Verdict.FATAL),
    "1704": Code("Invalid value in type field", Verdict.FATAL),
    "1705": Code("Invalid message", Verdict.FATAL),
    "1706": Code("Invalid destination", Verdict.FATAL),
    "1707": Code("Invalid source (sender)", Verdict.FATAL),
    "1708": Code("Invalid value for dlr parameter", Verdict.FATAL),
    RETRYABLE: Code("User validation failed", Verdict.RETRY),
    "1710": Code("Internal error", Verdict.FATAL),
    "1725": Code("Insufficient credit", Verdict.FATAL),
    "1025": Code("Insufficient credit", Verdict.FATAL),
    TIMEOUT: Code("Response timeout: the message may have been sent; do not re-submit", Verdict.AMBIGUOUS),
    "1732": Code("DND reject", Verdict.FATAL),
    "1032": Code("DND reject", Verdict.FATAL),
    "1028": Code("Spam message", Verdict.FATAL),
    "1041": Code("Duplicate message (already submitted; do not re-submit)", Verdict.FATAL),
    "1042": Code("Explicit DND destination", Verdict.FATAL),
    "1033": Code("Message template mismatch (DLT)", Verdict.FATAL),
    "69": Code("Internal error", Verdict.FATAL),
    "8": Code("Internal error", Verdict.FATAL),
    "16": Code("IP blacklisted", Verdict.FATAL),
    "18": Code("Non whitelisted user IP", Verdict.FATAL),
    "NOT_WHITE_LISTED": Code("Destination(s) not white listed for this account", Verdict.FATAL),
    "PERMISSION_DENIED": Code("Permission denied (credentials or IP)", Verdict.FATAL),
}

#: Codes that mean "no credit left" (older deployments say 1025, seed 002 says 1725).
CREDIT_CODES = frozenset({"1025", "1725"})
#: Codes that mean the credentials or the caller's address were refused: 1703 (username or
#: password), 16 (IP blacklisted), 18 (IP not whitelisted) and ``PERMISSION DENIED``. 1709 "User
#: validation failed" is not among them: the seed makes it the one code to resend.
AUTH_CODES = frozenset({"1703", "16", "18", "PERMISSION_DENIED"})

#: The table as the provider contract wants it: every code with a verdict.
VERDICTS: Mapping[str, Verdict] = {code: c.verdict for code, c in CODES.items() if c.verdict is not None}


def lookup(code: str) -> Code | None:
    """The entry for ``code``; an undocumented numeric code (an SMPP v3.4 error) is fatal."""
    entry = CODES.get(code)
    if entry is None and code.isascii() and code.isdigit():
        return Code(f"SMPP v3.4 or undocumented error {code} (not retried, per the gateway's rule)", Verdict.FATAL)
    return entry


def meaning(code: str) -> str:
    """A human-readable meaning for ``code`` (never raises)."""
    entry = lookup(code)
    return entry.meaning if entry is not None else f"unknown code {code}"
