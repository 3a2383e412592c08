"""The parse handlers, one exact-typed function per operation (registered in ``__init__``):
pipe-separated ``text/plain`` lines.

- send_sms / send_batch / quote_sms: one line ``status_code|status_description|batch_id``
  (``message_id`` in send_sms 1.x); only the code counts, never the description.
- get_credits: ``status_code|status_description``, the description being the credit on success.
- get_report 2.0: ``0|Results to follow`` (or ``Returns to follow``), a blank line, then
  ``msisdn|status_code[|optional fields]`` rows; 1.0: ``1000|Results to follow`` and
  ``msisdn|status_code|status_description`` rows.

The HTTP push callback is read in :mod:`.dlr`.

Tolerated, since a real reply may carry them: a byte order mark, blank lines around the
reply, CRLF line ends, a trailing ``|``, a ``+`` before a report row's number, and a failure
code with no description. None of them turns a failure into a success.
"""

from __future__ import annotations

import codecs
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from smsgate.codes import unreadable
from smsgate.errors import GatewayError, MalformedResponseError, RateLimitedError
from smsgate.models import (
    Balance,
    BalanceQuery,
    Call,
    DeliveryReport,
    HttpResponse,
    Outcome,
    Price,
    Quote,
    Receipt,
    Send,
    Status,
    StatusQuery,
)
from smsgate_bulksms.codes import SUCCESS, TABLE
from smsgate_bulksms.dlr import CODE, ID, report
from smsgate_bulksms.encoding import LATIN1
from smsgate_bulksms.request import encoded_items
from smsgate_bulksms.settings import BulkSmsSettings


@attrs.frozen
class StatusLine:
    """The first line of a reply: its code, description and any further fields."""

    code: str
    description: str
    rest: tuple[str, ...]


def body_text(response: HttpResponse) -> str:
    """The reply as text: the declared charset, else ISO-8859-1 (which never fails). A UTF-8
    byte order mark in front (a proxy or a reseller's front end may add one) is dropped and
    the rest read as UTF-8, whatever charset the header declares."""
    body = response.body
    if body.startswith(codecs.BOM_UTF8):
        return body[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
    if "charset=" in (response.header("content-type") or ""):
        return response.text()
    return body.decode(LATIN1)


def _malformed(why: str, text: str) -> MalformedResponseError:
    return unreadable(f"unreadable BulkSMS reply: {why}", body=text)


def checked_text(response: HttpResponse) -> str:
    """The body of a 200 reply; any other status is no EAPI answer (``classify_error`` and the
    core's rules say what it means)."""
    text = body_text(response)
    if response.status == 200:
        return text
    kind = RateLimitedError if response.status == 429 else GatewayError
    raise kind(
        f"HTTP {response.status} from the gateway, not an EAPI reply",
        http_status=response.status,
        body=text,
        retry_after=response.retry_after(),
    )


def _lines(text: str) -> list[str]:
    return [line.rstrip("\r") for line in text.split("\n")]


#: What is stripped around a status line and its code, and all a blank line holds: ASCII white
#: space only (``str.strip()`` would also take the separators U+001C..U+001F, making ``"\x1c2"``
#: read as code 2).
_SPACE = " \t\r\n\x0b\x0c"


def status_line(line: str, text: str) -> StatusLine:
    """``code|description[|more...]``; a line without a numeric code is unreadable. A failure
    code standing alone (no description) is still that failure; a success code needs more."""
    fields = line.strip(_SPACE).split("|")
    code = fields[0].strip(_SPACE)
    if not CODE.match(code) or (len(fields) < 2 and code in SUCCESS):
        raise _malformed("expected status_code|status_description", text)
    return StatusLine(code, fields[1] if len(fields) > 1 else "", tuple(fields[2:]))


def _third(line: StatusLine, what: str, text: str) -> str:
    """The third field of ``code|description|third``; trailing empty fields (a trailing ``|``)
    are tolerated, anything else is unreadable."""
    rest = list(line.rest)
    while len(rest) > 1 and not rest[-1].strip():
        rest.pop()
    if len(rest) != 1:
        raise _malformed(f"expected status_code|status_description|{what}", text)
    return rest[0].strip()


def describe(line: StatusLine) -> str:
    """The documented meaning of the line's code, with the gateway's description."""
    meaning, description = TABLE.meaning(line.code), line.description.strip()
    return f"{meaning}: {description}" if description else meaning


def request_error(line: StatusLine, response: HttpResponse, text: str) -> GatewayError:
    """The typed error for a failure code answering a whole request."""
    return TABLE.error(line.code, message=describe(line), http_status=response.status, body=text)


def _one_line(response: HttpResponse) -> tuple[StatusLine, str]:
    text = checked_text(response)
    lines = [line for line in _lines(text) if line.strip(_SPACE)]
    if len(lines) != 1:
        raise _malformed(f"expected one line, got {len(lines)}", text)
    return status_line(lines[0], text), text


def _batch_id(line: StatusLine, text: str) -> str | None:
    batch_id = _third(line, "batch_id", text)
    if batch_id and not (ID.match(batch_id) and int(batch_id) > 0):
        raise _malformed(f"batch id {batch_id[:40]!r} is not a positive integer", text)
    return batch_id or None


def parse_send(operation: Send, response: HttpResponse, settings: BulkSmsSettings) -> Receipt:
    """One outcome per recipient: accepted (0) or scheduled (1) with the batch id, which is the
    id of every message of the batch; rejected for a fatal code. A code worth resending (40,
    26, 28) is raised, so the core resends with the same ``stop_dup_id``."""
    batch = operation.batch
    line, text = _one_line(response)
    if line.code in ("0", "1"):
        batch_id = _batch_id(line, text)
        status = Status.ACCEPTED if line.code == "0" else Status.SCHEDULED
        encoded = encoded_items(batch)
        return Receipt(
            tuple(
                Outcome(i.recipient, status, message_id=batch_id, parts=e.parts) for i, e in zip(batch.items, encoded)
            )
        )
    # Every other code answers the whole request; classify_error says whether to resend.
    raise request_error(line, response, text)


def parse_call(operation: Call, response: HttpResponse, settings: BulkSmsSettings) -> dict[str, Any]:
    """A send_sms reply as plain data (``send_to_groups``): status and batch id, or an error."""
    line, text = _one_line(response)
    if line.code not in ("0", "1"):
        raise request_error(line, response, text)
    return {"status": "accepted" if line.code == "0" else "scheduled", "batch_id": _batch_id(line, text)}


def _decimal(value: str, what: str, text: str) -> Decimal:
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise _malformed(f"{what} {value[:40]!r} is not a number", text) from None
    if not amount.is_finite():
        raise _malformed(f"{what} {value[:40]!r} is not a number", text)
    return amount


def parse_quote(operation: Quote, response: HttpResponse, settings: BulkSmsSettings) -> Price:
    """``0|Quotation issued|<total>`` (``1000|...`` in quote_sms 1.1)."""
    line, text = _one_line(response)
    if line.code not in ("0", "1000"):
        raise request_error(line, response, text)
    total = _third(line, "quote_total", text)
    parts = max(e.parts for e in encoded_items(operation.batch))
    return Price(_decimal(total, "quote total", text), parts=parts, unit="credits")


def parse_balance(operation: BalanceQuery, response: HttpResponse, settings: BulkSmsSettings) -> Balance:
    """``0|2101.15``: the remaining credit."""
    line, text = _one_line(response)
    if line.code != "0":
        raise request_error(line, response, text)
    return Balance(_decimal(line.description, "credit", text), unit="credits")


def _row(row: str, v1: bool, settings: BulkSmsSettings) -> dict[str, str] | None:
    fields = row.split("|")
    msisdn = fields[0].strip().removeprefix("+")
    if len(fields) < 2 or not ID.match(msisdn) or not CODE.match(fields[1].strip()):
        return None
    raw = {"msisdn": msisdn, "status": fields[1].strip()}
    values = fields[2:]
    if v1:
        raw["status_description"] = "|".join(values)
        return raw
    names = settings.report_fields
    if len(values) > len(names) and "body" in names:  # a body holding "|"
        at, extra = names.index("body"), len(values) - len(names)
        values = [*values[:at], "|".join(values[at : at + extra + 1]), *values[at + extra + 1 :]]
    raw.update(zip(names, values))
    return raw


def parse_status(
    operation: StatusQuery, response: HttpResponse, settings: BulkSmsSettings
) -> tuple[DeliveryReport, ...]:
    """get_report rows, one report per recipient; an unknown batch has none."""
    message_id = operation.message_ids[0]
    text = checked_text(response)
    lines = _lines(text.lstrip("\r\n"))
    line = status_line(lines[0], text)
    if line.code not in ("0", "1000"):
        raise request_error(line, response, text)
    reports = []
    for row in lines[1:]:
        if not row.strip():
            continue
        raw = _row(row, line.code == "1000", settings)
        if raw is None:
            raise _malformed(f"report row {row[:60]!r} is not msisdn|status_code[|...]", text)
        reports.append(report(message_id, raw, settings))
    return tuple(reports)
