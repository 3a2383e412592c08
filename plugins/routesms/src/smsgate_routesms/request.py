"""The build handlers, one per operation (registered in ``__init__``): every request is a GET
with a UTF-8 URL-encoded query (seed 002).

- send now: ``/bulksms/bulksms?username&password&type&dlr&destination&source&message``
- scheduled: ``/bulksms/schedulemsg?...&date&time&gmt`` (the seed's code samples wrongly reuse
  ``/bulksms/bulksms``; its parameter table names ``schedulemsg``)
- balance: ``/CreditCheck/checkcredits?username&password``

Destinations are the E.164 digits without ``+`` (the gateway takes either), comma-separated;
the comma is URL-encoded as ``%2C``, as the seed asks, and so is a ``+`` in the source.
"""

from __future__ import annotations

from smsgate.errors import MessageTooLongError, ValidationError
from smsgate.models import BalanceQuery, Batch, HttpRequest, Send
from smsgate.spec import Endpoint
from smsgate_routesms.encoding import encode, message_type, parts
from smsgate_routesms.settings import RoutesmsSettings, source_problem

SEND_PATH = "/bulksms/bulksms"
SCHEDULE_PATH = "/bulksms/schedulemsg"
BALANCE_PATH = "/CreditCheck/checkcredits"
#: Most recipients per request: 100 numbers of up to 15 digits are 1.8 kB of query.
MAX_RECIPIENTS = 100
#: Most concatenated parts per text: 6 parts of the worst-case text stay within ``MAX_URL``.
MAX_PARTS = 6
#: Longest request line we send (servers commonly refuse request lines over 8 kB).
MAX_URL = 8000


def _credentials(settings: RoutesmsSettings) -> list[tuple[str, str]]:
    return [("username", settings.username), ("password", settings.password.reveal())]


def _dlt(settings: RoutesmsSettings) -> list[tuple[str, str]]:
    return [(name, value) for name in ("entityid", "tempid", "tmid") if (value := getattr(settings, name))]


def _source(batch: Batch, settings: RoutesmsSettings) -> str:
    sender = batch.message.sender
    source = settings.sender if sender is None else sender
    if not source:
        raise ValidationError("sender", "the gateway needs a source: set Message.sender or the DSN option sender")
    problem = source_problem(source)
    if problem is not None:
        raise ValidationError("sender", f"{source!r}: {problem}")
    return source


def send_request(batch: Batch, settings: RoutesmsSettings, endpoint: Endpoint) -> HttpRequest:
    """The request submitting ``batch`` (scheduled when ``batch.schedule`` is set)."""
    if batch.personalised:
        raise ValidationError("text", "the gateway sends one text per request")
    text = batch.text
    source = _source(batch, settings)
    mtype = message_type(text, flash=batch.message.flash, charset=settings.charset)
    count = parts(text, mtype)
    if count > MAX_PARTS:
        rule = f"{count} parts as type {int(mtype)} exceed the maximum of {MAX_PARTS} parts"
        raise MessageTooLongError("text", rule)
    common = {
        "type": str(int(mtype)),
        "dlr": "1" if settings.dlr else "0",
        "destination": ",".join(r.lstrip("+") for r in batch.recipients),
        "source": source,
        "message": encode(text, mtype, hex_case=settings.hex_case),
    }
    if batch.schedule:
        path = SCHEDULE_PATH
        order = ("message", "type", "dlr", "source", "destination")
        when = [(name, batch.schedule[name]) for name in ("date", "time", "gmt")]
    else:
        path = SEND_PATH
        order = ("type", "dlr", "destination", "source", "message")
        when = []
    query = [*_credentials(settings), *((name, common[name]) for name in order), *when, *_dlt(settings)]
    request = HttpRequest.get(endpoint.url(path), query)
    if len(request.url) > MAX_URL:
        rule = f"the request URL would be {len(request.url)} characters (at most {MAX_URL})"
        rule += ": lower the DSN option batch_size or shorten the text"
        raise ValidationError("text", rule)
    return request


def build_send(operation: Send, settings: RoutesmsSettings, endpoint: Endpoint) -> HttpRequest:
    return send_request(operation.batch, settings, endpoint)


def build_balance(operation: BalanceQuery, settings: RoutesmsSettings, endpoint: Endpoint) -> HttpRequest:
    """The credit check request."""
    return HttpRequest.get(endpoint.url(BALANCE_PATH), _credentials(settings))
