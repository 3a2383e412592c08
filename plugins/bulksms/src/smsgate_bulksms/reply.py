"""Pure reply parsing: pipe-separated ``text/plain`` lines, and the HTTP push callback.

- send_sms / send_batch / quote_sms: one line ``status_code|status_description|batch_id``
  (``message_id`` in send_sms 1.x); only the code counts, never the description.
- get_credits: ``status_code|status_description``, the description being the credit on success.
- get_report 2.0: ``0|Results to follow`` (or ``Returns to follow``), a blank line, then
  ``msisdn|status_code[|optional fields]`` rows; 1.0: ``1000|Results to follow`` and
  ``msisdn|status_code|status_description`` rows.
- HTTP push: a GET with ``msisdn``, ``batch_id`` (``msg_id`` in old versions), ``status``, on
  some networks ``completed_time`` (documented as ``yy-MM-dd HH:mm:ss``) and your ``source_id``.

Tolerated, since a real reply may carry them: a byte order mark, blank lines around the
reply, CRLF line ends, a trailing ``|``, a ``+`` before a report row's number, and a failure
code with no description. None of them turns a failure into a success.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import attrs

from smsgate.errors import (
    AuthenticationError,
    GatewayError,
    InsufficientCreditError,
    MalformedResponseError,
    RateLimitedError,
    SmsgateError,
)
from smsgate.models import (
    Balance,
    Batch,
    DeliveryReport,
    HttpRequest,
    HttpResponse,
    Outcome,
    Price,
    Receipt,
    Status,
)
from smsgate_bulksms import codes
from smsgate_bulksms.encoding import LATIN1
from smsgate_bulksms.request import PROVIDER, encoded_items
from smsgate_bulksms.schedule import parse_local
from smsgate_bulksms.settings import BulkSmsSettings

_CODE = re.compile(r"^[0-9]{1,6}$")
#: The query parameters of an HTTP push report: the rest (your own, e.g. a password in the
#: callback URL) are ignored, as the documentation asks.
PUSH_FIELDS = ("msisdn", "batch_id", "msg_id", "status", "completed_time", "source_id")
_ID = re.compile(r"^[0-9]{1,20}$")


@attrs.frozen
class StatusLine:
    """The first line of a reply: its code, description and any further fields."""

    code: str
    description: str
    rest: tuple[str, ...]


_UTF8_BOM = b"\xef\xbb\xbf"


def body_text(response: HttpResponse) -> str:
    """The reply as text: the declared charset, else ISO-8859-1 (which never fails). A UTF-8
    byte order mark in front (a proxy or a reseller's front end may add one) is dropped and
    the rest read as UTF-8, whatever charset the header declares."""
    body = response.body
    if body.startswith(_UTF8_BOM):
        return body[len(_UTF8_BOM) :].decode("utf-8", errors="replace")
    if "charset=" in (response.header("content-type") or ""):
        return response.text()
    return body.decode(LATIN1)


def _malformed(why: str, response: HttpResponse, text: str) -> MalformedResponseError:
    return MalformedResponseError(
        f"unreadable BulkSMS reply: {why}", provider=PROVIDER, http_status=response.status, body=text
    )


def checked_text(response: HttpResponse) -> str:
    """The body of a 200 reply; any other status is no EAPI answer (``classify_error`` and the
    core's rules say what it means)."""
    text = body_text(response)
    if response.status == 200:
        return text
    kind = RateLimitedError if response.status == 429 else GatewayError
    raise kind(
        f"HTTP {response.status} from the gateway, not an EAPI reply",
        provider=PROVIDER,
        http_status=response.status,
        body=text,
        retry_after=response.retry_after(),
    )


def _lines(text: str) -> list[str]:
    return [line.rstrip("\r") for line in text.split("\n")]


def status_line(line: str, response: HttpResponse, text: str) -> StatusLine:
    """``code|description[|more...]``; a line without a numeric code is unreadable. A failure
    code standing alone (no description) is still that failure; a success code needs more."""
    fields = line.strip().split("|")
    code = fields[0].strip()
    if not _CODE.match(code) or (len(fields) < 2 and code in codes.SUCCESS):
        raise _malformed("expected status_code|status_description", response, text)
    return StatusLine(code, fields[1] if len(fields) > 1 else "", tuple(fields[2:]))


def _third(line: StatusLine, what: str, response: HttpResponse, text: str) -> str:
    """The third field of ``code|description|third``; trailing empty fields (a trailing ``|``)
    are tolerated, anything else is unreadable."""
    rest = list(line.rest)
    while len(rest) > 1 and not rest[-1].strip():
        rest.pop()
    if len(rest) != 1:
        raise _malformed(f"expected status_code|status_description|{what}", response, text)
    return rest[0].strip()


def describe(line: StatusLine) -> str:
    """The documented meaning of the line's code, with the gateway's description."""
    meaning, description = codes.meaning(line.code), line.description.strip()
    return f"{meaning}: {description}" if description else meaning


def request_error(line: StatusLine, response: HttpResponse, text: str) -> GatewayError:
    """The typed error for a failure code answering a whole request."""
    message = describe(line)
    kind = {"23": AuthenticationError, "25": InsufficientCreditError}.get(line.code, GatewayError)
    return kind(message, provider=PROVIDER, code=line.code, http_status=response.status, body=text)


def _one_line(response: HttpResponse) -> tuple[StatusLine, str]:
    text = checked_text(response)
    lines = [line for line in _lines(text) if line.strip()]
    if len(lines) != 1:
        raise _malformed(f"expected one line, got {len(lines)}", response, text)
    return status_line(lines[0], response, text), text


def _batch_id(line: StatusLine, response: HttpResponse, text: str) -> str | None:
    batch_id = _third(line, "batch_id", response, text)
    if batch_id and not (_ID.match(batch_id) and int(batch_id) > 0):
        raise _malformed(f"batch id {batch_id[:40]!r} is not a positive integer", response, text)
    return batch_id or None


def parse_send(batch: Batch, response: HttpResponse) -> Receipt:
    """One outcome per recipient: accepted (0) or scheduled (1) with the batch id, which is the
    id of every message of the batch; rejected for a fatal code. A code worth resending (40,
    26, 28) is raised, so the core resends with the same ``stop_dup_id``."""
    line, text = _one_line(response)
    if line.code in ("0", "1"):
        batch_id = _batch_id(line, response, text)
        status = Status.ACCEPTED if line.code == "0" else Status.SCHEDULED
        encoded = encoded_items(batch)
        return Receipt(
            tuple(
                Outcome(i.recipient, status, message_id=batch_id, parts=e.parts) for i, e in zip(batch.items, encoded)
            )
        )
    # Every other code answers the whole request; classify_error says whether to resend.
    raise request_error(line, response, text)


def parse_submission(response: HttpResponse) -> dict[str, Any]:
    """A send_sms reply as plain data (``send_to_groups``): status and batch id, or an error."""
    line, text = _one_line(response)
    if line.code not in ("0", "1"):
        raise request_error(line, response, text)
    return {"status": "accepted" if line.code == "0" else "scheduled", "batch_id": _batch_id(line, response, text)}


def _decimal(value: str, what: str, response: HttpResponse, text: str) -> Decimal:
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise _malformed(f"{what} {value[:40]!r} is not a number", response, text) from None
    if not amount.is_finite():
        raise _malformed(f"{what} {value[:40]!r} is not a number", response, text)
    return amount


def parse_quote(batch: Batch, response: HttpResponse) -> Price:
    """``0|Quotation issued|<total>`` (``1000|...`` in quote_sms 1.1)."""
    line, text = _one_line(response)
    if line.code not in ("0", "1000"):
        raise request_error(line, response, text)
    total = _third(line, "quote_total", response, text)
    parts = max(e.parts for e in encoded_items(batch))
    return Price(_decimal(total, "quote total", response, text), parts=parts, unit="credits")


def parse_credits(response: HttpResponse) -> Balance:
    """``0|2101.15``: the remaining credit."""
    line, text = _one_line(response)
    if line.code != "0":
        raise request_error(line, response, text)
    return Balance(_decimal(line.description, "credit", response, text), unit="credits")


def _at(raw: dict[str, str], settings: BulkSmsSettings) -> datetime | None:
    value = raw.get("completed_time", "").strip()
    if not value:
        return None
    at = parse_local(value, settings)
    if at is None:
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            return None
        if at.tzinfo is None:
            at = at.replace(tzinfo=settings.zone)
    return at


def _report(message_id: str, raw: dict[str, str], settings: BulkSmsSettings) -> DeliveryReport:
    code = raw["status"]
    return DeliveryReport(
        message_id=message_id,
        status=codes.delivery_status(code),
        recipient="+" + raw["msisdn"] if raw.get("msisdn") else None,
        code=code,
        reason=codes.meaning(code),
        at=_at(raw, settings),
        raw=raw,
    )


def _row(row: str, v1: bool, settings: BulkSmsSettings) -> dict[str, str] | None:
    fields = row.split("|")
    msisdn = fields[0].strip().removeprefix("+")
    if len(fields) < 2 or not _ID.match(msisdn) or not _CODE.match(fields[1].strip()):
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


def parse_report(message_id: str, response: HttpResponse, settings: BulkSmsSettings) -> tuple[DeliveryReport, ...]:
    """get_report rows, one report per recipient; an unknown batch has none."""
    text = checked_text(response)
    lines = _lines(text.lstrip("\r\n"))
    line = status_line(lines[0], response, text)
    if line.code not in ("0", "1000"):
        raise request_error(line, response, text)
    reports = []
    for row in lines[1:]:
        if not row.strip():
            continue
        raw = _row(row, line.code == "1000", settings)
        if raw is None:
            raise _malformed(f"report row {row[:60]!r} is not msisdn|status_code[|...]", response, text)
        reports.append(_report(message_id, raw, settings))
    return tuple(reports)


def parse_push(request: HttpRequest, settings: BulkSmsSettings) -> tuple[DeliveryReport, ...]:
    """The HTTP push callback (a GET; a form POST is read the same way). Other query
    parameters are ignored, as the documentation asks."""
    params = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True, encoding=LATIN1))
    if request.body:
        params.update(parse_qsl(request.body.decode(LATIN1), keep_blank_values=True, encoding=LATIN1))
    message_id = (params.get("batch_id") or params.get("msg_id") or "").strip()
    status = params.get("status", "").strip()
    shown = request.url[:300]
    if not _ID.match(message_id) or not _CODE.match(status):
        raise MalformedResponseError(
            "not a BulkSMS delivery report: it needs a numeric batch_id (or msg_id) and status",
            provider=PROVIDER,
            body=shown,
        )
    msisdn = params.get("msisdn", "").strip().lstrip("+")
    raw = {k: v for k, v in params.items() if k in PUSH_FIELDS}
    raw.update(status=status, msisdn=msisdn if _ID.match(msisdn) else "")
    return (_report(message_id, raw, settings),)


T = TypeVar("T")


def guarded(parse: Callable[[], T], response: HttpResponse) -> T:
    """``parse()``, with any foreign exception (a bug or a reply nobody foresaw) turned into
    ``MalformedResponseError``: a parser raises smsgate errors only."""
    try:
        return parse()
    except SmsgateError:
        raise
    except Exception as exc:
        text = response.body.decode(LATIN1)
        raise _malformed(f"{type(exc).__name__}: {exc}"[:200], response, text) from None


def guarded_push(request: HttpRequest, settings: BulkSmsSettings) -> tuple[DeliveryReport, ...]:
    """:func:`parse_push`, raising smsgate errors only."""
    try:
        return parse_push(request, settings)
    except SmsgateError:
        raise
    except Exception as exc:
        raise MalformedResponseError(
            f"unreadable BulkSMS delivery report: {type(exc).__name__}", provider=PROVIDER, body=request.url[:300]
        ) from None
