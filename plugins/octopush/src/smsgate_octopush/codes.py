"""Every Octopush code, what it means and what it means for a resend: the one table that
``classify_error``, the reply parsers (request errors and per-recipient failures) and the
tests all read.

The legacy API documents its codes (``error_code`` in an HTTP 200 reply, "000" for success).
The JSON API documents none: its errors are non-2xx replies whose body schema is unverified, so
its table holds the HTTP statuses (the code used when the body carries none; a code in the body,
under any status, wins) and one name of ours, ``duplicate_request_id``, for the "request_id
already used in the last 24 h" validation error. Every credential code raises
``AuthenticationError``, every credit code ``InsufficientCreditError``, 429
``RateLimitedError``.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from smsgate.errors import AuthenticationError, GatewayError, InsufficientCreditError, RateLimitedError
from smsgate.models import Classification, Failure, Verdict

#: ``error_code`` of a successful legacy request.
SUCCESS = "000"
#: Our code for a JSON-API validation error about a re-used ``request_id``.
DUPLICATE_REQUEST_ID = "duplicate_request_id"

R, T, F, A = Verdict.RETRY, Verdict.THROTTLED, Verdict.FATAL, Verdict.AMBIGUOUS


@attrs.frozen
class Code:
    """One code: its meaning, its verdict, and whether an ambiguous verdict settles at once
    (``final``: the gateway already has the request, never resend)."""

    meaning: str
    verdict: Verdict
    final: bool = False
    error: type[GatewayError] = GatewayError


def _c(meaning: str, verdict: Verdict, *, final: bool = False, error: type[GatewayError] = GatewayError) -> Code:
    return Code(meaning, verdict, final, error)


#: The legacy API's ``error_code`` values (reference 5.1, "Error codes").
LEGACY_CODES: Mapping[str, Code] = {
    "100": _c("POST request missing", F),
    "101": _c("incorrect login details", F, error=AuthenticationError),
    "102": _c("the SMS exceeds the allowed length", F),
    "103": _c("the message has no recipients", F),
    "104": _c("the account has run out of credit", F, error=InsufficientCreditError),
    "105": _c("not enough credit; the last order is awaiting validation", F, error=InsufficientCreditError),
    "106": _c("sender incorrect: 3 to 11 characters from 0-9, a-z, A-Z", F),
    "107": _c("the text of the message is missing", F),
    "108": _c("login details not entered", F, error=AuthenticationError),
    "109": _c("password (api_key) not entered", F, error=AuthenticationError),
    "110": _c("the recipient list is missing", F),
    "111": _c("no recipient input method chosen", F),
    "112": _c("the message quality (sms_type) is not defined", F),
    "113": _c("the account is not validated", F, error=AuthenticationError),
    "114": _c("the account is under investigation for fraud", F, error=AuthenticationError),
    "115": _c("the recipient count differs from the count of a related parameter list", F),
    "116": _c("the mailing option only works with a contact list", F),
    "117": _c("the recipient list contains no correct numbers", F),
    "118": _c("the test-SMS confirmation box is not ticked", F),
    "119": _c("more than 160 characters are not allowed for this type of SMS", F),
    "120": _c("an SMS with the same request_id has already been sent", A, final=True),
    "121": _c('premium SMS: the mention "STOP au XXXXX" is missing (respect the case)', F),
    "122": _c('standard SMS: the mention "no PUB=STOP" is missing (respect the case)', F),
    "123": _c("the field request_sha1 is missing", F),
    "124": _c("the field request_sha1 does not match the data", F),
    "125": _c("an undefined error occurred; contact support", A, final=True),
    "126": _c("an SMS campaign is already awaiting approval", R),
    "127": _c("an SMS campaign is already being processed", R),
    "128": _c("too many attempts; start a new campaign", F),
    "129": _c("the campaign is being built", R),
    "130": _c("the campaign has not been set as finished", F),
    "131": _c("campaign not found", F),
    "132": _c("campaign already sent", A, final=True),
    "133": _c("the user_batch_id has already been used", A, final=True),
    "150": _c("no country was found for this prefix", F),
    "151": _c("the recipient country is not served by Octopush", F),
    "152": _c("low-cost SMS cannot be sent to this country; choose premium", F),
    "153": _c("the route is congested; this type of SMS cannot be dispatched immediately", R),
    "201": _c("this option is only available on request", F),
    "202": _c("the e-mail account to credit is incorrect", F),
    "203": _c("tokens are already in use; only one session at a time", F),
    "204": _c("wrong token", F),
    "205": _c("the number of SMS to transfer is too low", F),
    "206": _c("no campaigns may run during a credit transfer", F),
    "207": _c("no access to this feature", F),
    "208": _c("wrong type of SMS", F),
    "209": _c("not allowed to send SMS to this user", F),
    "210": _c("this e-mail is not one of the sub-accounts or affiliated users", F),
    "300": _c("not authorised to manage lists by API", F),
    "301": _c("the maximum number of lists is reached", F),
    "302": _c("a list with the same name already exists", F),
    "303": _c("the list does not exist", F),
    "304": _c("the list is already full", F),
    "305": _c("too many contacts in the query", F),
    "306": _c("the requested action is unknown", F),
    "307": _c("list management error (no wording published)", F),
    "308": _c("file error", F),
    "500": _c("impossible to process the requested action", R),
    "501": _c("connection error; contact support", R),
}

#: The JSON API: HTTP statuses (used as the code when the error body has none) and our name
#: for its duplicate-``request_id`` validation error.
V1_CODES: Mapping[str, Code] = {
    DUPLICATE_REQUEST_ID: _c("a request with this request_id was already accepted in the last 24 hours", A, final=True),
    "400": _c("the request is invalid (validation error)", F),
    "401": _c("authentication failed (api-login / api-key)", F, error=AuthenticationError),
    "402": _c("not enough credit", F, error=InsufficientCreditError),
    "403": _c("access forbidden for this account", F, error=AuthenticationError),
    "404": _c("no such resource", F),
    "422": _c("the request is invalid (validation error)", F),
    "429": _c("too many requests", T, error=RateLimitedError),
    "500": _c("server error after the request arrived: the campaign may exist", A),
    "502": _c("bad gateway: a proxy may answer it after the API took the request", A),
    "503": _c("service unavailable: a proxy may answer it after the API took the request", A),
    "504": _c("gateway timeout: the campaign may exist", A),
}


def table(api: str) -> Mapping[str, Code]:
    """The code table of ``api`` (``legacy`` or ``v1``)."""
    return V1_CODES if api == "v1" else LEGACY_CODES


def meaning(api: str, code: str) -> str:
    entry = table(api).get(code)
    return entry.meaning if entry is not None else f"error {code}"


def error_class(api: str, code: str) -> type[GatewayError]:
    entry = table(api).get(code)
    return entry.error if entry is not None else GatewayError


def classify(api: str, failure: Failure) -> Classification | None:
    """The verdict for ``failure``'s code, or ``None`` for a code the table does not know.

    Under an HTTP 5xx only an ambiguous verdict is given here: a proxy may answer 5xx after the
    gateway took the request, so retry, throttled or fatal is never ours to say (the core's
    rule, ambiguous, answers instead)."""
    code = failure.code
    entry = table(api).get(code) if code is not None else None
    if entry is None:
        return None
    status = failure.http_status
    if status is not None and status >= 500 and entry.verdict is not A:
        return None
    reason = f"octopush {code}: {entry.meaning}"
    if entry.final:
        return Classification(entry.verdict, reason=reason, final=True)
    return Classification(entry.verdict, getattr(failure.error, "retry_after", None), reason)
