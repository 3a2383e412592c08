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
from typing import TYPE_CHECKING

from smsgate import hookimpl
from smsgate.codes import Code, CodeTable
from smsgate.errors import AuthenticationError, InsufficientCreditError, RateLimitedError
from smsgate.models import Classification, Failure, Verdict

if TYPE_CHECKING:
    from smsgate_octopush.settings import OctopushSettings

#: ``error_code`` of a successful legacy request.
SUCCESS = "000"
#: Our code for a JSON-API validation error about a re-used ``request_id``.
DUPLICATE_REQUEST_ID = "duplicate_request_id"

#: The legacy API's ``error_code`` values (reference 5.1, "Error codes").
LEGACY_CODES = CodeTable(
    Code("100", "POST request missing"),
    Code("101", "incorrect login details", error=AuthenticationError),
    Code("102", "the SMS exceeds the allowed length"),
    Code("103", "the message has no recipients"),
    Code("104", "the account has run out of credit", error=InsufficientCreditError),
    Code("105", "not enough credit; the last order is awaiting validation", error=InsufficientCreditError),
    Code("106", "sender incorrect: 3 to 11 characters from 0-9, a-z, A-Z"),
    Code("107", "the text of the message is missing"),
    Code("108", "login details not entered", error=AuthenticationError),
    Code("109", "password (api_key) not entered", error=AuthenticationError),
    Code("110", "the recipient list is missing"),
    Code("111", "no recipient input method chosen"),
    Code("112", "the message quality (sms_type) is not defined"),
    Code("113", "the account is not validated", error=AuthenticationError),
    Code("114", "the account is under investigation for fraud", error=AuthenticationError),
    Code("115", "the recipient count differs from the count of a related parameter list"),
    Code("116", "the mailing option only works with a contact list"),
    Code("117", "the recipient list contains no correct numbers"),
    Code("118", "the test-SMS confirmation box is not ticked"),
    Code("119", "more than 160 characters are not allowed for this type of SMS"),
    Code("120", "an SMS with the same request_id has already been sent", Verdict.AMBIGUOUS, final=True),
    Code("121", 'premium SMS: the mention "STOP au XXXXX" is missing (respect the case)'),
    Code("122", 'standard SMS: the mention "no PUB=STOP" is missing (respect the case)'),
    Code("123", "the field request_sha1 is missing"),
    Code("124", "the field request_sha1 does not match the data"),
    Code("125", "an undefined error occurred; contact support", Verdict.AMBIGUOUS, final=True),
    Code("126", "an SMS campaign is already awaiting approval", Verdict.RETRY),
    Code("127", "an SMS campaign is already being processed", Verdict.RETRY),
    Code("128", "too many attempts; start a new campaign"),
    Code("129", "the campaign is being built", Verdict.RETRY),
    Code("130", "the campaign has not been set as finished"),
    Code("131", "campaign not found"),
    Code("132", "campaign already sent", Verdict.AMBIGUOUS, final=True),
    Code("133", "the user_batch_id has already been used", Verdict.AMBIGUOUS, final=True),
    Code("150", "no country was found for this prefix"),
    Code("151", "the recipient country is not served by Octopush"),
    Code("152", "low-cost SMS cannot be sent to this country; choose premium"),
    Code("153", "the route is congested; this type of SMS cannot be dispatched immediately", Verdict.RETRY),
    Code("201", "this option is only available on request"),
    Code("202", "the e-mail account to credit is incorrect"),
    Code("203", "tokens are already in use; only one session at a time"),
    Code("204", "wrong token"),
    Code("205", "the number of SMS to transfer is too low"),
    Code("206", "no campaigns may run during a credit transfer"),
    Code("207", "no access to this feature"),
    Code("208", "wrong type of SMS"),
    Code("209", "not allowed to send SMS to this user"),
    Code("210", "this e-mail is not one of the sub-accounts or affiliated users"),
    Code("300", "not authorised to manage lists by API"),
    Code("301", "the maximum number of lists is reached"),
    Code("302", "a list with the same name already exists"),
    Code("303", "the list does not exist"),
    Code("304", "the list is already full"),
    Code("305", "too many contacts in the query"),
    Code("306", "the requested action is unknown"),
    Code("307", "list management error (no wording published)"),
    Code("308", "file error"),
    Code("500", "impossible to process the requested action", Verdict.RETRY),
    Code("501", "connection error; contact support", Verdict.RETRY),
)

#: The JSON API: HTTP statuses (used as the code when the error body has none) and our name
#: for its duplicate-``request_id`` validation error.
V1_CODES = CodeTable(
    Code(
        DUPLICATE_REQUEST_ID,
        "a request with this request_id was already accepted in the last 24 hours",
        Verdict.AMBIGUOUS,
        final=True,
    ),
    Code("400", "the request is invalid (validation error)"),
    Code("401", "authentication failed (api-login / api-key)", error=AuthenticationError),
    Code("402", "not enough credit", error=InsufficientCreditError),
    Code("403", "access forbidden for this account", error=AuthenticationError),
    Code("404", "no such resource"),
    Code("422", "the request is invalid (validation error)"),
    Code("429", "too many requests", Verdict.THROTTLED, error=RateLimitedError),
    Code("500", "server error after the request arrived: the campaign may exist", Verdict.AMBIGUOUS),
    Code("502", "bad gateway: a proxy may answer it after the API took the request", Verdict.AMBIGUOUS),
    Code("503", "service unavailable: a proxy may answer it after the API took the request", Verdict.AMBIGUOUS),
    Code("504", "gateway timeout: the campaign may exist", Verdict.AMBIGUOUS),
)


#: The code table of each API (``settings.api``).
TABLES: Mapping[str, CodeTable] = {"legacy": LEGACY_CODES, "v1": V1_CODES}


def classify(failure: Failure, settings: OctopushSettings) -> Classification | None:
    """The ``classify_error`` hook: the verdict of the table of the API the settings name
    (``settings.api``) for ``failure``'s code, or ``None`` for a code it does not know.

    Under an HTTP 5xx only an ambiguous verdict is given here: a proxy may answer 5xx after the
    gateway took the request, so retry, throttled or fatal is never ours to say (the core's
    rule, ambiguous, answers instead)."""
    found = TABLES[settings.api].classify(failure)
    status = failure.http_status
    if found is not None and status is not None and status >= 500 and found.verdict is not Verdict.AMBIGUOUS:
        return None
    return found


#: The ``classify_error`` hook: this module's :func:`classify`.
classify_error = hookimpl(classify)
